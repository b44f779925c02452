//! The [`Daemon`] handle and its job queue: ids, statuses (the last
//! [`JOBS_KEPT`] jobs), and their file in the state directory.
//!
//! Jobs are queued here and run one at a time by the daemon's loop, between
//! syncs, never beside one. The table is written to `jobs.json` in the state
//! directory at every change, so that after a restart a finished job's
//! status is still found, a job that was queued runs, and a job that was
//! running (fluxd was killed in the middle of it) runs again: it is planned
//! afresh on the branch's head, so a change that was already pushed makes
//! no second commit, and one that was not is pushed once. A job that was
//! running at [`JOB_RESTARTS`] restarts in a row is failed instead, so a job
//! that brings fluxd down cannot do so forever.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use gitsync::{Mirror, Revision};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::api::{
    Change, ImageInfo, JobId, JobResult, JobState, JobStatus, ReleaseKind, UpdateKind, UpdateSpec,
};
use crate::automation::Automation;
use crate::contract::{ImageSource, JobOutcome, JobQueue, NoObserver, Observer, RequestError};
use crate::daemon::worker::JobRunner;

/// How many jobs' statuses are kept.
pub const JOBS_KEPT: usize = 100;
/// The queue's file in the state directory.
pub const JOBS_FILE: &str = "jobs.json";
/// How many restarts may find a job running before it is failed.
pub(crate) const JOB_RESTARTS: u32 = 3;

/// What the loop is asked to do.
#[derive(Debug)]
pub(crate) enum Work {
    /// Run this queued job.
    Job(JobId),
    /// Fetch now and sync (a git change notification).
    Refresh,
}

/// One job, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    id: JobId,
    spec: UpdateSpec,
    status: JobStatus,
    /// How many restarts found this job running.
    #[serde(default, skip_serializing_if = "is_zero")]
    restarts: u32,
    #[serde(skip)]
    queued_at: Option<Instant>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Default)]
struct Table {
    order: VecDeque<JobId>,
    entries: HashMap<JobId, Entry>,
}

impl Table {
    fn insert(&mut self, entry: Entry) {
        self.order.push_back(entry.id.clone());
        self.entries.insert(entry.id.clone(), entry);
        while self.order.len() > JOBS_KEPT {
            // Drop the oldest finished job; queued ones are never dropped.
            let Some(position) = self.order.iter().position(|id| {
                self.entries.get(id).is_some_and(|e| {
                    matches!(
                        e.status.status_string,
                        JobState::Succeeded | JobState::Failed
                    )
                })
            }) else {
                break;
            };
            if let Some(id) = self.order.remove(position) {
                self.entries.remove(&id);
            }
        }
    }

    fn queued(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.status.status_string == JobState::Queued)
            .count()
    }
}

struct Inner {
    table: Mutex<Table>,
    work: mpsc::UnboundedSender<Work>,
    state_file: Option<PathBuf>,
    /// Held while the file is written, so writes land in the order of the
    /// snapshots they write; `true` while the last write failed.
    writing: Mutex<bool>,
    runner: JobRunner,
    automation: Option<Automation>,
    mirror: Mirror,
    synced: watch::Receiver<Option<Revision>>,
    observer: Arc<dyn Observer>,
}

/// The running daemon, as the HTTP API and embedders see it: submit jobs,
/// read their status, ask what is still to be synced, notify changes, list
/// images. Cheap to clone.
#[derive(Clone)]
pub struct Daemon {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("state_file", &self.inner.state_file)
            .finish_non_exhaustive()
    }
}

/// The loop's end of the queue.
pub(crate) struct QueueWorker {
    pub(crate) work: mpsc::UnboundedReceiver<Work>,
    pub(crate) daemon: Daemon,
    pub(crate) synced: watch::Sender<Option<Revision>>,
}

impl Daemon {
    /// A handle over `runner`'s repository, with its queue kept in
    /// `state_dir`, and the loop's end of the queue. Jobs found queued in
    /// the state directory are queued again; jobs found running are failed.
    pub(crate) fn new(
        runner: JobRunner,
        automation: Option<Automation>,
        state_dir: Option<&Path>,
        observer: Arc<dyn Observer>,
    ) -> (Self, QueueWorker) {
        let (work, receiver) = mpsc::unbounded_channel();
        let (synced_sender, synced) = watch::channel(None);
        let state_file = state_dir.map(|dir| dir.join(JOBS_FILE));
        let mirror = runner.mirror().clone();
        let daemon = Self {
            inner: Arc::new(Inner {
                table: Mutex::new(Table::default()),
                work,
                state_file,
                writing: Mutex::new(false),
                runner,
                automation,
                mirror,
                synced,
                observer,
            }),
        };
        daemon.restore();
        let worker = QueueWorker {
            work: receiver,
            daemon: daemon.clone(),
            synced: synced_sender,
        };
        (daemon, worker)
    }

