//! `HelmRelease` in `flux.weave.works/v1beta1`: the kind the seed's users commit.
//!
//! The fields are the seed CRD's, plus what later Flux users relied on and
//! costs little here: `targetNamespace`, `valuesFrom`, `rollback` and `wait`.

// kube's `printcolumn(...)` repeats `type_ = "string"`, which clippy takes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{HelmReleaseStatus, LocalObjectReference, ValuesFromSource, schema};

/// The desired state of a Helm release.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "flux.weave.works",
    version = "v1beta1",
    kind = "HelmRelease",
    plural = "helmreleases",
    shortname = "hr",
    namespaced,
    status = "HelmReleaseStatus",
    doc = "A Helm release, managed by the Helm operator from a chart in git or a Helm repository.",
    printcolumn(
        name = "Release",
        type_ = "string",
        json_path = ".status.releaseName",
        description = "Name of the Helm release"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Where the release is in its life cycle"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.releaseStatus",
        description = "Status of the release as Helm reports it"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Released\")].message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = spec_schema)]
pub struct HelmReleaseSpec {
    /// Where the chart comes from.
    #[serde(default)]
    pub chart: ChartSource,
    /// Name of the Helm release; `<namespace>-<name>` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::release_name")]
    pub release_name: Option<String>,
    /// Namespace to install the release into; the HelmRelease's own when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Install or upgrade timeout in seconds (300 when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "int64"))]
    pub timeout: Option<i64>,
    /// Reset values to the chart's defaults on upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_values: Option<bool>,
    /// Do not run `helm dependency build/update` for git charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_dep_update: Option<bool>,
    /// Force resource updates through replacement (Helm's `--force`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_upgrade: Option<bool>,
    /// Wait until the release's resources are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    /// Secrets in this namespace whose key `values.yaml` holds values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_file_secrets: Vec<LocalObjectReference>,
    /// More sources of values, merged after `valueFileSecrets`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesFromSource>,
    /// Rollback on a failed upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Values for the chart, merged last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::values")]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
}

fn spec_schema(schema: &mut schemars::Schema) {
    schema::require(schema, &["values", "chart"]);
    schema::drop_default(schema, "chart");
}

/// Where the chart comes from: a git repository (`git`, `path`, `ref`) or a
/// Helm repository (`repository`, `name`, `version`, `chartPullSecret`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::chart_shapes)]
pub struct ChartSource {
    /// URL of the git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<String>,
    /// Path of the chart in the git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Git branch, tag or commit (the operator's default ref when empty).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// URL of the Helm repository (`https://`, `http://` or `oci://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Name of the chart in the Helm repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version of the chart: exact, or a semver range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Secret with keys `username` and `password` for the Helm repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_pull_secret: Option<LocalObjectReference>,
}

/// What to do when an upgrade fails.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Roll back to the last good revision when an upgrade fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    /// Force resource updates through replacement on rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// Restart pods on rollback (Helm 3 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recreate: Option<bool>,
    /// Do not run hooks on rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_hooks: Option<bool>,
    /// Rollback timeout in seconds (300 when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Wait until resources are ready after the rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
}
