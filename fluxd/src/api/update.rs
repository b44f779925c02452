//! What `POST /v9/update-manifests` takes (Flux's `update.Spec`, tagged by
//! `type`) and what a job's result reports (`update.Result`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::go::{nil_if_empty, null_as_default, string_enum};
use super::id::{ResourceId, ResourceSpec};
use super::image::{ImageRef, ImageSpec};

/// Who asked for an update, and why (`update.Cause`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cause {
    /// The commit message to use, if any (`-m`).
    #[serde(rename = "Message")]
    pub message: String,
    /// The user, `Name <email>` by default from git config (`--user`).
    #[serde(rename = "User")]
    pub user: String,
}

/// `Cause.User` of the updates automation makes.
pub const USER_AUTOMATED: &str = "<automated>";

/// One update of the manifests in git, as fluxctl submits it: the
/// `{"type", "cause", "spec"}` object of Flux's `update.Spec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSpec {
    /// Who and why.
    pub cause: Cause,
    /// What to change.
    pub kind: UpdateKind,
}

/// The update itself, one variant per `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateKind {
    /// `image`: release an image (or all latest images) to workloads.
    Image(ReleaseImageSpec),
    /// `containers`: set given containers to given images.
    Containers(ReleaseContainersSpec),
    /// `policy`: add and remove policies (annotations).
    Policy(PolicyUpdates),
    /// `auto`: automation's own image updates.
    Auto(Automated),
    /// `sync`: fetch now and sync.
    Sync(ManualSync),
}

impl UpdateKind {
    /// The `type` tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Image(_) => UPDATE_IMAGE,
            Self::Containers(_) => UPDATE_CONTAINERS,
            Self::Policy(_) => UPDATE_POLICY,
            Self::Auto(_) => UPDATE_AUTO,
            Self::Sync(_) => UPDATE_SYNC,
        }
    }
}

/// `type` of an image release.
pub const UPDATE_IMAGE: &str = "image";
/// `type` of a containers release.
pub const UPDATE_CONTAINERS: &str = "containers";
/// `type` of a policy change.
pub const UPDATE_POLICY: &str = "policy";
/// `type` of an automated release.
pub const UPDATE_AUTO: &str = "auto";
/// `type` of a manual sync.
pub const UPDATE_SYNC: &str = "sync";

impl Serialize for UpdateSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("Spec", 3)?;
        state.serialize_field("type", self.kind.type_name())?;
        state.serialize_field("cause", &self.cause)?;
        match &self.kind {
            UpdateKind::Image(spec) => state.serialize_field("spec", spec)?,
            UpdateKind::Containers(spec) => state.serialize_field("spec", spec)?,
            UpdateKind::Policy(spec) => state.serialize_field("spec", spec)?,
            UpdateKind::Auto(spec) => state.serialize_field("spec", spec)?,
            UpdateKind::Sync(spec) => state.serialize_field("spec", spec)?,
        }
        state.end()
    }
}

impl<'de> Deserialize<'de> for UpdateSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "type", default)]
            kind: String,
            #[serde(default)]
            cause: Cause,
            spec: Option<serde_json::Value>,
        }
        let wire = Wire::deserialize(deserializer)?;
        let spec = wire.spec.ok_or_else(|| {
            de::Error::custom(format_args!("{} update without a spec", wire.kind))
        })?;
        fn decode<T: for<'a> Deserialize<'a>, E: de::Error>(
            kind: &str,
            spec: serde_json::Value,
        ) -> Result<T, E> {
            T::deserialize(spec).map_err(|error| E::custom(format_args!("{kind} spec: {error}")))
        }
        let kind = match wire.kind.as_str() {
            UPDATE_IMAGE => UpdateKind::Image(decode(UPDATE_IMAGE, spec)?),
            UPDATE_CONTAINERS => UpdateKind::Containers(decode(UPDATE_CONTAINERS, spec)?),
            UPDATE_POLICY => UpdateKind::Policy(decode(UPDATE_POLICY, spec)?),
            UPDATE_AUTO => UpdateKind::Auto(decode(UPDATE_AUTO, spec)?),
            UPDATE_SYNC => UpdateKind::Sync(decode(UPDATE_SYNC, spec)?),
            other => {
                return Err(de::Error::custom(format_args!(
                    "unknown spec type: {other}"
                )));
            }
        };
        Ok(Self {
            cause: wire.cause,
            kind,
        })
    }
}

string_enum! {
    /// Whether a release is only planned (a dry run, answered at once) or
    /// also executed (`update.ReleaseKind`).
    pub enum ReleaseKind {
        /// Work out what would change.
        Plan = "plan",
        /// Change it: commit and push.
        Execute = "execute",
    }
}