    /// Who is told of syncs, jobs and the queue's length (given to
    /// [`run_with`](crate::run_with); [`run`](crate::run) tells no one).
    pub fn observer(&self) -> &Arc<dyn Observer> {
        &self.inner.observer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn restore(&self) {
        let Some(path) = &self.inner.state_file else {
            return;
        };
        let entries: Vec<Entry> = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "ignoring the job queue file");
                    return;
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read the job queue file");
                return;
            }
        };
        let mut requeue = Vec::new();
        {
            let mut table = self.lock();
            for mut entry in entries {
                match entry.status.status_string {
                    JobState::Queued => {
                        entry.queued_at = Some(Instant::now());
                        requeue.push(entry.id.clone());
                    }
                    JobState::Running if entry.restarts + 1 < JOB_RESTARTS => {
                        // Planned again on the head: what was pushed already
                        // is not committed twice.
                        entry.restarts += 1;
                        entry.status.status_string = JobState::Queued;
                        entry.queued_at = Some(Instant::now());
                        tracing::warn!(
                            job = %entry.id,
                            restarts = entry.restarts,
                            "a job was running when fluxd stopped: running it again (a change it already pushed is not committed twice)"
                        );
                        requeue.push(entry.id.clone());
                    }
                    JobState::Running => {
                        entry.status.status_string = JobState::Failed;
                        entry.status.err = format!(
                            "fluxd stopped while the job ran, {JOB_RESTARTS} times in a row; not run again: check the branch, and submit it again if need be"
                        );
                        tracing::warn!(job = %entry.id, restarts = JOB_RESTARTS, "a job was running at each of the last restarts: reported failed");
                    }
                    _ => {}
                }
                table.insert(entry);
            }
        }
        for id in requeue {
            tracing::info!(job = %id, "queued before the restart: queued again");
            let _ = self.inner.work.send(Work::Job(id));
        }
        self.persist();
        self.inner.observer.queue_length(self.lock().queued());
    }

    /// Writes the table to the state directory: a temporary file beside it,
    /// flushed to disk, then renamed over it, so a failed write (a full
    /// disk) leaves the last good file and no partial one. The table stays
    /// in memory either way, and the next change writes it all again.
    fn persist(&self) {
        let Some(path) = &self.inner.state_file else {
            return;
        };
        let mut failing = self
            .inner
            .writing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let bytes = {
            let table = self.lock();
            let entries: Vec<&Entry> = table
                .order
                .iter()
                .filter_map(|id| table.entries.get(id))
                .collect();
            serde_json::to_vec(&entries)
        };
        let written = bytes
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomically(path, &bytes));
        match written {
            Ok(()) if *failing => {
                *failing = false;
                tracing::info!(path = %path.display(), "job queue file written again");
            }
            Ok(()) => {}
            Err(error) => {
                *failing = true;
                tracing::warn!(path = %path.display(), %error, "cannot write the job queue file; the queue is kept in memory and written again at its next change");
            }
        }
    }

    /// Queues `spec` and returns its id; a `plan` release is worked out at
    /// once (it writes nothing) and its id is returned already finished.
    pub async fn submit_job(&self, spec: UpdateSpec) -> Result<JobId, RequestError> {
        let id = new_job_id()?;
        let is_plan = matches!(
            &spec.kind,
            UpdateKind::Image(r) if r.kind == ReleaseKind::Plan
        ) || matches!(
            &spec.kind,
            UpdateKind::Containers(r) if r.kind == ReleaseKind::Plan
        );
        if is_plan {
            let began = Instant::now();
            let planned = self
                .inner
                .runner
                .plan(&spec, self.inner.automation.as_ref())
                .await;
            let status = match planned {
                Ok(planned) => JobStatus {
                    result: JobResult {
                        revision: String::new(),
                        spec: Some(Box::new(spec.clone())),
                        result: planned.result,
                    },
                    err: String::new(),
                    status_string: JobState::Succeeded,
                },
                Err(error) => return Err(RequestError::Invalid(error)),
            };
            self.inner.observer.job_finished(
                std::time::Duration::ZERO,
                began.elapsed(),
                JobOutcome::Succeeded,
            );
            self.lock().insert(Entry {
                id: id.clone(),
                spec,
                status,
                restarts: 0,
                queued_at: None,
            });
            self.persist();
            return Ok(id);
        }
        tracing::info!(job = %id, kind = %spec.kind, "job queued");
        self.lock().insert(Entry {
            id: id.clone(),
            spec,
            status: JobStatus::default(),
            restarts: 0,
            queued_at: Some(Instant::now()),
        });
        self.persist();
        self.inner.observer.queue_length(self.lock().queued());
        self.inner
            .work
            .send(Work::Job(id.clone()))
            .map_err(|_| RequestError::Unavailable("the daemon is stopping".to_owned()))?;
        Ok(id)
    }

    /// The status of job `id`.
    pub fn status(&self, id: &JobId) -> Result<JobStatus, RequestError> {
        self.lock()
            .entries
            .get(id)
            .map(|e| e.status.clone())
            .ok_or_else(|| RequestError::UnknownJob(id.to_string()))
    }

    /// Asks the loop to fetch and sync now.
    pub fn refresh(&self) {
        let _ = self.inner.work.send(Work::Refresh);
    }

    /// The revisions up to `reference` not applied yet that change something
    /// under `--git-path` (empty once applied), as `GET /v6/sync` answers.
    pub async fn unapplied(&self, reference: &str) -> Result<Vec<String>, RequestError> {
        let applied = *self.inner.synced.borrow();
        self.inner
            .mirror
            .revisions_touching(applied, reference, self.inner.runner.paths())
            .await
            .map(|revisions| revisions.iter().map(ToString::to_string).collect())
            .map_err(|error| match error {
                gitsync::Error::RevisionNotFound { .. } => RequestError::Invalid(error.to_string()),
                other => RequestError::Unavailable(other.to_string()),
            })
    }

    /// The revision the last sync applied.
    pub fn applied(&self) -> Option<Revision> {
        *self.inner.synced.borrow()
    }

    /// The image automation, when registries are scanned.
    pub fn automation(&self) -> Option<&Automation> {
        self.inner.automation.as_ref()
    }

    /// The spec of a job, for the worker.
    pub(crate) fn start(&self, id: &JobId) -> Option<(UpdateSpec, std::time::Duration)> {
        let started = {
            let mut table = self.lock();
            let entry = table.entries.get_mut(id)?;
            if entry.status.status_string != JobState::Queued {
                return None;
            }
            entry.status.status_string = JobState::Running;
            let waited = entry.queued_at.map(|t| t.elapsed()).unwrap_or_default();
            Some((entry.spec.clone(), waited))
        };
        self.persist();
        self.inner.observer.queue_length(self.lock().queued());
        started
    }

    /// Records how job `id` ended.
    pub(crate) fn finish(&self, id: &JobId, outcome: Result<JobResult, String>) {
        {
            let mut table = self.lock();
            let Some(entry) = table.entries.get_mut(id) else {
                return;
            };
            match outcome {
                Ok(result) => {
                    entry.status.result = result;
                    entry.status.err = String::new();
                    entry.status.status_string = JobState::Succeeded;
                }
                Err(error) => {
                    entry.status.err = error;
                    entry.status.status_string = JobState::Failed;
                }
            }
        }
        self.persist();
    }

    pub(crate) fn runner(&self) -> &JobRunner {
        &self.inner.runner
    }
}

