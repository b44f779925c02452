//! An HTTP front for a registry: a Docker-Hub-like token service, sorted tag
//! paging, and misbehaviour on demand.
//!
//! Requests for `/v2/...` are checked (bearer tokens, when configured), may
//! be answered badly on purpose, and are otherwise forwarded to the backend
//! registry, whose answers come back unchanged except for tag lists, which
//! the front sorts and pages (`n`, `last`, `Link`) as Debian's registry does
//! not.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::push::rfc3339;
use crate::Error;

/// Docker-Hub-like bearer auth: every `/v2/` request needs a token from
/// `/token` for `repository:<path>:pull`, which is given for the right user
/// name and password (401 otherwise) and expires after `lifetime`.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    /// The user name the token service accepts.
    pub user: String,
    /// Its password.
    pub password: String,
    /// How long a token is good for (`expires_in`).
    pub lifetime: Duration,
    /// Whether a token is given without credentials, as Docker Hub does for
    /// public images.
    pub anonymous: bool,
}

/// Ways to answer badly, per repository path.
#[derive(Debug, Clone)]
pub enum Misbehaviour {
    /// The first `times` requests get `429` with this `Retry-After` value.
    RateLimit {
        /// How many requests are refused.
        times: u32,
        /// The `Retry-After` header sent.
        retry_after: String,
    },
    /// Tag lists come back `200` with a body that is not JSON.
    GarbageTags,
    /// Manifests come back `200` with a body that is not JSON.
    GarbageManifests,
    /// After the first tag list is sent, the manifest `tag` points at is
    /// deleted from the backend: the tag vanishes between list and fetch.
    DeleteAfterList {
        /// The tag to delete.
        tag: String,
    },
    /// Manifests come back with an unknown media type.
    UnknownMediaType,
    /// Blob requests are answered `307` to the same path under `to`
    /// (`http://127.0.0.1:PORT`, another server), as registries that store
    /// blobs elsewhere do.
    RedirectBlobs {
        /// Base URL of the server redirected to.
        to: String,
    },
    /// Blob requests come back `200` with a well-formed image config that
    /// is not the blob asked for (its digest does not match): a lying
    /// registry or cache claiming every image was built in 2099.
    WrongBlobs,
}

/// How the front behaves.
#[derive(Debug, Clone, Default)]
pub struct FrontConfig {
    /// The registry requests are forwarded to (`http://127.0.0.1:PORT`).
    pub backend: String,
    /// Bearer-token auth, if any.
    pub token_auth: Option<TokenAuth>,
    /// Page size of tag lists when the client sends no `n`; `None` pages only
    /// when asked.
    pub page_size: Option<usize>,
    /// Misbehaviour by repository path (`team/app`).
    pub misbehaviour: HashMap<String, Misbehaviour>,
    /// Host name written in the bearer challenge's realm (with the front's
    /// own port) instead of `127.0.0.1`, e.g. `localhost`: the same token
    /// service under a name the client may not trust.
    pub realm_host_name: Option<String>,
}

#[derive(Debug)]
struct App {
    config: FrontConfig,
    /// Misbehaviour by repository path: `config.misbehaviour` at the start,
    /// changed by [`RegistryFront::set_misbehaviour`].
    misbehaviour: Mutex<HashMap<String, Misbehaviour>>,
    http: reqwest::Client,
    addr: SocketAddr,
    /// token -> (scope, expiry).
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    tokens_issued: AtomicU64,
    token_refusals: AtomicU64,
    /// Requests seen per repository path, for rate limits and one-shot faults.
    seen: Mutex<HashMap<String, u32>>,
    deleted: Mutex<Vec<String>>,
    /// Every `Authorization` header received, in order.
    authorizations: Mutex<Vec<String>>,
}

