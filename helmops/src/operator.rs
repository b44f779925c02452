//! The operator a daemon embeds: configuration, start-up checks, the watch
//! loops, the status updater and shutdown.
//!
//! [`OperatorConfig`] names mirror the flags of Flux's helm-operator 1.4.
//! [`Operator::new`] prepares its private state directory, detects helm,
//! starts watching Helm's storage, and finds which HelmRelease kinds the
//! cluster serves (the CRDs are a cluster admin's to apply; a kind whose CRD
//! is absent is looked for again every [`OperatorConfig::discovery_interval`]
//! and watched from when it appears, without a restart).
//! [`Operator::run`] then watches HelmReleases in the allowed namespaces only
//! (one watch per namespace and kind, so a namespace-scoped Role suffices),
//! reconciles each on change and every `charts_sync_interval` with at most
//! `workers` at once, refreshes `status.releaseStatus` every
//! `status_update_interval` from the storage watch (no helm call), and
//! uninstalls releases through a finalizer when their HelmRelease is deleted.
//!
//! One reconcile's panic is caught, reported on its HelmRelease and logged;
//! the other releases and the watch loops go on.
//!
//! On shutdown no new reconcile starts; those running get
//! [`OperatorConfig::shutdown_grace`], then their helm processes are stopped
//! ([`Helm::terminate`]). A release an interrupted helm left `pending-*` is
//! recovered by the next start (see [`crate::reconcile`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use kube::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::Error;
use crate::access::{self, AccessPolicy};
use crate::api::{v1, v1alpha2, v1beta1};
use crate::chart::{ChartSources, ChartSourcesSettings, DaemonRepository, GitCharts};
use crate::chartrepo::ChartRepositories;
use crate::helm::{Helm, HelmSettings, TERM_GRACE};
use crate::metrics::OperatorMetrics;
use crate::model::HelmReleaseResource;
use crate::reconcile::{ERROR_REQUEUE, ReconcileOutcome, Reconciler, ReconcilerSettings};
use crate::storage::ReleaseStorage;
use crate::values::ValuesResolver;

/// How long [`Operator::run`] waits for the first list of Helm's storage.
const STORAGE_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The finalizer that makes deleting a HelmRelease uninstall its release.
pub const FINALIZER: &str = "helm.fluxcd.io/finalizer";

/// Settings of the operator; names follow Flux's helm-operator flags.
///
/// Start from [`OperatorConfig::new`] (helm-operator's defaults) and change
/// what differs with the `with_*` setters; new settings come with defaults.
///
/// ```
/// let config = helmops::OperatorConfig::new()
///     .with_allow_namespaces(["demo"])
///     .with_state_dir("/var/lib/fluxd/helm-operator");
/// assert_eq!(config.workers, 2);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OperatorConfig {
    /// `--helm-binary`: the helm executable (Helm 3 or 4).
    pub helm_binary: PathBuf,
    /// Kubeconfig helm runs with; `None` for in-cluster credentials.
    pub kubeconfig: Option<PathBuf>,
    /// `--allow-namespace`: namespaces to watch; all when empty.
    pub allow_namespaces: Vec<String>,
    /// `--charts-sync-interval`: how often every release is checked again.
    pub charts_sync_interval: Duration,
    /// `--status-update-interval`: how often `status.releaseStatus` is
    /// refreshed from Helm's storage.
    pub status_update_interval: Duration,
    /// `--git-default-ref`: ref for git charts that name none.
    pub git_default_ref: String,
    /// `--update-chart-deps`: run `helm dependency update` for charts with
    /// dependencies (unless the release says `skipDepUpdate`).
    pub update_chart_deps: bool,
    /// `--log-release-diffs`: log values differences before upgrades, secret
    /// values masked.
    pub log_release_diffs: bool,
    /// `--workers`: releases reconciled at once.
    pub workers: usize,
    /// Directory the operator owns (made private, 0700): helm's homes,
    /// downloads, scratch space. Never a shared temporary directory by default.
    pub state_dir: PathBuf,
    /// Name under which events are reported.
    pub reporter: String,
    /// `--tiller-namespace`: where Helm 2 kept its releases; looked at so a
    /// Helm 2 release is never installed a second time. `None`: not looked at.
    pub tiller_namespace: Option<String>,
    /// What HelmReleases may make the operator reach.
    pub policy: AccessPolicy,
    /// How long reconciles in progress may go on after shutdown is asked,
    /// before their helm processes are stopped.
    pub shutdown_grace: Duration,
    /// How often CRDs that were not served are looked for again.
    pub discovery_interval: Duration,
    /// First wait before a failed release is retried unchanged (doubling,
    /// up to `max_retry_backoff`); `None`: the charts sync interval.
    pub retry_backoff: Option<Duration>,
    /// Longest wait before a failed release is retried unchanged.
    pub max_retry_backoff: Duration,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            helm_binary: PathBuf::from("helm"),
            kubeconfig: None,
            allow_namespaces: Vec::new(),
            charts_sync_interval: Duration::from_secs(180),
            status_update_interval: Duration::from_secs(10),
            git_default_ref: "master".to_owned(),
            update_chart_deps: true,
            log_release_diffs: false,
            workers: 2,
            state_dir: default_state_dir(),
            reporter: "helm-operator".to_owned(),
            tiller_namespace: Some("kube-system".to_owned()),
            policy: AccessPolicy::default(),
            shutdown_grace: Duration::from_secs(20),
            discovery_interval: Duration::from_secs(30),
            retry_backoff: None,
            max_retry_backoff: Duration::from_secs(3600),
        }
    }
}