fn new_job_id() -> Result<JobId, RequestError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| RequestError::Unavailable(format!("no random source for a job id: {e}")))?;
    Ok(JobId::from_random_bytes(bytes))
}

impl JobQueue for Daemon {
    fn submit(&self, spec: UpdateSpec) -> BoxFuture<'_, Result<JobId, RequestError>> {
        self.submit_job(spec).boxed()
    }

    fn job_status<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<JobStatus, RequestError>> {
        async move { self.status(id) }.boxed()
    }

    fn sync_status<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, RequestError>> {
        self.unapplied(reference).boxed()
    }

    fn notify(&self, change: Change) -> BoxFuture<'_, Result<(), RequestError>> {
        async move {
            match change {
                Change::Git(_) => self.refresh(),
                Change::Image(update) => {
                    let name = update.name.to_string();
                    let repository = registry_poller::Repository::parse(&name).map_err(|e| {
                        RequestError::Invalid(format!("image change for {name:?}: {e}"))
                    })?;
                    if let Some(automation) = &self.inner.automation {
                        let poller = automation.poller().clone();
                        tokio::spawn(async move {
                            poller.poll_repositories(vec![repository]).await;
                        });
                    }
                }
            }
            Ok(())
        }
        .boxed()
    }
}

impl ImageSource for Daemon {
    fn images(&self, repository: &str) -> Option<Vec<ImageInfo>> {
        let began = std::time::Instant::now();
        let images = self.inner.automation.as_ref()?.images(repository);
        self.inner
            .observer
            .image_metadata_read(began.elapsed(), images.is_some());
        images
    }
}

