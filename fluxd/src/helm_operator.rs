//! Starting the Helm operator, which lives in `helmops`: alone
//! (`fluxd helm-operator`, the chart's second Deployment) or beside the
//! daemon (`fluxd --helm-operator`). Both go through one code path,
//! `run_operator`; they differ only in where FluxHelmRelease charts come
//! from (a mirror of `--git-url` the operator fetches itself, or the
//! daemon's own mirror at the revision it last synced) and in who owns the
//! cluster client.
//!
//! The deploy key is read from the mounted Secret (`/etc/fluxd/ssh/identity`,
//! as helm-operator did) and offered only to the daemon's repository and the
//! hosts in `--git-ssh-allowed-hosts`. The operator's HTTP listener serves
//! `/metrics` (`flux_helm_operator_*`), `/healthz` and
//! `POST /api/v1/sync-git` ([`router`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use gitsync::{KnownHosts, Mirror, Remote, Revision, SshKey};
use helmops::gitcharts::{DaemonMirror, GitAccess, GitsyncCharts};
use helmops::{
    AccessPolicy, DaemonRepository, GitCharts, Operator, OperatorConfig, OperatorHandle,
};

use crate::cli::config::{check_namespace, dedup, deploy_key, known_hosts};
use crate::cli::helm_operator::parse_listen;
use crate::cluster::ClusterConfig;
use crate::{Error, Flags, HelmOperatorFlags, OperatorTuning};

/// Where FluxHelmRelease charts come from when the operator runs alone:
/// the 0.x operator's `--git-url` and `--git-branch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonRepositoryFlags {
    /// The repository.
    pub url: String,
    /// Its branch.
    pub branch: String,
}

/// How the operator reaches git. The default is the flags' defaults: 20 s
/// per network operation, fetches every 5 minutes, no deploy key, no known
/// hosts (ssh remotes refused), charts under `charts`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GitSettings {
    /// `--git-timeout`.
    pub timeout: Duration,
    /// `--git-poll-interval`.
    pub poll_interval: Duration,
    /// The deploy key, when mounted (or `--git-ssh-key`).
    pub ssh_key: Option<SshKey>,
    /// Host keys ssh remotes are checked against.
    pub known_hosts: Option<KnownHosts>,
    /// `--git-ssh-allowed-hosts`.
    pub ssh_allowed_hosts: Vec<String>,
    /// `--git-url`/`--git-branch` of `fluxd helm-operator` (the daemon's own
    /// mirror is used beside the daemon).
    pub daemon_repository: Option<DaemonRepositoryFlags>,
    /// `--git-charts-path`.
    pub charts_path: PathBuf,
}

/// The git flags both forms have, by whichever name each gives them.
struct GitFlags<'a> {
    timeout: Duration,
    poll_interval: Duration,
    ssh_key: Option<&'a std::path::Path>,
    mount: &'a std::path::Path,
    data_key: &'a str,
    known_hosts: Option<&'a std::path::Path>,
    tuning: &'a OperatorTuning,
}

impl Default for GitSettings {
    fn default() -> Self {
        Self {
            timeout: gitsync::DEFAULT_TIMEOUT,
            poll_interval: Duration::from_secs(300),
            ssh_key: None,
            known_hosts: None,
            ssh_allowed_hosts: Vec::new(),
            daemon_repository: None,
            charts_path: PathBuf::from("charts"),
        }
    }
}

impl GitSettings {
    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    #[must_use]
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets [`ssh_key`](Self::ssh_key).
    #[must_use]
    pub fn with_ssh_key(mut self, ssh_key: impl Into<Option<SshKey>>) -> Self {
        self.ssh_key = ssh_key.into();
        self
    }

    /// Sets [`known_hosts`](Self::known_hosts).
    #[must_use]
    pub fn with_known_hosts(mut self, known_hosts: impl Into<Option<KnownHosts>>) -> Self {
        self.known_hosts = known_hosts.into();
        self
    }

    /// Sets [`ssh_allowed_hosts`](Self::ssh_allowed_hosts).
    #[must_use]
    pub fn with_ssh_allowed_hosts(
        mut self,
        ssh_allowed_hosts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.ssh_allowed_hosts = ssh_allowed_hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`daemon_repository`](Self::daemon_repository).
    #[must_use]
    pub fn with_daemon_repository(
        mut self,
        daemon_repository: impl Into<Option<DaemonRepositoryFlags>>,
    ) -> Self {
        self.daemon_repository = daemon_repository.into();
        self
    }

    /// Sets [`charts_path`](Self::charts_path).
    #[must_use]
    pub fn with_charts_path(mut self, charts_path: impl Into<PathBuf>) -> Self {
        self.charts_path = charts_path.into();
        self
    }

