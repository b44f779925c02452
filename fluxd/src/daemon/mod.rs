//! The daemon: how a run starts, the loop that polls and syncs, `--once`,
//! `--dry-run`, and shutdown; and the contract between the running daemon
//! and its HTTP API ([`contract`]).

pub mod contract;
mod run;

pub(crate) use run::git_hint;
pub use run::{RunOutcome, SHUTDOWN_GRACE, SyncLoop, run};