impl OperatorConfig {
    /// helm-operator's defaults (the same as [`OperatorConfig::default`]):
    /// `helm` from `PATH`, every namespace, releases checked every 3
    /// minutes, two workers, the state directory of [`default_state_dir`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`helm_binary`](Self::helm_binary).
    #[must_use]
    pub fn with_helm_binary(mut self, helm_binary: impl Into<PathBuf>) -> Self {
        self.helm_binary = helm_binary.into();
        self
    }

    /// Sets [`kubeconfig`](Self::kubeconfig).
    #[must_use]
    pub fn with_kubeconfig(mut self, kubeconfig: impl Into<Option<PathBuf>>) -> Self {
        self.kubeconfig = kubeconfig.into();
        self
    }

    /// Sets [`allow_namespaces`](Self::allow_namespaces).
    #[must_use]
    pub fn with_allow_namespaces(
        mut self,
        allow_namespaces: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.allow_namespaces = allow_namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`charts_sync_interval`](Self::charts_sync_interval).
    #[must_use]
    pub fn with_charts_sync_interval(mut self, charts_sync_interval: Duration) -> Self {
        self.charts_sync_interval = charts_sync_interval;
        self
    }

    /// Sets [`status_update_interval`](Self::status_update_interval).
    #[must_use]
    pub fn with_status_update_interval(mut self, status_update_interval: Duration) -> Self {
        self.status_update_interval = status_update_interval;
        self
    }

    /// Sets [`git_default_ref`](Self::git_default_ref).
    #[must_use]
    pub fn with_git_default_ref(mut self, git_default_ref: impl Into<String>) -> Self {
        self.git_default_ref = git_default_ref.into();
        self
    }

    /// Sets [`update_chart_deps`](Self::update_chart_deps).
    #[must_use]
    pub fn with_update_chart_deps(mut self, update_chart_deps: bool) -> Self {
        self.update_chart_deps = update_chart_deps;
        self
    }

    /// Sets [`log_release_diffs`](Self::log_release_diffs).
    #[must_use]
    pub fn with_log_release_diffs(mut self, log_release_diffs: bool) -> Self {
        self.log_release_diffs = log_release_diffs;
        self
    }

    /// Sets [`workers`](Self::workers).
    #[must_use]
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets [`state_dir`](Self::state_dir).
    #[must_use]
    pub fn with_state_dir(mut self, state_dir: impl Into<PathBuf>) -> Self {
        self.state_dir = state_dir.into();
        self
    }

