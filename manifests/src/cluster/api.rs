//! The requests the engine sends: paginated lists, gets, server-side applies
//! and deletes of untyped objects.
//!
//! Responses are parsed here rather than by `kube`'s typed helpers, which
//! log the whole body when it does not parse: a Secret's data must never
//! reach a log.

use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::core::Request;
use kube::core::params::ValidationDirective;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::discovery::Kind;
use super::live::{LiveObject, Page};

/// Items per page of a list call.
const PAGE_SIZE: u32 = 500;

/// The `Accept` header that asks for an object's metadata only (a
/// `meta.k8s.io/v1` `PartialObjectMetadata`), with the whole object as the
/// fallback for an API server that cannot transform (an aggregated API).
const METADATA_ONLY: &str =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/// A failed request: the client's error, reduced to what a user needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status from the API, if it answered.
    pub(crate) code: Option<u16>,
    /// The API's message (`configmaps "x" is forbidden: ...`), or the
    /// client's.
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn is_not_found(&self) -> bool {
        self.code == Some(404)
    }

    pub(crate) fn is_forbidden(&self) -> bool {
        self.code == Some(403)
    }

    pub(crate) fn is_conflict(&self) -> bool {
        self.code == Some(409)
    }

    fn from_kube(error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => Self {
                code: Some(status.code),
                message: super::kube_error::status_message(
                    status.code,
                    &status.reason,
                    &status.message,
                ),
            },
            other => Self {
                code: None,
                message: super::kube_error_message(&other),
            },
        }
    }

    fn unreadable(what: &str, error: &serde_json::Error) -> Self {
        // The parser's message names a position, never the content.
        Self {
            code: None,
            message: format!("unreadable answer to {what}: {error}"),
        }
    }

    fn request(error: &kube::core::request::Error) -> Self {
        Self {
            code: None,
            message: format!("cannot build the request: {error}"),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The path of `kind`'s collection, in `namespace` or cluster-wide.
pub(crate) fn collection_path(kind: &Kind, namespace: Option<&str>) -> String {
    let resource = &kind.resource;
    let base = if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    };
    match namespace {
        Some(namespace) => format!("{base}/namespaces/{namespace}/{}", resource.plural),
        None => format!("{base}/{}", resource.plural),
    }
}

async fn send<T: DeserializeOwned>(
    client: &kube::Client,
    request: http::Request<Vec<u8>>,
    what: &str,
) -> Result<T, ApiError> {
    let text = client
        .request_text(request)
        .await
        .map_err(ApiError::from_kube)?;
    serde_json::from_str(&text).map_err(|e| ApiError::unreadable(what, &e))
}

/// What a list call reads of each object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListBody {
    /// Whole objects.
    Whole,
    /// Metadata only (`PartialObjectMetadataList`): what garbage collection
    /// reads, without the bodies (a namespace full of Helm release Secrets
    /// costs their names, not their megabytes). A server that cannot answer
    /// so (some aggregated APIs) answers with whole objects, read the same way.
    Metadata,
}

/// The `Accept` of a metadata-only list, with full JSON as the fallback.
const METADATA_LIST_ACCEPT: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json";

/// Every object of `kind` in `namespace` (cluster-wide when `None`) that
/// matches `selector`, handed to `each_page` a page at a time as it
/// arrives, so a caller keeps only what it needs.
pub(crate) async fn list_each(
    client: &kube::Client,
    kind: &Kind,
    namespace: Option<&str>,
    selector: Option<&str>,
    body: ListBody,
    mut each_page: impl FnMut(Vec<LiveObject>),
) -> Result<(), ApiError> {
    let request = Request::new(collection_path(kind, namespace));
    let mut params = ListParams {
        label_selector: selector.map(str::to_owned),
        limit: Some(PAGE_SIZE),
        ..ListParams::default()
    };
    loop {
        let http = if body == ListBody::Metadata {
            let mut http = request
                .list_metadata(&params)
                .map_err(|e| ApiError::request(&e))?;
            http.headers_mut().insert(
                http::header::ACCEPT,
                http::HeaderValue::from_static(METADATA_LIST_ACCEPT),
            );
            http
        } else {
            request.list(&params).map_err(|e| ApiError::request(&e))?
        };
        let page: Page = send(client, http, "a list call").await?;
        each_page(page.items);
        match page.metadata.next {
            Some(token) if !token.is_empty() => params.continue_token = Some(token),
            _ => return Ok(()),
        }
    }
}

