//! Workloads and their images as `/v6/services`, `/v11/services`,
//! `/v6/images` and `/v10/images` answer (Flux's `v6.ControllerStatus`,
//! `v6.ImageStatus`, `v6.Container`, `cluster.RolloutStatus`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::go::{is_zero, nil_if_empty, null_as_default, string_enum};
use super::id::{ResourceId, optional_id};
use super::image::ImageInfo;

/// `Status` of a workload that is rolled out.
pub const STATUS_READY: &str = "ready";
/// `Status` of a workload being rolled out.
pub const STATUS_UPDATING: &str = "updating";
/// `Status` of a workload whose rollout has started.
pub const STATUS_STARTED: &str = "started";
/// `Status` of a workload whose rollout failed.
pub const STATUS_ERROR: &str = "error";
/// `Status` of a workload fluxd cannot judge.
pub const STATUS_UNKNOWN: &str = "unknown";

string_enum! {
    /// Why fluxd cannot change a workload (`v6.ReadOnlyReason`); the empty
    /// string means it can.
    #[derive(Default)]
    pub enum ReadOnlyReason {
        #[default]
        /// It can be changed.
        Ok = "",
        /// No manifest for it in the repository.
        NotInRepo = "NotInRepo",
        /// A system workload (kube-system add-ons).
        System = "System",
        /// No repository is configured.
        NoRepo = "NoRepo",
        /// The repository is not cloned yet.
        NotReady = "NotReady",
        /// fluxd runs with `--git-readonly`.
        ReadOnlyMode = "ReadOnlyMode",
    }
}

/// How far a workload's rollout got (`cluster.RolloutStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutStatus {
    /// Pods the spec asks for.
    #[serde(rename = "Desired")]
    pub desired: i32,
    /// Pods on the desired pod spec.
    #[serde(rename = "Updated")]
    pub updated: i32,
    /// Ready pods.
    #[serde(rename = "Ready")]
    pub ready: i32,
    /// Available pods.
    #[serde(rename = "Available")]
    pub available: i32,
    /// Pods on another pod spec.
    #[serde(rename = "Outdated")]
    pub outdated: i32,
    /// Why the rollout will not progress without help; `null` when all is
    /// well. fluxctl's `--watch` stops at the first workload that has
    /// messages, so an empty list is written as `null`, as Go writes nil.
    #[serde(
        rename = "Messages",
        deserialize_with = "null_as_default",
        serialize_with = "nil_if_empty"
    )]
    pub messages: Vec<String>,
}

/// One container of a workload (`v6.Container`): every field is omitted
/// when empty, except `Current` and `LatestFiltered`, which Go always
/// writes (as `{"ID":"","Labels":{}}` when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    /// The container's name.
    #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The running image (only `ID` set in `/services`).
    #[serde(rename = "Current")]
    pub current: ImageInfo,
    /// The newest image the container's tag filter allows.
    #[serde(rename = "LatestFiltered")]
    pub latest_filtered: ImageInfo,
    /// Every image of the repository, newest first by the container's
    /// pattern's order, tag filters ignored.
    #[serde(
        rename = "Available",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub available: Vec<ImageInfo>,
    /// Why `Available` is empty (`image data not available`).
    #[serde(rename = "AvailableError", skip_serializing_if = "String::is_empty")]
    pub available_error: String,
    /// How many images the repository has.
    #[serde(rename = "AvailableImagesCount", skip_serializing_if = "is_zero")]
    pub available_images_count: i64,
    /// How many are newer than the running one.
    #[serde(rename = "NewAvailableImagesCount", skip_serializing_if = "is_zero")]
    pub new_available_images_count: i64,
    /// How many the tag filter allows.
    #[serde(rename = "FilteredImagesCount", skip_serializing_if = "is_zero")]
    pub filtered_images_count: i64,
    /// How many of those are newer than the running one.
    #[serde(rename = "NewFilteredImagesCount", skip_serializing_if = "is_zero")]
    pub new_filtered_images_count: i64,
}

/// The `Container` field names `containerFields` may ask for, in Flux's order.
pub const CONTAINER_FIELDS: [&str; 9] = [
    "Name",
    "Current",
    "LatestFiltered",
    "Available",
    "AvailableError",
    "AvailableImagesCount",
    "NewAvailableImagesCount",
    "FilteredImagesCount",
    "NewFilteredImagesCount",
];

/// `AvailableError` of a container whose repository fluxd has no data for
/// (Flux's `registry.ErrNoImageData`).
pub const NO_IMAGE_DATA: &str = "image data not available";

/// One workload as `/services` lists it (`v6.ControllerStatus`; no field
/// is ever omitted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerStatus {
    /// The workload.
    #[serde(rename = "ID")]
    pub id: ResourceId,
    /// Its containers, init containers included.
    #[serde(rename = "Containers", default, deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    /// Why it cannot be changed, if it cannot.
    #[serde(rename = "ReadOnly", default)]
    pub read_only: ReadOnlyReason,
    /// `ready`, `updating`, `started`, `error`, `unknown`; a HelmRelease's
    /// `status.releaseStatus`.
    #[serde(rename = "Status", default)]
    pub status: String,
    /// Its rollout.
    #[serde(rename = "Rollout", default)]
    pub rollout: RolloutStatus,
    /// The error of its last apply, if any.
    #[serde(rename = "SyncError", default)]
    pub sync_error: String,
    /// The HelmRelease it belongs to (`helm.fluxcd.io/antecedent`); `""`
    /// when none.
    #[serde(rename = "Antecedent", default, with = "optional_id")]
    pub antecedent: Option<ResourceId>,
    /// Its labels (`null` when it has none, as Go writes a nil map).
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "null_as_default",
        serialize_with = "nil_if_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `fluxcd.io/automated: "true"` in git.
    #[serde(rename = "Automated", default)]
    pub automated: bool,
    /// `fluxcd.io/locked: "true"` in git.
    #[serde(rename = "Locked", default)]
    pub locked: bool,
    /// `fluxcd.io/ignore: "true"` in git.
    #[serde(rename = "Ignore", default)]
    pub ignore: bool,
    /// Every policy its manifest in git carries (always an object).
    #[serde(rename = "Policies", default, deserialize_with = "null_as_default")]
    pub policies: BTreeMap<String, String>,
}

impl ControllerStatus {
    /// A workload with nothing known but its id.
    pub fn new(id: ResourceId) -> Self {
        Self {
            id,
            containers: Vec::new(),
            read_only: ReadOnlyReason::Ok,
            status: String::new(),
            rollout: RolloutStatus::default(),
            sync_error: String::new(),
            antecedent: None,
            labels: BTreeMap::new(),
            automated: false,
            locked: false,
            ignore: false,
            policies: BTreeMap::new(),
        }
    }
}

/// One workload's images as `/images` lists them (`v6.ImageStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageStatus {
    /// The workload.
    #[serde(rename = "ID")]
    pub id: ResourceId,
    /// Its containers with their images.
    #[serde(rename = "Containers", default, deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
}