    /// Sets [`reporter`](Self::reporter).
    #[must_use]
    pub fn with_reporter(mut self, reporter: impl Into<String>) -> Self {
        self.reporter = reporter.into();
        self
    }

    /// Sets [`tiller_namespace`](Self::tiller_namespace).
    #[must_use]
    pub fn with_tiller_namespace(mut self, tiller_namespace: impl Into<Option<String>>) -> Self {
        self.tiller_namespace = tiller_namespace.into();
        self
    }

    /// Sets [`policy`](Self::policy).
    #[must_use]
    pub fn with_policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets [`shutdown_grace`](Self::shutdown_grace).
    #[must_use]
    pub fn with_shutdown_grace(mut self, shutdown_grace: Duration) -> Self {
        self.shutdown_grace = shutdown_grace;
        self
    }

    /// Sets [`discovery_interval`](Self::discovery_interval).
    #[must_use]
    pub fn with_discovery_interval(mut self, discovery_interval: Duration) -> Self {
        self.discovery_interval = discovery_interval;
        self
    }

    /// Sets [`retry_backoff`](Self::retry_backoff).
    #[must_use]
    pub fn with_retry_backoff(mut self, retry_backoff: impl Into<Option<Duration>>) -> Self {
        self.retry_backoff = retry_backoff.into();
        self
    }

    /// Sets [`max_retry_backoff`](Self::max_retry_backoff).
    #[must_use]
    pub fn with_max_retry_backoff(mut self, max_retry_backoff: Duration) -> Self {
        self.max_retry_backoff = max_retry_backoff;
        self
    }
}

/// The default state directory: `$XDG_STATE_HOME/fluxd/helm-operator`, else
/// `$HOME/.local/state/fluxd/helm-operator`, else
/// `/var/lib/fluxd/helm-operator`; never a shared temporary directory.
pub fn default_state_dir() -> PathBuf {
    let suffix = Path::new("fluxd").join("helm-operator");
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(state).join(suffix);
    }
    if let Some(home) = std::env::home_dir().filter(|h| h.is_absolute()) {
        return home.join(".local").join("state").join(suffix);
    }
    Path::new("/var/lib").join(suffix)
}

/// Creates `dir` (and its parents) and makes it private to this user (0700);
/// refuses one that another user owns.
pub fn prepare_state_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let context = |what: &str| format!("{what} the state directory {}", dir.display());
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(context("creating the parent of"), e))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(context("creating"), e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(context("inspecting"), e))?;
    if !meta.is_dir() {
        return Err(Error::Startup {
            reason: format!(
                "the state directory {} is not a directory (a symlink?)",
                dir.display()
            ),
        });
    }
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        return Err(Error::Startup {
            reason: format!(
                "the state directory {} belongs to user {}, not to this process's user {me}: choose another with --state-dir",
                dir.display(),
                meta.uid()
            ),
        });
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(context("making private"), e))?;
    }
    Ok(())
}

/// Which HelmRelease kinds the cluster serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServedKinds {
    /// `flux.weave.works/v1beta1`.
    pub v1beta1: bool,
    /// `helm.fluxcd.io/v1`.
    pub v1: bool,
    /// `helm.integrations.flux.weave.works/v1alpha2`.
    pub v1alpha2: bool,
}

/// What a running operator offers the HTTP server beside it: its metrics,
/// and asking for a git sync (`POST /api/v1/sync-git`).
#[derive(Clone)]
pub struct OperatorHandle {
    metrics: OperatorMetrics,
    sync_git: tokio::sync::watch::Sender<u64>,
    git: Option<Arc<dyn GitCharts>>,
    daemon: Option<Arc<dyn DaemonRepository>>,
}

impl std::fmt::Debug for OperatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorHandle")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl OperatorHandle {
    /// The operator's metrics.
    pub fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    /// Makes every git chart source fetch and every release be reconciled
    /// now (asynchronously, as helm-operator's `POST /api/v1/sync-git`).
    pub fn sync_git(&self) {
        let git = self.git.clone();
        let daemon = self.daemon.clone();
        let trigger = self.sync_git.clone();
        tokio::spawn(async move {
            if let Some(git) = &git {
                git.refresh().await;
            }
            if let Some(daemon) = &daemon {
                daemon.refresh().await;
            }
            trigger.send_modify(|n| *n = n.wrapping_add(1));
        });
    }
}

