//! The reconciler: one HelmRelease at a time, from spec to Helm release,
//! status, Events and metrics, as Flux's helm-operator 1.4 did.
//!
//! [`Reconciler::reconcile`] waits for a worker (`--workers`), converts the
//! resource to the [`Release`] model, resolves its chart and values,
//! computes the checksum and asks [`decide`] what to
//! do using only the status and the watched Helm storage: an unchanged
//! release costs no helm call and no API write. Then, as helm-operator's
//! release cycle: install (a failed install is uninstalled) or upgrade (a
//! failed one is rolled back when `rollback.enable`), `helm test` when
//! `test.enable` (a failed test uninstalls or rolls back unless
//! `ignoreFailures`), each step a phase in the status with helm-operator's
//! conditions, and one `ReleaseSynced` or `FailedReleaseSync` Event.
//!
//! A release that failed with the same chart, values and spec is retried
//! with a growing back-off rather than at every resync; any change is
//! tried at once. An install or upgrade of this operator that was
//! interrupted (the `pending-*` it left) is rolled back and tried again.
//! Every message goes through the release's [`Redactor`], so nothing read
//! from a Secret appears in a status, an Event or a log.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, ResourceExt};
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::Error;
use crate::api::{ConditionType, HelmReleaseStatus, Phase, PhaseChange};
use crate::api_error;
use crate::chart::{ChartSources, ResolvedChart};
use crate::checksum::release_checksum;
use crate::decision::{Decision, SkipCause, UpgradeCause, decide};
use crate::helm::{Helm, UpgradeRequest, write_values_file};
use crate::metrics::{Action, OperatorMetrics};
use crate::model::{HelmReleaseResource, Release, ReleaseKind};
use crate::redact::Redactor;
use crate::storage::{ReleaseStorage, StoredRelease};
use crate::values::ValuesResolver;

/// Event reason of a sync that did what it had to (helm-operator's).
pub(crate) const RELEASE_SYNCED: &str = "ReleaseSynced";
/// Event reason of a sync that failed (helm-operator's).
pub(crate) const FAILED_RELEASE_SYNC: &str = "FailedReleaseSync";

/// What one reconcile did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReconcileOutcome {
    /// Nothing needed doing.
    Skipped(SkipCause),
    /// The release was installed at this Helm revision.
    Installed(i64),
    /// The release was upgraded to this Helm revision.
    Upgraded(i64),
    /// The upgrade (or its test) failed and the release was rolled back.
    RolledBack,
    /// The release could not be made; the status says why.
    Failed(Phase),
    /// The release was uninstalled (or was already gone).
    Uninstalled,
}

/// Settings of the reconciler.
#[derive(Clone, Debug)]
pub(crate) struct ReconcilerSettings {
    /// `--log-release-diffs`: log what changes in the values before an
    /// upgrade, secret values masked (one `helm get values` per upgrade).
    pub log_release_diffs: bool,
    /// Namespace where Tiller kept Helm 2 releases (`--tiller-namespace`),
    /// looked at before installing so a Helm 2 release is never doubled.
    pub tiller_namespace: Option<String>,
    /// First wait before a failed release is tried again unchanged.
    pub retry_backoff: Duration,
    /// Longest such wait.
    pub max_retry_backoff: Duration,
}

impl Default for ReconcilerSettings {
    fn default() -> Self {
        Self {
            log_release_diffs: false,
            tiller_namespace: Some("kube-system".to_owned()),
            retry_backoff: Duration::from_secs(180),
            max_retry_backoff: Duration::from_secs(3600),
        }
    }
}

/// The workers (`--workers`): reconciles at once; the rest wait in line,
/// counted by `flux_helm_operator_release_queue_length_count`.
pub(crate) struct Workers {
    slots: Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Workers {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            slots: Semaphore::new(workers),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    async fn acquire(&self, metrics: &OperatorMetrics) -> Result<SemaphorePermit<'_>, Error> {
        use std::sync::atomic::Ordering;
        let waiting = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        metrics.set_queue_length(waiting);
        let permit = self.slots.acquire().await;
        let waiting = self
            .waiting
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        metrics.set_queue_length(waiting);
        permit.map_err(|_| Error::Startup {
            reason: "the operator is shutting down".to_owned(),
        })
    }
}

/// What the reconciler remembers of a release between reconciles.
#[derive(Clone, Debug, Default)]
struct Memory {
    /// The last failure's message, so an unchanged failure is not an Event
    /// at every resync.
    last_error: Option<String>,
    /// Failed attempts with `checksum` at `generation`, and when to try again.
    failures: u32,
    checksum: String,
    generation: Option<i64>,
    retry_at: Option<Instant>,
}

