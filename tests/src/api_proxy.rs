//! An HTTPS proxy in front of a control plane's kube-apiserver that answers
//! for it, badly, on demand: 429 with `Retry-After`, 500 or 503, as the real
//! apiserver does when it is overloaded (API priority and fairness), broken
//! (etcd unavailable) or starting, for a number of requests or until told to
//! stop.
//!
//! It terminates TLS with the apiserver's own serving certificate (SANs
//! `127.0.0.1` and `localhost`, signed by the control plane's CA), so a
//! client configured for the cluster trusts it once the kubeconfig's server
//! names the proxy's port ([`ApiProxy::kubeconfig`]). Requests it does not
//! fail go on to the real apiserver with the client's own credentials;
//! answers, watches included, stream back unchanged.
//!
//! The proxy runs on a runtime of its own (two threads), so a test may block
//! its own thread (waiting for a fluxd log line) while the proxy works.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;
use crate::controlplane::ControlPlane;

/// Which requests a fault applies to: method and path (with the query).
pub type RequestFilter = Arc<dyn Fn(&Method, &str) -> bool + Send + Sync>;

/// A fault: answer matching requests with `status` instead of forwarding.
#[derive(Clone)]
pub struct Fault {
    /// The status: 429, 500, 503 ...
    pub status: u16,
    /// `Retry-After` seconds (and the Status body's `retryAfterSeconds`).
    pub retry_after: Option<u64>,
    /// How many requests to fail; `None`: until [`ApiProxy::heal`].
    pub requests: Option<usize>,
    /// Which requests; `None`: all.
    pub only: Option<RequestFilter>,
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fault")
            .field("status", &self.status)
            .field("retry_after", &self.retry_after)
            .field("requests", &self.requests)
            .field("filtered", &self.only.is_some())
            .finish()
    }
}

impl Fault {
    /// Every request answered `status` until healed.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            requests: None,
            only: None,
        }
    }

    /// With `Retry-After: seconds`.
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Only the next `count` matching requests.
    #[must_use]
    pub fn times(mut self, count: usize) -> Self {
        self.requests = Some(count);
        self
    }

    /// Only requests `filter` accepts.
    #[must_use]
    pub fn only(mut self, filter: impl Fn(&Method, &str) -> bool + Send + Sync + 'static) -> Self {
        self.only = Some(Arc::new(filter));
        self
    }

    /// Only server-side applies (`PATCH` with an apply body): what a sync writes.
    #[must_use]
    pub fn applies_only(self) -> Self {
        self.only(|method, _| method == Method::PATCH)
    }
}

#[derive(Default)]
struct Shared {
    fault: Mutex<Option<Fault>>,
    forwarded: AtomicUsize,
    failed: AtomicUsize,
}

/// A running proxy; stops when dropped.
pub struct ApiProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    ca_pem: String,
}

impl std::fmt::Debug for ApiProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ApiProxy {
    /// A proxy to `cluster`'s apiserver on a free loopback port, forwarding.
    pub fn start(cluster: &ControlPlane) -> Result<Self, Error> {
        let upstream: http::Uri = cluster
            .url()
            .parse()
            .map_err(|e| Error::invalid("the control plane's URL", format!("{e}")))?;
        Self::start_with(
            upstream,
            cluster.ca_pem(),
            &cluster.dir().join("apiserver.crt"),
            &cluster.dir().join("apiserver.key"),
        )
    }

    /// A proxy to the apiserver at `upstream` (whose certificate `ca_pem`
    /// signed), serving with the certificate and key in `cert` and `key`.
    pub fn start_with(
        upstream: http::Uri,
        ca_pem: &str,
        cert: &Path,
        key: &Path,
    ) -> Result<Self, Error> {
        let tls = tls_acceptor(cert, key)?;
        let mut config = kube::Config::new(upstream);
        config.root_cert = Some(
            CertificateDer::pem_slice_iter(ca_pem.as_bytes())
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::invalid("the control plane's CA", e.to_string()))?,
        );
        // The client's own credentials are forwarded; the proxy retries nothing.
        config.default_retry = false;
        config.read_timeout = None;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io("binding 127.0.0.1:0", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("making the proxy's socket non-blocking", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (started, ready) = std::sync::mpsc::channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("api-proxy".to_owned())
                .spawn(move || serve(listener, tls, config, shared, stopped, &started))
                .map_err(|e| Error::io("spawning the API proxy", e))?
        };
        ready
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| Error::invalid("the API proxy", "did not start"))?
            .map_err(|message| Error::invalid("the API proxy", message))?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
            ca_pem: ca_pem.to_owned(),
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Writes `dir/kubeconfig-proxy`: `cluster`'s admin kubeconfig with its
    /// server at this proxy.
    pub fn kubeconfig(&self, cluster: &ControlPlane, dir: &Path) -> Result<PathBuf, Error> {
        let path = dir.join("kubeconfig-proxy");
        let text = std::fs::read_to_string(cluster.kubeconfig_path())
            .map_err(|e| Error::io("reading the admin kubeconfig", e))?;
        if !text.contains(cluster.url()) {
            return Err(Error::invalid(
                "the admin kubeconfig",
                "does not name the apiserver's URL",
            ));
        }
        std::fs::write(&path, text.replace(cluster.url(), &self.url()))
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }

