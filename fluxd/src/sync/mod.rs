//! One sync pass (checkout, load, apply, report, marker), the sync marker in
//! a Secret, `--dry-run` plans, and how a sync is logged.

pub(crate) mod marker;
mod pass;
pub(crate) mod plan;
mod report;

pub use marker::{FIELD_MANAGER, SYNC_MARKER_ANNOTATION, SecretMarker};
pub(crate) use pass::millis;
pub use pass::{GitSource, LoadedRevision, SyncRun, Syncer};
