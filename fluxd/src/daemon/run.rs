//! The daemon: the sync loop, `--once`, `--dry-run`, and shutdown.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::FutureExt;
use gitsync::{
    GitTagMarker, Head, Mirror, PollEvent, Poller, Signer, SyncMarker, Transport, Verifier,
};
use manifests::LoadOptions;
use manifests::cluster;
use tokio::time::Instant;

use std::sync::Arc;

use super::queue::Work;
use crate::cluster::{ClusterConfig, daemon_namespace, resource_namespace};
use crate::health::{DEFAULT_STUCK_AFTER, Health};
use crate::http;
use crate::identity::{self, DeployKey};
use crate::jobs::CommitPath;
use crate::metrics::Metrics;
use crate::sync::marker::{FIELD_MANAGER, SecretMarker};
use crate::sync::plan;
use crate::sync::{GitSource, RevisionCache, SyncRun, Syncer};
use crate::{Config, Error, GcMode, MarkerConfig, Mode, SigningKey};

/// How long a sync in progress may go on after a shutdown signal before it
/// is abandoned.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long after the registry poller finds new tags the automation run
/// starts, so that the repositories of one poll make one run (and one commit).
const NEW_TAGS_SETTLE: Duration = Duration::from_secs(1);

/// How a run of the daemon ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunOutcome {
    /// Everything synced (or planned) without errors, or the daemon was stopped.
    Clean,
    /// A `--once` sync or a `--dry-run` found errors (failed resources,
    /// manifests that did not load, a marker that did not move).
    Errors,
    /// Stopped by `shutdown` before the start-up or the `--once` sync
    /// finished, which then did not finish within [`SHUTDOWN_GRACE`]; the
    /// next run syncs again.
    Interrupted,
}

/// Runs fluxd as configured until `shutdown` completes (daemon mode) or the
/// one sync or plan is done (`--once`, `--dry-run`).
///
/// Errors are what keeps the daemon from starting: a cluster configuration
/// that cannot be used, a mirror directory that cannot be made, and for
/// `--once` and `--dry-run` a repository that cannot be fetched. Once the
/// daemon runs, failures are logged and retried.
///
/// When `shutdown` completes, a sync in progress (in the loop or `--once`)
/// may go on for [`SHUTDOWN_GRACE`]; start-up (finding the cluster, the first
/// look at the remote) gets as long, then the run ends as
/// [`RunOutcome::Interrupted`].
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunOutcome, Error> {
    run_with(config, shutdown, super::queue::no_observer(), |_| {}).await
}

/// [`run`], telling `observer` what the daemon does and handing the
/// [`Daemon`](super::Daemon) handle to `ready` once the daemon runs (not for
/// `--once` or `--dry-run`): what the HTTP API and embedders call.
pub async fn run_with(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    observer: std::sync::Arc<dyn crate::contract::Observer>,
    ready: impl FnOnce(super::Daemon) + Send,
) -> Result<RunOutcome, Error> {
    // A configuration built in code gets the checks the flags get.
    config.validate()?;
    let shutdown = shutdown.boxed().shared();
    // The Helm operator beside the daemon stops in its own time.
    let operator_stop = config
        .helm_operator
        .as_ref()
        .map(crate::helm_operator::HelmOperatorConfig::stop_time)
        .unwrap_or_default();
    let run = run_until(config, shutdown.clone(), observer, ready);
    tokio::pin!(run);
    tokio::select! {
        ended = &mut run => ended,
        () = shutdown => {
            // The loop and a `--once` sync take their grace inside `run`;
            // start-up gets as long, and a little more so theirs ends first.
            let grace = (SHUTDOWN_GRACE + Duration::from_secs(1)).max(operator_stop);
            match tokio::time::timeout(grace, &mut run).await {
                Ok(ended) => ended,
                Err(_) => {
                    tracing::warn!("stopping: abandoned start-up");
                    Ok(RunOutcome::Interrupted)
                }
            }
        }
    }
}