    /// The CA the proxy's certificate is signed by.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Fails requests as `fault` says, from now on (replacing any fault).
    pub fn fail(&self, fault: Fault) {
        *lock(&self.shared.fault) = Some(fault);
    }

    /// Forwards every request again.
    pub fn heal(&self) {
        *lock(&self.shared.fault) = None;
    }

    /// How many requests were answered with a fault so far.
    pub fn failed(&self) -> usize {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// How many requests were forwarded so far.
    pub fn forwarded(&self) -> usize {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, Error> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
    };
    let certs = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::invalid(cert.display().to_string(), e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| Error::invalid(key.display().to_string(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("the API proxy's TLS", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::invalid("the API proxy's TLS", e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// TLS connections, handshaken off the accept loop, as axum's listener.
struct TlsListener {
    connections: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    addr: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accept loop ended: the proxy is stopping.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

fn serve(
    listener: std::net::TcpListener,
    tls: TlsAcceptor,
    config: kube::Config,
    shared: Arc<Shared>,
    stopped: tokio::sync::oneshot::Receiver<()>,
    started: &std::sync::mpsc::Sender<Result<(), String>>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = started.send(Err(format!("cannot start its runtime: {e}")));
            return;
        }
    };
    runtime.block_on(async move {
        let setup = (|| {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| format!("cannot listen: {e}"))?;
            let addr = listener
                .local_addr()
                .map_err(|e| format!("no address: {e}"))?;
            let client = kube::Client::try_from(config)
                .map_err(|e| format!("cannot reach the apiserver: {e}"))?;
            Ok::<_, String>((listener, addr, client))
        })();
        let (listener, addr, client) = match setup {
            Ok(parts) => parts,
            Err(message) => {
                let _ = started.send(Err(message));
                return;
            }
        };
        let (send, connections) = tokio::sync::mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                let (tls, send) = (tls.clone(), send.clone());
                tokio::spawn(async move {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = send.send((stream, peer)).await;
                    }
                });
            }
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state((shared, client));
        let _ = started.send(Ok(()));
        let server = axum::serve(TlsListener { connections, addr }, router);
        tokio::select! {
            _ = server => {}
            _ = stopped => {}
        }
        accepting.abort();
    });
    // Open watches are dropped with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// Headers that belong to one connection, not to the request or answer.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
    header::HOST,
];

async fn handle(
    State((shared, client)): State<(Arc<Shared>, kube::Client)>,
    request: Request,
) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if let Some(fault) = take_fault(&shared, request.method(), &path) {
        shared.failed.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(method = %request.method(), path, status = fault.status, "API proxy: fault");
        return fault_answer(&fault);
    }
    shared.forwarded.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return bad_gateway(&format!("reading the request: {e}")),
    };
    let mut upstream = http::Request::builder().method(parts.method).uri(path);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(name) {
            upstream = upstream.header(name, value);
        }
    }
    let upstream = match upstream.body(kube::client::Body::from(body.to_vec())) {
        Ok(request) => request,
        Err(e) => return bad_gateway(&format!("building the request: {e}")),
    };
    match client.send(upstream).await {
        Ok(answer) => {
            let (mut parts, body) = answer.into_parts();
            for name in &HOP_BY_HOP {
                parts.headers.remove(name);
            }
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => bad_gateway(&e.to_string()),
    }
}

/// The fault for this request, if any, counting it down.
fn take_fault(shared: &Shared, method: &Method, path: &str) -> Option<Fault> {
    let mut current = lock(&shared.fault);
    let fault = current.as_mut()?;
    if let Some(only) = &fault.only
        && !only(method, path)
    {
        return None;
    }
    let answer = fault.clone();
    match &mut fault.requests {
        Some(0) => {
            *current = None;
            return None;
        }
        Some(left) => {
            *left -= 1;
            if *left == 0 {
                *current = None;
            }
        }
        None => {}
    }
    Some(answer)
}

/// The answer the real apiserver gives: a `Status` object.
fn fault_answer(fault: &Fault) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (reason, message) = match fault.status {
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.",
        ),
        500 => (
            "InternalError",
            "Internal error occurred: injected by the test's API proxy",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        _ => ("Unknown", "injected by the test's API proxy"),
    };
    let mut body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": fault.status,
    });
    let mut answer = (status, [(header::CONTENT_TYPE, "application/json")]).into_response();
    if let Some(seconds) = fault.retry_after {
        body["details"] = serde_json::json!({"retryAfterSeconds": seconds});
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            answer.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    *answer.body_mut() = Body::from(body.to_string());
    answer
}

fn bad_gateway(message: &str) -> Response {
    (StatusCode::BAD_GATEWAY, format!("API proxy: {message}\n")).into_response()
}
