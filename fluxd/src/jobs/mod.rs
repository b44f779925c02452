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

pub(crate) mod commit;
pub(crate) mod intention;
pub(crate) mod kinds;
pub(crate) mod message;

pub use commit::{CommitFailure, CommitJob, CommitPath, Committed, WriteAccess};
pub(crate) use intention::Intention;
pub(crate) use message::{CommitMessages, MessageKind};