impl ReleaseKind {
    /// Parses `plan` or `execute` strictly, as the deprecated
    /// `/v6/update-images` route reads its `kind` (Flux's
    /// `ParseReleaseKind`); JSON bodies keep unknown kinds as `Other`.
    pub fn parse(text: &str) -> Result<Self, super::error::ParseError> {
        match Self::from(text) {
            Self::Other(_) => Err(super::error::ParseError {
                message: "invalid release kind".to_owned(),
            }),
            kind => Ok(kind),
        }
    }
}

/// An image release (`update.ReleaseImageSpec`; its Go field names are
/// kept, `ServiceSpecs` included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseImageSpec {
    /// The workloads, or `<all>`.
    #[serde(rename = "ServiceSpecs", default, deserialize_with = "null_as_default")]
    pub service_specs: Vec<ResourceSpec>,
    /// The image, or `<all latest>`.
    #[serde(rename = "ImageSpec")]
    pub image_spec: ImageSpec,
    /// Plan or execute.
    #[serde(rename = "Kind")]
    pub kind: ReleaseKind,
    /// Workloads left out (`null` when none, as fluxctl sends it).
    #[serde(
        rename = "Excludes",
        default,
        deserialize_with = "null_as_default",
        serialize_with = "nil_if_empty"
    )]
    pub excludes: Vec<ResourceId>,
    /// Ignore locks and tag filters of the named workloads.
    #[serde(rename = "Force", default)]
    pub force: bool,
}

/// One container's image change, asked for or done (`update.ContainerUpdate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerUpdate {
    /// The container.
    #[serde(rename = "Container")]
    pub container: String,
    /// Its image before.
    #[serde(rename = "Current")]
    pub current: ImageRef,
    /// Its image after.
    #[serde(rename = "Target")]
    pub target: ImageRef,
}

/// A release of chosen containers (`update.ReleaseContainersSpec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseContainersSpec {
    /// Plan or execute.
    #[serde(rename = "Kind")]
    pub kind: ReleaseKind,
    /// The changes per workload.
    #[serde(
        rename = "ContainerSpecs",
        default,
        deserialize_with = "null_as_default"
    )]
    pub container_specs: BTreeMap<ResourceId, Vec<ContainerUpdate>>,
    /// Skip containers whose current image differs from the one given.
    #[serde(rename = "SkipMismatches", default)]
    pub skip_mismatches: bool,
    /// Ignore locks.
    #[serde(rename = "Force", default)]
    pub force: bool,
}

/// A set of policies (`policy.Set`): name to value, `"true"` for the
/// boolean ones. Also read from the older list-of-names form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicySet(pub BTreeMap<String, String>);

impl PolicySet {
    /// Sets a boolean policy (`"true"`).
    pub fn add(&mut self, policy: &str) {
        self.0.insert(policy.to_owned(), "true".to_owned());
    }

    /// Sets a policy to a value.
    pub fn set(&mut self, policy: &str, value: &str) {
        self.0.insert(policy.to_owned(), value.to_owned());
    }

    /// Whether the set has no policies.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for PolicySet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Map(BTreeMap<String, String>),
            List(Vec<String>),
        }
        match Option::<Wire>::deserialize(deserializer).map_err(|_| {
            de::Error::custom(
                "a policy set must be an object of policy names to values, or a list of names",
            )
        })? {
            None => Ok(Self::default()),
            Some(Wire::Map(map)) => Ok(Self(map)),
            Some(Wire::List(list)) => Ok(Self(
                list.into_iter()
                    .map(|name| (name, "true".to_owned()))
                    .collect(),
            )),
        }
    }
}

/// Policy names Flux knows (`policy.Policy`).
pub mod policy {
    /// Automated image updates.
    pub const AUTOMATED: &str = "automated";
    /// No releases or automation.
    pub const LOCKED: &str = "locked";
    /// Who locked.
    pub const LOCKED_USER: &str = "locked_user";
    /// Why.
    pub const LOCKED_MSG: &str = "locked_msg";
    /// Not synced (or only synced, `sync_only`).
    pub const IGNORE: &str = "ignore";
    /// The pseudo-policy that sets a tag filter on every container.
    pub const TAG_ALL: &str = "tag_all";
    /// The prefix of a container's tag filter policy (`tag.<container>`).
    pub const TAG_PREFIX: &str = "tag.";

    /// The tag filter policy of a container.
    pub fn tag(container: &str) -> String {
        format!("{TAG_PREFIX}{container}")
    }
}