/// The Helm operator.
pub struct Operator {
    reconciler: Arc<Reconciler>,
    config: OperatorConfig,
    client: kube::Client,
    kinds: ServedKinds,
    daemon_given: bool,
    storage_tasks: Vec<JoinHandle<()>>,
    handle: OperatorHandle,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("config", &self.config)
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        for task in &self.storage_tasks {
            task.abort();
        }
    }
}

impl Operator {
    /// Prepares the operator: its private state directory, helm, the watch
    /// of Helm's storage and the served HelmRelease kinds. `git` serves git
    /// chart sources, `daemon` the legacy FluxHelmRelease charts; either may
    /// be absent, and releases needing it then fail with a clear condition.
    pub async fn new(
        client: kube::Client,
        config: OperatorConfig,
        git: Option<Arc<dyn GitCharts>>,
        daemon: Option<Arc<dyn DaemonRepository>>,
    ) -> Result<Self, Error> {
        if config.workers == 0 {
            return Err(Error::Startup {
                reason: "workers must be at least 1".to_owned(),
            });
        }
        for (name, interval) in [
            ("charts-sync-interval", config.charts_sync_interval),
            ("status-update-interval", config.status_update_interval),
        ] {
            if interval.is_zero() {
                return Err(Error::Startup {
                    reason: format!("{name} must be more than zero"),
                });
            }
        }
        let state = &config.state_dir;
        prepare_state_dir(state)?;
        for dir in ["helm", "charts", "scratch"] {
            let path = state.join(dir);
            tokio::fs::create_dir_all(&path)
                .await
                .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        }
        let helm = Helm::detect(HelmSettings {
            binary: config.helm_binary.clone(),
            home: state.join("helm"),
            kubeconfig: config.kubeconfig.clone(),
        })
        .await?;
        let http = access::http_client(&config.policy)?;
        let repositories = ChartRepositories::new(
            http.clone(),
            state.join("charts"),
            config.charts_sync_interval,
            config.policy.clone(),
        );
        let sources = ChartSources::new(
            client.clone(),
            repositories,
            git.clone(),
            daemon.clone(),
            ChartSourcesSettings {
                git_default_ref: config.git_default_ref.clone(),
                update_dependencies: config.update_chart_deps,
                refresh: config.charts_sync_interval,
                work_dir: state.join("charts"),
                policy: config.policy.clone(),
            },
        );
        let (storage, watches) = ReleaseStorage::watch(client.clone(), &config.allow_namespaces);
        let storage_tasks = watches.into_iter().map(tokio::spawn).collect();
        // An API server that cannot answer yet (restarting, overloaded) is
        // no reason to exit: no kind is watched until discovery, tried again
        // every discovery interval, finds the CRDs.
        let mut kinds = match discover(&client).await {
            Ok(kinds) => kinds,
            Err(error) => {
                tracing::warn!(
                    %error,
                    retry_s = config.discovery_interval.as_secs(),
                    "cannot look for the HelmRelease CRDs yet; looking again every discovery interval"
                );
                ServedKinds::default()
            }
        };
        if kinds.v1alpha2 && daemon.is_none() {
            tracing::warn!(
                "FluxHelmRelease CRD is installed but no daemon repository was given (--git-url); FluxHelmReleases are not watched"
            );
            kinds.v1alpha2 = false;
        }
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: config.reporter.clone(),
                instance: std::env::var("HOSTNAME").ok(),
            },
        );
        let metrics = OperatorMetrics::new();
        let reconciler = Reconciler::new(
            client.clone(),
            helm,
            sources,
            ValuesResolver::new(client.clone(), http, config.policy.clone()),
            storage,
            recorder,
            state.join("scratch"),
            config.workers,
            metrics.clone(),
            ReconcilerSettings {
                log_release_diffs: config.log_release_diffs,
                tiller_namespace: config.tiller_namespace.clone(),
                retry_backoff: config.retry_backoff.unwrap_or(config.charts_sync_interval),
                max_retry_backoff: config.max_retry_backoff,
            },
        );
        let handle = OperatorHandle {
            metrics,
            sync_git: tokio::sync::watch::Sender::new(0),
            git,
            daemon: daemon.clone(),
        };
        Ok(Self {
            reconciler: Arc::new(reconciler),
            config,
            client,
            kinds,
            daemon_given: daemon.is_some(),
            storage_tasks,
            handle,
        })
    }

    /// The helm binary in use.
    pub(crate) fn helm(&self) -> &Helm {
        &self.reconciler.helm
    }

    /// How many times this operator has run helm so far (every command:
    /// upgrades, status reads, dependency updates).
    pub fn helm_invocations(&self) -> u64 {
        self.helm().invocations()
    }

    /// The kinds served when the operator started.
    pub fn kinds(&self) -> ServedKinds {
        self.kinds
    }

    /// The handle an HTTP server uses (metrics, sync-git).
    pub fn handle(&self) -> OperatorHandle {
        self.handle.clone()
    }

    /// Waits until Helm's storage has been listed once.
    pub async fn ready(&self) {
        self.reconciler.storage.ready().await;
    }

    /// Reconciles one resource now, outside the watch loops.
    pub async fn reconcile_once<K: HelmReleaseResource>(
        &self,
        obj: &K,
    ) -> Result<ReconcileOutcome, Error> {
        self.reconciler.reconcile(obj).await
    }

    /// Watches and reconciles HelmReleases until `shutdown` completes, then
    /// stops as the module says.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        // Without the storage cache every decision reads Helm's storage from
        // the API instead: slower, still correct.
        if tokio::time::timeout(STORAGE_READY_TIMEOUT, self.ready())
            .await
            .is_err()
        {
            tracing::warn!(
                after = ?STORAGE_READY_TIMEOUT,
                "Helm's storage is not listed yet (can the operator list Secrets in its namespaces?); going on without the cache"
            );
        }
        let shutdown: Shared<BoxFuture<'static, ()>> = shutdown.boxed().shared();
        let watches = Arc::new(Watches {
            operator: WatchContext {
                reconciler: self.reconciler.clone(),
                client: self.client.clone(),
                config: self.config.clone(),
                shutdown: shutdown.clone(),
                sync_git: self.handle.sync_git.clone(),
            },
            running: Mutex::new(Running::default()),
        });
        let started = watches.start(self.kinds).await;
        if started == 0 {
            tracing::warn!(
                "no HelmRelease CRD is installed yet; the Helm operator watches for one to appear"
            );
        }
        tracing::info!(
            namespaces = ?self.config.allow_namespaces,
            kinds = ?self.kinds,
            workers = self.config.workers,
            charts_sync_interval_s = self.config.charts_sync_interval.as_secs(),
            "helm operator running"
        );
        let housekeeping = {
            let watches = watches.clone();
            let daemon_given = self.daemon_given;
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = watches.housekeeping(daemon_given) => {}
                    () = shutdown => {}
                }
            })
        };
        // Dropped before the end (the caller gave up on this future): no
        // watch loop outlives it.
        let guard = AbortOnDrop {
            watches: watches.clone(),
            housekeeping,
        };
        shutdown.clone().await;
        guard.housekeeping.abort();
        let mut handles = std::mem::take(&mut watches.running.lock().await.handles);
        let grace = self.config.shutdown_grace;
        tracing::info!(
            grace_s = grace.as_secs(),
            "stopping: letting releases in progress finish"
        );
        let finished = tokio::time::timeout(grace, futures::future::join_all(handles.iter_mut()))
            .await
            .is_ok();
        if !finished {
            tracing::warn!(
                "stopping: stopping the helm commands still running; the next start recovers their releases"
            );
            self.reconciler.helm.terminate();
            // A finished JoinHandle must not be polled again.
            handles.retain(|handle| !handle.is_finished());
            if tokio::time::timeout(
                TERM_GRACE + Duration::from_secs(2),
                futures::future::join_all(handles.iter_mut()),
            )
            .await
            .is_err()
            {
                for handle in &handles {
                    handle.abort();
                }
            }
        }
        tracing::info!("helm operator stopped");
        Ok(())
    }
}