/// [`run`], which stops at `shutdown` only where a sync gets its grace: in
/// the loop and around the `--once` sync.
async fn run_until(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + Clone + 'static,
    observer: std::sync::Arc<dyn crate::contract::Observer>,
    ready: impl FnOnce(super::Daemon) + Send,
) -> Result<RunOutcome, Error> {
    if let Err(error) = gitsync::set_io_timeout(config.git_timeout) {
        tracing::warn!(%error, "--git-timeout does not apply to libgit2's connections");
    }
    let cluster = ClusterConfig::locate(config.kubeconfig.as_deref()).await?;
    match &cluster {
        Some(found) => tracing::info!(
            source = %found.source,
            server = %found.config.cluster_url,
            "cluster configuration"
        ),
        None => tracing::info!("no cluster configured"),
    }
    let workdir = WorkDir::new(config.mirror_dir.as_deref())?;
    let mirror = Mirror::open(
        config.remote.clone(),
        workdir.mirror(),
        config.branch.clone(),
    )
    .await
    .map_err(|error| match error {
        gitsync::Error::InvalidRefName { kind: "branch", .. } => {
            Error::flag("--git-branch", error.to_string())
        }
        other => Error::Git(other),
    })?;
    tracing::info!(
        url = %config.remote.url(),
        branch = config.branch.as_deref().unwrap_or("(the remote's default)"),
        paths = ?config.paths,
        mode = ?config.mode,
        "starting"
    );
    let default_namespace =
        resource_namespace(config.default_namespace.as_deref(), cluster.as_ref());
    let source = GitSource {
        mirror: mirror.clone(),
        checkouts: workdir.checkouts(),
        paths: config.paths.clone(),
        load_options: load_options(&default_namespace),
    };
    let engine_config = engine_config(&config, default_namespace);

    if config.mode == Mode::DryRun {
        if config.helm_operator.is_some() {
            tracing::warn!("--helm-operator runs beside the daemon only; ignored with --dry-run");
        }
        return plan::dry_run(&source, cluster.as_ref(), engine_config).await;
    }
    let Some(cluster) = cluster else {
        return Err(Error::NoCluster);
    };
    let client = cluster.client()?;
    let operator_client = client.clone();
    let jobs_client = client.clone();
    let api_client = client.clone();
    let namespace = daemon_namespace(Some(&cluster), config.namespace.as_deref());
    let identity = deploy_key(&config, &client, &namespace).await?;
    let api_source = GitSource {
        checkouts: workdir.api_checkouts(),
        ..source.clone()
    };
    let signer = signer(&config)?;
    let verifier = verifier(&config)?;

    let engine = cluster::Engine::new(client.clone(), engine_config)?;
    let marker: Box<dyn SyncMarker> = match &config.marker {
        MarkerConfig::GitTag { tag, tagger } => {
            let marker = GitTagMarker::new(mirror.clone(), tag, tagger.clone())
                .map_err(|e| Error::flag("--git-sync-tag", e.to_string()))?;
            Box::new(match &signer {
                Some(signer) => marker.with_signer(signer.clone()),
                None => marker,
            })
        }
        MarkerConfig::Secret { secret_name } => {
            Box::new(SecretMarker::new(client, &namespace, secret_name))
        }
    };
    // The write check; jobs that write go through this path.
    let commit_path = CommitPath::new(
        mirror.clone(),
        config.paths.clone(),
        source.load_options.clone(),
        config.git_write.clone(),
    )
    .with_signer(signer.clone())
    .with_verifier(verifier.clone());
    if !config.git_write.readonly {
        commit_path.check_write_access().await;
    }
    let job_source = GitSource {
        checkouts: workdir.job_checkouts(),
        ..source.clone()
    };
    // One load of a revision, shared by the sync, the API and the jobs.
    let loads = RevisionCache::new();
    let mut syncer = Syncer::new(source, engine, marker)
        .with_history_rewrites_allowed(config.allow_history_rewrite)
        .sharing_loads(loads.clone());
    if let Some(verifier) = verifier {
        syncer = syncer.with_verification(config.git_write.verify_mode, verifier);
    }
    syncer.resume().await;

    if config.mode == Mode::Once {
        if config.helm_operator.is_some() {
            tracing::warn!("--helm-operator runs beside the daemon only; ignored with --once");
        }
        let once = async {
            let head = syncer.source().fetch().await?;
            syncer.sync(&head).await
        };
        tokio::pin!(shutdown);
        return match with_grace(once, shutdown).await {
            (Some(run), _) => Ok(outcome(&run?)),
            (None, _) => Ok(RunOutcome::Interrupted),
        };
    }
    // fluxd's metrics hear what the daemon does, and so does the embedder's observer.
    let metrics = Arc::new(Metrics::new());
    let observer: Arc<dyn crate::contract::Observer> =
        Arc::new(crate::contract::Observers::new(vec![
            metrics.clone(),
            observer,
        ]));
    let health = Arc::new(Health::new(observer.clone(), DEFAULT_STUCK_AFTER));
    let state_dir = workdir.state(config.state_dir.as_deref())?;
    let runner = super::worker::JobRunner::new(
        job_source,
        commit_path,
        Some(jobs_client),
        config.allowed_namespaces.clone(),
    )
    .sharing_loads(loads.clone());
    let (daemon, jobs) =
        super::start_jobs(&config, runner, &state_dir, observer, shutdown.clone())?;
    let view = http::ClusterView::new(
        api_client,
        http::WorkloadsConfig {
            allowed_namespaces: config.allowed_namespaces.clone(),
            readonly: config.git_write.readonly,
        },
        Some(http::GitView::new(api_source, health.clone()).sharing_loads(loads)),
    )
    .watching();
    let api = http::Api::new(metrics.clone(), health.clone())
        .with_jobs(Arc::new(daemon.clone()))
        .with_images(Arc::new(daemon.clone()))
        .with_cluster(view)
        .with_identity(identity)
        .with_repo(http::RepoDescription {
            url: config.remote.url().flux_safe_url(),
            branch: config.branch.clone().unwrap_or_default(),
            paths: config.paths.join(","),
        })
        .with_token(config.api.token.clone())
        .serving_metrics(config.api.metrics.is_none());
    let (stop_listeners, listeners_stopped) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stopped = listeners_stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut listeners =
        vec![http::serve(config.api.listen, "--listen", api.router(), stopped()).await?];
    if let Some(addr) = config.api.metrics {
        listeners.push(
            http::serve(
                addr,
                "--listen-metrics",
                http::metrics_router(metrics),
                stopped(),
            )
            .await?,
        );
    }
    let stop_listeners = async move {
        stop_listeners.send_replace(true);
        for listener in listeners {
            let _ = listener.await;
        }
    };
    ready(daemon);
    let Some(operator) = config.helm_operator.clone() else {
        SyncLoop {
            syncer,
            poll_interval: config.poll_interval,
            sync_interval: config.sync_interval,
            synced: None,
            jobs: Some(jobs),
            health: Some(health),
        }
        .run(shutdown)
        .await;
        stop_listeners.await;
        return Ok(RunOutcome::Clean);
    };
    // `--helm-operator`: the operator beside the sync, sharing its mirror and
    // following the revisions it syncs.
    let (synced, follow) = tokio::sync::watch::channel(None);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let operator =
        crate::helm_operator::run_beside(operator, operator_client, mirror, follow, async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
        });
    let sync = SyncLoop {
        syncer,
        poll_interval: config.poll_interval,
        sync_interval: config.sync_interval,
        synced: Some(synced),
        jobs: Some(jobs),
        health: Some(health),
    }
    .run(shutdown.clone());
    let forward = async move {
        shutdown.await;
        stop.send_replace(true);
    };
    let ((), operator, ()) = tokio::join!(sync, operator, forward);
    stop_listeners.await;
    operator?;
    Ok(RunOutcome::Clean)
}

