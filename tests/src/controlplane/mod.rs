//! A real Kubernetes control plane for tests: etcd, kube-apiserver and
//! kube-controller-manager, built from Go modules and started on loopback.
//!
//! # Getting one
//! Most tests share one control plane per test binary and work in namespaces of
//! their own:
//!
//! ```no_run
//! # async fn example() -> Result<(), tests::Error> {
//! use tests::controlplane::ControlPlane;
//!
//! let cluster = ControlPlane::shared().await?;   // started on first use
//! let ns = cluster.namespace("apply").await?;     // `apply-3`, deleted on drop
//! let client = cluster.client()?;                 // admin, on this test's runtime
//! let out = tests::controlplane::run(cluster.admin().kubectl()?.args(["get", "sa", "-n", ns.name()]))?;
//! # Ok(()) }
//! ```
//!
//! Tests that change cluster-wide state (CRDs, ClusterRoles, admission) take a
//! [`ControlPlane::private`] one, stopped when dropped.
//!
//! # Users
//! [`ControlPlane::admin`] is a static-token user in `system:masters`.
//! [`ControlPlane::service_account_kubeconfig`] mints a token for any
//! ServiceAccount through the TokenRequest API, and [`ControlPlane::seed_rbac`]
//! applies the seed document's RBAC (tiller and flux, `rbac.authorization.k8s.io/v1`)
//! over three fresh namespaces standing in for `demo`, `flux` and `kube-system`,
//! so fluxd, kubectl or helm can run with exactly the permissions users give it.
//! Each [`Kubeconfig`] builds `kube` clients on the caller's runtime and
//! `kubectl`/`helm` commands whose state lives in a private directory.
//!
//! # What runs
//! etcd (temporary data dir, no fsync), kube-apiserver (its own CA and serving
//! certificate, RBAC, ServiceAccount token issuer, the default admission
//! plugins) and kube-controller-manager with the controllers in
//! [`CONTROLLERS`]. There are no nodes and no scheduler: pods stay Pending,
//! so `helm --wait` and `kubectl rollout status` never finish for charts and
//! workloads with pods (Deployments still get ReplicaSets, status and
//! `observedGeneration`).
//! Processes run under [`crate::process::Server`]'s watchdog, so they stop when
//! the control plane is dropped, when a test panics, or when the test process
//! exits; a janitor removes the directory then too. Set
//! `FLUXRS_CONTROLPLANE_KEEP=1` to keep the directory (logs, kubeconfig).
//!
//! # Binaries
//! See [`Binaries::locate`]: built once by `tests/scripts/build-controlplane.sh`
//! and cached outside the checkout.

mod binaries;
mod kubeconfig;
mod metrics;
mod namespace;
mod pki;
mod processes;
mod rbac;
mod wait;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};

pub use binaries::{Binaries, DIR_ENV};
pub use kubeconfig::{FIELD_MANAGER, Kubeconfig, run, run_failing};
pub use metrics::{RequestCounts, RequestKey};
pub use namespace::TestNamespace;
pub use processes::CONTROLLERS;
pub use rbac::{SEED_RBAC_TEMPLATE, SeedRbac, render_seed_rbac};
pub use wait::wait_for;

use crate::Error;
use crate::process::Server;
use pki::{Pki, random_token};
use processes::{is_port_clash, spawn_janitor, wait_ready, write_files, write_kubeconfig_file};

/// Environment variable that keeps a control plane's directory after it stops.
pub const KEEP_ENV: &str = "FLUXRS_CONTROLPLANE_KEEP";

/// A running control plane. Dropping it stops its processes and removes its
/// directory.
#[derive(Debug)]
pub struct ControlPlane {
    inner: Arc<Inner>,
    /// kube-controller-manager, kube-apiserver, etcd: stopped in this order.
    servers: Mutex<Vec<Server>>,
    janitor: Option<Server>,
    root: Option<tempfile::TempDir>,
    startup: Duration,
    /// What it takes to start kube-apiserver again ([`ControlPlane::stop_apiserver`]).
    apiserver: ApiserverStart,
    /// The TCP proxy between kube-apiserver and etcd, if asked for.
    etcd_proxy: Option<crate::proxy::Proxy>,
}

/// How a control plane is started ([`ControlPlane::start_with`]).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct StartOptions {
    /// kube-apiserver reaches etcd through a [`crate::proxy::Proxy`], which
    /// can add latency ([`ControlPlane::etcd_proxy`]).
    pub etcd_proxy: bool,
}

