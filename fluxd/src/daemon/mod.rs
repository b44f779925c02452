//! The daemon: how a run starts, the one loop that serialises syncs and
//! jobs, `--once`, `--dry-run`, and shutdown; the [`Daemon`] handle that the
//! HTTP API and embedders call; and the contract between the running daemon
//! and its HTTP API ([`contract`]).

pub mod contract;
mod queue;
mod run;
mod worker;

use std::path::Path;
use std::sync::Arc;

pub use queue::{Daemon, JOBS_FILE, JOBS_KEPT};
pub(crate) use run::git_hint;
pub use run::{RunOutcome, SHUTDOWN_GRACE, SyncLoop, run, run_with};
pub use worker::Jobs;

use crate::automation::Automation;
use crate::{Config, Error};

/// The job queue (running jobs through `runner`) and the image automation
/// of a daemon, and the registry poller running until `shutdown`.
fn start_jobs(
    config: &Config,
    runner: worker::JobRunner,
    state_dir: &Path,
    observer: Arc<dyn contract::Observer>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(Daemon, Jobs), Error> {
    let automation = Automation::new(config.automation.clone(), Some(state_dir), observer.clone())?;
    if automation.is_enabled() {
        let poller = automation.poller().clone();
        tokio::spawn(async move { poller.run(shutdown).await });
        tracing::info!(interval = ?automation.interval(), "image automation on");
    } else {
        tracing::info!("registry scanning is off: no image automation");
    }
    let (daemon, queue) = Daemon::new(runner, Some(automation.clone()), Some(state_dir), observer);
    Ok((
        daemon,
        Jobs {
            queue,
            automation: Some(automation),
            readonly: config.git_write.readonly,
        },
    ))
}