    fn from_flags(flags: &GitFlags<'_>) -> Result<Self, Error> {
        Ok(Self {
            timeout: flags.timeout,
            poll_interval: flags.poll_interval,
            ssh_key: deploy_key(flags.ssh_key, flags.mount, flags.data_key)?
                .map(gitsync::SshKey::file),
            known_hosts: known_hosts(flags.known_hosts)?,
            ssh_allowed_hosts: flags.tuning.git_ssh_allowed_hosts.clone(),
            daemon_repository: None,
            charts_path: charts_path(&flags.tuning.git_charts_path)?,
        })
    }
}

/// The Helm operator's configuration: from `fluxd helm-operator`'s flags
/// ([`HelmOperatorConfig::from_flags`]), or built in code with
/// [`HelmOperatorConfig::new`] and the `with_*` setters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HelmOperatorConfig {
    /// The operator's own settings.
    pub operator: OperatorConfig,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// Where `/metrics`, `/healthz` and `/api/v1/sync-git` are served.
    pub listen: Option<SocketAddr>,
    /// Git access.
    pub git: GitSettings,
    /// Tiller and conversion flags given (logged once, ignored).
    pub ignored_flags: Vec<&'static str>,
}

impl HelmOperatorConfig {
    /// The operator with `operator`'s settings, git access by
    /// [`GitSettings::default`], no HTTP listener of its own, and the
    /// cluster found as without `--kubeconfig` ([`crate::ClusterConfig::locate`]).
    pub fn new(operator: OperatorConfig) -> Self {
        Self {
            operator,
            kubeconfig: None,
            listen: None,
            git: GitSettings::default(),
            ignored_flags: Vec::new(),
        }
    }

    /// Sets [`operator`](Self::operator).
    #[must_use]
    pub fn with_operator(mut self, operator: OperatorConfig) -> Self {
        self.operator = operator;
        self
    }

    /// Sets [`kubeconfig`](Self::kubeconfig).
    #[must_use]
    pub fn with_kubeconfig(mut self, kubeconfig: impl Into<Option<PathBuf>>) -> Self {
        self.kubeconfig = kubeconfig.into();
        self
    }

    /// Sets [`listen`](Self::listen).
    #[must_use]
    pub fn with_listen(mut self, listen: impl Into<Option<SocketAddr>>) -> Self {
        self.listen = listen.into();
        self
    }

    /// Sets [`git`](Self::git).
    #[must_use]
    pub fn with_git(mut self, git: GitSettings) -> Self {
        self.git = git;
        self
    }

    /// `fluxd helm-operator`'s flags checked and resolved; errors name the flag.
    pub fn from_flags(flags: &HelmOperatorFlags) -> Result<Self, Error> {
        for namespace in &flags.allow_namespace {
            check_namespace("--allow-namespace", namespace)?;
        }
        let versions: Vec<String> = flags
            .enabled_helm_versions
            .iter()
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .collect();
        if !versions.is_empty() && !versions.iter().any(|v| v == "v3") {
            return Err(Error::flag(
                "--enabled-helm-versions",
                format!(
                    "{:?}: this operator runs Helm 3 releases (with Helm 3 or 4); Helm 2 releases get a condition saying how to migrate them with helm 2to3",
                    versions.join(",")
                ),
            ));
        }
        let daemon_repository = match &flags.git_url {
            Some(url) => {
                gitsync::GitUrl::parse(url).map_err(|e| Error::flag("--git-url", e.to_string()))?;
                Some(DaemonRepositoryFlags {
                    url: url.clone(),
                    branch: flags.git_branch.clone(),
                })
            }
            None => None,
        };
        let mut ignored = flags.tiller.given();
        if versions.iter().any(|v| v == "v2") {
            ignored.push("--enabled-helm-versions=v2");
        }
        if flags.master.is_some() {
            ignored.push("--master");
        }
        let mut operator = operator_config(&flags.tuning)?;
        operator.allow_namespaces = dedup(&flags.allow_namespace);
        operator.kubeconfig.clone_from(&flags.kubeconfig);
        let mut git = GitSettings::from_flags(&GitFlags {
            timeout: flags.git_timeout,
            poll_interval: flags.git_poll_interval,
            ssh_key: flags.git_ssh_key.as_deref(),
            mount: &flags.k8s_secret_volume_mount_path,
            data_key: &flags.k8s_secret_data_key,
            known_hosts: flags.git_known_hosts.as_deref(),
            tuning: &flags.tuning,
        })?;
        // The deploy-key Secret is mounted but still empty: fluxd fills it on
        // its first start, and the kubelet updates the mounted files later.
        // The key file is read at each connection, so it is used once there.
        let mount = &flags.k8s_secret_volume_mount_path;
        if git.ssh_key.is_none() && flags.git_ssh_key.is_none() && mount.is_dir() {
            git.ssh_key = Some(gitsync::SshKey::file(
                mount.join(&flags.k8s_secret_data_key),
            ));
        }
        git.daemon_repository = daemon_repository;
        Ok(Self {
            operator,
            kubeconfig: flags.kubeconfig.clone(),
            listen: Some(parse_listen(&flags.listen)?),
            git,
            ignored_flags: ignored,
        })
    }

