//! The reconciler: one HelmRelease at a time, from spec to Helm release,
//! status and events.
//!
//! [`Reconciler::reconcile`] converts the resource to the [`Release`] model,
//! resolves its chart and values, computes the checksum and asks
//! [`decide`](crate::decision::decide) what to do using only the status and
//! the watched Helm storage. Only an install or upgrade runs helm. Every
//! failure ends as a status condition with a message a person can act on,
//! plus a Kubernetes Event when something changed; none stops the operator.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, ResourceExt};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use crate::Error;
use crate::api::{ConditionStatus, ConditionType, HelmReleaseStatus, Phase};
use crate::chart::{ChartSources, ResolvedChart};
use crate::checksum::release_checksum;
use crate::decision::{Decision, SkipCause, UpgradeCause, decide};
use crate::helm::{Helm, UpgradeRequest, write_values_file};
use crate::model::{HelmReleaseResource, Release};
use crate::storage::{ReleaseStorage, StoredRelease};
use crate::values::ValuesResolver;

/// What one reconcile did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Nothing needed doing.
    Skipped(SkipCause),
    /// The release was installed at this Helm revision.
    Installed(i64),
    /// The release was upgraded to this Helm revision.
    Upgraded(i64),
    /// The upgrade failed and the release was rolled back.
    RolledBack,
    /// The release could not be made; the status says why.
    Failed(Phase),
    /// The release was uninstalled (or was already gone).
    Uninstalled,
}

/// Everything a reconcile needs, shared by all HelmReleases.
pub struct Reconciler {
    pub(crate) client: kube::Client,
    pub(crate) helm: Helm,
    pub(crate) sources: ChartSources,
    pub(crate) values: ValuesResolver,
    pub(crate) storage: ReleaseStorage,
    pub(crate) recorder: Recorder,
    pub(crate) scratch_dir: PathBuf,
    pub(crate) helm_slots: Semaphore,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("helm", &self.helm)
            .field("sources", &self.sources)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

fn now() -> String {
    format!("{:.0}", Timestamp::now())
}

/// The status before this reconcile, plus what this reconcile observed.
struct StatusDraft {
    before: Option<HelmReleaseStatus>,
    status: HelmReleaseStatus,
    now: String,
}

impl StatusDraft {
    fn new<K: HelmReleaseResource>(obj: &K) -> Self {
        let before = obj.release_status().cloned();
        let mut status = before.clone().unwrap_or_default();
        status.observed_generation = obj.meta().generation;
        Self {
            before,
            status,
            now: now(),
        }
    }

    fn condition(
        &mut self,
        type_: ConditionType,
        ok: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        let status = if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        self.status
            .set_condition(type_, status, reason, message, &self.now);
    }

    fn phase(&mut self, phase: Phase) {
        self.status.phase = Some(phase.as_str().to_owned());
    }

    fn changed(&self) -> bool {
        self.before.as_ref() != Some(&self.status)
    }

    /// Whether the condition of `type_` differs from before (status, reason or message).
    fn condition_changed(&self, type_: ConditionType) -> bool {
        let before = self.before.as_ref().and_then(|b| b.condition(type_));
        let after = self.status.condition(type_);
        match (before, after) {
            (Some(b), Some(a)) => {
                b.status != a.status || b.reason != a.reason || b.message != a.message
            }
            (None, None) => false,
            _ => true,
        }
    }
}

impl Reconciler {
    /// The helm binary in use (and its invocation counter).
    pub fn helm(&self) -> &Helm {
        &self.helm
    }

    /// The watched Helm storage.
    pub fn storage(&self) -> &ReleaseStorage {
        &self.storage
    }

