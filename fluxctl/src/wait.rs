//! Waiting for jobs and syncs as Flux's fluxctl does (`cmd/fluxctl/await.go`):
//! polling with its backoffs (a job: 100 ms doubling up to 5 s; a sync:
//! 1 s doubling up to 10 s) until `--timeout`, its timeout messages, and
//! the results table and `Commit pushed:` / `Commit applied:` lines. On a
//! terminal a spinner says what is awaited; elsewhere nothing is added to
//! Flux's lines.

use std::future::Future;
use std::time::Duration;

use fluxd::api::{JobId, JobResult, JobState};
use tokio::time::Instant;

use crate::client::Client;
use crate::error::Error;
use crate::{Io, tables};

/// The message after a job that did not end in time (then exit 1).
pub const JOB_TIMEOUT_MESSAGE: &str = "
We timed out waiting for the result of the operation. This does not
necessarily mean it has failed. You can check the state of the
cluster, or commit logs, to see if there was a result. In general, it
is safe to retry operations.";

/// The message after a commit that was not applied in time (then exit 0).
pub const SYNC_TIMEOUT_MESSAGE: &str = "
The operation succeeded, but we timed out waiting for the commit to be
applied. This does not necessarily mean there is a problem. Use

    fluxctl sync

to run a sync interactively.";

/// A spinner on a terminal, nothing elsewhere.
pub(crate) struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub(crate) fn new(on_terminal: bool, message: String) -> Self {
        if !on_terminal {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(Some(bar))
    }

    pub(crate) fn set(&self, message: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// Flux's `backoff`: calls `poll` until it answers, waiting `initial`,
/// then `factor` times longer each time up to `initial * max_factor`,
/// and gives up with [`Error::Timeout`] when the next wait would end
/// after `timeout`.
pub(crate) async fn backoff<T, F, Fut>(
    initial: Duration,
    factor: u32,
    max_factor: u32,
    timeout: Duration,
    mut poll: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, Error>>,
{
    let max_delay = initial * max_factor;
    let finish = Instant::now() + timeout;
    let mut delay = initial;
    while Instant::now() < finish {
        if let Some(done) = poll().await? {
            return Ok(done);
        }
        if Instant::now() + delay > finish {
            break;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * factor).min(max_delay);
    }
    Err(Error::Timeout)
}

/// Polls a job until it ends (Flux's `awaitJob`): a failed job, or one
/// that succeeded with an error, is [`Error::Job`].
pub(crate) async fn await_job(
    client: &Client,
    id: &JobId,
    timeout: Duration,
    on_terminal: bool,
) -> Result<JobResult, Error> {
    let progress = Progress::new(on_terminal, format!("Waiting for job {id}"));
    backoff(Duration::from_millis(100), 2, 50, timeout, || async {
        let status = client.job_status(id).await?;
        progress.set(format!("Waiting for job {id} ({})", status.status_string));
        match status.status_string {
            JobState::Failed => Err(Error::Job(status.err)),
            JobState::Succeeded if !status.err.is_empty() => Err(Error::Job(status.err)),
            JobState::Succeeded => Ok(Some(status.result)),
            _ => Ok(None),
        }
    })
    .await
}

/// Polls until fluxd applied `revision` (Flux's `awaitSync`).
pub(crate) async fn await_sync(
    client: &Client,
    revision: &str,
    timeout: Duration,
    on_terminal: bool,
) -> Result<(), Error> {
    let short = short_revision(revision);
    let progress = Progress::new(on_terminal, format!("Waiting for {short} to be applied"));
    backoff(Duration::from_secs(1), 2, 10, timeout, || async {
        let pending = client.sync_status(revision).await?;
        progress.set(format!(
            "Waiting for {short} to be applied ({} commit(s) to go)",
            pending.len()
        ));
        Ok(pending.is_empty().then_some(()))
    })
    .await
}

/// The first seven characters of a revision, as Flux prints them.
pub(crate) fn short_revision(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

/// Waits for a job, prints its results and commit, and with `apply`
/// waits for the commit to be applied (Flux's `await`). Returns the job's
/// result for `--watch`.
pub(crate) async fn await_and_report(
    client: &Client,
    io: &mut Io<'_>,
    id: &JobId,
    apply: bool,
    verbosity: u8,
    timeout: Duration,
) -> Result<JobResult, Error> {
    let result = match await_job(client, id, timeout, io.terminal).await {
        Ok(result) => result,
        Err(Error::Timeout) => {
            let _ = writeln!(io.err, "{JOB_TIMEOUT_MESSAGE}");
            return Err(Error::Timeout);
        }
        Err(error) => return Err(error),
    };
    if !result.result.is_empty() {
        let _ = write!(io.out, "{}", tables::results(&result.result, verbosity));
    }
    if !result.revision.is_empty() {
        let _ = writeln!(
            io.err,
            "Commit pushed:\t{}",
            short_revision(&result.revision)
        );
    }
    if result.result.is_empty() {
        let _ = writeln!(io.err, "Nothing to do");
        return Ok(result);
    }
    if apply && !result.revision.is_empty() {
        match await_sync(client, &result.revision, timeout, io.terminal).await {
            Ok(()) => {
                let _ = writeln!(
                    io.err,
                    "Commit applied:\t{}",
                    short_revision(&result.revision)
                );
            }
            Err(Error::Timeout) => {
                let _ = writeln!(io.err, "{SYNC_TIMEOUT_MESSAGE}");
            }
            Err(error) => return Err(error),
        }
    }
    Ok(result)
}
