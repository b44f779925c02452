//! `kube` clients that record every request they send, so a test can prove
//! what a client did and did not ask: no write in a no-op sync, no
//! cluster-wide list when restricted to namespaces.
//!
//! ```no_run
//! # async fn example() -> Result<(), tests::Error> {
//! use tests::controlplane::ControlPlane;
//! use tests::recording::recording_client;
//!
//! let cluster = ControlPlane::shared().await?;
//! let (client, log) = recording_client(cluster.admin().config())?;
//! // ... use `client` ...
//! assert!(log.writes().is_empty());
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::Error;

/// One request as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, `DELETE`, ...
    pub method: String,
    /// The path, e.g. `/api/v1/namespaces/demo/configmaps`.
    pub path: String,
    /// The query string, without `?` (empty if none).
    pub query: String,
    /// The `Accept` header (empty if none): a metadata-only list asks for
    /// `as=PartialObjectMetadataList`.
    pub accept: String,
}

impl RecordedRequest {
    /// True for requests that may change something (anything but GET, HEAD
    /// and OPTIONS).
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    /// True for a list or watch of a resource across all namespaces: a GET of
    /// a collection under `/api/v1/` or `/apis/<group>/<version>/` without a
    /// `namespaces/<ns>/` part. Discovery (`/api`, `/apis`, a group version's
    /// resource list) and single objects of cluster-scoped kinds are not
    /// lists; a GET of `/api/v1/namespaces` is (a list of namespaces).
    pub fn is_cluster_wide_list(&self) -> bool {
        if self.method != "GET" {
            return false;
        }
        let parts: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let rest = match parts.as_slice() {
            ["api", _version, rest @ ..] => rest,
            ["apis", _group, _version, rest @ ..] => rest,
            _ => return false,
        };
        // `<plural>` alone is a collection; `namespaces/<ns>/...` is scoped,
        // and `namespaces` itself is a list of every namespace.
        rest.len() == 1
    }
}

/// The requests a recording client sent, shared with the client.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl RequestLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every request so far, in the order sent.
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    /// Forgets what was recorded (to count from a later point).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The requests that may have changed something.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.lock()
            .iter()
            .filter(|r| r.is_write())
            .cloned()
            .collect()
    }

    /// The lists and watches across all namespaces.
    pub fn cluster_wide_lists(&self) -> Vec<RecordedRequest> {
        self.lock()
            .iter()
            .filter(|r| r.is_cluster_wide_list())
            .cloned()
            .collect()
    }

    /// How many requests used `method`.
    pub fn count(&self, method: &str) -> usize {
        self.lock().iter().filter(|r| r.method == method).count()
    }

    fn record<B>(&self, request: &http::Request<B>) {
        let uri = request.uri();
        self.lock().push(RecordedRequest {
            method: request.method().as_str().to_owned(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            accept: request
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        });
    }
}

/// A layer that records each request into a [`RequestLog`].
#[derive(Debug, Clone, Default)]
pub struct RecordingLayer {
    log: RequestLog,
}

impl RecordingLayer {
    /// A layer recording into `log`.
    pub fn new(log: RequestLog) -> Self {
        Self { log }
    }
}

impl<S> Layer<S> for RecordingLayer {
    type Service = Recording<S>;

    fn layer(&self, inner: S) -> Recording<S> {
        Recording {
            inner,
            log: self.log.clone(),
        }
    }
}

/// The service [`RecordingLayer`] wraps around a client's stack.
#[derive(Debug, Clone)]
pub struct Recording<S> {
    inner: S,
    log: RequestLog,
}

impl<S, B> Service<http::Request<B>> for Recording<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.log.record(&request);
        self.inner.call(request)
    }
}

/// A client for `config` on the current tokio runtime that records every
/// request into the returned log.
pub fn recording_client(config: &kube::Config) -> Result<(kube::Client, RequestLog), Error> {
    let log = RequestLog::default();
    let client = kube::client::ClientBuilder::try_from(config.clone())
        .map_err(|e| Error::kube("building a recording client", e))?
        .with_layer(&RecordingLayer::new(log.clone()))
        .build();
    Ok((client, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            accept: String::new(),
        }
    }

    #[test]
    fn cluster_wide_lists() {
        for path in [
            "/api/v1/configmaps",
            "/apis/apps/v1/deployments",
            "/api/v1/namespaces",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        ] {
            assert!(get(path).is_cluster_wide_list(), "{path}");
        }
        for path in [
            "/api",
            "/apis",
            "/api/v1",
            "/apis/apps/v1",
            "/api/v1/namespaces/demo/configmaps",
            "/api/v1/namespaces/demo",
            "/apis/apps/v1/namespaces/demo/deployments/web",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
            "/metrics",
        ] {
            assert!(!get(path).is_cluster_wide_list(), "{path}");
        }
        let patch = RecordedRequest {
            method: "PATCH".into(),
            ..get("/api/v1/configmaps")
        };
        assert!(!patch.is_cluster_wide_list());
        assert!(patch.is_write());
        assert!(!get("/api/v1/configmaps").is_write());
    }
}
