//! The HTTP client of fluxd's API, speaking as Flux v1's fluxctl does
//! (`pkg/http/client`): the route's path joined to the base URL, every
//! query parameter sent (empty ones too) sorted and escaped as Go's
//! `url.Values.Encode`, `Accept: application/json`, the token as
//! `Authorization: Scope-Probe token=<token>`, and answers judged by
//! status: 200, 201, 202 and 204 are success, 401 is Flux's
//! "request failed authentication", a JSON body with an `error` is an API
//! error whose help fluxctl prints, anything else `<status> <body>`.

use std::time::Duration;

use fluxd::api::{
    ApiError, ControllerStatus, GitConfig, ImageStatus, JobId, JobStatus, ResourceId, ResourceSpec,
    UpdateSpec, routes, to_go_json,
};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A client of one fluxd.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Option<String>,
}

/// Go's `url.QueryEscape`: unreserved characters kept, space as `+`, the
/// rest `%XX`.
fn query_escape(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
}

/// Go's `url.Values.Encode` of key-value pairs: sorted by key (stable for
/// repeated keys).
pub(crate) fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut pairs = pairs.to_vec();
    pairs.sort_by_key(|(key, _)| *key);
    let mut out = String::new();
    for (key, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        query_escape(key, &mut out);
        out.push('=');
        query_escape(value, &mut out);
    }
    out
}

/// The root cause of an error chain, which says most (`connection
/// refused`, `operation timed out`).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

