//! A Helm chart repository served from a directory on 127.0.0.1, in process
//! (axum), with optional basic auth and a log of the paths requested.
//!
//! A test changes what it serves by changing the directory: a garbage
//! `index.yaml`, an archive that is not the one the index names, or a file
//! `NAME.redirect` holding a URL, which makes a request for `NAME` answer
//! `302 Found` to that URL (a repository whose archives live on another
//! host).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use tokio::sync::oneshot;

use crate::Error;

#[derive(Clone)]
struct Shared {
    dir: PathBuf,
    expected_auth: Option<String>,
    requests: Arc<Mutex<Vec<String>>>,
}

/// A running chart repository; stops when dropped.
#[derive(Debug)]
pub struct ChartRepository {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
}

impl ChartRepository {
    /// Serves the files of `dir` (flat: `index.yaml` and `*.tgz`) on a free
    /// port of 127.0.0.1; with `auth`, every request needs those basic-auth
    /// credentials. Must run inside a tokio runtime.
    pub async fn start(dir: PathBuf, auth: Option<(&str, &str)>) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io("binding the chart repository to 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the chart repository's address", e))?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            dir,
            expected_auth: auth.map(|(user, password)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                )
            }),
            requests: requests.clone(),
        };
        let app = Router::new()
            .route("/{file}", axum::routing::get(serve))
            .with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            requests,
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `127.0.0.1:PORT`, for a proxy in front of it.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Paths requested so far (with the answer's status), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for ChartRepository {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(
    State(shared): State<Shared>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let answer = |status: StatusCode, body: Body| {
        Response::builder()
            .status(status)
            .body(body)
            .unwrap_or_default()
    };
    let authorized = shared.expected_auth.as_ref().is_none_or(|expected| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(expected.as_str())
    });
    let response = if !authorized {
        let mut response = answer(StatusCode::UNAUTHORIZED, Body::from("unauthorized\n"));
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"charts\""),
        );
        response
    } else if file.contains('/') || file.starts_with('.') {
        answer(StatusCode::BAD_REQUEST, Body::empty())
    } else if let Ok(to) =
        tokio::fs::read_to_string(shared.dir.join(format!("{file}.redirect"))).await
    {
        let mut response = answer(StatusCode::FOUND, Body::empty());
        if let Ok(location) = header::HeaderValue::from_str(to.trim()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    } else {
        match tokio::fs::read(shared.dir.join(&file)).await {
            Ok(bytes) => answer(StatusCode::OK, Body::from(bytes)),
            Err(_) => answer(StatusCode::NOT_FOUND, Body::empty()),
        }
    };
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(format!("{} {file}", response.status().as_u16()));
    }
    response
}