/// The deploy key: a key file given is logged; with an ssh URL and none
/// given, the key of the Secret in the daemon's namespace, generated when
/// it has none.
async fn deploy_key(
    config: &Config,
    client: &kube::Client,
    namespace: &str,
) -> Result<http::Identity, Error> {
    if config.remote.url().transport() != Transport::Ssh {
        return Ok(http::Identity::None);
    }
    if let Some(file) = &config.deploy_key.file {
        return Ok(http::Identity::File(identity::log_key_file(file)));
    }
    let key = DeployKey::new(
        client.clone(),
        namespace,
        &config.deploy_key.secret_name,
        config.deploy_key.key_type,
        config.remote.ssh_key_handle(),
    )
    .with_keygen_dir(config.deploy_key.keygen_dir.clone());
    key.ensure().await?;
    Ok(http::Identity::Secret(Box::new(key)))
}

/// Imports `--git-gpg-key-import` and resolves `--git-signing-key`.
fn signer(config: &Config) -> Result<Option<Signer>, Error> {
    let write = &config.git_write;
    if !write.gpg_key_import.is_empty() {
        let files = gitsync::import_gpg_keys(&write.gpg_key_import)
            .map_err(|e| Error::flag("--git-gpg-key-import", e.to_string()))?;
        tracing::info!(files = files.len(), "imported GPG keys");
    }
    let signer = match &write.signing_key {
        None => return Ok(None),
        Some(SigningKey::Gpg(key)) => Signer::gpg(key.clone()),
        Some(SigningKey::SshFile(path)) => {
            Signer::ssh_file(path).map_err(|e| Error::flag("--git-signing-key", e.to_string()))?
        }
    };
    tracing::info!(signer = %signer.describe(), "signing commits and the sync tag");
    Ok(Some(signer))
}