/// Everything a reconcile needs, shared by all HelmReleases.
pub(crate) struct Reconciler {
    pub(crate) client: kube::Client,
    pub(crate) helm: Helm,
    pub(crate) sources: ChartSources,
    pub(crate) values: ValuesResolver,
    pub(crate) storage: ReleaseStorage,
    pub(crate) recorder: Recorder,
    pub(crate) scratch_dir: PathBuf,
    pub(crate) workers: Workers,
    pub(crate) metrics: OperatorMetrics,
    pub(crate) settings: ReconcilerSettings,
    memory: Mutex<HashMap<(String, String), Memory>>,
    in_flight: Mutex<HashSet<(String, String)>>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("helm", &self.helm)
            .field("sources", &self.sources)
            .field("storage", &self.storage)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn now() -> String {
    format!("{:.0}", Timestamp::now())
}

/// The status being built by one reconcile, what was last written, and the
/// release's secrets.
struct Draft {
    kind: ReleaseKind,
    /// The status when the reconcile began.
    before: Option<HelmReleaseStatus>,
    /// The status last written (or read), for the condition gauges.
    written: Option<HelmReleaseStatus>,
    status: HelmReleaseStatus,
    generation: Option<i64>,
    release_name: String,
    target_namespace: String,
    ignore_test_failures: bool,
    redactor: Redactor,
}

impl Draft {
    fn new<K: HelmReleaseResource>(obj: &K) -> Self {
        let before = obj.release_status().cloned();
        let mut status = before.clone().unwrap_or_default();
        status.observed_generation = obj.meta().generation;
        let namespace = obj.namespace().unwrap_or_default();
        Self {
            kind: K::RELEASE_KIND,
            written: before.clone(),
            before,
            generation: obj.meta().generation,
            release_name: status
                .release_name
                .clone()
                .unwrap_or_else(|| format!("{namespace}-{}", obj.name_any())),
            target_namespace: namespace,
            ignore_test_failures: false,
            redactor: Redactor::new(),
            status,
        }
    }

    fn for_release(&mut self, release: &Release) {
        self.release_name.clone_from(&release.release_name);
        self.target_namespace.clone_from(&release.target_namespace);
        self.ignore_test_failures = release.ignore_test_failures();
    }

    /// Moves to `phase`; `detail` (redacted) follows failure messages of the
    /// older kinds, or of every kind when `always` (Helm 2's hint).
    fn phase(&mut self, phase: Phase, detail: Option<&str>) {
        self.phase_with(phase, detail, false, true);
    }

    fn phase_with(&mut self, phase: Phase, detail: Option<&str>, always: bool, move_phase: bool) {
        let detail = detail
            .filter(|_| always || self.kind.detailed_conditions())
            .map(|d| self.redactor.redact(d));
        let now = now();
        let change = PhaseChange {
            release: &self.release_name,
            namespace: &self.target_namespace,
            ignore_test_failures: self.ignore_test_failures,
            detail: detail.as_deref(),
            now: &now,
        };
        if move_phase {
            self.status.apply_phase(phase, &change);
        } else {
            self.status.apply_conditions(phase, &change);
        }
    }

    fn changed(&self) -> bool {
        self.written.as_ref() != Some(&self.status)
    }

    fn key(&self, obj_namespace: &str, obj_name: &str) -> (String, String) {
        (obj_namespace.to_owned(), obj_name.to_owned())
    }
}

/// A helm operation of this process on a release; removed when dropped.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<(String, String)>>,
    key: (String, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.key);
        }
    }
}

