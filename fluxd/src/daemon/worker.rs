//! The job side of the daemon's loop: running one job (plan, commit, sync),
//! and the automation run, between syncs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gitsync::{Head, Mirror};
use registry_poller::Snapshot;
use serde_json::json;

use crate::api::{Automated, Cause, JobId, JobResult, USER_AUTOMATED, UpdateKind, UpdateSpec};
use crate::automation::Automation;
use crate::automation::live::LiveWorkloads;
use crate::contract::JobOutcome;
use crate::daemon::queue::{QueueWorker, Work};
use crate::jobs::kinds::{self, Planned, Workspace};
use crate::jobs::{CommitJob, CommitMessages, CommitPath, Committed};
use crate::sync::{GitSource, LoadedRevision, RevisionCache, Syncer};

/// What jobs read and write with: the repository (with checkouts of its
/// own), the commit path, the messages, the cluster.
#[derive(Clone)]
pub(crate) struct JobRunner {
    source: GitSource,
    commit: CommitPath,
    messages: CommitMessages,
    client: Option<kube::Client>,
    allowed: Vec<String>,
    /// One checkout and load at a time (plans run beside the loop).
    load: Arc<tokio::sync::Mutex<()>>,
    /// The head's load, shared with the sync and the API.
    loads: RevisionCache,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRunner")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl JobRunner {
    /// Jobs over `source` (whose `checkouts` directory is theirs alone),
    /// committing through `commit`, reading workloads in `allowed`
    /// namespaces through `client`.
    pub(crate) fn new(
        source: GitSource,
        commit: CommitPath,
        client: Option<kube::Client>,
        allowed: Vec<String>,
    ) -> Self {
        Self {
            source,
            commit,
            messages: CommitMessages::default(),
            client,
            allowed,
            load: Arc::new(tokio::sync::Mutex::new(())),
            loads: RevisionCache::new(),
        }
    }

    /// Reads the head from `loads` when the sync (or an earlier job) loaded
    /// it, and shares what it loads itself.
    #[must_use]
    pub(crate) fn sharing_loads(mut self, loads: RevisionCache) -> Self {
        self.loads = loads;
        self
    }

    pub(crate) fn mirror(&self) -> &Mirror {
        &self.source.mirror
    }

    /// `--git-path`, as given.
    pub(crate) fn paths(&self) -> &[String] {
        &self.source.paths
    }

    async fn live(&self) -> LiveWorkloads {
        match &self.client {
            Some(client) => LiveWorkloads::list(client, &self.allowed).await,
            None => LiveWorkloads::default(),
        }
    }

    /// The head's resources (the shared load when it is of the head), the
    /// cluster's workloads, the registry's snapshot.
    async fn read(
        &self,
        automation: Option<&Automation>,
    ) -> Result<(Arc<LoadedRevision>, LiveWorkloads, Arc<Snapshot>), String> {
        let _guard = self.load.lock().await;
        let head = self.source.fetch().await.map_err(|e| e.to_string())?;
        let loaded = self
            .loads
            .load_newest(&self.source, &head)
            .await
            .map_err(|e| e.to_string())?;
        let live = self.live().await;
        let snapshot = automation
            .map(|a| a.poller().snapshot())
            .unwrap_or_default();
        Ok((loaded, live, snapshot))
    }

    /// Works out what `spec` would do, writing nothing.
    pub(crate) async fn plan(
        &self,
        spec: &UpdateSpec,
        automation: Option<&Automation>,
    ) -> Result<Planned, String> {
        Ok(self.plan_on(spec, automation).await?.0)
    }

    /// [`JobRunner::plan`], and the load it was planned on.
    async fn plan_on(
        &self,
        spec: &UpdateSpec,
        automation: Option<&Automation>,
    ) -> Result<(Planned, Arc<LoadedRevision>), String> {
        let (loaded, live, snapshot) = self.read(automation).await?;
        let planned = kinds::plan(
            spec,
            Workspace {
                resources: &loaded.set.resources,
                live: &live,
                snapshot: &snapshot,
            },
            &self.messages,
        )
        .map_err(|e| e.to_string())?;
        Ok((planned, loaded))
    }

