//! The Helm operator running as the seed's `flux` ServiceAccount, restricted
//! by the seed's RBAC to its `demo` namespace, against a test control plane.
//!
//! The HelmRelease CRDs are cluster-wide, so the helmops tests share one
//! private control plane ([`cluster`]) where a cluster admin applied them,
//! as the seed has cluster admins do. Each [`OperatorRun`] gets fresh
//! `demo`/`flux`/`kube-system` namespaces, runs helm through a wrapper
//! script that logs every call (so tests count helm invocations), and stops
//! when dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use helmops::{DaemonRepository, GitCharts, Operator, OperatorConfig};
use kube::Api;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;
use crate::controlplane::{ControlPlane, Kubeconfig, SeedRbac};

/// The control plane of the helmops tests, with the HelmRelease CRDs applied.
pub async fn cluster() -> Result<&'static ControlPlane, Error> {
    static CLUSTER: tokio::sync::OnceCell<Result<ControlPlane, String>> =
        tokio::sync::OnceCell::const_new();
    CLUSTER
        .get_or_init(|| async {
            let cluster = ControlPlane::private().await.map_err(|e| e.to_string())?;
            install_crds(&cluster).await.map_err(|e| e.to_string())?;
            Ok(cluster)
        })
        .await
        .as_ref()
        .map_err(|message| Error::SharedControlPlane {
            message: message.clone(),
        })
}

/// Applies `deploy/crds/*.yaml` as the cluster admin and waits until served.
pub async fn install_crds(cluster: &ControlPlane) -> Result<(), Error> {
    let dir = crate::tools::workspace_root().join("deploy").join("crds");
    for (file, _) in
        helmops::crd::render_all().map_err(|e| Error::invalid("CRDs", e.to_string()))?
    {
        let path = dir.join(file);
        let yaml = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        cluster
            .admin()
            .apply_yaml(&yaml, &path.display().to_string())
            .await?;
    }
    let client = cluster.client()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let kinds = helmops::discover(&client)
            .await
            .map_err(|e| Error::invalid("CRD discovery", e.to_string()))?;
        if kinds.v1beta1 && kinds.v1 && kinds.v1alpha2 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: "HelmRelease CRDs to be served".to_owned(),
                after: Duration::from_secs(60),
                log_tail: format!("{kinds:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Changes a test makes to the operator's configuration.
pub type Configure = Arc<dyn Fn(&mut OperatorConfig) + Send + Sync>;

/// How to start an [`OperatorRun`].
pub struct OperatorOptions {
    /// The real helm binary behind the logging wrapper.
    pub helm: PathBuf,
    /// `charts_sync_interval`.
    pub resync: Duration,
    /// Git chart provider.
    pub git: Option<Arc<dyn GitCharts>>,
    /// The daemon's repository, for FluxHelmReleases.
    pub daemon: Option<Arc<dyn DaemonRepository>>,
    /// Applied to the configuration last. The default configuration lets
    /// HelmReleases reach loopback and `file://` (the fixtures live there).
    pub configure: Option<Configure>,
}

impl OperatorOptions {
    /// Options with `helm`, resyncing every `resync`, no git, the fixtures' access.
    pub fn new(helm: PathBuf, resync: Duration) -> Self {
        Self {
            helm,
            resync,
            git: None,
            daemon: None,
            configure: None,
        }
    }
}

/// The access the fixtures need: servers on 127.0.0.1, repositories on disk.
pub fn fixture_policy() -> helmops::AccessPolicy {
    helmops::AccessPolicy::new()
        .with_allow_internal_urls(true)
        .with_allow_local_git(true)
}

/// A running operator and the namespaces it works in.
pub struct OperatorRun {
    /// The seed's namespaces; `rbac.demo` is where releases go.
    pub rbac: SeedRbac,
    /// The `flux` ServiceAccount the operator (and helm) run as.
    pub flux: Kubeconfig,
    helm_log: PathBuf,
    helm_pids: PathBuf,
    state: tempfile::TempDir,
    handle: helmops::OperatorHandle,
    config: OperatorConfig,
    git: Option<Arc<dyn GitCharts>>,
    daemon: Option<Arc<dyn DaemonRepository>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), helmops::Error>>>,
}

impl std::fmt::Debug for OperatorRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorRun")
            .field("demo", &self.rbac.demo.name())
            .field("state", &self.state.path())
            .finish_non_exhaustive()
    }
}

