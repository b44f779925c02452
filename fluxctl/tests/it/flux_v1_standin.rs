//! A stand-in for Flux v1's fluxd, only until fluxd's own HTTP server
//! lands: a real HTTP server (axum on 127.0.0.1, a free port) that answers
//! each request with what a test says Flux v1's fluxd answers, recorded
//! from the reference's JSON, and records what fluxctl sent. It is the one
//! place such a stand-in is allowed; the e2e tests will run against the
//! real fluxd.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One request fluxctl made.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// The method.
    pub(crate) method: String,
    /// The path, `/api/flux/...`.
    pub(crate) path: String,
    /// The raw query string.
    pub(crate) query: String,
    /// The body.
    pub(crate) body: String,
    /// The `Accept` header.
    pub(crate) accept: String,
    /// The `Authorization` header.
    pub(crate) authorization: String,
    /// The `Content-Type` header.
    pub(crate) content_type: String,
}

/// What the stand-in answers.
pub(crate) enum Answer {
    /// 200 with a JSON body, as Flux's `JSONResponse` (Go escapes included).
    Json(&'static str),
    /// 200 with a JSON body built at run time.
    JsonOwned(String),
    /// A status without a body (Ping's 204, Notify's 202).
    Status(u16),
    /// A Flux API error with `Content-Type: application/json`.
    ErrorJson(u16, String),
    /// A plain-text error, as Go's `WriteError` without JSON.
    ErrorText(u16, &'static str),
    /// Answer only after 3 s (204): longer than the tests' `--timeout 1s`.
    Hang,
}

type Handler = dyn Fn(&Recorded) -> Answer + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    log: Mutex<Vec<Recorded>>,
}

/// The running stand-in; stops when dropped.
pub(crate) struct FluxV1Standin {
    /// `http://127.0.0.1:<port>/api/flux`.
    pub(crate) url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
        accept: header(header::ACCEPT),
        authorization: header(header::AUTHORIZATION),
        content_type: header(header::CONTENT_TYPE),
    };
    let answer = (shared.handler)(&recorded);
    shared.log.lock().unwrap().push(recorded);
    let json = |status: u16, body: String| {
        (
            StatusCode::from_u16(status).unwrap(),
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response()
    };
    match answer {
        Answer::Json(body) => json(200, body.to_owned()),
        Answer::JsonOwned(body) => json(200, body),
        Answer::Status(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Answer::ErrorJson(status, body) => json(status, body),
        Answer::ErrorText(status, body) => (
            StatusCode::from_u16(status).unwrap(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

impl FluxV1Standin {
    /// Starts the stand-in; `handler` picks the answer to each request.
    pub(crate) fn start(handler: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, port) = std::sync::mpsc::channel();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready.send(listener.local_addr().unwrap().port()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
            runtime.shutdown_timeout(Duration::from_millis(100));
        });
        let port = port.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            url: format!("http://127.0.0.1:{port}/api/flux"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every request so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The requests to one path (after `/api/flux`).
    pub(crate) fn requests_to(&self, path: &str) -> Vec<Recorded> {
        let full = format!("/api/flux{path}");
        self.requests()
            .into_iter()
            .filter(|r| r.path == full)
            .collect()
    }
}

impl Drop for FluxV1Standin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