/// Aborts the watch loops and housekeeping of a run whose future is dropped.
struct AbortOnDrop {
    watches: Arc<Watches>,
    housekeeping: JoinHandle<()>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.housekeeping.abort();
        if let Ok(running) = self.watches.running.try_lock() {
            for handle in &running.handles {
                handle.abort();
            }
        }
    }
}

/// What every watch loop shares.
#[derive(Clone)]
struct WatchContext {
    reconciler: Arc<Reconciler>,
    client: kube::Client,
    config: OperatorConfig,
    shutdown: Shared<BoxFuture<'static, ()>>,
    sync_git: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
struct Running {
    kinds: ServedKinds,
    handles: Vec<JoinHandle<()>>,
    stores: Vec<Arc<dyn WatchedStore>>,
}

/// The watch loops started so far.
struct Watches {
    operator: WatchContext,
    running: Mutex<Running>,
}

/// A controller's cache of one kind, for the status updater.
trait WatchedStore: Send + Sync {
    /// How many objects there are.
    fn len(&self) -> usize;
    /// Refreshes `releaseStatus` of every object that needs it.
    fn refresh<'a>(&'a self, reconciler: &'a Reconciler) -> BoxFuture<'a, ()>;
    /// (target namespace, release name, status) of every object with a status.
    fn statuses(&self) -> Vec<(String, String, crate::api::HelmReleaseStatus)>;
}

struct KindStore<K: HelmReleaseResource> {
    store: Store<K>,
}

impl<K: HelmReleaseResource> WatchedStore for KindStore<K> {
    fn len(&self) -> usize {
        self.store.state().len()
    }

