//! One sync pass (checkout, load, apply, report, marker), the sync marker in
//! a Secret, `--dry-run` plans, how a sync is logged, and the newest
//! revision's load shared with the API and the jobs.

pub(crate) mod marker;
mod pass;
pub(crate) mod plan;
mod report;
mod shared;

pub use marker::{FIELD_MANAGER, SYNC_MARKER_ANNOTATION, SecretMarker};
pub(crate) use pass::millis;
pub use pass::{GitSource, LoadedRevision, SyncRun, Syncer};
pub(crate) use shared::RevisionCache;