impl StartOptions {
    /// With a proxy between kube-apiserver and etcd.
    #[must_use]
    pub fn with_etcd_proxy(mut self) -> Self {
        self.etcd_proxy = true;
        self
    }
}

/// kube-apiserver's flags, kept to start it again on the same port.
#[derive(Debug)]
struct ApiserverStart {
    binaries: Binaries,
    files: processes::Files,
    etcd_url: String,
    addr: std::net::SocketAddr,
}

/// What namespaces and seed RBAC keep of their control plane.
#[derive(Debug)]
pub(crate) struct Inner {
    url: String,
    ca_pem: String,
    dir: PathBuf,
    admin: Kubeconfig,
    namespaces_made: AtomicU64,
}

impl ControlPlane {
    /// The control plane shared by every test of this process, started on first
    /// use and stopped when the process exits. If it fails to start, every
    /// caller gets that first error.
    pub async fn shared() -> Result<&'static Self, Error> {
        static SHARED: tokio::sync::OnceCell<Result<ControlPlane, String>> =
            tokio::sync::OnceCell::const_new();
        SHARED
            .get_or_init(|| async { Self::start().await.map_err(|e| e.to_string()) })
            .await
            .as_ref()
            .map_err(|message| Error::SharedControlPlane {
                message: message.clone(),
            })
    }

    /// A control plane of the caller's own, for tests that change cluster-wide
    /// state. Same as [`ControlPlane::start`].
    pub async fn private() -> Result<Self, Error> {
        Self::start().await
    }

    /// Builds the binaries if needed, then starts etcd, kube-apiserver and
    /// kube-controller-manager and waits until the apiserver's `/readyz` says
    /// ok and the controllers have created the `default` ServiceAccount.
    pub async fn start() -> Result<Self, Error> {
        Self::start_with(StartOptions::default()).await
    }

    /// [`ControlPlane::start`] as `options` say (a private control plane).
    pub async fn start_with(options: StartOptions) -> Result<Self, Error> {
        let began = Instant::now();
        let binaries = blocking(Binaries::locate).await?;

        let root = tempfile::Builder::new()
            .prefix("fluxrs-controlplane-")
            .tempdir()
            .map_err(|e| Error::io("creating the control plane's directory", e))?;
        let dir = root.path().to_owned();
        let keep = std::env::var_os(KEEP_ENV).is_some();
        let (root, janitor) = if keep {
            tracing::info!(dir = %dir.display(), "keeping the control plane's directory");
            (None, None)
        } else {
            (Some(root), Some(spawn_janitor(&dir)?))
        };

        let pki = Pki::generate()?;
        let admin_token = random_token()?;
        let controller_manager_token = random_token()?;
        let files = write_files(&dir, &pki, &admin_token, &controller_manager_token)?;

        let (etcd, etcd_url) = {
            let (binaries, dir) = (binaries.clone(), dir.clone());
            blocking(move || processes::start_etcd(&binaries, &dir)).await?
        };
        tracing::debug!(after_ms = began.elapsed().as_millis(), "etcd ready");
        let mut servers = vec![etcd];
        let (etcd_proxy, etcd_url) = if options.etcd_proxy {
            let target = etcd_url
                .trim_start_matches("http://")
                .parse()
                .map_err(|e| Error::invalid("etcd's client URL", format!("{e}")))?;
            let proxy = crate::proxy::Proxy::start(target)?;
            let url = format!("http://{}", proxy.addr());
            (Some(proxy), url)
        } else {
            (None, etcd_url)
        };

        let mut attempt = 1;
        let (admin, url, addr) = loop {
            let addr = crate::net::loopback(crate::net::free_port()?);
            let apiserver = processes::spawn_apiserver(&binaries, &dir, &files, &etcd_url, addr)?;
            let url = format!("https://{addr}");
            write_kubeconfig_file(
                &files.controller_manager_kubeconfig,
                &url,
                &pki.ca_pem,
                "system:kube-controller-manager",
                &controller_manager_token,
            )?;
            servers.insert(0, apiserver);
            servers.insert(
                0,
                processes::spawn_controller_manager(&binaries, &dir, &files)?,
            );
            let admin =
                Kubeconfig::create(&dir, &url, &pki.ca_pem, "admin", &admin_token, "default")
                    .await?;
            match wait_ready(&mut servers, &admin).await {
                Ok(()) => break (admin, url, addr),
                Err(error) if attempt < 3 && is_port_clash(&error) => {
                    tracing::warn!(%error, "apiserver port taken meanwhile; retrying");
                    servers.drain(..2).for_each(drop);
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        };

        let startup = began.elapsed();
        tracing::info!(
            url,
            kubeconfig = %admin.path().display(),
            startup_ms = startup.as_millis(),
            "control plane ready"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                url,
                ca_pem: pki.ca_pem,
                dir,
                admin,
                namespaces_made: AtomicU64::new(0),
            }),
            servers: Mutex::new(servers),
            janitor,
            root,
            startup,
            apiserver: ApiserverStart {
                binaries,
                files,
                etcd_url,
                addr,
            },
            etcd_proxy,
        })
    }

    /// The proxy between kube-apiserver and etcd
    /// ([`StartOptions::with_etcd_proxy`]).
    pub fn etcd_proxy(&self) -> Option<&crate::proxy::Proxy> {
        self.etcd_proxy.as_ref()
    }

    /// Stops kube-apiserver (SIGTERM, as a restart does): its port refuses
    /// connections until [`ControlPlane::start_apiserver`]. For a private
    /// control plane only.
    pub fn stop_apiserver(&self) {
        let mut servers = self
            .servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(apiserver) = servers.iter_mut().find(|s| s.name() == "kube-apiserver") {
            apiserver.stop();
        }
    }

    /// Starts kube-apiserver again on its port, with the same flags, and
    /// waits until it is ready.
    pub async fn start_apiserver(&self) -> Result<(), Error> {
        let start = &self.apiserver;
        let new = processes::spawn_apiserver(
            &start.binaries,
            &self.inner.dir,
            &start.files,
            &start.etcd_url,
            start.addr,
        )?;
        {
            let mut servers = self
                .servers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match servers.iter_mut().find(|s| s.name() == "kube-apiserver") {
                Some(old) => *old = new,
                None => servers.insert(0, new),
            }
        }
        let client = self.client()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.check_running()?;
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| Error::invalid("GET /readyz", e.to_string()))?;
            match client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                _ if Instant::now() >= deadline => {
                    return Err(Error::Timeout {
                        what: "kube-apiserver /readyz after a restart".to_owned(),
                        after: Duration::from_secs(120),
                        log_tail: String::new(),
                    });
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The apiserver's URL, `https://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The CA certificate (PEM) that signed the apiserver's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.inner.ca_pem
    }

    /// The admin user (`system:masters`).
    pub fn admin(&self) -> &Kubeconfig {
        &self.inner.admin
    }

    /// Path of the admin kubeconfig.
    pub fn kubeconfig_path(&self) -> &Path {
        self.inner.admin.path()
    }

    /// A new admin client on the current tokio runtime.
    pub fn client(&self) -> Result<kube::Client, Error> {
        self.inner.admin.client()
    }

    /// Directory holding the processes' files and logs.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// How long [`ControlPlane::start`] took (including finding the binaries).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Fails with the log tail of the first process that is no longer running.
    pub fn check_running(&self) -> Result<(), Error> {
        let mut servers = self
            .servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        servers.iter_mut().try_for_each(Server::check_running)
    }

    /// Log files of etcd, kube-apiserver and kube-controller-manager.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        let servers = self
            .servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        servers.iter().map(|s| s.log_path().to_owned()).collect()
    }

    /// Resident memory (VmRSS, bytes) of each process of this control plane,
    /// by program name, found through `/proc` (processes whose command line
    /// names this control plane's directory).
    pub fn memory(&self) -> Result<Vec<(String, u64)>, Error> {
        processes::resident_memory(&self.inner.dir)
    }

    /// Creates a namespace named `<base>-<n>`, unique in this control plane,
    /// and deletes it when the returned value is dropped.
    pub async fn namespace(&self, base: &str) -> Result<TestNamespace, Error> {
        TestNamespace::create(&self.inner, base).await
    }

    /// A kubeconfig for this cluster that authenticates with `token` as is
    /// (for example a revoked or made-up one, to test how a client handles
    /// 401s); `user` only names it in the file.
    pub async fn kubeconfig_with_token(
        &self,
        user: &str,
        token: &str,
        namespace: &str,
    ) -> Result<Kubeconfig, Error> {
        Kubeconfig::create(
            &self.inner.dir,
            &self.inner.url,
            &self.inner.ca_pem,
            user,
            token,
            namespace,
        )
        .await
    }

    /// Mints a token for ServiceAccount `namespace/name` (which must exist)
    /// through the TokenRequest API, valid for a day, and writes a kubeconfig
    /// for it whose default namespace is `namespace`.
    pub async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Kubeconfig, Error> {
        self.inner.service_account_kubeconfig(namespace, name).await
    }

    /// Mints a token for ServiceAccount `namespace/name` (which must exist)
    /// through the TokenRequest API, valid for a day: what the kubelet
    /// mounts into a pod of that ServiceAccount.
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<String, Error> {
        self.inner.service_account_token(namespace, name).await
    }

    /// Creates three fresh namespaces standing in for the seed's `demo`,
    /// `flux` and `kube-system`, and applies the seed's RBAC over them.
    pub async fn seed_rbac(&self) -> Result<SeedRbac, Error> {
        SeedRbac::apply(&self.inner).await
    }

    /// The apiserver's `apiserver_request_total` counters, read from `/metrics`.
    /// Every client's requests count, the controllers' too: compare two
    /// readings with [`RequestCounts::since`].
    pub async fn request_counts(&self) -> Result<RequestCounts, Error> {
        let client = self.client()?;
        let request = http::Request::get("/metrics")
            .body(Vec::new())
            .map_err(|e| Error::invalid("GET /metrics", e.to_string()))?;
        let text = client
            .request_text(request)
            .await
            .map_err(|e| Error::kube("reading the apiserver's /metrics", e))?;
        RequestCounts::parse(&text)
    }
}