    /// Plans `spec` and commits it (one commit, with the job's note);
    /// whether a commit was pushed is in the result's revision.
    pub(crate) async fn execute(
        &self,
        id: &JobId,
        spec: &UpdateSpec,
        automation: Option<&Automation>,
    ) -> Result<JobResult, String> {
        let (planned, loaded) = self.plan_on(spec, automation).await?;
        let mut result = JobResult {
            revision: String::new(),
            spec: Some(Box::new(spec.clone())),
            result: planned.result,
        };
        if planned.intentions.is_empty() {
            return Ok(result);
        }
        let note = json!({
            "jobID": id,
            "spec": spec,
            "result": if result.result.is_empty() { serde_json::Value::Null } else { serde_json::to_value(&result.result).unwrap_or_default() },
        });
        let user = (!spec.cause.user.is_empty()).then(|| spec.cause.user.clone());
        let job = CommitJob {
            intentions: planned.intentions,
            message: planned.message,
            user,
            note: Some(note),
        };
        // The files to edit are found through the load planned on.
        let committed = self
            .commit
            .commit_planned(job, Some(loaded))
            .await
            .map_err(|e| e.to_string())?;
        match committed {
            Committed::Pushed(pushed) => {
                tracing::info!(job = %id, revision = %pushed.revision, "Commit: {}", pushed.revision.short());
                result.revision = pushed.revision.to_string();
            }
            Committed::NoChange { head } => {
                tracing::info!(job = %id, revision = %head, "the job changed nothing in git");
            }
        }
        Ok(result)
    }

    /// The automation run: the changes automation would make now, after
    /// telling the poller the images in use.
    pub(crate) async fn automation_changes(
        &self,
        automation: &Automation,
    ) -> Result<Automated, String> {
        let (loaded, live, _) = self.read(Some(automation)).await?;
        automation
            .refresh_images(
                &loaded.set.resources,
                &live,
                self.client.as_ref(),
                &self.allowed,
            )
            .await;
        Ok(Automated {
            changes: automation.changes(&loaded.set.resources, &live),
        })
    }
}

/// The job side of the loop, handed to [`crate::SyncLoop`]: the queue's
/// receiving end and the image automation.
pub struct Jobs {
    pub(crate) queue: QueueWorker,
    pub(crate) automation: Option<Automation>,
    /// `--git-readonly`: automation has nowhere to write, and does not run.
    pub(crate) readonly: bool,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

impl Jobs {
    /// The next thing to do from the queue.
    pub(crate) async fn next(&mut self) -> Option<Work> {
        self.queue.work.recv().await
    }

    /// Who is told what the daemon does.
    pub(crate) fn observer(&self) -> &Arc<dyn crate::contract::Observer> {
        self.queue.daemon.observer()
    }

    /// Tells the HTTP side which revision the last sync applied.
    pub(crate) fn synced(&self, revision: gitsync::Revision) {
        self.queue.synced.send_replace(Some(revision));
    }

