//! fluxd's HTTP server: Flux v1's API under `/api/flux`, `/metrics`,
//! `/healthz` and `/readyz`.
//!
//! One handler dispatches every request by method and path against
//! [`routes::ROUTES`], so that each answer,
//! matched or not, is counted in `flux_request_duration_seconds` under
//! Flux's route name, and so that Flux's rules hold exactly: `/v1/`..`/v5/`
//! answer `410 Gone`, an unknown path or a route without its required query
//! parameters `404`, errors carry Flux's `{"type","help","error"}` body
//! (JSON when the request accepts it, the help text otherwise).
//!
//! Requests are parsed strictly: a body is at most [`MAX_BODY`] bytes
//! (larger: `413`), JSON bodies are decoded whatever their Content-Type
//! (fluxctl sends none), and a body or query parameter that does not parse
//! is a `400` naming the parameter and what is wrong with it.
//!
//! Authentication is optional: with `--api-token-file`, every route but the
//! probes (`/healthz`, `/readyz`, and `GET /api/flux/v6/identity.pub`, Flux's
//! probe path) wants `Authorization: Bearer <token>` (or fluxctl's
//! `Authorization: Scope-Probe token=<token>`), and answers `401` without
//! it. Without the flag fluxd is open to whoever reaches the port, as Flux
//! v1 was.
//!
//! What the routes read comes from three places: the job queue
//! ([`JobQueue`]: jobs, syncs, notifications), the registry's view
//! ([`ImageSource`]) and the read side ([`ClusterView`]: workloads, the
//! export, from the cluster and the synced revision in git).

mod cache;
mod fingerprint;
mod handlers;
mod read;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) use fingerprint::public_ssh_key;
pub use read::{ClusterView, GitView, WorkloadsConfig};

use crate::api::{ApiError, ErrorType, STATUS_DEPRECATED, routes};
use crate::contract::{ImageSource, JobQueue};
use crate::health::Health;
use crate::identity::DeployKey;
use crate::metrics::{METRICS_CONTENT_TYPE, Metrics};

/// The largest request body fluxd reads (1 MiB): far above any update
/// spec fluxctl sends (a release of a thousand workloads is some 60 KiB).
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// The image source that knows no repository: listings show Flux's "image
/// data not available", as with `--registry-disable-scanning`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NoImages;

impl ImageSource for NoImages {
    fn images(&self, _repository: &str) -> Option<Vec<crate::api::ImageInfo>> {
        None
    }
}

/// Where the deploy key the API shows comes from.
#[derive(Clone, Debug, Default)]
pub enum Identity {
    /// The key in the deploy-key Secret (shown, and regenerated on demand).
    Secret(Box<DeployKey>),
    /// A key file given to fluxd: shown when its public half is known,
    /// never regenerated.
    File(Option<gitsync::PublicKeyInfo>),
    /// No ssh key (the remote is not reached over ssh).
    #[default]
    None,
}

/// The repository as `/v9/git-repo-config` describes it.
#[derive(Clone, Debug, Default)]
pub struct RepoDescription {
    /// The URL without credentials.
    pub url: String,
    /// The branch (empty: the remote's default).
    pub branch: String,
    /// `--git-path`s joined by `,`.
    pub paths: String,
}

/// Everything the server needs, built in code (see [`Api::router`]).
pub struct Api {
    jobs: Option<Arc<dyn JobQueue>>,
    images: Arc<dyn ImageSource>,
    cluster: Option<Arc<ClusterView>>,
    identity: Identity,
    repo: RepoDescription,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    token: Option<String>,
    serve_metrics: bool,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("jobs", &self.jobs.is_some())
            .field("cluster", &self.cluster.is_some())
            .field("identity", &self.identity)
            .field("repo", &self.repo)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("serve_metrics", &self.serve_metrics)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// A server with no job queue, no images, no cluster and no key: the
    /// job routes answer a `server` error, listings are empty.
    pub fn new(metrics: Arc<Metrics>, health: Arc<Health>) -> Self {
        Self {
            jobs: None,
            images: Arc::new(NoImages),
            cluster: None,
            identity: Identity::None,
            repo: RepoDescription::default(),
            metrics,
            health,
            token: None,
            serve_metrics: true,
        }
    }

