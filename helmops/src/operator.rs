//! The operator a daemon embeds: configuration, start-up checks and the
//! watch loops.
//!
//! [`OperatorConfig`] names mirror the flags of Flux's helm-operator.
//! [`Operator::new`] detects helm, starts watching Helm's storage, and finds
//! which HelmRelease kinds the cluster serves (the CRDs are a cluster admin's
//! to apply; a kind whose CRD is absent is skipped with a warning).
//! [`Operator::run`] then watches HelmReleases in the allowed namespaces only
//! (one watch per namespace and kind, so a namespace-scoped Role suffices),
//! resyncs each every `charts_sync_interval`, and uninstalls releases through
//! a finalizer when their HelmRelease is deleted.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use kube::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::Error;
use crate::api::{v1, v1alpha2, v1beta1};
use crate::chart::{ChartSources, ChartSourcesSettings, DaemonRepository, GitCharts};
use crate::chartrepo::ChartRepositories;
use crate::helm::{Helm, HelmSettings};
use crate::model::HelmReleaseResource;
use crate::reconcile::{ERROR_REQUEUE, Outcome, Reconciler};
use crate::storage::ReleaseStorage;
use crate::values::ValuesResolver;

/// How long [`Operator::run`] waits for the first list of Helm's storage.
const STORAGE_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The finalizer that makes deleting a HelmRelease uninstall its release.
pub const FINALIZER: &str = "helm.fluxcd.io/finalizer";

/// Settings of the operator; names follow Flux's helm-operator flags.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// `--helm-binary`: the helm executable (Helm 3 or 4).
    pub helm_binary: PathBuf,
    /// Kubeconfig helm runs with; `None` for in-cluster credentials.
    pub kubeconfig: Option<PathBuf>,
    /// `--k8s-allow-namespace`: namespaces to watch; all when empty.
    pub allow_namespaces: Vec<String>,
    /// `--charts-sync-interval`: how often every release is checked again.
    pub charts_sync_interval: Duration,
    /// `--git-default-ref`: ref for git charts that name none.
    pub git_default_ref: String,
    /// `--update-chart-deps`: run `helm dependency update` for charts with
    /// dependencies (unless the release says `skipDepUpdate`).
    pub update_chart_deps: bool,
    /// `--workers`: helm commands run at once.
    pub workers: usize,
    /// Directory the operator owns: helm's homes, downloads, scratch space.
    pub state_dir: PathBuf,
    /// Name under which events are reported.
    pub reporter: String,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            helm_binary: PathBuf::from("helm"),
            kubeconfig: None,
            allow_namespaces: Vec::new(),
            charts_sync_interval: Duration::from_secs(180),
            git_default_ref: "master".to_owned(),
            update_chart_deps: true,
            workers: 2,
            state_dir: std::env::temp_dir().join("helmops"),
            reporter: "helm-operator".to_owned(),
        }
    }
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