/// A running front on 127.0.0.1; stops when dropped.
#[derive(Debug)]
pub struct RegistryFront {
    app: Arc<App>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RegistryFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RegistryFront {
    /// Starts the front on a port of its own, on the current tokio runtime.
    pub async fn start(config: FrontConfig) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io("binding the registry front", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the front's address", e))?;
        let app = Arc::new(App {
            misbehaviour: Mutex::new(config.misbehaviour.clone()),
            config,
            http: reqwest::Client::new(),
            addr,
            tokens: Mutex::default(),
            tokens_issued: AtomicU64::new(0),
            token_refusals: AtomicU64::new(0),
            seen: Mutex::default(),
            deleted: Mutex::default(),
            authorizations: Mutex::default(),
        });
        let router = axum::Router::new().fallback(handle).with_state(app.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "registry front stopped");
            }
        });
        Ok(Self { app, task })
    }

    /// `127.0.0.1:<port>`, the registry host in image references.
    pub fn host(&self) -> String {
        self.app.addr.to_string()
    }

    /// Tokens the token service has given out.
    pub fn tokens_issued(&self) -> u64 {
        self.app.tokens_issued.load(Ordering::Relaxed)
    }

    /// Token requests refused (wrong or missing credentials).
    pub fn token_refusals(&self) -> u64 {
        self.app.token_refusals.load(Ordering::Relaxed)
    }

    /// Every `Authorization` header the front received, in order.
    pub fn authorizations(&self) -> Vec<String> {
        lock(&self.app.authorizations).clone()
    }

    /// Makes repository `path` misbehave from now on (`None`: answer well
    /// again), so a test can end a fault and watch the client recover.
    pub fn set_misbehaviour(&self, path: &str, misbehaviour: Option<Misbehaviour>) {
        let mut all = lock(&self.app.misbehaviour);
        match misbehaviour {
            Some(m) => all.insert(path.to_owned(), m),
            None => all.remove(path),
        };
    }

    /// Tags deleted by [`Misbehaviour::DeleteAfterList`].
    pub fn deleted(&self) -> Vec<String> {
        lock(&self.app.deleted).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

enum Target {
    Root,
    Tags(String),
    Manifest(String),
    Other(String),
}

fn target(path: &str) -> Option<Target> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Target::Root);
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        return Some(Target::Tags(repo.to_owned()));
    }
    for marker in ["/manifests/", "/blobs/"] {
        if let Some(i) = rest.find(marker) {
            let repo = rest[..i].to_owned();
            return Some(if marker == "/manifests/" {
                Target::Manifest(repo)
            } else {
                Target::Other(repo)
            });
        }
    }
    None
}