impl Reconciler {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: kube::Client,
        helm: Helm,
        sources: ChartSources,
        values: ValuesResolver,
        storage: ReleaseStorage,
        recorder: Recorder,
        scratch_dir: PathBuf,
        workers: usize,
        metrics: OperatorMetrics,
        settings: ReconcilerSettings,
    ) -> Self {
        Self {
            client,
            helm,
            sources,
            values,
            storage,
            recorder,
            scratch_dir,
            workers: Workers::new(workers),
            metrics,
            settings,
            memory: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// Brings the Helm release of `obj` to its spec (after waiting for a worker).
    pub(crate) async fn reconcile<K: HelmReleaseResource>(
        &self,
        obj: &K,
    ) -> Result<ReconcileOutcome, Error> {
        let _worker = self.workers.acquire(&self.metrics).await?;
        let started = Instant::now();
        let mut draft = Draft::new(obj);
        let result = self.sync(obj, &mut draft).await;
        let success = matches!(
            result,
            Ok(ReconcileOutcome::Installed(_)
                | ReconcileOutcome::Upgraded(_)
                | ReconcileOutcome::Skipped(_))
        );
        self.metrics.observe(
            Action::Sync,
            success,
            &draft.target_namespace,
            &draft.release_name,
            started.elapsed(),
        );
        result
    }

    async fn sync<K: HelmReleaseResource>(
        &self,
        obj: &K,
        draft: &mut Draft,
    ) -> Result<ReconcileOutcome, Error> {
        let release = match obj.to_release() {
            Ok(release) => release,
            Err(e) => {
                let always = matches!(e, Error::Helm2 { .. });
                if let Error::Helm2 {
                    release, namespace, ..
                } = &e
                {
                    draft.release_name.clone_from(release);
                    draft.target_namespace.clone_from(namespace);
                }
                return self.fail(obj, draft, Phase::Failed, &e, always).await;
            }
        };
        draft.for_release(&release);
        let chart = match self
            .sources
            .resolve(&release, &self.helm, &mut draft.redactor)
            .await
        {
            Ok(chart) => chart,
            Err(e) => {
                return self
                    .fail(obj, draft, Phase::ChartFetchFailed, &e, false)
                    .await;
            }
        };
        draft.phase_with(Phase::ChartFetched, None, false, false);
        let values = match self
            .values
            .assemble(&release, chart.dir().as_deref(), &mut draft.redactor)
            .await
        {
            Ok(values) => values,
            Err(e) => return self.fail(obj, draft, Phase::Failed, &e, false).await,
        };
        let checksum = release_checksum(&chart.digest, &values);
        let known_revision = draft.status.helm_revision.filter(|_| {
            draft.status.release_name.as_deref() == Some(release.release_name.as_str())
        });
        let stored = match self
            .storage
            .observe(
                &release.target_namespace,
                &release.release_name,
                known_revision,
            )
            .await
        {
            Ok(stored) => stored,
            Err(e) => {
                let e = Error::ValuesSource {
                    source_ref: format!("Helm's storage in namespace {}", release.target_namespace),
                    reason: format!(
                        "cannot read it (the operator needs to list Secrets there): {e}"
                    ),
                };
                return self.fail(obj, draft, Phase::Failed, &e, false).await;
            }
        };
        if stored.is_none()
            && let Some(reason) = self.helm2_release(&release).await
        {
            let e = Error::Helm2 {
                resource: release.resource_id(),
                release: release.release_name.clone(),
                namespace: release.target_namespace.clone(),
                reason,
            };
            return self.fail(obj, draft, Phase::Failed, &e, true).await;
        }
        let mut stored = stored;
        let mut decision = decide(
            draft.before.as_ref(),
            draft.generation,
            &release.release_name,
            &checksum,
            stored.as_ref(),
            release.options.rollback.as_ref(),
        );
        if !matches!(decision, Decision::Skip(_)) {
            // The watch cache may lag behind this operator's own last status
            // write (a reconcile queued by it can see the object before it):
            // decide again on the object and Helm's storage as they are now.
            // Only paid when helm is about to run.
            let api: Api<K> = Api::namespaced(self.client.clone(), &release.namespace);
            let fresh = api
                .get_opt(&release.name)
                .await
                .map_err(|e| Error::kube(format!("reading {}", release.resource_id()), e))?;
            let Some(fresh) = fresh else {
                return Ok(ReconcileOutcome::Skipped(SkipCause::UpToDate));
            };
            if fresh.meta().resource_version != obj.meta().resource_version {
                let mut renewed = Draft::new(&fresh);
                renewed.for_release(&release);
                renewed.redactor = std::mem::take(&mut draft.redactor);
                if let Some(fetched) = draft.status.condition(ConditionType::ChartFetched).cloned()
                {
                    renewed.status.clear_condition(ConditionType::ChartFetched);
                    renewed.status.conditions.push(fetched);
                }
                *draft = renewed;
                stored = self
                    .storage
                    .fetch(&release.target_namespace, &release.release_name)
                    .await?;
                decision = decide(
                    draft.before.as_ref(),
                    draft.generation,
                    &release.release_name,
                    &checksum,
                    stored.as_ref(),
                    release.options.rollback.as_ref(),
                );
            }
        }
        let key = draft.key(&release.namespace, &release.name);
        if self.in_flight_for(&release) {
            decision = Decision::Skip(SkipCause::Pending(
                "an operation of this operator".to_owned(),
            ));
        } else if matches!(
            decision,
            Decision::Install | Decision::Upgrade(UpgradeCause::RetryFailed)
        ) && self.backing_off(&key, &checksum, draft.generation)
        {
            decision = Decision::Skip(SkipCause::BackingOff);
        }
        tracing::debug!(resource = %release.resource_id(), ?decision, "decided");
        match decision {
            Decision::Skip(SkipCause::UpToDate) => {
                draft.phase(Phase::Succeeded, None);
                draft.status.release_status = stored.as_ref().map(|s| s.latest_status.clone());
                if draft.changed() {
                    self.write_status(obj, draft).await?;
                }
                self.forget_failure(&key);
                Ok(ReconcileOutcome::Skipped(SkipCause::UpToDate))
            }
            Decision::Skip(SkipCause::Pending(status)) if !status.starts_with("an operation") => {
                let e = Error::HelmCommand {
                    command: format!("upgrade {}", release.release_name),
                    status: "skipped".to_owned(),
                    stderr: format!(
                        "status '{status}' of release does not allow a safe upgrade (another helm operation holds it)"
                    ),
                };
                self.fail(obj, draft, Phase::Failed, &e, false).await?;
                Ok(ReconcileOutcome::Skipped(SkipCause::Pending(status)))
            }
            Decision::Skip(cause) => {
                if draft.changed() {
                    self.write_status(obj, draft).await?;
                }
                Ok(ReconcileOutcome::Skipped(cause))
            }
            Decision::Recover { pending } => {
                let stored = stored.unwrap_or_default();
                match self
                    .recover(obj, draft, &release, &stored, &pending)
                    .await?
                {
                    Some(outcome) => Ok(outcome),
                    None => {
                        let stored = self
                            .storage
                            .fetch(&release.target_namespace, &release.release_name)
                            .await?;
                        let cause = stored.as_ref().map(|_| UpgradeCause::RetryFailed);
                        self.release(
                            obj, draft, &release, &chart, &values, &checksum, stored, cause,
                        )
                        .await
                    }
                }
            }
            Decision::Install => {
                self.release(obj, draft, &release, &chart, &values, &checksum, None, None)
                    .await
            }
            Decision::Upgrade(cause) => {
                self.release(
                    obj,
                    draft,
                    &release,
                    &chart,
                    &values,
                    &checksum,
                    stored,
                    Some(cause),
                )
                .await
            }
        }
    }

    fn in_flight_for(&self, release: &Release) -> bool {
        self.in_flight.lock().is_ok_and(|set| {
            set.contains(&(
                release.target_namespace.clone(),
                release.release_name.clone(),
            ))
        })
    }

    fn claim<'a>(&'a self, release: &Release) -> InFlight<'a> {
        let key = (
            release.target_namespace.clone(),
            release.release_name.clone(),
        );
        if let Ok(mut set) = self.in_flight.lock() {
            set.insert(key.clone());
        }
        InFlight {
            set: &self.in_flight,
            key,
        }
    }

    /// Whether a release that failed with `checksum` at `generation` must
    /// still wait before it is tried again.
    fn backing_off(&self, key: &(String, String), checksum: &str, generation: Option<i64>) -> bool {
        let Ok(memory) = self.memory.lock() else {
            return false;
        };
        memory.get(key).is_some_and(|m| {
            m.checksum == checksum
                && m.generation == generation
                && m.retry_at.is_some_and(|at| Instant::now() < at)
        })
    }

    /// Counts a failed attempt and sets when the next one may be made.
    fn record_failure(&self, key: &(String, String), checksum: &str, generation: Option<i64>) {
        let Ok(mut memory) = self.memory.lock() else {
            return;
        };
        let entry = memory.entry(key.clone()).or_default();
        if entry.checksum != checksum || entry.generation != generation {
            entry.failures = 0;
        }
        entry.checksum = checksum.to_owned();
        entry.generation = generation;
        entry.failures = entry.failures.saturating_add(1);
        let factor = 1u32 << entry.failures.saturating_sub(1).min(16);
        let wait = self
            .settings
            .retry_backoff
            .saturating_mul(factor)
            .min(self.settings.max_retry_backoff);
        entry.retry_at = Instant::now().checked_add(wait);
        tracing::info!(
            release = %key.1,
            failures = entry.failures,
            retry_in_s = wait.as_secs(),
            "release failed; retrying unchanged after a back-off (any change is tried at once)"
        );
    }

    fn forget_failure(&self, key: &(String, String)) {
        if let Ok(mut memory) = self.memory.lock() {
            memory.remove(key);
        }
    }

    /// Whether `message` differs from the last failure recorded for `key`
    /// (and records it).
    fn new_failure(&self, key: &(String, String), message: &str) -> bool {
        let Ok(mut memory) = self.memory.lock() else {
            return true;
        };
        let entry = memory.entry(key.clone()).or_default();
        if entry.last_error.as_deref() == Some(message) {
            false
        } else {
            entry.last_error = Some(message.to_owned());
            true
        }
    }

    /// Why the release looks like Helm 2's (Tiller's ConfigMaps or Secrets
    /// labelled `OWNER=TILLER`), when the operator may look.
    async fn helm2_release(&self, release: &Release) -> Option<String> {
        let namespace = self.settings.tiller_namespace.as_deref()?;
        let selector = format!("OWNER=TILLER,NAME={}", release.release_name);
        let params = ListParams::default().labels(&selector).limit(1);
        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        match config_maps.list_metadata(&params).await {
            Ok(list) if !list.items.is_empty() => {
                return Some(format!(
                    "Tiller's release ConfigMaps ({selector}) are in namespace {namespace}"
                ));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(namespace, error = %api_error::describe(&e), "cannot look for Helm 2 releases");
            }
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match secrets.list_metadata(&params).await {
            Ok(list) if !list.items.is_empty() => Some(format!(
                "Tiller's release Secrets ({selector}) are in namespace {namespace}"
            )),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(namespace, error = %api_error::describe(&e), "cannot look for Helm 2 releases");
                None
            }
        }
    }

    /// Ends a reconcile in a failure phase: status, log, and a
    /// `FailedReleaseSync` Event when the failure is new.
    async fn fail<K: HelmReleaseResource>(
        &self,
        obj: &K,
        draft: &mut Draft,
        phase: Phase,
        error: &Error,
        always_detail: bool,
    ) -> Result<ReconcileOutcome, Error> {
        let message = draft.redactor.redact(&error.to_string());
        draft.phase_with(phase, Some(&message), always_detail, true);
        let key = draft.key(&obj.namespace().unwrap_or_default(), &obj.name_any());
        if self.new_failure(&key, &message) {
            tracing::warn!(resource = %resource_id(obj), phase = phase.as_str(), error = %message, "release failed");
            self.failed_event(obj, draft, &message).await;
        } else {
            tracing::debug!(resource = %resource_id(obj), phase = phase.as_str(), error = %message, "release still failing");
        }
        if draft.changed() {
            self.write_status(obj, draft).await?;
        }
        Ok(ReconcileOutcome::Failed(phase))
    }

    async fn failed_event<K: HelmReleaseResource>(&self, obj: &K, draft: &Draft, message: &str) {
        self.event(
            obj,
            EventType::Warning,
            FAILED_RELEASE_SYNC,
            format!(
                "synchronization of release '{}' in namespace '{}' failed: {message}",
                draft.release_name, draft.target_namespace
            ),
        )
        .await;
    }

    async fn synced_event<K: HelmReleaseResource>(&self, obj: &K, draft: &Draft) {
        self.event(
            obj,
            EventType::Normal,
            RELEASE_SYNCED,
            format!(
                "managed release '{}' in namespace '{}' synchronized",
                draft.release_name, draft.target_namespace
            ),
        )
        .await;
    }

    /// Runs one helm step, timing it for the metrics.
    async fn timed<T>(
        &self,
        action: Action,
        draft: &Draft,
        step: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let result = step.await;
        self.metrics.observe(
            action,
            result.is_ok(),
            &draft.target_namespace,
            &draft.release_name,
            started.elapsed(),
        );
        result
    }

    /// Brings back a release an interrupted operation of this operator left
    /// `pending-*`: rolled back to its deployed revision, or uninstalled when
    /// it never deployed. `None` when it is ready to be released again.
    async fn recover<K: HelmReleaseResource>(
        &self,
        obj: &K,
        draft: &mut Draft,
        release: &Release,
        stored: &StoredRelease,
        pending: &str,
    ) -> Result<Option<ReconcileOutcome>, Error> {
        let _claim = self.claim(release);
        let (name, namespace) = (
            release.release_name.as_str(),
            release.target_namespace.as_str(),
        );
        tracing::warn!(
            release = name,
            namespace,
            status = pending,
            "recovering a release left by an interrupted helm operation"
        );
        match stored
            .deployed_revision
            .filter(|_| pending != "pending-install")
        {
            Some(good) => {
                draft.phase(Phase::RollingBack, None);
                self.write_status(obj, draft).await?;
                let policy =
                    release
                        .options
                        .rollback
                        .clone()
                        .unwrap_or(crate::model::RollbackPolicy {
                            force: false,
                            recreate: false,
                            disable_hooks: false,
                            timeout: release.options.timeout,
                            wait: false,
                            retry: false,
                            max_retries: 0,
                        });
                let rolled = self
                    .timed(
                        Action::Rollback,
                        draft,
                        self.helm.rollback(name, namespace, Some(good), &policy),
                    )
                    .await;
                if let Err(e) = rolled {
                    let e = Error::HelmCommand {
                        command: format!("rollback {name} {good}"),
                        status: "failed".to_owned(),
                        stderr: format!("recovering from {pending}: {e}"),
                    };
                    return self
                        .fail(obj, draft, Phase::RollbackFailed, &e, false)
                        .await
                        .map(Some);
                }
                tracing::info!(
                    release = name,
                    namespace,
                    revision = good,
                    "rolled back the interrupted release"
                );
            }
            None => {
                let removed = self
                    .timed(
                        Action::Uninstall,
                        draft,
                        self.helm
                            .uninstall(name, namespace, release.options.timeout),
                    )
                    .await;
                if let Err(e) = removed {
                    return self
                        .fail(obj, draft, Phase::Failed, &e, false)
                        .await
                        .map(Some);
                }
                tracing::info!(
                    release = name,
                    namespace,
                    "removed the interrupted release that never deployed"
                );
            }
        }
        Ok(None)
    }

    /// Installs or upgrades, then tests; rolls back or uninstalls on failure
    /// as the release asks (helm-operator's release cycle).
    #[allow(clippy::too_many_arguments)]
    async fn release<K: HelmReleaseResource>(
        &self,
        obj: &K,
        draft: &mut Draft,
        release: &Release,
        chart: &ResolvedChart,
        values: &Map<String, Value>,
        checksum: &str,
        stored: Option<StoredRelease>,
        cause: Option<UpgradeCause>,
    ) -> Result<ReconcileOutcome, Error> {
        let _claim = self.claim(release);
        let key = draft.key(&release.namespace, &release.name);
        let installing = stored.is_none();
        let (name, namespace) = (
            release.release_name.as_str(),
            release.target_namespace.as_str(),
        );
        tracing::info!(resource = %release.resource_id(), release = name, namespace, ?cause, "releasing");

        let scratch = tempfile::tempdir_in(&self.scratch_dir).map_err(|e| {
            Error::io(
                format!("creating a directory in {}", self.scratch_dir.display()),
                e,
            )
        })?;
        let chart_path = match self
            .sources
            .prepare(chart, release, &self.helm, scratch.path())
            .await
        {
            Ok(path) => path,
            Err(e) => {
                return self
                    .fail(obj, draft, Phase::ChartFetchFailed, &e, false)
                    .await;
            }
        };
        let values_file = write_values_file(scratch.path(), values)?;
        if self.settings.log_release_diffs && !installing {
            self.log_values_diff(release, values, &draft.redactor).await;
        }
        // A release without any deployed revision (a failed install left
        // behind) cannot be upgraded by helm: start it again.
        if let Some(stored) = &stored
            && stored.deployed_revision.is_none()
        {
            tracing::info!(release = name, namespace, status = %stored.latest_status, "removing a release that never deployed");
            if let Err(e) = self
                .timed(
                    Action::Uninstall,
                    draft,
                    self.helm
                        .uninstall(name, namespace, release.options.timeout),
                )
                .await
            {
                tracing::warn!(release = name, namespace, error = %draft.redactor.redact(&e.to_string()), "uninstalling a failed release");
            }
        }
        let installing = installing
            || stored
                .as_ref()
                .is_some_and(|s| s.deployed_revision.is_none());
        let good_revision = stored.as_ref().and_then(|s| s.deployed_revision);

        draft.status.release_name = Some(name.to_owned());
        draft.status.last_attempted_checksum = Some(checksum.to_owned());
        draft.status.last_attempted_revision = Some(chart.revision.clone());
        draft.phase(
            if installing {
                Phase::Installing
            } else {
                Phase::Upgrading
            },
            None,
        );
        self.write_status(obj, draft).await?;

        let request = UpgradeRequest {
            release_name: name,
            namespace,
            chart: &chart_path,
            values_file: values_file.path(),
            options: &release.options,
        };
        let action = if installing {
            Action::Install
        } else {
            Action::Upgrade
        };
        let info = match self
            .timed(action, draft, self.helm.upgrade_install(&request))
            .await
        {
            Ok(info) => info,
            Err(e) => {
                let message = draft.redactor.redact(&e.to_string());
                tracing::warn!(resource = %release.resource_id(), release = name, namespace, error = %message, "{} failed", if installing { "installation" } else { "upgrade" });
                draft.phase(Phase::DeployFailed, Some(&message));
                self.record_stored(draft, namespace, name).await;
                let outcome = if installing {
                    self.undo_install(draft, release).await;
                    ReconcileOutcome::Failed(Phase::DeployFailed)
                } else {
                    self.roll_back(obj, draft, release, good_revision).await?
                };
                return self
                    .finish_failed(obj, draft, &key, checksum, &message, outcome)
                    .await;
            }
        };
        draft.phase(Phase::Deployed, None);
        draft.status.helm_revision = Some(info.version);
        draft.status.release_status = Some(info.info.status.clone());

        if let Some(test) = &release.options.test {
            draft.phase(Phase::Testing, None);
            self.write_status(obj, draft).await?;
            match self
                .timed(
                    Action::Test,
                    draft,
                    self.helm.test(name, namespace, test.timeout),
                )
                .await
            {
                Ok(()) => draft.phase(Phase::Tested, None),
                Err(e) => {
                    let message = draft.redactor.redact(&e.to_string());
                    tracing::warn!(resource = %release.resource_id(), release = name, namespace, error = %message, "test failed");
                    draft.phase(Phase::TestFailed, Some(&message));
                    if !test.ignore_failures {
                        let outcome = if installing {
                            self.undo_install(draft, release).await;
                            ReconcileOutcome::Failed(Phase::TestFailed)
                        } else if release.options.rollback.is_some() {
                            self.roll_back(obj, draft, release, good_revision).await?
                        } else {
                            ReconcileOutcome::Failed(Phase::TestFailed)
                        };
                        self.record_stored(draft, namespace, name).await;
                        return self
                            .finish_failed(obj, draft, &key, checksum, &message, outcome)
                            .await;
                    }
                    tracing::info!(
                        release = name,
                        namespace,
                        "test failed; ignoring failures as the release asks"
                    );
                }
            }
        }
        draft.phase(Phase::Succeeded, None);
        draft.status.revision = Some(chart.revision.clone());
        draft.status.last_deployed_checksum = Some(checksum.to_owned());
        self.write_status(obj, draft).await?;
        self.forget_failure(&key);
        tracing::info!(resource = %release.resource_id(), release = name, namespace, revision = info.version, chart = %chart.revision, "{}", if installing { "installation succeeded" } else { "upgrade succeeded" });
        self.synced_event(obj, draft).await;
        Ok(if installing {
            ReconcileOutcome::Installed(info.version)
        } else {
            ReconcileOutcome::Upgraded(info.version)
        })
    }

    /// Writes the status of a failed release cycle, its Event, and its back-off.
    async fn finish_failed<K: HelmReleaseResource>(
        &self,
        obj: &K,
        draft: &mut Draft,
        key: &(String, String),
        checksum: &str,
        message: &str,
        outcome: ReconcileOutcome,
    ) -> Result<ReconcileOutcome, Error> {
        self.write_status(obj, draft).await?;
        if let Ok(mut memory) = self.memory.lock() {
            memory.entry(key.clone()).or_default().last_error = Some(message.to_owned());
        }
        if !matches!(outcome, ReconcileOutcome::RolledBack) {
            self.record_failure(key, checksum, draft.generation);
        }
        self.failed_event(obj, draft, message).await;
        Ok(outcome)
    }

    /// helm-operator uninstalls a release whose installation (or its test) failed.
    async fn undo_install(&self, draft: &mut Draft, release: &Release) {
        let (name, namespace) = (
            release.release_name.as_str(),
            release.target_namespace.as_str(),
        );
        match self
            .timed(
                Action::Uninstall,
                draft,
                self.helm
                    .uninstall(name, namespace, release.options.timeout),
            )
            .await
        {
            Ok(_) => {
                draft.status.helm_revision = None;
                draft.status.release_status = None;
            }
            Err(e) => {
                tracing::warn!(release = name, namespace, error = %draft.redactor.redact(&e.to_string()), "uninstalling the failed installation");
            }
        }
    }

    /// Rolls back to `good` when the release enables rollbacks.
    async fn roll_back<K: HelmReleaseResource>(
        &self,
        obj: &K,
        draft: &mut Draft,
        release: &Release,
        good: Option<i64>,
    ) -> Result<ReconcileOutcome, Error> {
        let (Some(policy), Some(good)) = (&release.options.rollback, good) else {
            return Ok(ReconcileOutcome::Failed(
                draft
                    .status
                    .phase
                    .as_deref()
                    .map_or(Phase::DeployFailed, |p| {
                        if p == Phase::TestFailed.as_str() {
                            Phase::TestFailed
                        } else {
                            Phase::DeployFailed
                        }
                    }),
            ));
        };
        let (name, namespace) = (
            release.release_name.as_str(),
            release.target_namespace.as_str(),
        );
        draft.phase(Phase::RollingBack, None);
        self.write_status(obj, draft).await?;
        match self
            .timed(
                Action::Rollback,
                draft,
                self.helm.rollback(name, namespace, Some(good), policy),
            )
            .await
        {
            Ok(()) => {
                tracing::info!(
                    release = name,
                    namespace,
                    revision = good,
                    "rollback succeeded"
                );
                draft.phase(Phase::RolledBack, None);
                self.record_stored(draft, namespace, name).await;
                Ok(ReconcileOutcome::RolledBack)
            }
            Err(e) => {
                let message = draft.redactor.redact(&e.to_string());
                tracing::warn!(release = name, namespace, error = %message, "rollback failed");
                draft.phase(Phase::RollbackFailed, Some(&message));
                self.record_stored(draft, namespace, name).await;
                Ok(ReconcileOutcome::Failed(Phase::RollbackFailed))
            }
        }
    }

    /// Logs what changes in the user-supplied values (`--log-release-diffs`),
    /// with values read from Secrets masked.
    async fn log_values_diff(
        &self,
        release: &Release,
        values: &Map<String, Value>,
        redactor: &Redactor,
    ) {
        let (name, namespace) = (
            release.release_name.as_str(),
            release.target_namespace.as_str(),
        );
        match self.helm.get_values(name, namespace).await {
            Ok(current) => {
                let diff = values_diff(&current, values, redactor);
                if diff.is_empty() {
                    tracing::info!(
                        release = name,
                        namespace,
                        "no values difference; upgrading for the chart or spec"
                    );
                } else {
                    tracing::info!(release = name, namespace, diff = %diff.join("; "), "values difference detected");
                }
            }
            Err(e) => {
                tracing::warn!(release = name, namespace, error = %redactor.redact(&e.to_string()), "reading the current values for the diff");
            }
        }
    }

    /// Records Helm's newest revision after a failure, so it is not taken
    /// for a change made outside the operator.
    async fn record_stored(&self, draft: &mut Draft, namespace: &str, name: &str) {
        match self.storage.fetch(namespace, name).await {
            Ok(Some(stored)) => {
                draft.status.helm_revision = Some(stored.latest_revision);
                draft.status.release_status = Some(stored.latest_status);
            }
            Ok(None) => {
                draft.status.helm_revision = None;
                draft.status.release_status = None;
            }
            Err(e) => tracing::warn!(release = name, namespace, error = %e, "reading helm storage"),
        }
    }

    /// Uninstalls the release of a HelmRelease being deleted. Releases the
    /// operator never made are left alone.
    pub(crate) async fn cleanup<K: HelmReleaseResource>(
        &self,
        obj: &K,
    ) -> Result<ReconcileOutcome, Error> {
        let key = (obj.namespace().unwrap_or_default(), obj.name_any());
        let Some(name) = obj.release_status().and_then(|s| s.release_name.clone()) else {
            self.forget_failure(&key);
            return Ok(ReconcileOutcome::Uninstalled);
        };
        let (namespace, timeout) = match obj.to_release() {
            Ok(release) => (release.target_namespace, release.options.timeout),
            Err(_) => (
                obj.namespace().unwrap_or_default(),
                crate::model::DEFAULT_TIMEOUT,
            ),
        };
        let _worker = self.workers.acquire(&self.metrics).await?;
        let started = Instant::now();
        let result = self.helm.uninstall(&name, &namespace, timeout).await;
        self.metrics.observe(
            Action::Uninstall,
            result.is_ok(),
            &namespace,
            &name,
            started.elapsed(),
        );
        match result {
            Ok(existed) => {
                self.metrics.forget_release(&namespace, &name);
                self.forget_failure(&key);
                if existed {
                    tracing::info!(release = %name, namespace, "uninstalled: its HelmRelease was deleted");
                    self.event(
                        obj,
                        EventType::Normal,
                        "Uninstalled",
                        format!("release '{name}' in namespace '{namespace}' uninstalled"),
                    )
                    .await;
                }
                Ok(ReconcileOutcome::Uninstalled)
            }
            Err(e) => {
                self.event(
                    obj,
                    EventType::Warning,
                    "UninstallFailed",
                    format!("uninstalling release '{name}' in namespace '{namespace}' failed, will retry: {e}"),
                )
                .await;
                Err(e)
            }
        }
    }

    /// Marks a release whose reconcile panicked (a bug): `Failed`, the
    /// operator's log has the rest; the other releases go on.
    pub(crate) async fn internal_error<K: HelmReleaseResource>(&self, obj: &K, panic: &str) {
        let mut draft = Draft::new(obj);
        if let Ok(release) = obj.to_release() {
            draft.for_release(&release);
        }
        let e = Error::Startup {
            reason: format!(
                "internal error while reconciling (a bug in the operator; the other releases go on): {panic}"
            ),
        };
        if let Err(e) = self.fail(obj, &mut draft, Phase::Failed, &e, false).await {
            tracing::warn!(resource = %resource_id(obj), error = %e, "writing the status after an internal error");
        }
    }

    /// Sets `status.releaseStatus` (and the release name) from Helm's storage
    /// as watched, when it differs: helm-operator's status updater, without
    /// running helm. Returns whether a write was made.
    pub(crate) async fn refresh_release_status<K: HelmReleaseResource>(&self, obj: &K) -> bool {
        let Some(status) = obj.release_status() else {
            return false;
        };
        let Some(name) = status.release_name.as_deref() else {
            return false;
        };
        let namespace = obj
            .to_release()
            .map(|r| r.target_namespace)
            .unwrap_or_else(|_| obj.namespace().unwrap_or_default());
        // A release this operator is working on gets its status from that work.
        if self
            .in_flight
            .lock()
            .is_ok_and(|set| set.contains(&(namespace.clone(), name.to_owned())))
        {
            return false;
        }
        let Some(Some(stored)) = self.storage.cached(&namespace, name) else {
            return false;
        };
        if status.release_status.as_deref() == Some(stored.latest_status.as_str()) {
            return false;
        }
        tracing::debug!(resource = %resource_id(obj), from = ?status.release_status, to = %stored.latest_status, "refreshing releaseStatus");
        let patch = serde_json::json!({"status": {"releaseStatus": stored.latest_status}});
        let api: Api<K> =
            Api::namespaced(self.client.clone(), &obj.namespace().unwrap_or_default());
        match api
            .patch_status(
                &obj.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(resource = %resource_id(obj), error = %api_error::describe(&e), "refreshing releaseStatus");
                false
            }
        }
    }

    async fn write_status<K: HelmReleaseResource>(
        &self,
        obj: &K,
        draft: &mut Draft,
    ) -> Result<(), Error> {
        let namespace = obj.namespace().unwrap_or_default();
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        let patch = serde_json::json!({ "status": &draft.status });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| Error::kube(format!("writing the status of {}", resource_id(obj)), e))?;
        self.metrics.observe_conditions(
            &draft.target_namespace,
            &draft.release_name,
            draft.written.as_ref(),
            &draft.status,
        );
        draft.written = Some(draft.status.clone());
        Ok(())
    }

    async fn event<K: HelmReleaseResource>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(truncate(note, 1000)),
            action: "Sync".to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(resource = %resource_id(obj), error = %api_error::describe(&error), "publishing an event");
        }
    }
}