/// The Helm operator.
pub struct Operator {
    reconciler: Arc<Reconciler>,
    config: OperatorConfig,
    kinds: ServedKinds,
    storage_tasks: Vec<JoinHandle<()>>,
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
    /// Prepares the operator: detects helm, starts watching Helm's storage
    /// and discovers the served HelmRelease kinds. `git` serves git chart
    /// sources, `daemon` the legacy FluxHelmRelease charts; either may be
    /// absent, and releases needing it then fail with a clear condition.
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
        if config.charts_sync_interval.is_zero() {
            return Err(Error::Startup {
                reason: "charts-sync-interval must be more than zero".to_owned(),
            });
        }
        let state = &config.state_dir;
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
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| Error::Startup {
                reason: format!("building the HTTP client: {e}"),
            })?;
        let repositories = ChartRepositories::new(
            http.clone(),
            state.join("charts"),
            config.charts_sync_interval,
        );
        let sources = ChartSources::new(
            client.clone(),
            repositories,
            git,
            daemon.clone(),
            ChartSourcesSettings {
                git_default_ref: config.git_default_ref.clone(),
                update_dependencies: config.update_chart_deps,
                refresh: config.charts_sync_interval,
                work_dir: state.join("charts"),
            },
        );
        let (storage, watches) = ReleaseStorage::watch(client.clone(), &config.allow_namespaces);
        let storage_tasks = watches.into_iter().map(tokio::spawn).collect();
        let mut kinds = discover(&client).await?;
        if kinds.v1alpha2 && daemon.is_none() {
            tracing::warn!(
                "FluxHelmRelease CRD is installed but no daemon repository was given; FluxHelmReleases are not watched"
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
        let reconciler = Reconciler {
            client: client.clone(),
            helm,
            sources,
            values: ValuesResolver::new(client, http),
            storage,
            recorder,
            scratch_dir: state.join("scratch"),
            helm_slots: Semaphore::new(config.workers),
        };
        Ok(Self {
            reconciler: Arc::new(reconciler),
            config,
            kinds,
            storage_tasks,
        })
    }

    /// The reconciler, for running single reconciles (tests, benchmarks).
    pub fn reconciler(&self) -> &Reconciler {
        &self.reconciler
    }

    /// The helm binary in use and its invocation counter.
    pub fn helm(&self) -> &Helm {
        &self.reconciler.helm
    }

    /// The kinds being watched.
    pub fn kinds(&self) -> ServedKinds {
        self.kinds
    }

    /// Waits until Helm's storage has been listed once.
    pub async fn ready(&self) {
        self.reconciler.storage.ready().await;
    }

    /// Reconciles one resource now, outside the watch loops.
    pub async fn reconcile_once<K: HelmReleaseResource>(&self, obj: &K) -> Result<Outcome, Error> {
        self.reconciler.reconcile(obj).await
    }

    /// Watches and reconciles HelmReleases until `shutdown` completes.
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
        let scopes: Vec<Option<String>> = if self.config.allow_namespaces.is_empty() {
            vec![None]
        } else {
            self.config
                .allow_namespaces
                .iter()
                .cloned()
                .map(Some)
                .collect()
        };
        let mut loops: Vec<BoxFuture<'static, ()>> = Vec::new();
        for scope in &scopes {
            if self.kinds.v1beta1 {
                loops.push(self.watch::<v1beta1::HelmRelease>(scope.as_deref(), shutdown.clone()));
            }
            if self.kinds.v1 {
                loops.push(self.watch::<v1::HelmRelease>(scope.as_deref(), shutdown.clone()));
            }
            if self.kinds.v1alpha2 {
                loops.push(
                    self.watch::<v1alpha2::FluxHelmRelease>(scope.as_deref(), shutdown.clone()),
                );
            }
        }
        if loops.is_empty() {
            tracing::warn!(
                "no HelmRelease CRD is installed; the Helm operator has nothing to watch"
            );
            shutdown.await;
            return Ok(());
        }
        tracing::info!(namespaces = ?self.config.allow_namespaces, kinds = ?self.kinds, "helm operator running");
        futures::future::join_all(loops).await;
        Ok(())
    }

    fn watch<K: HelmReleaseResource>(
        &self,
        namespace: Option<&str>,
        shutdown: Shared<BoxFuture<'static, ()>>,
    ) -> BoxFuture<'static, ()> {
        let client = self.reconciler.client.clone();
        let api: Api<K> = match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        };
        let context = Arc::new(Context {
            reconciler: self.reconciler.clone(),
            resync: self.config.charts_sync_interval,
        });
        Controller::new(api, watcher::Config::default())
            .with_config(
                controller::Config::default()
                    .concurrency(self.config.workers.try_into().unwrap_or(u16::MAX)),
            )
            .graceful_shutdown_on(shutdown)
            .run(reconcile::<K>, error_policy::<K>, context)
            .for_each(|result| async move {
                if let Err(error) = result {
                    tracing::debug!(%error, "helm release reconcile");
                }
            })
            .boxed()
    }
}

struct Context {
    reconciler: Arc<Reconciler>,
    resync: Duration,
}

async fn reconcile<K: HelmReleaseResource>(
    obj: Arc<K>,
    context: Arc<Context>,
) -> Result<Action, finalizer::Error<Error>> {
    let namespace = kube::ResourceExt::namespace(obj.as_ref()).unwrap_or_default();
    let api: Api<K> = Api::namespaced(context.reconciler.client.clone(), &namespace);
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
    tracing::warn!(resource = %name, %error, "reconcile failed; retrying");
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
