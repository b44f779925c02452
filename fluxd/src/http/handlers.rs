//! One function per route of Flux's API, over the job queue, the image
//! source and the read side.

use std::collections::BTreeSet;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use serde::Serialize;

use super::{Answer, Api, Failure, Identity, public_ssh_key};
use crate::api::{
    CONTAINER_FIELDS, Cause, Change, Container, ControllerStatus, GitConfig, GitRemoteConfig,
    GitRepoStatus, ImageInfo, ImageSpec, ImageStatus, JobId, NO_IMAGE_DATA, PolicyUpdates,
    PublicSshKey, ReleaseImageSpec, ReleaseKind, ResourceId, ResourceSpec, UpdateKind, UpdateSpec,
    routes, to_go_json,
};
use crate::contract::{JobQueue, RequestError};

/// A request's query parameters, in order, decoded.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes a query string; one that does not decode counts as empty
    /// (the routes that need a parameter then answer 404, as Flux's did).
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let Some(query) = query else {
            return Self::default();
        };
        let uri = format!("/?{query}");
        let pairs = uri
            .parse::<axum::http::Uri>()
            .ok()
            .and_then(|uri| axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).ok())
            .map(|query| query.0)
            .unwrap_or_default();
        Self(pairs)
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(key, _)| key == name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A JSON answer, encoded as Go's encoder would.
fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Answer {
    let body =
        to_go_json(value).map_err(|e| Failure::server(format!("cannot encode the answer: {e}")))?;
    Ok((
        status,
        [(header::CONTENT_TYPE, routes::CONTENT_TYPE_JSON)],
        body,
    )
        .into_response())
}

fn no_content(status: StatusCode) -> Answer {
    Ok(status.into_response())
}

/// A JSON body, whatever its Content-Type (fluxctl sends none).
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Failure> {
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::bad_request(format!("the request body is not {what}: {e}")))
}

fn parse_param<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, Failure>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| Failure::bad_request(format!("query parameter {name}={value:?}: {e}")))
}

fn request_failure(error: RequestError) -> Failure {
    match error {
        RequestError::UnknownJob(id) => Failure::of(crate::api::ApiError::unknown_job(&id)),
        RequestError::Invalid(message) => Failure::user(&message),
        RequestError::Unavailable(message) => Failure::server(message),
    }
}

fn queue(api: &Api) -> Result<&dyn JobQueue, Failure> {
    api.jobs.as_deref().ok_or_else(|| {
        Failure::server(
            "jobs are not available: this fluxd runs no job queue (releases, policy changes and manual syncs wait for it)".to_owned(),
        )
    })
}

/// Answers one matched route.
pub(crate) async fn handle(
    api: &Api,
    route: &routes::Route,
    query: &Query,
    bytes: &[u8],
) -> Answer {
    match route.name {
        name if name == routes::PING.name => ping(api).await,
        name if name == routes::VERSION.name => json(StatusCode::OK, env!("CARGO_PKG_VERSION")),
        name if name == routes::NOTIFY.name => {
            let change: Change = body(bytes, "a change notification (v9.Change)")?;
            queue(api)?.notify(change).await.map_err(request_failure)?;
            no_content(StatusCode::ACCEPTED)
        }
        name if name == routes::LIST_SERVICES.name => {
            let namespace = query.get(routes::query::NAMESPACE).unwrap_or("");
            json(StatusCode::OK, &workloads(api, namespace, None).await?)
        }
        name if name == routes::LIST_SERVICES_WITH_OPTIONS.name => {
            let namespace = query.get(routes::query::NAMESPACE).unwrap_or("");
            let services = query.get(routes::query::SERVICES).unwrap_or("");
            if !namespace.is_empty() && !services.is_empty() {
                return Err(Failure::bad_request(
                    "cannot filter by 'namespace' and 'workloads' at the same time".to_owned(),
                ));
            }
            let ids = if services.is_empty() {
                None
            } else {
                Some(
                    services
                        .split(',')
                        .map(|id| parse_param::<ResourceId>(routes::query::SERVICES, id))
                        .collect::<Result<BTreeSet<_>, _>>()?,
                )
            };
            json(
                StatusCode::OK,
                &workloads(api, namespace, ids.as_ref()).await?,
            )
        }
        name if name == routes::LIST_IMAGES.name
            || name == routes::LIST_IMAGES_WITH_OPTIONS.name =>
        {
            json(StatusCode::OK, &images(api, query).await?)
        }
        name if name == routes::UPDATE_MANIFESTS.name => {
            let spec: UpdateSpec = body(bytes, "an update spec (update.Spec)")?;
            submit(api, spec).await
        }
        name if name == routes::JOB_STATUS.name => {
            let id = JobId(query.get(routes::query::ID).unwrap_or("").to_owned());
            let status = queue(api)?.job_status(&id).await.map_err(request_failure)?;
            json(StatusCode::OK, &status)
        }
        name if name == routes::SYNC_STATUS.name => {
            let reference = query.get(routes::query::REF).unwrap_or("");
            let pending = queue(api)?
                .sync_status(reference)
                .await
                .map_err(request_failure)?;
            json(StatusCode::OK, &pending)
        }
        name if name == routes::EXPORT.name => {
            let cluster = api
                .cluster
                .as_ref()
                .ok_or_else(|| Failure::server("no cluster to export".to_owned()))?;
            let yaml = cluster.export().await.map_err(Failure::server)?;
            json(
                StatusCode::OK,
                &base64::engine::general_purpose::STANDARD.encode(yaml),
            )
        }
        name if name == routes::GIT_REPO_CONFIG.name => {
            let regenerate: bool = if bytes.iter().all(u8::is_ascii_whitespace) {
                false
            } else {
                body(bytes, "true or false (regenerate the deploy key)")?
            };
            if regenerate {
                regenerate_key(api).await?;
            }
            json(StatusCode::OK, &git_config(api))
        }
        name if name == routes::UPDATE_IMAGES.name => {
            let spec = release_from_query(query)?;
            submit(api, spec).await
        }
        name if name == routes::UPDATE_POLICIES.name => {
            let updates: PolicyUpdates = body(bytes, "policy updates (resource.PolicyUpdates)")?;
            let spec = UpdateSpec {
                cause: cause(query),
                kind: UpdateKind::Policy(updates),
            };
            submit(api, spec).await
        }
        name if name == routes::GET_PUBLIC_SSH_KEY.name => json(StatusCode::OK, &public_key(api)),
        name if name == routes::REGENERATE_PUBLIC_SSH_KEY.name => {
            regenerate_key(api).await?;
            no_content(StatusCode::NO_CONTENT)
        }
        other => Err(Failure::server(format!("route {other} is not served"))),
    }
}