/// `namespace:kind/name` of any HelmRelease object.
fn resource_id<K: HelmReleaseResource>(obj: &K) -> String {
    format!(
        "{}:{}/{}",
        obj.namespace().unwrap_or_default(),
        K::RELEASE_KIND.kind().to_ascii_lowercase(),
        obj.name_any()
    )
}

/// The changed leaves of two values trees, `path: old -> new`, with values
/// that are secrets shown as `***`.
pub(crate) fn values_diff(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    redactor: &Redactor,
) -> Vec<String> {
    fn flatten(prefix: &str, value: &Value, out: &mut std::collections::BTreeMap<String, String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&path, v, out);
                }
            }
            other => {
                out.insert(
                    prefix.to_owned(),
                    match other {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    },
                );
            }
        }
    }
    let (mut old, mut new) = (Default::default(), Default::default());
    flatten("", &Value::Object(before.clone()), &mut old);
    flatten("", &Value::Object(after.clone()), &mut new);
    let show = |v: &str| -> String {
        if redactor.is_secret(v) || redactor.redact(v) != v {
            "***".to_owned()
        } else {
            v.to_owned()
        }
    };
    let mut diff = Vec::new();
    for (path, value) in &new {
        match old.get(path) {
            Some(previous) if previous == value => {}
            Some(previous) => diff.push(format!("{path}: {} -> {}", show(previous), show(value))),
            None => diff.push(format!("{path}: added {}", show(value))),
        }
    }
    for (path, value) in &old {
        if !new.contains_key(path) {
            diff.push(format!("{path}: removed {}", show(value)));
        }
    }
    diff
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// How long to wait before retrying a reconcile that failed on the
/// Kubernetes API (the status could not be written, say).
pub(crate) const ERROR_REQUEUE: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_diffs_mask_secrets() {
        let mut redactor = Redactor::new();
        redactor.add("db-password-1");
        redactor.add("db-password-2");
        let before =
            serde_json::json!({"replicas": 1, "db": {"password": "db-password-1"}, "gone": "x"});
        let after = serde_json::json!({"replicas": 2, "db": {"password": "db-password-2"}, "new": {"a": true}});
        let diff = values_diff(
            before.as_object().unwrap(),
            after.as_object().unwrap(),
            &redactor,
        );
        assert!(diff.contains(&"replicas: 1 -> 2".to_owned()), "{diff:?}");
        assert!(
            diff.contains(&"db.password: *** -> ***".to_owned()),
            "{diff:?}"
        );
        assert!(diff.contains(&"new.a: added true".to_owned()), "{diff:?}");
        assert!(diff.contains(&"gone: removed x".to_owned()), "{diff:?}");
        assert!(!diff.join(" ").contains("db-password"));
    }
}