/// The verifier of `--git-verify-signatures-mode`, if any.
fn verifier(config: &Config) -> Result<Option<Verifier>, Error> {
    let write = &config.git_write;
    if write.verify_mode == gitsync::VerifyMode::None {
        return Ok(None);
    }
    let verifier = match &write.ssh_allowed_signers {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::flag(
                    "--git-ssh-allowed-signers",
                    format!("{}: {e}", path.display()),
                )
            })?;
            Verifier::ssh_allowed(&text)
                .map_err(|e| Error::flag("--git-ssh-allowed-signers", e.to_string()))?
        }
        None => Verifier::gpg(),
    };
    tracing::info!(mode = ?write.verify_mode, "applying only commits whose signatures verify");
    Ok(Some(verifier))
}

fn outcome(run: &SyncRun) -> RunOutcome {
    if run.has_errors() {
        RunOutcome::Errors
    } else {
        RunOutcome::Clean
    }
}

/// Load options for `default_namespace`.
fn load_options(default_namespace: &str) -> LoadOptions {
    let mut options = LoadOptions::default();
    options.default_namespace = default_namespace.to_owned();
    options
}

/// The engine's configuration from the daemon's.
fn engine_config(config: &Config, default_namespace: String) -> cluster::EngineConfig {
    cluster::EngineConfig::new()
        .with_field_manager(FIELD_MANAGER)
        .with_scope(if config.allowed_namespaces.is_empty() {
            cluster::NamespaceScope::All
        } else {
            cluster::NamespaceScope::Only(config.allowed_namespaces.clone())
        })
        .with_allow_cluster_scoped(config.allow_cluster_scoped)
        .with_default_namespace(default_namespace)
        .with_exclude_kinds(config.exclude_resources.clone())
        .with_gc(match config.gc {
            GcMode::On => cluster::GarbageCollection::On,
            GcMode::DryRun => cluster::GarbageCollection::DryRun,
            _ => cluster::GarbageCollection::Off,
        })
}

