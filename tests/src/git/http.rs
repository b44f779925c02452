//! Smart HTTP: `git http-backend` as CGI behind a small axum server on
//! 127.0.0.1 that checks credentials before handing a request over.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::io::AsyncWriteExt as _;

use crate::Error;

/// Largest request body the fixture accepts (a push of test repositories).
const MAX_BODY: usize = 64 << 20;

/// What the server demands before serving a request.
#[derive(Clone, Debug)]
pub enum Access {
    /// Anyone may fetch and push.
    Anonymous,
    /// HTTP basic auth with exactly these credentials.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer <token>` with exactly this token.
    Bearer {
        /// The token.
        token: String,
    },
}

/// A smart-HTTP git server for the repositories under a directory, stopped on drop.
#[derive(Debug)]
pub struct GitHttpServer {
    addr: SocketAddr,
    refused: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Config {
    root: PathBuf,
    access: Access,
    refused: Arc<AtomicUsize>,
}

impl GitHttpServer {
    /// Serves the repositories under `root` (so `<root>/a/b.git` is
    /// `http://127.0.0.1:PORT/a/b.git`) on a free port.
    pub fn start(root: &Path, access: Access) -> Result<Self, Error> {
        let refused = Arc::new(AtomicUsize::new(0));
        let config = Arc::new(Config {
            root: root.to_owned(),
            access,
            refused: refused.clone(),
        });
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("git-http-fixture".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::io("starting a tokio runtime", e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(Error::io("binding 127.0.0.1:0", e)));
                            return;
                        }
                    };
                    let _ = ready_tx.send(
                        listener
                            .local_addr()
                            .map_err(|e| Error::io("reading the bound address", e)),
                    );
                    let app = axum::Router::new().fallback(serve).with_state(config);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stop.await;
                        })
                        .await;
                });
            })
            .map_err(|e| Error::io("spawning the git http thread", e))?;
        let addr = ready_rx.recv().map_err(|_| {
            Error::io(
                "starting the git http server",
                std::io::ErrorKind::Other.into(),
            )
        })??;
        Ok(Self {
            addr,
            refused,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// How many requests were refused for missing or wrong credentials.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn authorized(access: &Access, request: &Request) -> bool {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    match access {
        Access::Anonymous => true,
        Access::Basic { username, password } => given
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
            })
            .is_some_and(|decoded| decoded == format!("{username}:{password}").as_bytes()),
        Access::Bearer { token } => given
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|given| given == token),
    }
}

async fn serve(State(config): State<Arc<Config>>, request: Request) -> Response {
    if !authorized(&config.access, &request) {
        config.refused.fetch_add(1, Ordering::SeqCst);
        let mut response = (StatusCode::UNAUTHORIZED, "authentication required").into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"git fixture\""),
        );
        return response;
    }
    match run_backend(&config.root, request).await {
        Ok(response) => response,
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Hands the request to `git http-backend` and turns its CGI output into a response.
async fn run_backend(root: &Path, request: Request) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| Error::io("reading the request body", std::io::Error::other(e)))?;
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "fixture")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header(header::CONTENT_ENCODING))
        .env(
            "GIT_PROTOCOL",
            parts
                .headers
                .get("git-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| Error::io("starting git http-backend", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .await
            .map_err(|e| Error::io("writing to git http-backend", e))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| Error::io("waiting for git http-backend", e))?;
    cgi_response(&output.stdout).ok_or_else(|| Error::Command {
        command: "git http-backend".to_owned(),
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Parses CGI output: headers (with an optional `Status:`), a blank line, the body.
fn cgi_response(output: &[u8]) -> Option<Response> {
    let (head, body) = split_headers(output)?;
    let mut response = Response::new(Body::from(body.to_vec()));
    for line in std::str::from_utf8(head).ok()?.lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse::<u16>().ok()?;
            *response.status_mut() = StatusCode::from_u16(code).ok()?;
        } else {
            response.headers_mut().append(
                header::HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            );
        }
    }
    Some(response)
}

fn split_headers(output: &[u8]) -> Option<(&[u8], &[u8])> {
    for separator in [&b"\r\n\r\n"[..], b"\n\n"] {
        if let Some(at) = output.windows(separator.len()).position(|w| w == separator) {
            return Some((&output[..at], &output[at + separator.len()..]));
        }
    }
    None
}