/// The object `name` of `kind`, or `None` when it does not exist.
pub(crate) async fn get(
    client: &kube::Client,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<LiveObject>, ApiError> {
    let request = Request::new(collection_path(kind, namespace));
    let http = request
        .get(name, &Default::default())
        .map_err(|e| ApiError::request(&e))?;
    match send(client, http, "a get").await {
        Ok(object) => Ok(Some(object)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Server-side applies `object` as `field_manager`, forcing conflicts and
/// refusing unknown or duplicate fields (as `kubectl apply --server-side`
/// does); with `dry_run` the server only says what would result, as the
/// whole object. A real apply is answered with the object's metadata only
/// ([`METADATA_ONLY`]): the engine reads nothing else of it, and the server
/// then encodes (and the engine decodes) a fraction of the object.
pub(crate) async fn apply(
    client: &kube::Client,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    object: &Value,
    field_manager: &str,
    dry_run: bool,
) -> Result<LiveObject, ApiError> {
    let request = Request::new(collection_path(kind, namespace));
    let params = PatchParams {
        dry_run,
        force: true,
        field_manager: Some(field_manager.to_owned()),
        field_validation: Some(ValidationDirective::Strict),
    };
    let mut http = request
        .patch(name, &params, &Patch::Apply(object))
        .map_err(|e| ApiError::request(&e))?;
    if !dry_run {
        http.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static(METADATA_ONLY),
        );
    }
    send(client, http, "an apply").await
}

/// The metadata of object `name` of `kind` (`managedFields` included), or
/// `None` when it does not exist.
pub(crate) async fn get_metadata(
    client: &kube::Client,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    let request = Request::new(collection_path(kind, namespace));
    let mut http = request
        .get(name, &Default::default())
        .map_err(|e| ApiError::request(&e))?;
    http.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static(METADATA_ONLY),
    );
    match send::<Value>(client, http, "a get").await {
        Ok(object) => Ok(Some(object["metadata"].clone())),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// Replaces the `metadata.managedFields` of object `name`, if it is still
/// at `resource_version` (a conflict otherwise), with a JSON patch as
/// client-go's `csaupgrade` sends it.
pub(crate) async fn replace_managed_fields(
    client: &kube::Client,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    managed_fields: &[Value],
    resource_version: &str,
) -> Result<(), ApiError> {
    let patch = serde_json::json!([
        {"op": "replace", "path": "/metadata/managedFields", "value": managed_fields},
        // A replace rather than a test: a stale version is then a 409 from
        // storage, not a 422 from the patch.
        {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
    ]);
    let body = serde_json::to_vec(&patch).map_err(|e| ApiError::unreadable("a patch", &e))?;
    let uri = format!("{}/{name}", collection_path(kind, namespace));
    let http = http::Request::patch(uri)
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .header(http::header::ACCEPT, METADATA_ONLY)
        .body(body)
        .map_err(|e| ApiError {
            code: None,
            message: format!("cannot build the request: {e}"),
        })?;
    send::<Value>(client, http, "a patch").await.map(drop)
}

/// Deletes `name` if it is still the object with `uid` (in the background:
/// dependents go after it). An object already gone is not an error.
pub(crate) async fn delete(
    client: &kube::Client,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    uid: Option<&str>,
) -> Result<(), ApiError> {
    let request = Request::new(collection_path(kind, namespace));
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let http = request
        .delete(name, &params)
        .map_err(|e| ApiError::request(&e))?;
    match send::<Value>(client, http, "a delete").await {
        Ok(_) => Ok(()),
        Err(error) if error.is_not_found() => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::discovery::ApiResource;

    fn kind(group: &str, version: &str, plural: &str) -> Kind {
        Kind {
            resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: String::new(),
                kind: String::new(),
                plural: plural.into(),
            },
            namespaced: true,
            verbs: vec![],
        }
    }

    #[test]
    fn collection_paths() {
        assert_eq!(
            collection_path(&kind("", "v1", "configmaps"), Some("demo")),
            "/api/v1/namespaces/demo/configmaps"
        );
        assert_eq!(
            collection_path(&kind("apps", "v1", "deployments"), None),
            "/apis/apps/v1/deployments"
        );
        assert_eq!(
            collection_path(&kind("helm.fluxcd.io", "v1", "helmreleases"), Some("flux")),
            "/apis/helm.fluxcd.io/v1/namespaces/flux/helmreleases"
        );
    }

    #[test]
    fn api_errors_keep_the_message() {
        let status = kube::core::Status::failure("configmaps \"x\" is forbidden", "Forbidden")
            .with_code(403);
        let error = ApiError::from_kube(kube::Error::Api(status.boxed()));
        assert!(error.is_forbidden());
        assert_eq!(
            error.to_string(),
            "configmaps \"x\" is forbidden (403 Forbidden)"
        );
        let bare = ApiError::from_kube(kube::Error::Api(
            kube::core::Status::failure("", "NotFound")
                .with_code(404)
                .boxed(),
        ));
        assert!(bare.is_not_found());
        assert_eq!(bare.to_string(), "404 NotFound");
    }
}