    /// Runs job `id`: a sync, or a job that writes and then syncs its commit.
    /// Returns the head synced, if one was.
    pub(crate) async fn run(&mut self, id: &JobId, syncer: &mut Syncer) -> Option<Head> {
        let daemon = self.queue.daemon.clone();
        let (spec, waited) = daemon.start(id)?;
        let began = Instant::now();
        tracing::info!(job = %id, kind = %spec.kind, state = "in-progress", "job");
        let mut synced = None;
        let outcome = match &spec.kind {
            UpdateKind::Sync(_) => match syncer.source().fetch().await {
                Ok(head) => {
                    let result = syncer.sync(&head).await;
                    if let Ok(run) = &result {
                        self.synced(run.revision);
                    }
                    synced = Some(head.clone());
                    match result {
                        Ok(_) => Ok(JobResult {
                            revision: head.revision.to_string(),
                            spec: Some(Box::new(spec.clone())),
                            ..JobResult::default()
                        }),
                        Err(error) => Err(error.to_string()),
                    }
                }
                Err(error) => Err(error.to_string()),
            },
            _ => {
                let result = daemon
                    .runner()
                    .execute(id, &spec, self.automation.as_ref())
                    .await;
                if matches!(&result, Ok(r) if !r.revision.is_empty()) {
                    match syncer.source().fetch().await {
                        Ok(head) => {
                            match syncer.sync(&head).await {
                                Ok(run) => self.synced(run.revision),
                                Err(error) => {
                                    tracing::warn!(job = %id, %error, "sync after the job failed");
                                }
                            }
                            synced = Some(head);
                        }
                        Err(error) => {
                            tracing::warn!(job = %id, %error, "fetch after the job failed");
                        }
                    }
                }
                result
            }
        };
        let ran = began.elapsed();
        match &outcome {
            Ok(result) => {
                tracing::info!(job = %id, state = "done", success = true, revision = %result.revision, "job");
            }
            Err(error) => {
                tracing::warn!(job = %id, state = "done", success = false, err = %error, "job");
            }
        }
        let kind = if outcome.is_ok() {
            JobOutcome::Succeeded
        } else {
            JobOutcome::Failed
        };
        daemon.finish(id, outcome);
        daemon.observer().job_finished(waited, ran, kind);
        synced
    }

    /// The automation run: when anything is to change, one `auto` job.
    pub(crate) async fn automation_run(&mut self) {
        let Some(automation) = &self.automation else {
            return;
        };
        if !automation.is_enabled() {
            return;
        }
        if self.readonly {
            // Still tell the poller the images in use, for image listings.
            if let Err(error) = self
                .queue
                .daemon
                .runner()
                .automation_changes(automation)
                .await
            {
                tracing::warn!(%error, "cannot read the images in use");
            }
            return;
        }
        tracing::info!("polling for new images for automated workloads");
        let daemon = self.queue.daemon.clone();
        match daemon.runner().automation_changes(automation).await {
            Ok(automated) if automated.changes.is_empty() => {
                tracing::debug!("automation: nothing to change");
            }
            Ok(automated) => {
                let spec = UpdateSpec {
                    cause: Cause {
                        message: String::new(),
                        user: USER_AUTOMATED.to_owned(),
                    },
                    kind: UpdateKind::Auto(automated),
                };
                if let Err(error) = daemon.submit_job(spec).await {
                    tracing::warn!(%error, "cannot queue the automation job");
                }
            }
            Err(error) => tracing::warn!(%error, "automation run failed"),
        }
        automation.poller().persist().await;
    }

    /// The automation interval, if automation runs.
    pub(crate) fn automation_interval(&self) -> Option<Duration> {
        self.automation
            .as_ref()
            .filter(|a| a.is_enabled())
            .map(Automation::interval)
    }

    /// A receiver of the poller's snapshots, if automation runs.
    pub(crate) fn snapshots(&self) -> Option<tokio::sync::watch::Receiver<Arc<Snapshot>>> {
        self.automation
            .as_ref()
            .filter(|a| a.is_enabled())
            .map(|a| a.poller().subscribe())
    }
}

/// A fingerprint of the tags a snapshot knows (names and digests), to tell
/// new tags from a poll that found nothing new.
pub(crate) fn fingerprint(snapshot: &Snapshot) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (repository, found) in snapshot.iter() {
        repository.hash(&mut hasher);
        for tag in found.tags() {
            tag.name().hash(&mut hasher);
            tag.digest().to_string().hash(&mut hasher);
        }
    }
    hasher.finish()
}