/// The poll-and-sync loop of a running daemon.
#[derive(Debug)]
pub struct SyncLoop {
    /// What syncs.
    pub syncer: Syncer,
    /// How often to fetch.
    pub poll_interval: Duration,
    /// How often to sync without a new commit.
    pub sync_interval: Duration,
    /// Told each revision synced (the Helm operator beside the daemon
    /// takes FluxHelmRelease charts from it).
    pub synced: Option<tokio::sync::watch::Sender<Option<gitsync::Revision>>>,
    /// The job queue and image automation, run between syncs (`None`: the
    /// loop only syncs).
    pub jobs: Option<super::worker::Jobs>,
    /// Told of each fetch and sync (the probes, the metrics, the API's
    /// view of the synced revision). Without it, the job queue's observer
    /// hears of them directly.
    pub health: Option<std::sync::Arc<crate::health::Health>>,
}

impl SyncLoop {
    /// Polls the branch and syncs each new head, and the current head again
    /// every sync interval, until `shutdown` completes. A failing fetch,
    /// checkout or apply is logged and the loop goes on.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        let mut poller = Poller::start(
            self.syncer.source().mirror.clone(),
            self.poll_interval,
            None,
        );
        let mut head: Option<Head> = None;
        let mut next_sync = after(self.sync_interval);
        let automation_interval = self
            .jobs
            .as_ref()
            .and_then(super::worker::Jobs::automation_interval);
        // The first automation run, at once, tells the registry poller the
        // images in use; the next ones come each interval, when the poller
        // finds new tags, and after a new head is synced.
        let mut next_automation = automation_interval.map(|_| Instant::now());
        let mut snapshots = self.jobs.as_ref().and_then(super::worker::Jobs::snapshots);
        let mut seen_tags: Option<u64> = None;
        let mut jobs = self.jobs.take();
        tokio::pin!(shutdown);
        loop {
            let trigger = tokio::select! {
                () = &mut shutdown => break,
                work = next_work(&mut jobs) => match work {
                    Some(Work::Job(id)) => {
                        if let Some(jobs) = jobs.as_mut()
                            && let Some(synced) = jobs.run(&id, &mut self.syncer).await
                        {
                            if let Some(sender) = &self.synced {
                                sender.send_replace(Some(synced.revision));
                            }
                            head = Some(synced);
                            next_sync = after(self.sync_interval);
                        }
                        continue;
                    }
                    Some(Work::Refresh) => match self.syncer.source().fetch().await {
                        Ok(new) => {
                            head = Some(new);
                            "notified"
                        }
                        Err(error) => {
                            tracing::warn!(%error, "fetch failed");
                            continue;
                        }
                    },
                    None => {
                        jobs = None;
                        continue;
                    }
                },
                () = sleep_until_some(next_automation) => {
                    if let Some(jobs) = jobs.as_mut() {
                        jobs.automation_run().await;
                    }
                    next_automation = automation_interval.map(after);
                    continue;
                }
                changed = next_snapshot(&mut snapshots) => {
                    let Some(snapshot) = changed else {
                        snapshots = None;
                        continue;
                    };
                    let print = super::worker::fingerprint(&snapshot);
                    if seen_tags != Some(print) {
                        seen_tags = Some(print);
                        // Soon, so that repositories polled together make one run.
                        let soon = after(NEW_TAGS_SETTLE);
                        tracing::debug!("new image data: automation run soon");
                        next_automation = next_automation.map(|at| at.min(soon));
                    }
                    continue;
                }
                event = poller.next() => match event {
                    Some(PollEvent::NewHead(new)) => {
                        if let Some(health) = &self.health {
                            health.cloned();
                        } else if let Some(jobs) = &jobs {
                            jobs.observer().git_ready(true);
                        }
                        if superseded(&self.syncer.source().mirror, &new).await {
                            // A job (or a plan) fetched after this poll and
                            // may have synced a newer head already: syncing
                            // this one would apply an older revision over it
                            // and move the marker back. The poller reports
                            // the mirror's newer head on its next fetch.
                            tracing::debug!(branch = %new.branch, revision = %new.revision, "new head already superseded in the mirror; not syncing it");
                            continue;
                        }
                        tracing::info!(branch = %new.branch, revision = %new.revision, "new head");
                        head = Some(new);
                        "new head"
                    }
                    Some(PollEvent::FetchFailed(error)) => {
                        if let Some(health) = &self.health {
                            health.fetch_failed(&error.to_string());
                        } else if let Some(jobs) = &jobs {
                            jobs.observer().git_ready(false);
                        }
                        let url = self.syncer.source().mirror.remote().url();
                        if matches!(error, gitsync::Error::HostKeyMismatch { .. }) {
                            tracing::error!(url = %url, %error, "fetch refused: the server's host key changed");
                        } else {
                            tracing::warn!(url = %url, %error, hint = git_hint(&error), "fetch failed");
                        }
                        continue;
                    }
                    Some(_) => continue,
                    None => {
                        tracing::error!("the poller stopped; stopping");
                        break;
                    }
                },
                () = tokio::time::sleep_until(next_sync), if head.is_some() => "sync interval",
            };
            let Some(current) = head.clone() else {
                continue;
            };
            tracing::debug!(trigger, revision = %current.revision, "syncing");
            if let Some(health) = &self.health {
                health.sync_started();
            }
            let began = Instant::now();
            let (result, stopping) =
                with_grace(self.syncer.sync(&current), shutdown.as_mut()).await;
            if let Some(health) = &self.health {
                report_sync(health, result.as_ref(), began.elapsed());
            }
            if let Some(result) = result {
                if let Ok(run) = &result {
                    if let Some(synced) = &self.synced {
                        synced.send_replace(Some(run.revision));
                    }
                    if let Some(jobs) = &jobs {
                        jobs.synced(run.revision);
                        if self.health.is_none() {
                            jobs.observer().sync_finished(
                                run.duration,
                                !run.has_errors(),
                                run.resources,
                            );
                        }
                    }
                    if trigger == "new head" {
                        next_automation = automation_interval.map(|_| Instant::now());
                    }
                }
                log_failed(result);
            }
            if stopping {
                break;
            }
            next_sync = after(self.sync_interval);
        }
        if let Some(health) = &self.health {
            health.stopped();
        }
        tracing::info!("stopped");
    }
}