impl Client {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:3030/api/flux`),
    /// each request bounded by `timeout`.
    pub(crate) fn new(base: &str, token: Option<String>, timeout: Duration) -> Result<Self, Error> {
        let base = reqwest::Url::parse(base)
            .map_err(|error| Error::Usage(format!("parsing URL: {base:?}: {error}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Usage(format!(
                "parsing URL: {base}: the scheme must be http or https"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| Error::Http(format!("starting the HTTP client: {}", chain(&error))))?;
        Ok(Self { http, base, token })
    }

    /// The URL of a route with its query (Flux's `MakeURL`).
    pub(crate) fn url(&self, route: &routes::Route, query: &[(&str, &str)]) -> reqwest::Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            self.base.path().trim_end_matches('/'),
            route.path.trim_start_matches('/')
        );
        url.set_path(&joined);
        let query = encode_query(query);
        url.set_query(if query.is_empty() { None } else { Some(&query) });
        url
    }

    async fn send(
        &self,
        route: &routes::Route,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, Error> {
        let url = self.url(route, query);
        let method = reqwest::Method::from_bytes(route.method.as_bytes())
            .map_err(|error| Error::Http(format!("bad method {}: {error}", route.method)))?;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!("Scope-Probe token={token}"),
            );
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let described = format!("{method} {url}");
        let response = request.send().await.map_err(|error| {
            if error.is_timeout() {
                Error::Http(format!("executing HTTP request: {described}: timed out"))
            } else {
                Error::Http(format!(
                    "executing HTTP request: {described}: {}",
                    chain(&error)
                ))
            }
        })?;
        let status = response.status();
        let json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        let bytes = response.bytes().await.map_err(|error| {
            Error::Http(format!(
                "reading the response to {described}: {}",
                chain(&error)
            ))
        })?;
        match status.as_u16() {
            200 | 201 | 202 | 204 => Ok(bytes.to_vec()),
            401 => Err(Error::Api(ApiError::unauthorized())),
            _ => {
                if json {
                    #[derive(serde::Deserialize, Default)]
                    #[serde(default)]
                    struct Lenient {
                        #[serde(rename = "type")]
                        kind: String,
                        help: String,
                        error: String,
                    }
                    let error: Lenient = serde_json::from_slice(&bytes).map_err(|error| {
                        Error::Http(format!("decoding response body of error: {error}"))
                    })?;
                    if !error.error.is_empty() {
                        return Err(Error::Api(ApiError {
                            kind: error.kind.as_str().into(),
                            help: error.help,
                            error: error.error,
                        }));
                    }
                }
                let reason = status.canonical_reason().unwrap_or("");
                Err(Error::Http(format!(
                    "{} {reason} {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&bytes)
                )))
            }
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        route: &routes::Route,
        query: &[(&str, &str)],
    ) -> Result<T, Error> {
        let bytes = self.send(route, query, None).await?;
        serde_json::from_slice(&bytes)
            .map_err(|error| Error::Http(format!("decoding response from server: {error}")))
    }

    async fn post<T: DeserializeOwned>(
        &self,
        route: &routes::Route,
        body: &impl serde::Serialize,
    ) -> Result<Option<T>, Error> {
        let body = to_go_json(body)
            .map_err(|error| Error::Http(format!("encoding request body: {error}")))?;
        let bytes = self.send(route, &[], Some(body)).await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| Error::Http(format!("decoding response from server: {error}")))
    }

    /// `GET /v6/services?namespace=` (`""`: every namespace).
    pub(crate) async fn list_services(
        &self,
        namespace: &str,
    ) -> Result<Vec<ControllerStatus>, Error> {
        let list: Option<Vec<ControllerStatus>> = self
            .get(
                &routes::LIST_SERVICES,
                &[(routes::query::NAMESPACE, namespace)],
            )
            .await?;
        Ok(list.unwrap_or_default())
    }

    /// `GET /v11/services?namespace=&services=<ids>`.
    pub(crate) async fn list_services_with_options(
        &self,
        namespace: &str,
        services: &[ResourceId],
    ) -> Result<Vec<ControllerStatus>, Error> {
        let services = services
            .iter()
            .map(ResourceId::as_str)
            .collect::<Vec<_>>()
            .join(",");
        let list: Option<Vec<ControllerStatus>> = self
            .get(
                &routes::LIST_SERVICES_WITH_OPTIONS,
                &[
                    (routes::query::NAMESPACE, namespace),
                    (routes::query::SERVICES, &services),
                ],
            )
            .await?;
        Ok(list.unwrap_or_default())
    }

    /// `GET /v10/images?service=&containerFields=&namespace=`.
    pub(crate) async fn list_images(
        &self,
        service: &ResourceSpec,
        container_fields: &[&str],
        namespace: &str,
    ) -> Result<Vec<ImageStatus>, Error> {
        let service = service.to_string();
        let fields = container_fields.join(",");
        let list: Option<Vec<ImageStatus>> = self
            .get(
                &routes::LIST_IMAGES_WITH_OPTIONS,
                &[
                    (routes::query::SERVICE, &service),
                    (routes::query::CONTAINER_FIELDS, &fields),
                    (routes::query::NAMESPACE, namespace),
                ],
            )
            .await?;
        Ok(list.unwrap_or_default())
    }

    /// `POST /v9/update-manifests`: the job's id.
    pub(crate) async fn update_manifests(&self, spec: &UpdateSpec) -> Result<JobId, Error> {
        self.post(&routes::UPDATE_MANIFESTS, spec)
            .await?
            .ok_or_else(|| Error::Http("fluxd answered the update without a job id".to_owned()))
    }

    /// `GET /v6/jobs?id=`.
    pub(crate) async fn job_status(&self, id: &JobId) -> Result<JobStatus, Error> {
        self.get(&routes::JOB_STATUS, &[(routes::query::ID, id.as_str())])
            .await
    }

    /// `GET /v6/sync?ref=`: revisions not yet applied (`[]` once applied).
    pub(crate) async fn sync_status(&self, reference: &str) -> Result<Vec<String>, Error> {
        let list: Option<Vec<String>> = self
            .get(&routes::SYNC_STATUS, &[(routes::query::REF, reference)])
            .await?;
        Ok(list.unwrap_or_default())
    }

    /// `GET /v6/export`: the YAML stream of the cluster's objects.
    pub(crate) async fn export(&self) -> Result<Vec<u8>, Error> {
        use base64::Engine as _;
        let encoded: Option<String> = self.get(&routes::EXPORT, &[]).await?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.unwrap_or_default())
            .map_err(|error| Error::Http(format!("decoding response from server: {error}")))
    }

    /// `POST /v9/git-repo-config` with body `regenerate`.
    pub(crate) async fn git_repo_config(&self, regenerate: bool) -> Result<GitConfig, Error> {
        self.post(&routes::GIT_REPO_CONFIG, &regenerate)
            .await?
            .ok_or_else(|| Error::Http("fluxd answered without a git configuration".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_as_go_encodes_them() {
        assert_eq!(
            encode_query(&[
                ("service", "<all>"),
                ("containerFields", ""),
                ("namespace", "demo")
            ]),
            "containerFields=&namespace=demo&service=%3Call%3E"
        );
        assert_eq!(
            encode_query(&[
                ("namespace", ""),
                ("services", "demo:deployment/a,demo:helmrelease/b")
            ]),
            "namespace=&services=demo%3Adeployment%2Fa%2Cdemo%3Ahelmrelease%2Fb"
        );
        assert_eq!(encode_query(&[("ref", "a b~c")]), "ref=a+b~c");
    }

    #[test]
    fn urls_join_the_base_path() {
        for base in [
            "http://127.0.0.1:3030/api/flux",
            "http://127.0.0.1:3030/api/flux/",
        ] {
            let client = Client::new(base, None, Duration::from_secs(1)).unwrap();
            assert_eq!(
                client.url(&routes::JOB_STATUS, &[("id", "x")]).as_str(),
                "http://127.0.0.1:3030/api/flux/v6/jobs?id=x"
            );
        }
        let client = Client::new("http://127.0.0.1:3030", None, Duration::from_secs(1)).unwrap();
        assert_eq!(
            client.url(&routes::EXPORT, &[]).as_str(),
            "http://127.0.0.1:3030/v6/export"
        );
        let error = Client::new("not a url", None, Duration::from_secs(1)).unwrap_err();
        assert!(
            error.to_string().starts_with("parsing URL: \"not a url\""),
            "{error}"
        );
    }
}