/// The observer to use when none is given.
pub(crate) fn no_observer() -> Arc<dyn Observer> {
    Arc::new(NoObserver)
}

/// Writes `bytes` to `path` by way of `<path>.tmp` (synced, then renamed);
/// the temporary file is removed when any step fails.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let temporary = path.with_extension("json.tmp");
    let result = std::fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ManualSync, UpdateKind};

    fn entry(id: &str, state: JobState) -> Entry {
        Entry {
            id: JobId(id.to_owned()),
            spec: UpdateSpec {
                cause: crate::api::Cause::default(),
                kind: UpdateKind::Sync(ManualSync {}),
            },
            status: JobStatus {
                status_string: state,
                ..JobStatus::default()
            },
            restarts: 0,
            queued_at: None,
        }
    }

    async fn daemon(state: &Path) -> (Daemon, QueueWorker) {
        let dir = state.join("work");
        let remote =
            gitsync::Remote::new(gitsync::GitUrl::parse("file:///nowhere/repo.git").unwrap());
        let mirror = Mirror::open(remote, dir.join("mirror"), Some("main".into()))
            .await
            .unwrap();
        let source = crate::sync::GitSource {
            mirror: mirror.clone(),
            checkouts: dir.join("checkouts"),
            paths: Vec::new(),
            load_options: manifests::LoadOptions::default(),
        };
        let flags = crate::Flags::from_command_line(["fluxd", "--git-url=/srv/repo"]).unwrap();
        let write = crate::Config::from_flags(&flags).unwrap().git_write;
        let commit = crate::jobs::CommitPath::new(
            mirror,
            Vec::new(),
            manifests::LoadOptions::default(),
            write,
        );
        let runner = JobRunner::new(source, commit, None, Vec::new());
        Daemon::new(runner, None, Some(state), no_observer())
    }

    #[tokio::test]
    async fn after_a_restart_queued_and_running_jobs_run_again_finished_ones_are_found() {
        let state = tempfile::tempdir().unwrap();
        let mut worn = entry("running-again-and-again", JobState::Running);
        worn.restarts = JOB_RESTARTS - 1;
        let entries = [
            entry("done", JobState::Succeeded),
            entry("running", JobState::Running),
            entry("waiting", JobState::Queued),
            worn,
        ];
        std::fs::write(
            state.path().join(JOBS_FILE),
            serde_json::to_vec(&entries).unwrap(),
        )
        .unwrap();
        let (daemon, mut worker) = daemon(state.path()).await;
        let status = |id: &str| daemon.status(&JobId(id.to_owned())).unwrap();
        assert_eq!(status("done").status_string, JobState::Succeeded);
        // Killed while it ran: queued again, to be planned afresh on the head.
        assert_eq!(status("running").status_string, JobState::Queued);
        assert_eq!(status("waiting").status_string, JobState::Queued);
        // Running at the last restarts too: failed, not run forever.
        let worn = status("running-again-and-again");
        assert_eq!(worn.status_string, JobState::Failed);
        assert!(
            worn.err
                .contains("fluxd stopped while the job ran, 3 times in a row"),
            "{}",
            worn.err
        );
        let mut queued = Vec::new();
        while let Ok(work) = worker.work.try_recv() {
            match work {
                Work::Job(id) => queued.push(id.as_str().to_owned()),
                Work::Refresh => panic!("a refresh was queued"),
            }
        }
        assert_eq!(queued, ["running", "waiting"]);
        assert!(matches!(
            daemon.status(&JobId("never".into())),
            Err(RequestError::UnknownJob(_))
        ));
        // The file says the same after the restart's changes, with the count.
        let written: Vec<Entry> =
            serde_json::from_slice(&std::fs::read(state.path().join(JOBS_FILE)).unwrap()).unwrap();
        assert_eq!(written.len(), 4);
        assert_eq!(written[1].status.status_string, JobState::Queued);
        assert_eq!(written[1].restarts, 1);
        assert_eq!(written[3].status.status_string, JobState::Failed);
    }

    #[tokio::test]
    async fn only_the_last_jobs_are_kept_and_queued_ones_never_dropped() {
        let mut table = Table::default();
        table.insert(entry("first-queued", JobState::Queued));
        for index in 0..JOBS_KEPT + 5 {
            table.insert(entry(&format!("job-{index}"), JobState::Succeeded));
        }
        assert_eq!(table.order.len(), JOBS_KEPT);
        assert!(table.entries.contains_key(&JobId("first-queued".into())));
        assert!(!table.entries.contains_key(&JobId("job-0".into())));
        assert!(
            table
                .entries
                .contains_key(&JobId(format!("job-{}", JOBS_KEPT + 4)))
        );
    }
}