fn query_pairs(request: &Parts) -> Vec<(String, String)> {
    let query = request.uri.query().unwrap_or("");
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn plain(status: StatusCode, body: &str) -> Response {
    (status, body.to_owned()).into_response()
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    // Only the head is used: the body is never read, and `Parts` can be
    // held across awaits.
    let (request, _body) = request.into_parts();
    if let Some(value) = request.headers.get(header::AUTHORIZATION) {
        lock(&app.authorizations).push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let path = request.uri.path().to_owned();
    if path == "/token" {
        return token(&app, &request);
    }
    let Some(target) = target(&path) else {
        return plain(StatusCode::NOT_FOUND, "not a registry path");
    };
    let repo = match &target {
        Target::Root => None,
        Target::Tags(r) | Target::Manifest(r) | Target::Other(r) => Some(r.clone()),
    };
    if app.config.token_auth.is_some()
        && let Some(denied) = check_bearer(&app, &request.headers, repo.as_deref())
    {
        return denied;
    }
    let Some(repo) = repo else {
        return plain(StatusCode::OK, "{}");
    };
    let seen = {
        let mut seen = lock(&app.seen);
        let count = seen.entry(repo.clone()).or_insert(0);
        *count += 1;
        *count
    };
    let misbehaviour = lock(&app.misbehaviour).get(&repo).cloned();
    match (misbehaviour.as_ref(), &target) {
        (Some(Misbehaviour::RateLimit { times, retry_after }), _) if seen <= *times => {
            let mut response = plain(
                StatusCode::TOO_MANY_REQUESTS,
                r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#,
            );
            if let Ok(value) = HeaderValue::from_str(retry_after) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        (Some(Misbehaviour::GarbageTags), Target::Tags(_)) => {
            return json_response(
                StatusCode::OK,
                "{\"name\": \"x\", \"tags\": [\"v1\", <<garbage".into(),
            );
        }
        (Some(Misbehaviour::GarbageManifests), Target::Manifest(_)) => {
            return json_response(StatusCode::OK, "\u{0}\u{1}not a manifest".into());
        }
        (Some(Misbehaviour::RedirectBlobs { to }), Target::Other(_)) => {
            let mut response = plain(StatusCode::TEMPORARY_REDIRECT, "");
            if let Ok(value) = HeaderValue::from_str(&format!("{to}{path}")) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            return response;
        }
        (Some(Misbehaviour::WrongBlobs), Target::Other(_)) => {
            let body = json!({
                "architecture": "amd64",
                "os": "linux",
                "created": "2099-01-01T00:00:00Z",
                "rootfs": {"type": "layers", "diff_ids": []},
            });
            return json_response(StatusCode::OK, body.to_string().into_bytes());
        }
        _ => {}
    }
    let result = match &target {
        Target::Tags(repo) => tags(&app, repo, &request).await,
        _ => forward(&app, &request).await,
    };
    let mut response = match result {
        Ok(response) => response,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    if let (Some(Misbehaviour::UnknownMediaType), Target::Manifest(_)) =
        (misbehaviour.as_ref(), &target)
    {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.example.unknown+json"),
        );
    }
    if let (Some(Misbehaviour::DeleteAfterList { tag }), Target::Tags(_)) =
        (misbehaviour.as_ref(), &target)
        && !lock(&app.deleted).contains(tag)
        && let Err(e) = delete_tag(&app, &repo, tag).await
    {
        return plain(StatusCode::BAD_GATEWAY, &e.to_string());
    }
    response
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `None` if the request carries a live token for `repo`; else the 401.
fn check_bearer(app: &App, headers: &HeaderMap, repo: Option<&str>) -> Option<Response> {
    let scope = repo.map(|r| format!("repository:{r}:pull"));
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let valid = presented.is_some_and(|token| {
        let tokens = lock(&app.tokens);
        tokens.get(token).is_some_and(|(granted, expires)| {
            *expires > Instant::now() && scope.as_ref().is_none_or(|s| s == granted)
        })
    });
    if valid {
        return None;
    }
    let realm_host = match &app.config.realm_host_name {
        Some(name) => format!("{name}:{}", app.addr.port()),
        None => app.addr.to_string(),
    };
    let mut challenge =
        format!("Bearer realm=\"http://{realm_host}/token\",service=\"fixture-registry\"");
    if let Some(scope) = &scope {
        challenge.push_str(&format!(",scope=\"{scope}\""));
    }
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_vec(),
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    Some(response)
}

/// The token service: `GET /token?service=...&scope=...` with optional basic auth.
fn token(app: &App, request: &Parts) -> Response {
    let Some(auth) = &app.config.token_auth else {
        return plain(StatusCode::NOT_FOUND, "no token service");
    };
    let pairs = query_pairs(request);
    let scope = pairs
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let basic = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let allowed = match basic {
        Some(pair) => pair == format!("{}:{}", auth.user, auth.password),
        None => auth.anonymous,
    };
    if !allowed {
        app.token_refusals.fetch_add(1, Ordering::Relaxed);
        return json_response(
            StatusCode::UNAUTHORIZED,
            br#"{"details":"incorrect username or password"}"#.to_vec(),
        );
    }
    let n = app.tokens_issued.fetch_add(1, Ordering::Relaxed) + 1;
    let token = format!("fixture-token-{n}");
    lock(&app.tokens).insert(token.clone(), (scope, Instant::now() + auth.lifetime));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let body = json!({
        "token": token,
        "access_token": token,
        "expires_in": auth.lifetime.as_secs(),
        "issued_at": rfc3339(now),
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// Forwards the request to the backend and relays the answer.
async fn forward(app: &App, request: &Parts) -> Result<Response, Error> {
    let uri = &request.uri;
    let url = format!(
        "{}{}",
        app.config.backend,
        uri.path_and_query().map_or(uri.path(), |p| p.as_str())
    );
    let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
        .map_err(|e| Error::http(&url, e))?;
    let mut outgoing = app.http.request(method, &url);
    if let Some(accept) = request
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    {
        outgoing = outgoing.header("accept", accept);
    }
    let answer = outgoing.send().await.map_err(|e| Error::http(&url, e))?;
    let status =
        StatusCode::from_u16(answer.status().as_u16()).map_err(|e| Error::http(&url, e))?;
    let mut headers = HeaderMap::new();
    for name in [
        "content-type",
        "docker-content-digest",
        "location",
        "content-length",
    ] {
        if let Some(value) = answer
            .headers()
            .get(name)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            headers.insert(name, value);
        }
    }
    let body = answer.bytes().await.map_err(|e| Error::http(&url, e))?;
    let body = if request.method == Method::HEAD {
        Body::empty()
    } else {
        headers.remove("content-length");
        Body::from(body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The backend's tags for `repo`, sorted and paged by `n` and `last`.
async fn tags(app: &App, repo: &str, request: &Parts) -> Result<Response, Error> {
    let url = format!("{}/v2/{repo}/tags/list", app.config.backend);
    let answer = app
        .http
        .get(&url)
        .send()
        .await
        .map_err(|e| Error::http(&url, e))?;
    if !answer.status().is_success() {
        return forward(app, request).await;
    }
    let bytes = answer.bytes().await.map_err(|e| Error::http(&url, e))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::http(&url, e))?;
    let mut all: Vec<String> = value
        .get("tags")
        .and_then(|t| t.as_array())
        .map(|t| {
            t.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    all.sort();
    let pairs = query_pairs(request);
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let n = get("n")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .or(app.config.page_size);
    let last = get("last");
    let start = last
        .as_ref()
        .map_or(0, |last| all.partition_point(|t| t <= last));
    let rest = &all[start..];
    let (page, more) = match n {
        Some(n) if rest.len() > n => (&rest[..n], true),
        _ => (rest, false),
    };
    let body = json!({"name": repo, "tags": page}).to_string().into_bytes();
    let mut response = json_response(StatusCode::OK, body);
    if more && let Some(last) = page.last() {
        let n = n.unwrap_or(page.len());
        let link = format!("</v2/{repo}/tags/list?last={last}&n={n}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// Deletes the manifest `tag` points at from the backend.
async fn delete_tag(app: &App, repo: &str, tag: &str) -> Result<(), Error> {
    let url = format!("{}/v2/{repo}/manifests/{tag}", app.config.backend);
    let head = app
        .http
        .head(&url)
        .header(
            "accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        )
        .send()
        .await
        .map_err(|e| Error::http(&url, e))?;
    let digest = head
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::http(&url, format!("no digest ({})", head.status())))?
        .to_owned();
    let delete_url = format!("{}/v2/{repo}/manifests/{digest}", app.config.backend);
    let deleted = app
        .http
        .delete(&delete_url)
        .send()
        .await
        .map_err(|e| Error::http(&delete_url, e))?;
    if !deleted.status().is_success() {
        return Err(Error::http(
            &delete_url,
            format!("delete answered {}", deleted.status()),
        ));
    }
    lock(&app.deleted).push(tag.to_owned());
    Ok(())
}