    /// The job queue the job routes go to.
    #[must_use]
    pub fn with_jobs(mut self, jobs: Arc<dyn JobQueue>) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// The registry's view of images.
    #[must_use]
    pub fn with_images(mut self, images: Arc<dyn ImageSource>) -> Self {
        self.images = images;
        self
    }

    /// The read side: workloads and the export.
    #[must_use]
    pub fn with_cluster(mut self, cluster: ClusterView) -> Self {
        self.cluster = Some(Arc::new(cluster));
        self
    }

    /// The deploy key.
    #[must_use]
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// The repository description.
    #[must_use]
    pub fn with_repo(mut self, repo: RepoDescription) -> Self {
        self.repo = repo;
        self
    }

    /// The bearer token every route but the probes wants.
    #[must_use]
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Whether `/metrics` is served with the API (not when
    /// `--listen-metrics` serves it elsewhere).
    #[must_use]
    pub fn serving_metrics(mut self, serve: bool) -> Self {
        self.serve_metrics = serve;
        self
    }

    /// The router: one handler for every path.
    pub fn router(self) -> Router {
        Router::new().fallback(dispatch).with_state(Arc::new(self))
    }
}

/// The router of a metrics-only listener (`--listen-metrics`).
pub(crate) fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().fallback(move |request: Request<Body>| {
        let metrics = metrics.clone();
        async move {
            if request.uri().path() == "/metrics" {
                metrics_answer(&metrics)
            } else {
                (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
            }
        }
    })
}

/// Binds `addr` and serves `router` until `shutdown` completes. A port that
/// cannot be bound is an error naming `flag`.
pub(crate) async fn serve(
    addr: SocketAddr,
    flag: &'static str,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<()>, crate::Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| crate::Error::flag(flag, format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, flag, "listening");
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(%error, flag, "the listener stopped");
        }
    }))
}

fn metrics_answer(metrics: &Metrics) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        metrics.encode(),
    )
        .into_response()
}

/// Route names of the answers that are no route of Flux's.
mod other {
    pub(super) const METRICS: &str = "Metrics";
    pub(super) const HEALTHZ: &str = "Healthz";
    pub(super) const READYZ: &str = "Readyz";
    pub(super) const DEPRECATED: &str = "Deprecated";
    pub(super) const NOT_FOUND: &str = "NotFound";
}

/// A failed request: the status and Flux's error.
#[derive(Debug)]
pub(crate) struct Failure {
    status: u16,
    error: ApiError,
}

impl Failure {
    /// A request that does not parse (400), naming what is wrong.
    pub(crate) fn bad_request(message: String) -> Self {
        Self {
            status: 400,
            error: ApiError {
                kind: ErrorType::User,
                help: format!(
                    "Error: {message}\n\nThe request is not one fluxd understands; check the client's version.\n"
                ),
                error: message,
            },
        }
    }

    /// An error with its type's status.
    pub(crate) fn of(error: ApiError) -> Self {
        Self {
            status: error.status_code(),
            error,
        }
    }

    /// A `server` error (500): something fluxd depends on failed.
    pub(crate) fn server(message: String) -> Self {
        Self::of(ApiError {
            kind: ErrorType::Server,
            help: format!(
                "Error: {message}\n\nSomething fluxd depends on failed; the request may succeed later.\n"
            ),
            error: message,
        })
    }

    /// A `user` error (422) with Flux's cover-all help.
    pub(crate) fn user(message: &str) -> Self {
        Self::of(ApiError::cover_all(message))
    }
}

/// What a handler answers.
pub(crate) type Answer = Result<Response, Failure>;

