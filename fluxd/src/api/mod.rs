//! The types of Flux v1's HTTP API, shared by fluxd's server and fluxctl.
//!
//! Everything here is what travels between the two, shaped as Flux v1's
//! fluxd writes it, so that a Flux v1 `fluxctl` works against our fluxd and
//! our `fluxctl` against a Flux v1 fluxd: Go's field names (`ID`,
//! `Containers`, `StatusString`; `publicSSHKey` where Flux tagged them), its
//! `omitempty` choices, `null` where Go writes a nil slice or map, resource
//! ids and image references as strings, times in RFC 3339 UTC. Decoding
//! accepts what Go's encoder writes, `\u003c` for `<` included, and `null`
//! for any list or map; fields this version does not know are ignored, and
//! enum-like strings it does not know are kept (`Other`), as Go's plain
//! string types would.
//!
//! The module depends on serde, serde_json and jiff alone: it is the
//! `api-types` feature of the `fluxd` crate, which fluxctl uses without the
//! daemon (`default-features = false, features = ["api-types"]`).
//!
//! # Map
//! - [`routes`] for paths, methods, Flux's route names, query parameters.
//! - [`ResourceId`], [`ResourceSpec`] for `ns:kind/name`, `<all>`.
//! - [`ImageRef`], [`ImageSpec`], [`ImageInfo`] for images and registry data.
//! - [`ControllerStatus`], [`ImageStatus`], [`Container`] for `/services` and `/images`.
//! - [`UpdateSpec`] and its [`UpdateKind`]s, [`UpdateResult`] for `/v9/update-manifests`.
//! - [`JobId`], [`JobStatus`] for `/v6/jobs`.
//! - [`GitConfig`], [`PublicSshKey`], [`randomart`] for `/v9/git-repo-config`, `/v6/identity.pub`.
//! - [`Change`] for `/v11/notify`.
//! - [`GoDuration`], [`parse_go_duration`] for durations as Go writes them
//!   (`5m`, `1h30m`), in flags, `--timeout` and chart values.
//! - [`ApiError`] for the error body, and the status code of each [`ErrorType`].
//!
//! ```
//! use fluxd::api::{JobStatus, JobState};
//!
//! let status: JobStatus =
//!     serde_json::from_str(r#"{"Result":{},"Err":"","StatusString":"queued"}"#).unwrap();
//! assert_eq!(status.status_string, JobState::Queued);
//! assert_eq!(
//!     serde_json::to_string(&status).unwrap(),
//!     r#"{"Result":{},"Err":"","StatusString":"queued"}"#
//! );
//! ```

mod change;
mod duration;
mod error;
mod git;
mod go;
pub use go::to_go_json;
mod id;
mod image;
mod job;
pub mod routes;
mod update;
mod workload;

#[cfg(test)]
mod tests;

pub use change::{CHANGE_GIT, CHANGE_IMAGE, Change, GitUpdate, ImageUpdate};
pub use duration::{DurationError, GoDuration, parse_go_duration};
pub use error::{ApiError, ErrorType, ParseError, STATUS_DEPRECATED};
pub use git::{
    FINGERPRINT_MD5, FINGERPRINT_SHA256, Fingerprint, GitConfig, GitRemoteConfig, GitRepoStatus,
    PublicSshKey, randomart,
};
pub use id::{CLUSTER_SCOPE, ResourceId, ResourceSpec};
pub use image::{ImageInfo, ImageLabels, ImageName, ImageRef, ImageSpec};
pub use job::{JobId, JobResult, JobState, JobStatus};
pub use update::{
    Automated, AutomatedChange, Cause, ContainerUpdate, ManualSync, PolicySet, PolicyUpdate,
    PolicyUpdates, ReleaseContainersSpec, ReleaseImageSpec, ReleaseKind, UPDATE_AUTO,
    UPDATE_CONTAINERS, UPDATE_IMAGE, UPDATE_POLICY, UPDATE_SYNC, USER_AUTOMATED, UpdateKind,
    UpdateResult, UpdateSpec, WorkloadContainer, WorkloadResult, WorkloadUpdateStatus,
    affected_resources, policy, reason, result_error,
};
pub use workload::{
    CONTAINER_FIELDS, Container, ControllerStatus, ImageStatus, NO_IMAGE_DATA, ReadOnlyReason,
    RolloutStatus, STATUS_ERROR, STATUS_READY, STATUS_STARTED, STATUS_UNKNOWN, STATUS_UPDATING,
};
