//! The daemon: how a run starts, the loop that polls and syncs, `--once`,
//! `--dry-run`, and shutdown.

mod run;

pub(crate) use run::git_hint;
pub use run::{RunOutcome, SHUTDOWN_GRACE, SyncLoop, run};