    fn refresh<'a>(&'a self, reconciler: &'a Reconciler) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for obj in &self.store.state() {
                reconciler.refresh_release_status(obj.as_ref()).await;
            }
        })
    }

    fn statuses(&self) -> Vec<(String, String, crate::api::HelmReleaseStatus)> {
        self.store
            .state()
            .iter()
            .filter_map(|obj| {
                let status = obj.release_status()?.clone();
                let release = status.release_name.clone()?;
                let namespace = obj
                    .to_release()
                    .map(|r| r.target_namespace)
                    .unwrap_or_else(|_| {
                        kube::ResourceExt::namespace(obj.as_ref()).unwrap_or_default()
                    });
                Some((namespace, release, status))
            })
            .collect()
    }
}

impl Watches {
    /// Starts watch loops for the served kinds not yet watched; how many started.
    async fn start(&self, served: ServedKinds) -> usize {
        let mut running = self.running.lock().await;
        let scopes: Vec<Option<String>> = if self.operator.config.allow_namespaces.is_empty() {
            vec![None]
        } else {
            self.operator
                .config
                .allow_namespaces
                .iter()
                .cloned()
                .map(Some)
                .collect()
        };
        let mut started = 0;
        let wanted = [
            (
                served.v1beta1 && !running.kinds.v1beta1,
                "flux.weave.works/v1beta1 HelmRelease",
            ),
            (
                served.v1 && !running.kinds.v1,
                "helm.fluxcd.io/v1 HelmRelease",
            ),
            (
                served.v1alpha2 && !running.kinds.v1alpha2,
                "helm.integrations.flux.weave.works/v1alpha2 FluxHelmRelease",
            ),
        ];
        for (index, (start, name)) in wanted.into_iter().enumerate() {
            if !start {
                continue;
            }
            for scope in &scopes {
                let (handle, store) = match index {
                    0 => self.watch::<v1beta1::HelmRelease>(scope.as_deref()),
                    1 => self.watch::<v1::HelmRelease>(scope.as_deref()),
                    _ => self.watch::<v1alpha2::FluxHelmRelease>(scope.as_deref()),
                };
                running.handles.push(handle);
                running.stores.push(store);
                started += 1;
            }
            tracing::info!(kind = name, "watching");
            match index {
                0 => running.kinds.v1beta1 = true,
                1 => running.kinds.v1 = true,
                _ => running.kinds.v1alpha2 = true,
            }
        }
        started
    }

