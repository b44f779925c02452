//! Jobs that change git, and the one commit path they all go through.
//!
//! A job (a release, a containers release, a policy change, an automated
//! image update) is planned by [`kinds::plan`] into [`Intention`]s: "set the
//! image of container C of resource R to X", "set (or remove) policy P on
//! R". [`CommitPath`] applies them, with `manifests`' format-preserving edits,
//! to a fresh working copy of the branch's head, commits (committer, author,
//! message with the `[ci skip]` suffix, signature), adds the job's JSON as a
//! git note, and pushes branch and notes together, applying the same
//! intentions again on the new head when someone else pushed first.
//! [`CommitMessages`] renders Flux's commit messages from handlebars
//! templates.

pub mod commit;
pub mod intention;
pub mod kinds;
pub mod message;

pub use commit::{CommitFailure, CommitJob, CommitPath, Committed, Pushed, WriteAccess};
pub use intention::{Intention, IntentionError};
pub use message::{CommitMessages, MessageKind};