    /// `fluxd --helm-operator`: the daemon's flags for the operator beside it.
    pub(crate) fn embedded(flags: &Flags) -> Result<Self, Error> {
        let mut operator = operator_config(&flags.helm_operator_tuning)?;
        operator.allow_namespaces = dedup(&flags.k8s_allow_namespaces);
        operator.kubeconfig.clone_from(&flags.kubeconfig);
        let listen = match &flags.helm_operator_listen {
            Some(addr) => Some(parse_listen(addr).map_err(|e| match e {
                Error::Flag { reason, .. } => Error::flag("--helm-operator-listen", reason),
                other => other,
            })?),
            None => None,
        };
        Ok(Self {
            operator,
            kubeconfig: flags.kubeconfig.clone(),
            listen,
            git: GitSettings::from_flags(&GitFlags {
                timeout: flags.git_timeout,
                poll_interval: flags.git_poll_interval,
                ssh_key: flags.git_ssh_key.as_deref(),
                mount: &flags.k8s_secret_volume_mount_path,
                data_key: &flags.k8s_secret_data_key,
                known_hosts: flags.git_known_hosts.as_deref(),
                tuning: &flags.helm_operator_tuning,
            })?,
            ignored_flags: Vec::new(),
        })
    }

    /// How long the operator may take to stop after a shutdown signal.
    pub fn stop_time(&self) -> Duration {
        self.operator.shutdown_grace + helmops::HELM_TERM_GRACE + Duration::from_secs(2)
    }
}

fn operator_config(tuning: &OperatorTuning) -> Result<OperatorConfig, Error> {
    if tuning.workers == 0 {
        return Err(Error::flag("--workers", "must be at least 1"));
    }
    check_namespace("--tiller-namespace", &tuning.tiller_namespace)?;
    Ok(OperatorConfig::new()
        .with_helm_binary(tuning.helm_binary.clone())
        .with_charts_sync_interval(tuning.charts_sync_interval)
        .with_status_update_interval(tuning.status_update_interval)
        .with_git_default_ref(tuning.git_default_ref.clone())
        .with_update_chart_deps(tuning.update_chart_deps)
        .with_log_release_diffs(tuning.log_release_diffs)
        .with_workers(tuning.workers)
        .with_state_dir(
            tuning
                .state_dir
                .clone()
                .unwrap_or_else(helmops::default_state_dir),
        )
        .with_tiller_namespace(tuning.tiller_namespace.clone())
        .with_policy(
            AccessPolicy::new()
                .with_allow_internal_urls(tuning.allow_internal_urls)
                .with_allow_local_git(tuning.git_allow_local)
                .with_oci_plain_http_hosts(tuning.oci_plain_http_host.clone()),
        )
        .with_shutdown_grace(tuning.shutdown_grace))
}

fn charts_path(path: &str) -> Result<PathBuf, Error> {
    let as_path = std::path::Path::new(path);
    if as_path.is_absolute()
        || as_path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::flag(
            "--git-charts-path",
            format!("{path:?} is not a path inside the repository"),
        ));
    }
    Ok(as_path.to_path_buf())
}

/// `fluxd helm-operator`: the operator alone, until `shutdown`.
pub async fn run_standalone(
    config: HelmOperatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    if !config.ignored_flags.is_empty() {
        tracing::warn!(
            flags = %config.ignored_flags.join(" "),
            "there is no Tiller: releases are made with Helm 3 (or 4) directly; these flags are ignored"
        );
    }
    let Some(cluster) = ClusterConfig::locate(config.kubeconfig.as_deref()).await? else {
        return Err(Error::NoCluster);
    };
    tracing::info!(source = %cluster.source, server = %cluster.config.cluster_url, "cluster configuration");
    let client = cluster.client()?;
    let daemon = match &config.git.daemon_repository {
        Some(repository) => {
            let url = gitsync::GitUrl::parse(&repository.url)
                .map_err(|e| Error::flag("--git-url", e.to_string()))?;
            let mut remote = Remote::new(url).with_timeout(config.git.timeout);
            if let Some(key) = &config.git.ssh_key {
                remote = remote.with_ssh_key(key.clone());
            }
            if let Some(known_hosts) = &config.git.known_hosts {
                remote = remote.with_known_hosts(known_hosts.clone());
            }
            helmops::prepare_state_dir(&config.operator.state_dir)?;
            let mirror = Mirror::open(
                remote,
                config.operator.state_dir.join("daemon").join("mirror"),
                Some(repository.branch.clone()),
            )
            .await?;
            Some(DaemonMirror::polled(
                mirror,
                config.operator.state_dir.join("daemon").join("checkouts"),
                config.git.charts_path.clone(),
                config.git.poll_interval,
            ))
        }
        None => None,
    };
    run_operator(config, client, daemon, None, shutdown).await
}