/// The error answer, negotiated as Flux's `WriteError` did: JSON when the
/// request accepts it, the help text when it accepts something else, the
/// one-line error when it says nothing.
fn error_response(failure: Failure, headers: &HeaderMap) -> Response {
    let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    match accept {
        Some(accept) if accept.contains("json") || accept.contains("*/*") => (
            status,
            [(header::CONTENT_TYPE, routes::CONTENT_TYPE_JSON)],
            serde_json::to_string(&failure.error).unwrap_or_default(),
        )
            .into_response(),
        Some(_) => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            failure.error.help,
        )
            .into_response(),
        None => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            failure.error.error,
        )
            .into_response(),
    }
}

/// Whether the request carries the token, as a bearer token or as
/// fluxctl's `Scope-Probe token=`.
fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let given = given
        .strip_prefix("Bearer ")
        .or_else(|| given.strip_prefix("Scope-Probe token="))
        .unwrap_or("")
        .trim();
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorised() -> Failure {
    Failure {
        status: 401,
        error: ApiError::unauthorized(),
    }
}

async fn dispatch(State(api): State<Arc<Api>>, request: Request<Body>) -> Response {
    let began = Instant::now();
    let method = request.method().clone();
    let headers = request.headers().clone();
    let path = request.uri().path().to_owned();
    let (route, answer) = route_request(&api, request).await;
    let response = match answer {
        Ok(response) => response,
        Err(failure) => {
            if failure.status >= 500 {
                tracing::warn!(method = %method, route, error = %failure.error.error, "request failed");
            } else {
                tracing::debug!(method = %method, route, path = %path, status = failure.status, error = %failure.error.error, "request refused");
            }
            error_response(failure, &headers)
        }
    };
    api.metrics.request(
        method.as_str(),
        route,
        response.status().as_u16(),
        began.elapsed(),
    );
    response
}

async fn route_request(api: &Api, request: Request<Body>) -> (&'static str, Answer) {
    let path = request.uri().path();
    match path {
        "/metrics" if api.serve_metrics => {
            return (other::METRICS, Ok(metrics_answer(&api.metrics)));
        }
        "/healthz" => return (other::HEALTHZ, Ok(probe(api.health.live()))),
        "/readyz" => return (other::READYZ, Ok(probe(api.health.ready()))),
        _ => {}
    }
    let Some(rest) = path
        .strip_prefix(routes::PREFIX)
        .filter(|rest| rest.starts_with('/'))
    else {
        return (
            other::NOT_FOUND,
            Err(Failure::of(ApiError::not_found(path))),
        );
    };
    let version = rest.trim_start_matches('/').split('/').next().unwrap_or("");
    if routes::DEPRECATED_VERSIONS.contains(&version) {
        return (
            other::DEPRECATED,
            Err(Failure {
                status: STATUS_DEPRECATED,
                error: ApiError::deprecated(),
            }),
        );
    }
    let query = handlers::Query::parse(request.uri().query());
    let method = request.method();
    let Some(route) = routes::ROUTES.iter().find(|route| {
        route.path == rest
            && (route.method == method.as_str()
                || (route.name == routes::EXPORT.name && method == Method::HEAD))
            && route.required_query.iter().all(|name| query.has(name))
    }) else {
        return (
            other::NOT_FOUND,
            Err(Failure::of(ApiError::not_found(path))),
        );
    };
    if let Some(token) = &api.token
        && *route != routes::GET_PUBLIC_SSH_KEY
        && !authorised(request.headers(), token)
    {
        return (route.name, Err(unauthorised()));
    }
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_BODY).await else {
        return (
            route.name,
            Err(Failure {
                status: 413,
                error: ApiError {
                    kind: ErrorType::User,
                    help: format!("Error: the request body is larger than {MAX_BODY} bytes\n"),
                    error: format!("request body larger than {MAX_BODY} bytes"),
                },
            }),
        );
    };
    (
        route.name,
        handlers::handle(api, route, &query, &body).await,
    )
}

fn probe(state: Result<(), crate::health::Unhealthy>) -> Response {
    match state {
        Ok(()) => (StatusCode::OK, "OK\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}