    /// Brings the Helm release of `obj` to its spec.
    pub async fn reconcile<K: HelmReleaseResource>(&self, obj: &K) -> Result<Outcome, Error> {
        let mut draft = StatusDraft::new(obj);
        let release = match obj.to_release() {
            Ok(release) => release,
            Err(e) => {
                draft.phase(Phase::Failed);
                draft.condition(ConditionType::Released, false, e.reason(), e.to_string());
                return self
                    .fail(obj, draft, ConditionType::Released, Phase::Failed)
                    .await;
            }
        };
        let chart = match self.sources.resolve(&release, &self.helm).await {
            Ok(chart) => chart,
            Err(e) => {
                draft.phase(Phase::ChartFetchFailed);
                draft.condition(
                    ConditionType::ChartFetched,
                    false,
                    e.reason(),
                    e.to_string(),
                );
                return self
                    .fail(
                        obj,
                        draft,
                        ConditionType::ChartFetched,
                        Phase::ChartFetchFailed,
                    )
                    .await;
            }
        };
        draft.condition(
            ConditionType::ChartFetched,
            true,
            "ChartFetched",
            format!("chart fetched at revision {}", chart.revision),
        );
        let values = match self.values.assemble(&release, chart.dir().as_deref()).await {
            Ok(values) => values,
            Err(e) => {
                draft.phase(Phase::Failed);
                draft.condition(ConditionType::Released, false, e.reason(), e.to_string());
                return self
                    .fail(obj, draft, ConditionType::Released, Phase::Failed)
                    .await;
            }
        };
        let checksum = release_checksum(&chart.digest, &values);
        let known_revision = draft.status.helm_revision.filter(|_| {
            draft.status.release_name.as_deref() == Some(release.release_name.as_str())
        });
        let stored = self
            .storage
            .observe(
                &release.target_namespace,
                &release.release_name,
                known_revision,
            )
            .await;
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => {
                draft.phase(Phase::Failed);
                let message = format!(
                    "cannot read Helm's storage in namespace {} (the operator needs to list Secrets there): {e}",
                    release.target_namespace
                );
                draft.condition(ConditionType::Released, false, e.reason(), message);
                return self
                    .fail(obj, draft, ConditionType::Released, Phase::Failed)
                    .await;
            }
        };
        let mut decision = decide(
            draft.before.as_ref(),
            &release.release_name,
            &checksum,
            stored.as_ref(),
            release.options.rollback.as_ref(),
        );
        let mut stored = stored;
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
                return Ok(Outcome::Skipped(SkipCause::UpToDate));
            };
            if fresh.meta().resource_version != obj.meta().resource_version {
                let chart_condition = draft.status.condition(ConditionType::ChartFetched).cloned();
                draft = StatusDraft::new(&fresh);
                if let Some(condition) = chart_condition {
                    draft.status.clear_condition(ConditionType::ChartFetched);
                    draft.status.conditions.push(condition);
                }
                stored = self
                    .storage
                    .fetch(&release.target_namespace, &release.release_name)
                    .await?;
                decision = decide(
                    draft.before.as_ref(),
                    &release.release_name,
                    &checksum,
                    stored.as_ref(),
                    release.options.rollback.as_ref(),
                );
            }
        }
        tracing::debug!(resource = %release.resource_id(), ?decision, "decided");
        match decision {
            Decision::Skip(cause) => {
                if draft.changed() {
                    self.write_status(obj, &draft.status).await?;
                }
                Ok(Outcome::Skipped(cause))
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

    /// Writes a failed status and, when the condition changed, a Warning event.
    async fn fail<K: HelmReleaseResource>(
        &self,
        obj: &K,
        draft: StatusDraft,
        condition: ConditionType,
        phase: Phase,
    ) -> Result<Outcome, Error> {
        if draft.condition_changed(condition)
            && let Some(c) = draft.status.condition(condition)
        {
            self.event(
                obj,
                EventType::Warning,
                c.reason.as_deref().unwrap_or("Failed"),
                c.message.clone().unwrap_or_default(),
            )
            .await;
        }
        if draft.changed() {
            self.write_status(obj, &draft.status).await?;
        }
        Ok(Outcome::Failed(phase))
    }

    /// Installs or upgrades, rolling back on failure when asked.
    #[allow(clippy::too_many_arguments)]
    async fn release<K: HelmReleaseResource>(
        &self,
        obj: &K,
        mut draft: StatusDraft,
        release: &Release,
        chart: &ResolvedChart,
        values: &Map<String, Value>,
        checksum: &str,
        stored: Option<StoredRelease>,
        cause: Option<UpgradeCause>,
    ) -> Result<Outcome, Error> {
        let _slot = self
            .helm_slots
            .acquire()
            .await
            .map_err(|_| Error::Startup {
                reason: "the operator is shutting down".to_owned(),
            })?;
        let installing = cause.is_none()
            || stored
                .as_ref()
                .is_some_and(|s| s.deployed_revision.is_none());
        let (name, namespace) = (
            release.release_name.as_str(),
            release.target_namespace.as_str(),
        );
        tracing::info!(resource = %release.resource_id(), release = name, namespace, ?cause, "releasing");
        draft.status.release_name = Some(name.to_owned());
        draft.phase(if installing {
            Phase::Installing
        } else {
            Phase::Upgrading
        });
        self.write_status(obj, &draft.status).await?;

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
                draft.phase(Phase::ChartFetchFailed);
                draft.condition(
                    ConditionType::ChartFetched,
                    false,
                    "DependencyUpdateFailed",
                    e.to_string(),
                );
                return self
                    .fail(
                        obj,
                        draft,
                        ConditionType::ChartFetched,
                        Phase::ChartFetchFailed,
                    )
                    .await;
            }
        };
        let values_file = write_values_file(scratch.path(), values)?;

        // A release without any deployed revision (a failed install) cannot be
        // upgraded by helm: start it again.
        if let Some(stored) = &stored
            && stored.deployed_revision.is_none()
        {
            tracing::info!(release = name, namespace, status = %stored.latest_status, "removing a release that never deployed");
            if let Err(e) = self
                .helm
                .uninstall(name, namespace, release.options.timeout)
                .await
            {
                tracing::warn!(release = name, namespace, error = %e, "uninstalling a failed release");
            }
        }
        let good_revision = stored.as_ref().and_then(|s| s.deployed_revision);
        draft.status.last_attempted_checksum = Some(checksum.to_owned());
        draft.status.last_attempted_revision = Some(chart.revision.clone());
        let request = UpgradeRequest {
            release_name: name,
            namespace,
            chart: &chart_path,
            values_file: values_file.path(),
            options: &release.options,
        };
        let result = self.helm.upgrade_install(&request).await;
        let result = match (result, &release.options.test) {
            (Ok(info), Some(test)) => match self.helm.test(name, namespace, test.timeout).await {
                Err(e) if !test.ignore_failures => Err((Some(info), e)),
                _ => Ok(info),
            },
            (Ok(info), None) => Ok(info),
            (Err(e), _) => Err((None, e)),
        };
        match result {
            Ok(info) => {
                let (reason, verb) = if installing {
                    ("InstallSucceeded", "installed")
                } else {
                    ("UpgradeSucceeded", "upgraded")
                };
                let message = format!(
                    "release {name} in namespace {namespace} {verb} at revision {} (chart {})",
                    info.version, chart.revision
                );
                draft.phase(Phase::Deployed);
                draft.status.release_status = Some(info.info.status.clone());
                draft.status.helm_revision = Some(info.version);
                draft.status.revision = Some(chart.revision.clone());
                draft.status.last_deployed_checksum = Some(checksum.to_owned());
                if cause != Some(UpgradeCause::RetryAfterRollback) {
                    draft.status.rollback_count = Some(0);
                }
                draft.condition(ConditionType::Released, true, reason, message.clone());
                draft.status.clear_condition(ConditionType::RolledBack);
                self.write_status(obj, &draft.status).await?;
                self.event(obj, EventType::Normal, reason, message).await;
                Ok(if installing {
                    Outcome::Installed(info.version)
                } else {
                    Outcome::Upgraded(info.version)
                })
            }
            Err((_, e)) => {
                let reason = if installing {
                    "InstallFailed"
                } else {
                    "UpgradeFailed"
                };
                let message = format!(
                    "{} of release {name} in namespace {namespace} failed: {e}",
                    if installing { "install" } else { "upgrade" }
                );
                draft.condition(ConditionType::Released, false, reason, message.clone());
                self.record_stored(&mut draft, namespace, name).await;
                self.event(obj, EventType::Warning, reason, message.clone())
                    .await;
                let outcome = match (&release.options.rollback, good_revision) {
                    (Some(policy), Some(good)) => {
                        match self
                            .helm
                            .rollback(name, namespace, Some(good), policy)
                            .await
                        {
                            Ok(()) => {
                                let count = draft.status.rollback_count.unwrap_or(0) + 1;
                                draft.status.rollback_count = Some(count);
                                draft.phase(Phase::RolledBack);
                                let note = format!(
                                    "rolled back to revision {good} after the failed upgrade ({count} rollback(s) since the last success); fix the chart or values and commit again"
                                );
                                draft.condition(
                                    ConditionType::RolledBack,
                                    true,
                                    "RollbackSucceeded",
                                    note.clone(),
                                );
                                self.record_stored(&mut draft, namespace, name).await;
                                self.event(obj, EventType::Warning, "RolledBack", note)
                                    .await;
                                Outcome::RolledBack
                            }
                            Err(rollback_error) => {
                                draft.phase(Phase::RollbackFailed);
                                let note =
                                    format!("rollback to revision {good} failed: {rollback_error}");
                                draft.condition(
                                    ConditionType::RolledBack,
                                    false,
                                    "RollbackFailed",
                                    note.clone(),
                                );
                                self.record_stored(&mut draft, namespace, name).await;
                                self.event(obj, EventType::Warning, "RollbackFailed", note)
                                    .await;
                                Outcome::Failed(Phase::RollbackFailed)
                            }
                        }
                    }
                    _ => {
                        draft.phase(Phase::DeployFailed);
                        Outcome::Failed(Phase::DeployFailed)
                    }
                };
                self.write_status(obj, &draft.status).await?;
                Ok(outcome)
            }
        }
    }

    /// Records Helm's newest revision after a failure, so it is not taken
    /// for a change made outside the operator.
    async fn record_stored(&self, draft: &mut StatusDraft, namespace: &str, name: &str) {
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
    pub async fn cleanup<K: HelmReleaseResource>(&self, obj: &K) -> Result<Outcome, Error> {
        let Some(name) = obj.release_status().and_then(|s| s.release_name.clone()) else {
            return Ok(Outcome::Uninstalled);
        };
        let (namespace, timeout) = match obj.to_release() {
            Ok(release) => (release.target_namespace, release.options.timeout),
            Err(_) => (
                obj.namespace().unwrap_or_default(),
                crate::model::DEFAULT_TIMEOUT,
            ),
        };
        let _slot = self
            .helm_slots
            .acquire()
            .await
            .map_err(|_| Error::Startup {
                reason: "the operator is shutting down".to_owned(),
            })?;
        match self.helm.uninstall(&name, &namespace, timeout).await {
            Ok(existed) => {
                if existed {
                    self.event(
                        obj,
                        EventType::Normal,
                        "Uninstalled",
                        format!("release {name} in namespace {namespace} uninstalled"),
                    )
                    .await;
                }
                Ok(Outcome::Uninstalled)
            }
            Err(e) => {
                self.event(
                    obj,
                    EventType::Warning,
                    "UninstallFailed",
                    format!("uninstalling release {name} in namespace {namespace} failed, will retry: {e}"),
                )
                .await;
                Err(e)
            }
        }
    }

    async fn write_status<K: HelmReleaseResource>(
        &self,
        obj: &K,
        status: &HelmReleaseStatus,
    ) -> Result<(), Error> {
        let namespace = obj.namespace().unwrap_or_default();
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        let patch = serde_json::json!({ "status": status });
        api.patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            Error::kube(
                format!("writing the status of {namespace}/{}", obj.name_any()),
                e,
            )
        })
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
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(resource = %obj.name_any(), %error, "publishing an event");
        }
    }
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
pub const ERROR_REQUEUE: Duration = Duration::from_secs(15);