    /// Every status update interval: `releaseStatus`, the release count and
    /// the condition gauges; every discovery interval: CRDs that appeared.
    async fn housekeeping(&self, daemon_given: bool) {
        let config = &self.operator.config;
        let mut status_tick = tokio::time::interval(config.status_update_interval);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut discovery_tick = tokio::time::interval(config.discovery_interval);
        discovery_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        discovery_tick.tick().await;
        loop {
            tokio::select! {
                _ = status_tick.tick() => {
                    let stores: Vec<Arc<dyn WatchedStore>> = self.running.lock().await.stores.clone();
                    let reconciler = &self.operator.reconciler;
                    // The gauges first, from the caches alone; then the writes.
                    let mut statuses = Vec::new();
                    for store in &stores {
                        statuses.extend(store.statuses());
                    }
                    let count: usize = stores.iter().map(|s| s.len()).sum();
                    tracing::debug!(watches = stores.len(), releases = count, "refreshing release statuses");
                    reconciler.metrics.set_release_count(count);
                    reconciler.metrics.reset_conditions(
                        statuses.iter().map(|(ns, name, status)| (ns.as_str(), name.as_str(), status)),
                    );
                    for store in &stores {
                        store.refresh(reconciler).await;
                    }
                }
                _ = discovery_tick.tick() => {
                    let running = self.running.lock().await.kinds;
                    if running.v1beta1 && running.v1 && (running.v1alpha2 || !daemon_given) {
                        continue;
                    }
                    match discover(&self.operator.client).await {
                        Ok(mut served) => {
                            served.v1alpha2 &= daemon_given;
                            self.start(served).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "looking for HelmRelease CRDs"),
                    }
                }
            }
        }
    }

    fn watch<K: HelmReleaseResource>(
        &self,
        namespace: Option<&str>,
    ) -> (JoinHandle<()>, Arc<dyn WatchedStore>) {
        let operator = &self.operator;
        let api: Api<K> = match namespace {
            Some(ns) => Api::namespaced(operator.client.clone(), ns),
            None => Api::all(operator.client.clone()),
        };
        let context = Arc::new(Context {
            reconciler: operator.reconciler.clone(),
            client: operator.client.clone(),
            resync: operator.config.charts_sync_interval,
        });
        let trigger = tokio_stream_of(operator.sync_git.subscribe());
        let controller = Controller::new(api, watcher::Config::default())
            // The workers limit is the reconciler's, across kinds and namespaces.
            .with_config(controller::Config::default().concurrency(0))
            .reconcile_all_on(trigger)
            .graceful_shutdown_on(operator.shutdown.clone());
        let store: Arc<dyn WatchedStore> = Arc::new(KindStore {
            store: controller.store(),
        });
        let scope = namespace.unwrap_or("(all)").to_owned();
        let handle = tokio::spawn(
            controller
                .run(reconcile::<K>, error_policy::<K>, context)
                .for_each(move |result| {
                    let scope = scope.clone();
                    async move {
                        match result {
                            Err(controller::Error::QueueError(error)) => tracing::warn!(
                                namespace = %scope,
                                error = %crate::api_error::describe_watch(&error),
                                "watching HelmReleases"
                            ),
                            Err(controller::Error::ReconcilerFailed(error, _)) => tracing::debug!(
                                namespace = %scope,
                                error = %crate::api_error::describe_finalizer(&error),
                                "helm release reconcile"
                            ),
                            Err(error) => tracing::debug!(namespace = %scope, %error, "helm release reconcile"),
                            Ok(_) => {}
                        }
                    }
                }),
        );
        (handle, store)
    }
}