impl Inner {
    pub(crate) async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Kubeconfig, Error> {
        let token = self.service_account_token(namespace, name).await?;
        Kubeconfig::create(
            &self.dir,
            &self.url,
            &self.ca_pem,
            &format!("system:serviceaccount:{namespace}:{name}"),
            &token,
            namespace,
        )
        .await
    }

    pub(crate) async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<String, Error> {
        let api: Api<ServiceAccount> = Api::namespaced(self.admin.client()?, namespace);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(24 * 60 * 60),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let answer = api
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .map_err(|e| {
                Error::kube(
                    format!("requesting a token for ServiceAccount {namespace}/{name}"),
                    e,
                )
            })?;
        let token = answer
            .status
            .and_then(|status| status.token)
            .ok_or_else(|| {
                Error::invalid(
                    format!("TokenRequest for ServiceAccount {namespace}/{name}"),
                    "the answer has no status.token",
                )
            })?;
        Ok(token)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let mut servers = self
            .servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Controllers first, etcd last, each stopped before the next.
        for mut server in servers.drain(..) {
            server.stop();
        }
        if let Some(root) = self.root.take() {
            let _ = root.close();
        }
        // The janitor now finds nothing left to remove.
        drop(self.janitor.take());
    }
}

/// Runs blocking work (process starts, the Go build) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::io("a blocking start-up step", std::io::Error::other(e)))?
}

impl Inner {
    /// A fresh `<base>-<n>` name.
    pub(crate) fn next_namespace_name(&self, base: &str) -> String {
        let n = self.namespaces_made.fetch_add(1, Ordering::Relaxed) + 1;
        namespace_name(base, n)
    }

    pub(crate) fn admin(&self) -> &Kubeconfig {
        &self.admin
    }
}

/// `<base>-<n>` as a valid namespace name (a DNS label): `base` lowercased,
/// anything but ASCII letters and digits turned into `-`, cut to 40 bytes
/// (so any `<n>` still fits 63).
fn namespace_name(base: &str, n: u64) -> String {
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let base = base.trim_matches('-');
    let base = if base.is_empty() { "test" } else { base };
    format!("{base}-{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_dns_labels() {
        assert_eq!(namespace_name("apply", 3), "apply-3");
        assert_eq!(namespace_name("Helm_Admin.v2", 1), "helm-admin-v2-1");
        assert_eq!(namespace_name("--", 7), "test-7");
        assert_eq!(namespace_name("ünïcode", 2), "n-code-2");
        let long = namespace_name(&"x".repeat(100), u64::MAX);
        assert!(long.len() <= 63, "{long}");
    }
}