/// `fluxd --helm-operator`: the operator beside the daemon, sharing its
/// `mirror`; FluxHelmRelease charts come from each revision `synced` says
/// the daemon synced.
pub(crate) async fn run_beside(
    config: HelmOperatorConfig,
    client: kube::Client,
    mirror: Mirror,
    mut synced: tokio::sync::watch::Receiver<Option<Revision>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    helmops::prepare_state_dir(&config.operator.state_dir)?;
    let daemon = DaemonMirror::synced(
        mirror.clone(),
        config.operator.state_dir.join("daemon").join("checkouts"),
        config.git.charts_path.clone(),
    );
    let follower = {
        let daemon = daemon.clone();
        tokio::spawn(async move {
            loop {
                let revision = *synced.borrow_and_update();
                if let Some(revision) = revision {
                    daemon.set(revision).await;
                }
                if synced.changed().await.is_err() {
                    break;
                }
            }
        })
    };
    let result = run_operator(config, client, Some(daemon), Some(mirror), shutdown).await;
    follower.abort();
    result
}

/// The one code path of both forms: git access, the operator, its listener.
async fn run_operator(
    config: HelmOperatorConfig,
    client: kube::Client,
    daemon: Option<DaemonMirror>,
    shared_mirror: Option<Mirror>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let operator_config = config.operator.clone();
    helmops::prepare_state_dir(&operator_config.state_dir)?;
    let deploy_key_urls: Vec<String> = daemon
        .iter()
        .map(|d| d.mirror().remote().url().flux_safe_url())
        .collect();
    let mut charts = GitsyncCharts::new(
        operator_config.state_dir.join("git"),
        config.git.poll_interval,
        GitAccess::new()
            .with_ssh_key(config.git.ssh_key.clone())
            .with_deploy_key_urls(deploy_key_urls)
            .with_deploy_key_hosts(config.git.ssh_allowed_hosts.clone())
            .with_known_hosts(config.git.known_hosts.clone())
            .with_timeout(config.git.timeout)
            .with_policy(operator_config.policy.clone()),
    );
    if let Some(mirror) = shared_mirror {
        charts = charts.with_shared_mirror(mirror);
    }
    let git: Arc<dyn GitCharts> = Arc::new(charts);
    let daemon: Option<Arc<dyn DaemonRepository>> =
        daemon.map(|d| Arc::new(d) as Arc<dyn DaemonRepository>);
    let operator = Operator::new(client, operator_config, Some(git), daemon).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let listener = match config.listen {
        Some(addr) => Some(serve(addr, operator.handle(), stopped.clone()).await?),
        None => None,
    };
    let operator_stopped = {
        let mut stopped = stopped;
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let forward = async move {
        shutdown.await;
        stop.send_replace(true);
    };
    let (result, ()) = tokio::join!(operator.run(operator_stopped), forward);
    if let Some(listener) = listener {
        let _ = listener.await;
    }
    result.map_err(Error::from)
}

/// Binds `addr` and serves [`router`] until `stopped` turns true.
async fn serve(
    addr: SocketAddr,
    handle: OperatorHandle,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::flag("--listen", format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "serving /metrics, /healthz and POST /api/v1/sync-git");
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, router(handle))
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the helm operator's listener stopped");
        }
    }))
}

/// The operator's HTTP routes, as helm-operator served them:
/// `GET /metrics`, `GET /healthz` (200 `OK`), `POST /api/v1/sync-git`
/// (200 `OK`; the sync runs in the background).
pub fn router(handle: OperatorHandle) -> Router {
    let metrics = handle.clone();
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.metrics().encode(),
                    )
                }
            }),
        )
        .route("/healthz", axum::routing::get(|| async { "OK" }))
        .route(
            "/api/v1/sync-git",
            axum::routing::post(move || {
                let handle = handle.clone();
                async move {
                    handle.sync_git();
                    "OK"
                }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n").into_response() })
}
