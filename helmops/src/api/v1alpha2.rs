//! `FluxHelmRelease` in `helm.integrations.flux.weave.works/v1alpha2`: the
//! legacy kind. Its chart is a path in the daemon's own git repository, which
//! the daemon provides (see [`crate::DaemonRepository`]).

// kube's `printcolumn(...)` repeats `type_ = "string"`, which clippy takes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{HelmReleaseStatus, LocalObjectReference, schema};

/// The desired state of a Helm release whose chart is in the daemon's repository.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "helm.integrations.flux.weave.works",
    version = "v1alpha2",
    kind = "FluxHelmRelease",
    plural = "fluxhelmreleases",
    shortname = "fhr",
    namespaced,
    status = "HelmReleaseStatus",
    doc = "A Helm release of a chart in the Flux daemon's own git repository (legacy).",
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
pub struct FluxHelmReleaseSpec {
    /// Path of the chart in the daemon's git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_git_path: Option<String>,
    /// Name of the Helm release; `<namespace>-<name>` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::release_name")]
    pub release_name: Option<String>,
    /// Secrets in this namespace whose key `values.yaml` holds values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_file_secrets: Vec<LocalObjectReference>,
    /// Values for the chart, merged last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::values")]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
}

fn spec_schema(schema: &mut schemars::Schema) {
    schema::require(schema, &["chartGitPath", "values"]);
}