/// The `sync-git` counter as a stream of triggers (changes only).
fn tokio_stream_of(
    mut receiver: tokio::sync::watch::Receiver<u64>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    receiver.mark_unchanged();
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.changed().await.ok()?;
        Some(((), receiver))
    })
}

struct Context {
    reconciler: Arc<Reconciler>,
    client: kube::Client,
    resync: Duration,
}

async fn reconcile<K: HelmReleaseResource>(
    obj: Arc<K>,
    context: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    let attempt = AssertUnwindSafe(reconcile_guarded(obj.clone(), context.clone()))
        .catch_unwind()
        .await;
    match attempt {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".to_owned());
            tracing::error!(
                resource = %kube::ResourceExt::name_any(obj.as_ref()),
                namespace = %kube::ResourceExt::namespace(obj.as_ref()).unwrap_or_default(),
                panic = %message,
                "reconcile panicked; the other releases go on"
            );
            context
                .reconciler
                .internal_error(obj.as_ref(), &message)
                .await;
            Ok(Action::requeue(context.resync))
        }
    }
}

async fn reconcile_guarded<K: HelmReleaseResource>(
    obj: Arc<K>,
    context: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    let namespace = kube::ResourceExt::namespace(obj.as_ref()).unwrap_or_default();
    let api: Api<K> = Api::namespaced(context.client.clone(), &namespace);
    let resync = context.resync;
    finalizer(&api, FINALIZER, obj, |event| async move {
        match event {
            finalizer::Event::Apply(obj) => {
                let outcome = context.reconciler.reconcile(obj.as_ref()).await?;
                tracing::debug!(?outcome, "reconciled");
                Ok(Action::requeue(resync))
            }
            finalizer::Event::Cleanup(obj) => {
                context.reconciler.cleanup(obj.as_ref()).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
}

// The controller hands the object and context over by value.
#[allow(clippy::needless_pass_by_value)]
fn error_policy<K: HelmReleaseResource>(
    obj: Arc<K>,
    error: &finalizer::Error<Error>,
    context: Arc<Context>,
) -> Action {
    let name = kube::ResourceExt::name_any(obj.as_ref());
    tracing::warn!(
        resource = %name,
        error = %crate::api_error::describe_finalizer(error),
        "reconcile failed; retrying"
    );
    Action::requeue(ERROR_REQUEUE.min(context.resync))
}

/// Which HelmRelease kinds the API server serves.
pub async fn discover(client: &kube::Client) -> Result<ServedKinds, Error> {
    async fn served(
        client: &kube::Client,
        group_version: &str,
        plural: &str,
    ) -> Result<bool, Error> {
        match client.list_api_group_resources(group_version).await {
            Ok(list) => Ok(list.resources.iter().any(|r| r.name == plural)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(e) => Err(Error::kube(format!("discovering {group_version}"), e)),
        }
    }
    Ok(ServedKinds {
        v1beta1: served(client, "flux.weave.works/v1beta1", "helmreleases").await?,
        v1: served(client, "helm.fluxcd.io/v1", "helmreleases").await?,
        v1alpha2: served(
            client,
            "helm.integrations.flux.weave.works/v1alpha2",
            "fluxhelmreleases",
        )
        .await?,
    })
}

/// Convenience: builds an [`Operator`] and runs it until `shutdown`.
pub async fn run(
    client: kube::Client,
    config: OperatorConfig,
    git: Option<Arc<dyn GitCharts>>,
    daemon: Option<Arc<dyn DaemonRepository>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    Operator::new(client, config, git, daemon)
        .await?
        .run(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_state_directory_is_private_and_not_in_tmp_by_default() {
        let default = default_state_dir();
        assert!(
            !default.starts_with(std::env::temp_dir()),
            "{}",
            default.display()
        );
        assert!(default.ends_with("fluxd/helm-operator"));
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/b/state");
        prepare_state_dir(&state).unwrap();
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare_state_dir(&state).unwrap();
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "an open state directory is closed");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        assert!(
            prepare_state_dir(&link).is_err(),
            "a symlinked state directory is refused"
        );
    }
}