/// True when the mirror's branch has commits `head` lacks: the mirror was
/// fetched again (by a job, a plan, a refresh) after the poll that found
/// `head`. A force-push back to `head` leaves the branch at `head`, so it
/// is not superseded and is synced.
async fn superseded(mirror: &Mirror, head: &Head) -> bool {
    match mirror
        .revisions_between(Some(head.revision), &format!("refs/heads/{}", head.branch))
        .await
    {
        Ok(newer) => !newer.is_empty(),
        Err(error) => {
            tracing::debug!(%error, revision = %head.revision, "cannot compare a new head with the mirror; syncing it");
            false
        }
    }
}

/// The next work from the queue; never, without one.
async fn next_work(jobs: &mut Option<super::worker::Jobs>) -> Option<Work> {
    match jobs {
        Some(jobs) => jobs.next().await,
        None => std::future::pending().await,
    }
}

/// The next snapshot of the registry poller; never, without one.
async fn next_snapshot(
    snapshots: &mut Option<tokio::sync::watch::Receiver<std::sync::Arc<registry_poller::Snapshot>>>,
) -> Option<std::sync::Arc<registry_poller::Snapshot>> {
    match snapshots {
        Some(receiver) => match receiver.changed().await {
            Ok(()) => Some(receiver.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`; forever when `None`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Tells `health` how a sync pass ended (abandoned: `None`).
fn report_sync(
    health: &crate::health::Health,
    result: Option<&Result<SyncRun, Error>>,
    took: Duration,
) {
    match result {
        Some(Ok(run)) => {
            let failed = run.report.failures().count() + run.load_errors.len();
            let applied = run.resources.saturating_sub(run.report.failures().count());
            let head = run.report.ran_to_completion().then(|| Head {
                branch: run.branch.clone(),
                revision: run.revision,
            });
            health.sync_finished(took, head, applied, failed);
        }
        Some(Err(_)) | None => health.sync_failed(took),
    }
}

/// What to do about a git error, where fluxd can say more than gitsync.
pub(crate) fn git_hint(error: &gitsync::Error) -> Option<&'static str> {
    match error {
        gitsync::Error::HostKeyUnknown { .. } => Some(
            "give the line with --git-known-hosts, or put it in ~/.ssh/known_hosts (with Flux's Helm chart: the value ssh.known_hosts)",
        ),
        gitsync::Error::Auth { .. } => Some(
            "add the public key fluxd logs at start (its `deploy key` line) to the repository as a deploy key",
        ),
        _ => None,
    }
}

/// Runs `work` to its end, unless `shutdown` completes first: then `work`
/// may go on for [`SHUTDOWN_GRACE`] more, and is abandoned (`None`) after.
/// The flag says whether `shutdown` completed.
async fn with_grace<T>(
    work: impl Future<Output = T>,
    shutdown: impl Future<Output = ()>,
) -> (Option<T>, bool) {
    tokio::pin!(work);
    tokio::select! {
        result = &mut work => (Some(result), false),
        () = shutdown => {
            tracing::info!(
                grace_ms = crate::sync::millis(SHUTDOWN_GRACE),
                "stopping: letting the sync in progress finish"
            );
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut work).await {
                Ok(result) => (Some(result), true),
                Err(_) => {
                    tracing::warn!("stopping: abandoned the sync in progress; the next start syncs again");
                    (None, true)
                }
            }
        }
    }
}

/// `interval` from now; a year from now if that is later than the clock can say.
fn after(interval: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(interval)
        .unwrap_or_else(|| now + crate::MAX_FLAG_DURATION)
}

fn log_failed(result: Result<SyncRun, Error>) {
    match result {
        Ok(_) => {}
        Err(
            ref error @ Error::HistoryRewritten {
                ref branch,
                head,
                marker_revision,
                ..
            },
        ) => {
            tracing::error!(
                branch = %branch,
                head = %head,
                marker_revision = %marker_revision,
                %error,
                "sync refused: the branch's history was rewritten behind the sync marker"
            );
        }
        Err(error) => tracing::warn!(%error, "sync failed"),
    }
}

/// Where the mirror and the checkouts live.
struct WorkDir {
    root: PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

impl WorkDir {
    fn new(given: Option<&Path>) -> Result<Self, Error> {
        match given {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Flag {
                    flag: "--git-mirror-dir",
                    reason: format!("cannot create {}: {source}", dir.display()),
                })?;
                Ok(Self {
                    root: dir.to_owned(),
                    _temporary: None,
                })
            }
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("fluxd-")
                    .tempdir()
                    .map_err(|source| Error::Io {
                        context: "creating a working directory in",
                        path: std::env::temp_dir(),
                        source,
                    })?;
                Ok(Self {
                    root: temporary.path().to_owned(),
                    _temporary: Some(temporary),
                })
            }
        }
    }

    fn mirror(&self) -> PathBuf {
        self.root.join("mirror")
    }

    fn checkouts(&self) -> PathBuf {
        self.root.join("checkouts")
    }

    /// Checkouts of the jobs, apart from the sync's (each prunes its own).
    fn job_checkouts(&self) -> PathBuf {
        self.root.join("job-checkouts")
    }

    /// The state directory: the one given (`--daemon-state-dir`), else `state`
    /// in the working directory; created.
    fn state(&self, given: Option<&Path>) -> Result<PathBuf, Error> {
        let dir = given.map_or_else(|| self.root.join("state"), Path::to_owned);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Flag {
            flag: "--daemon-state-dir",
            reason: format!("cannot create {}: {source}", dir.display()),
        })?;
        Ok(dir)
    }

    /// The API's checkouts (the policies at the synced revision), apart
    /// from the syncer's, which prunes its own.
    fn api_checkouts(&self) -> PathBuf {
        self.root.join("api-checkouts")
    }
}