impl OperatorRun {
    /// Fresh seed namespaces and RBAC, then the operator watching `demo` only.
    pub async fn start(cluster: &ControlPlane, options: OperatorOptions) -> Result<Self, Error> {
        let rbac = cluster.seed_rbac().await?;
        let flux = rbac.flux_kubeconfig().await?;
        let state =
            tempfile::tempdir().map_err(|e| Error::io("creating the operator's state dir", e))?;
        let helm_log = state.path().join("helm-calls.log");
        let helm_pids = state.path().join("helm-pids.log");
        let wrapper =
            write_helm_wrapper_with_pids(state.path(), &options.helm, &helm_log, Some(&helm_pids))?;
        let mut config = OperatorConfig::new()
            .with_helm_binary(wrapper)
            .with_kubeconfig(flux.path().to_path_buf())
            .with_allow_namespaces([rbac.demo.name()])
            .with_charts_sync_interval(options.resync)
            .with_status_update_interval(Duration::from_secs(1))
            .with_state_dir(state.path().join("operator"))
            .with_tiller_namespace(rbac.kube_system.name().to_owned())
            .with_policy(fixture_policy())
            .with_shutdown_grace(Duration::from_secs(5))
            .with_discovery_interval(Duration::from_secs(1));
        if let Some(configure) = &options.configure {
            configure(&mut config);
        }
        let (handle, stop, task) = launch(
            &flux,
            config.clone(),
            options.git.clone(),
            options.daemon.clone(),
        )
        .await?;
        Ok(Self {
            rbac,
            flux,
            helm_log,
            helm_pids,
            state,
            handle,
            config,
            git: options.git,
            daemon: options.daemon,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The running operator's handle (metrics, sync-git).
    pub fn handle(&self) -> &helmops::OperatorHandle {
        &self.handle
    }

    /// The configuration the operator runs with.
    pub fn config(&self) -> &OperatorConfig {
        &self.config
    }

    /// The namespace standing for the seed's `demo`.
    pub fn demo(&self) -> &str {
        self.rbac.demo.name()
    }

    /// Every helm call so far except `helm version`, as logged by the wrapper.
    pub fn helm_calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.helm_log)
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.starts_with("version"))
            .map(str::to_owned)
            .collect()
    }

    /// The process ids of the helm processes started so far, with their
    /// arguments, newest last.
    pub fn helm_processes(&self) -> Vec<(u32, String)> {
        std::fs::read_to_string(&self.helm_pids)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (pid, args) = line.split_once(' ')?;
                Some((pid.parse().ok()?, args.to_owned()))
            })
            .collect()
    }

    /// Stops the operator and waits for it to finish.
    pub async fn stop(&mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(60), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(Error::invalid("the helm operator", e.to_string())),
                Ok(Err(e)) => return Err(Error::invalid("the helm operator task", e.to_string())),
                Err(_) => {
                    return Err(Error::Timeout {
                        what: "the helm operator to stop".to_owned(),
                        after: Duration::from_secs(60),
                        log_tail: String::new(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Ends the operator at once, as a killed process would end: no grace,
    /// its helm processes killed.
    pub fn abort(&mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Starts a new operator with the same configuration, namespaces and
    /// state (the previous one must be stopped or aborted).
    pub async fn restart(&mut self) -> Result<(), Error> {
        let (handle, stop, task) = launch(
            &self.flux,
            self.config.clone(),
            self.git.clone(),
            self.daemon.clone(),
        )
        .await?;
        self.handle = handle;
        self.stop = Some(stop);
        self.task = Some(task);
        Ok(())
    }
}

type Launched = (
    helmops::OperatorHandle,
    oneshot::Sender<()>,
    JoinHandle<Result<(), helmops::Error>>,
);

async fn launch(
    flux: &Kubeconfig,
    config: OperatorConfig,
    git: Option<Arc<dyn GitCharts>>,
    daemon: Option<Arc<dyn DaemonRepository>>,
) -> Result<Launched, Error> {
    let operator = Operator::new(flux.client()?, config, git, daemon)
        .await
        .map_err(|e| Error::invalid("starting the helm operator", e.to_string()))?;
    let handle = operator.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(operator.run(async {
        let _ = stopped.await;
    }));
    Ok((handle, stop, task))
}

impl Drop for OperatorRun {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A shell script that appends its arguments to `log` and execs `helm`.
pub fn write_helm_wrapper(dir: &Path, helm: &Path, log: &Path) -> Result<PathBuf, Error> {
    write_helm_wrapper_with_pids(dir, helm, log, None)
}

/// [`write_helm_wrapper`], also appending `<pid> <arguments>` to `pids`
/// (the pid is helm's: the script execs it).
pub fn write_helm_wrapper_with_pids(
    dir: &Path,
    helm: &Path,
    log: &Path,
    pids: Option<&Path>,
) -> Result<PathBuf, Error> {
    use std::os::unix::fs::PermissionsExt;

    let path = dir.join("helm-wrapper");
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let pid_line = pids
        .map(|p| format!("printf '%s %s\\n' \"$$\" \"$*\" >> {}\n", quote(p)))
        .unwrap_or_default();
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\n{pid_line}exec {} \"$@\"\n",
        quote(log),
        quote(helm)
    );
    std::fs::write(&path, script)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format!("making {} executable", path.display()), e))?;
    Ok(path)
}

/// Polls `get` every 200 ms until `done` holds for its answer; on timeout the
/// error shows the last answer.
pub async fn wait_for<K, F>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    done: F,
) -> Result<K, Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(&K) -> bool,
{
    let deadline = Instant::now() + timeout;
    let mut last: String;
    loop {
        match api.get_opt(name).await {
            Ok(Some(obj)) => {
                if done(&obj) {
                    return Ok(obj);
                }
                last = format!("{obj:?}");
            }
            Ok(None) => last = "(not found)".to_owned(),
            Err(e) => last = format!("(error: {e})"),
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("{name}: {what}"),
                after: timeout,
                log_tail: last,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