/// Policies to add and remove on one workload (`resource.PolicyUpdate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyUpdate {
    /// Set.
    pub add: PolicySet,
    /// Removed.
    pub remove: PolicySet,
}

/// Policy changes per workload (`resource.PolicyUpdates`).
pub type PolicyUpdates = BTreeMap<ResourceId, PolicyUpdate>;

/// A container of a workload as automation names it (`resource.Container`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadContainer {
    /// The container.
    #[serde(rename = "Name")]
    pub name: String,
    /// Its current image.
    #[serde(rename = "Image")]
    pub image: ImageRef,
}

/// One change automation decided (`update.Change`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomatedChange {
    /// The workload.
    #[serde(rename = "WorkloadID")]
    pub workload_id: ResourceId,
    /// The container and its image now.
    #[serde(rename = "Container")]
    pub container: WorkloadContainer,
    /// The image to move to.
    #[serde(rename = "ImageID")]
    pub image_id: ImageRef,
}

/// Automation's updates (`update.Automated`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Automated {
    /// The changes.
    #[serde(
        rename = "Changes",
        default,
        deserialize_with = "null_as_default",
        serialize_with = "nil_if_empty"
    )]
    pub changes: Vec<AutomatedChange>,
}

/// A sync asked for by a user (`update.ManualSync`, written `{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualSync {}

string_enum! {
    /// What happened to one workload in an update (`update.WorkloadUpdateStatus`).
    pub enum WorkloadUpdateStatus {
        /// Changed.
        Success = "success",
        /// Could not be changed.
        Failed = "failed",
        /// Left alone, for a reason worth telling (shown with `-v`).
        Skipped = "skipped",
        /// Left alone as irrelevant (shown with `-vv`).
        Ignored = "ignored",
        /// Not known.
        Unknown = "unknown",
    }
}

/// What happened to one workload (`update.WorkloadResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// The outcome.
    #[serde(rename = "Status")]
    pub status: WorkloadUpdateStatus,
    /// Why, when it was not a plain success (omitted when empty).
    #[serde(rename = "Error", default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// The container changes (`null` when none).
    #[serde(
        rename = "PerContainer",
        default,
        deserialize_with = "null_as_default",
        serialize_with = "nil_if_empty"
    )]
    pub per_container: Vec<ContainerUpdate>,
}

/// The `Error` texts of a [`WorkloadResult`], as Flux writes them.
pub mod reason {
    /// The workload is locked.
    pub const LOCKED: &str = "locked";
    /// The workload is ignored.
    pub const IGNORED: &str = "ignore";
    /// Not among the workloads asked for.
    pub const NOT_INCLUDED: &str = "not included";
    /// Excluded with `--exclude`.
    pub const EXCLUDED: &str = "excluded";
    /// Uses another image than the one released.
    pub const DIFFERENT_IMAGE: &str = "a different image";
    /// In git but not in the cluster.
    pub const NOT_ACCESSIBLE: &str = "not accessible in cluster";
    /// In the cluster but not in git.
    pub const NOT_IN_REPO: &str = "not found in repository";
    /// The registry does not know an image.
    pub const IMAGE_NOT_FOUND: &str = "cannot find one or more images";
    /// Nothing newer.
    pub const IMAGE_UP_TO_DATE: &str = "image(s) up to date";
    /// Uses none of the images released.
    pub const DOES_NOT_USE_IMAGE: &str = "does not use image(s)";
    /// Prefix of `container(s) not found: <names>`.
    pub const CONTAINER_NOT_FOUND: &str = "container(s) not found";
    /// Prefix of `container(s) tag mismatch: <names>`.
    pub const CONTAINER_TAG_MISMATCH: &str = "container(s) tag mismatch";
}

/// The outcome of an update per workload (`update.Result`), ordered by id.
pub type UpdateResult = BTreeMap<ResourceId, WorkloadResult>;

/// The workloads an update changed (`Result.AffectedResources`).
pub fn affected_resources(result: &UpdateResult) -> Vec<ResourceId> {
    result
        .iter()
        .filter(|(_, r)| r.status == WorkloadUpdateStatus::Success)
        .map(|(id, _)| id.clone())
        .collect()
}

/// The error of an update, if any workload failed (`Result.Error`).
pub fn result_error(result: &UpdateResult) -> Option<String> {
    let failed: Vec<(&ResourceId, &WorkloadResult)> = result
        .iter()
        .filter(|(_, r)| r.status == WorkloadUpdateStatus::Failed)
        .collect();
    match failed.as_slice() {
        [] => None,
        [(id, r)] => Some(format!("{id} failed: {}", r.error)),
        many => Some(format!(
            "Multiple workloads failed: {}",
            many.iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

impl fmt::Display for UpdateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}
