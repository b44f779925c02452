//! What the HTTP API (and any embedder) asks of the running daemon, and
//! what the daemon reports as it works.
//!
//! Data flows one way: API -> these traits -> the queue -> a job or a sync
//! -> the library crates. The job queue implements [`JobQueue`], the image
//! automation implements [`ImageSource`]; the HTTP server and its metrics
//! implement [`Observer`] and the health checks, which the queue, the sync loop and
//! the registry poller call. Nothing behind these traits knows about HTTP.

use futures::future::BoxFuture;

use crate::api::{Change, ImageInfo, JobId, JobStatus, UpdateSpec};

/// Why a request to the daemon was refused or failed, shaped so that the
/// HTTP API can answer with Flux's error types (`missing` 404, `user` 422,
/// `server` 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No job has this id (among the last ones kept, and in git notes).
    #[error("unknown job {0:?}")]
    UnknownJob(String),
    /// The request cannot be carried out as given (a bad spec, a workload
    /// that is not in git, a reference that does not resolve).
    #[error("{0}")]
    Invalid(String),
    /// Something the daemon depends on failed (git, the cluster); the
    /// request may succeed later.
    #[error("{0}")]
    Unavailable(String),
}

/// The job queue: one queue, one worker, serialising syncs and jobs over a
/// repository (Flux v1's `UpdateManifests`, `JobStatus`, `SyncStatus`,
/// `NotifyChange`).
pub trait JobQueue: Send + Sync + 'static {
    /// Queues a job (a release, a containers release, a policy change, an
    /// automation run, a sync) and returns its id at once.
    fn submit(&self, spec: UpdateSpec) -> BoxFuture<'_, Result<JobId, RequestError>>;

    /// The status of a job: queued, running, succeeded (with its result)
    /// or failed (with the error). A job finished before a restart is found
    /// from the git note on its commit.
    fn job_status<'a>(&'a self, id: &'a JobId) -> BoxFuture<'a, Result<JobStatus, RequestError>>;

    /// The revisions between the sync marker and `reference` (a commit or
    /// ref) that touch the synced paths and are not applied yet; empty once
    /// `reference` is applied.
    fn sync_status<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, RequestError>>;

    /// A change notification: a git change asks for a fetch and sync now,
    /// an image change for a registry refresh of that image.
    fn notify(&self, change: Change) -> BoxFuture<'_, Result<(), RequestError>>;
}

/// The registry's view of the images in use, for image listings.
pub trait ImageSource: Send + Sync + 'static {
    /// The known images of one repository (canonical name, as
    /// `ImageName::canonical` spells it), newest first as Flux sorted them
    /// (created time descending, then tag); `None` when the repository has
    /// not been scanned (scanning off, excluded, or not yet fetched).
    fn images(&self, repository: &str) -> Option<Vec<ImageInfo>>;
}

/// How one job ended, for the job metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// The job succeeded.
    Succeeded,
    /// The job failed.
    Failed,
}

/// What the daemon reports as it works (Flux v1's metrics). Every method
/// has a no-op default, so an embedder implements only what it records.
pub trait Observer: Send + Sync + 'static {
    /// One sync pass ended (`flux_daemon_sync_duration_seconds{success}`)
    /// with this many manifests (`flux_daemon_sync_manifests{success}`).
    fn sync_finished(&self, _duration: std::time::Duration, _success: bool, _manifests: usize) {}
    /// The manifests of the last sync pass: `applied` synced, `failed`
    /// did not (`flux_daemon_sync_manifests{success="true"|"false"}`, as
    /// Flux set both after each sync).
    fn sync_manifests(&self, _applied: usize, _failed: usize) {}
    /// One job ran (`flux_daemon_job_duration_seconds{success}`) after
    /// waiting in the queue (`flux_daemon_queue_duration_seconds`).
    fn job_finished(
        &self,
        _waited: std::time::Duration,
        _ran: std::time::Duration,
        _outcome: JobOutcome,
    ) {
    }
    /// The queue's length changed (`flux_daemon_queue_length_count`).
    fn queue_length(&self, _length: usize) {}
    /// The git mirror became ready or stopped being ready (`flux_git_ready`).
    fn git_ready(&self, _ready: bool) {}
    /// One fetch from a registry ended
    /// (`flux_client_fetch_duration_seconds{kind,success}`; kind is `tags`
    /// for a tag list or `metadata` for a tag's manifest and config).
    fn registry_fetch(&self, _kind: &'static str, _duration: std::time::Duration, _success: bool) {}
    /// The images of one repository were read from what the poller knows,
    /// for a listing or an automation run
    /// (`flux_registry_fetch_duration_seconds{success}`; `found` is false
    /// when the repository was never scanned).
    fn image_metadata_read(&self, _duration: std::time::Duration, _found: bool) {}
}

/// The observer that records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// Several observers told the same things, in order: fluxd's own metrics
/// and an embedder's observer ([`run_with`](crate::run_with)).
#[derive(Clone, Default)]
pub struct Observers(Vec<std::sync::Arc<dyn Observer>>);

impl Observers {
    /// Observers telling each of `observers`.
    pub fn new(observers: Vec<std::sync::Arc<dyn Observer>>) -> Self {
        Self(observers)
    }
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({})", self.0.len())
    }
}

impl Observer for Observers {
    fn sync_finished(&self, duration: std::time::Duration, success: bool, manifests: usize) {
        for o in &self.0 {
            o.sync_finished(duration, success, manifests);
        }
    }
    fn sync_manifests(&self, applied: usize, failed: usize) {
        for o in &self.0 {
            o.sync_manifests(applied, failed);
        }
    }
    fn job_finished(
        &self,
        waited: std::time::Duration,
        ran: std::time::Duration,
        outcome: JobOutcome,
    ) {
        for o in &self.0 {
            o.job_finished(waited, ran, outcome);
        }
    }
    fn queue_length(&self, length: usize) {
        for o in &self.0 {
            o.queue_length(length);
        }
    }
    fn git_ready(&self, ready: bool) {
        for o in &self.0 {
            o.git_ready(ready);
        }
    }
    fn registry_fetch(&self, kind: &'static str, duration: std::time::Duration, success: bool) {
        for o in &self.0 {
            o.registry_fetch(kind, duration, success);
        }
    }
    fn image_metadata_read(&self, duration: std::time::Duration, found: bool) {
        for o in &self.0 {
            o.image_metadata_read(duration, found);
        }
    }
}