async fn ping(api: &Api) -> Answer {
    if let Some(cluster) = &api.cluster {
        cluster
            .ping()
            .await
            .map_err(|e| Failure::server(format!("cannot reach the cluster: {e}")))?;
    }
    no_content(StatusCode::NO_CONTENT)
}

async fn submit(api: &Api, spec: UpdateSpec) -> Answer {
    let id = queue(api)?.submit(spec).await.map_err(request_failure)?;
    json(StatusCode::OK, &id)
}

fn cause(query: &Query) -> Cause {
    Cause {
        message: query.get(routes::query::MESSAGE).unwrap_or("").to_owned(),
        user: query.get(routes::query::USER).unwrap_or("").to_owned(),
    }
}

/// `POST /v6/update-images`: Flux's older release, from query parameters.
fn release_from_query(query: &Query) -> Result<UpdateSpec, Failure> {
    let service_specs = query
        .all(routes::query::SERVICE)
        .map(|spec| parse_param::<ResourceSpec>(routes::query::SERVICE, spec))
        .collect::<Result<Vec<_>, _>>()?;
    let image = query.get(routes::query::IMAGE).unwrap_or("");
    let image_spec: ImageSpec = parse_param(routes::query::IMAGE, image)?;
    let kind_text = query.get(routes::query::KIND).unwrap_or("");
    let kind = ReleaseKind::parse(kind_text).map_err(|e| {
        Failure::bad_request(format!(
            "query parameter {}={kind_text:?}: {e}",
            routes::query::KIND
        ))
    })?;
    let excludes = query
        .all(routes::query::EXCLUDE)
        .map(|id| parse_param::<ResourceId>(routes::query::EXCLUDE, id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UpdateSpec {
        cause: cause(query),
        kind: UpdateKind::Image(ReleaseImageSpec {
            service_specs,
            image_spec,
            kind,
            excludes,
            force: false,
        }),
    })
}

async fn workloads(
    api: &Api,
    namespace: &str,
    ids: Option<&BTreeSet<ResourceId>>,
) -> Result<Vec<ControllerStatus>, Failure> {
    let Some(cluster) = &api.cluster else {
        return Ok(Vec::new());
    };
    cluster
        .workloads(namespace, ids)
        .await
        .map_err(Failure::server)
}

/// `/v6/images`, `/v10/images`: the workloads' containers joined with the
/// registry's images.
async fn images(api: &Api, query: &Query) -> Result<Vec<ImageStatus>, Failure> {
    let namespace = query.get(routes::query::NAMESPACE).unwrap_or("");
    let service = query
        .get(routes::query::SERVICE)
        .filter(|s| !s.is_empty())
        .unwrap_or(ResourceSpec::ALL);
    let spec: ResourceSpec = parse_param(routes::query::SERVICE, service)?;
    let ids = match &spec {
        ResourceSpec::All => None,
        ResourceSpec::Id(id) => {
            if !namespace.is_empty() {
                return Err(Failure::bad_request(
                    "cannot filter by 'namespace' and 'workload' at the same time".to_owned(),
                ));
            }
            Some(BTreeSet::from([id.clone()]))
        }
    };
    let fields = match query.get(routes::query::CONTAINER_FIELDS) {
        None | Some("") => None,
        Some(list) => {
            let fields: Vec<&str> = list.split(',').collect();
            if let Some(bad) = fields.iter().find(|f| !CONTAINER_FIELDS.contains(f)) {
                return Err(Failure::bad_request(format!("{bad} is an invalid field")));
            }
            Some(fields)
        }
    };
    let listed = workloads(api, namespace, ids.as_ref()).await?;
    Ok(listed
        .into_iter()
        .map(|workload| ImageStatus {
            containers: workload
                .containers
                .iter()
                .map(|container| {
                    let joined = join_images(api, &workload, container);
                    match &fields {
                        Some(fields) => only_fields(joined, fields),
                        None => joined,
                    }
                })
                .collect(),
            id: workload.id,
        })
        .collect())
}

/// One container with what the registry knows of its image (Flux's
/// `update.NewContainer`): every tag, newest first; the newest the tag
/// filter admits; and how many are newer than the one running.
fn join_images(api: &Api, workload: &ControllerStatus, container: &Container) -> Container {
    let current = &container.current.id;
    let mut out = Container {
        name: container.name.clone(),
        ..Container::default()
    };
    let Some(available) = api.images.images(&current.name().to_string()) else {
        out.current = ImageInfo::of(current.clone());
        out.available_error = NO_IMAGE_DATA.to_owned();
        return out;
    };
    let filter = workload
        .policies
        .get(&format!("tag.{}", container.name))
        .and_then(|expression| manifests::TagFilter::parse(expression).ok())
        .unwrap_or_default();
    let running = available.iter().position(|info| info.id.tag == current.tag);
    out.current = running
        .map(|index| available[index].clone())
        .unwrap_or_default();
    let newer = running.unwrap_or(available.len());
    let admitted = |info: &&ImageInfo| filter.admits(&info.id.tag);
    let filtered: Vec<&ImageInfo> = available.iter().filter(admitted).collect();
    out.latest_filtered = filtered.first().map(|i| (*i).clone()).unwrap_or_default();
    out.available_images_count = count(available.len());
    out.new_available_images_count = count(newer);
    out.filtered_images_count = count(filtered.len());
    out.new_filtered_images_count = count(available[..newer].iter().filter(admitted).count());
    out.available = available;
    out
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Keeps only the fields asked for (`containerFields`).
fn only_fields(container: Container, fields: &[&str]) -> Container {
    let keep = |name: &str| fields.contains(&name);
    Container {
        name: if keep("Name") {
            container.name
        } else {
            String::new()
        },
        current: if keep("Current") {
            container.current
        } else {
            ImageInfo::default()
        },
        latest_filtered: if keep("LatestFiltered") {
            container.latest_filtered
        } else {
            ImageInfo::default()
        },
        available: if keep("Available") {
            container.available
        } else {
            Vec::new()
        },
        available_error: if keep("AvailableError") {
            container.available_error
        } else {
            String::new()
        },
        available_images_count: if keep("AvailableImagesCount") {
            container.available_images_count
        } else {
            0
        },
        new_available_images_count: if keep("NewAvailableImagesCount") {
            container.new_available_images_count
        } else {
            0
        },
        filtered_images_count: if keep("FilteredImagesCount") {
            container.filtered_images_count
        } else {
            0
        },
        new_filtered_images_count: if keep("NewFilteredImagesCount") {
            container.new_filtered_images_count
        } else {
            0
        },
    }
}

fn public_key(api: &Api) -> PublicSshKey {
    let info = match &api.identity {
        Identity::Secret(key) => key.public_key(),
        Identity::File(info) => info.clone(),
        Identity::None => None,
    };
    info.as_ref().map(public_ssh_key).unwrap_or_default()
}

async fn regenerate_key(api: &Api) -> Result<(), Failure> {
    match &api.identity {
        Identity::Secret(key) => key
            .regenerate()
            .await
            .map(drop)
            .map_err(|e| Failure::server(e.to_string())),
        Identity::File(_) => Err(Failure::user(
            "the deploy key is a file given to fluxd (--git-ssh-key or a mounted Secret); replace the file to change it",
        )),
        Identity::None => Err(Failure::user(
            "fluxd has no deploy key: the repository is not reached over ssh",
        )),
    }
}

fn git_config(api: &Api) -> GitConfig {
    let (cloned, error) = api.health.git_state();
    let status = match (cloned, &error) {
        (true, _) => GitRepoStatus::Ready,
        (false, Some(_)) => GitRepoStatus::Unreachable,
        (false, None) => GitRepoStatus::New,
    };
    GitConfig {
        remote: GitRemoteConfig {
            url: api.repo.url.clone(),
            // Following the remote's default branch: the one the last sync
            // found (fluxctl sync names it).
            branch: if api.repo.branch.is_empty() {
                api.health
                    .synced_head()
                    .map(|head| head.branch)
                    .unwrap_or_default()
            } else {
                api.repo.branch.clone()
            },
            path: api.repo.paths.clone(),
        },
        public_ssh_key: public_key(api),
        status,
        error: if cloned {
            String::new()
        } else {
            error.unwrap_or_default()
        },
    }
}
