//! `HelmRelease` in `helm.fluxcd.io/v1`: the final API of Flux's helm-operator.
//!
//! Manifests written for Flux's helm-operator apply unchanged: the same
//! fields, the same defaults (release name `<namespace>-<name>`, or
//! `<namespace>-<targetNamespace>-<name>` when the target differs).

// kube's `printcolumn(...)` repeats `type_ = "string"`, which clippy takes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{HelmReleaseStatus, LocalObjectReference, ObjectReference, ValuesFromSource, schema};

/// The desired state of a Helm release.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "helm.fluxcd.io",
    version = "v1",
    kind = "HelmRelease",
    plural = "helmreleases",
    shortname = "hr",
    shortname = "hrs",
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
        name = "ReleaseStatus",
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
    /// Helm version to target (`v2` or `v3`); kept for compatibility, the
    /// operator uses the Helm binary it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_version: Option<String>,
    /// Where the chart comes from.
    #[serde(default)]
    pub chart: ChartSource,
    /// Name of the Helm release; derived from namespace and name when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::release_name")]
    pub release_name: Option<String>,
    /// Namespace to install the release into; the HelmRelease's own when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Revisions of the release Helm keeps (10 when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history: Option<i64>,
    /// Secrets whose key `values.yaml` holds values (prefer `valuesFrom`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_file_secrets: Vec<LocalObjectReference>,
    /// Sources of values, merged after `valueFileSecrets` and before `values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesFromSource>,
    /// Install or upgrade timeout in seconds (300 when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Reset values to the chart's defaults on upgrade (true when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_values: Option<bool>,
    /// Do not install the chart's CRDs.
    #[serde(default, rename = "skipCRDs", skip_serializing_if = "Option::is_none")]
    pub skip_crds: Option<bool>,
    /// Wait until the release's resources are ready (default: when rollback or
    /// test is enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    /// Force resource updates through replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_upgrade: Option<bool>,
    /// Rollback on a failed upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Run `helm test` after an install or upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Test>,
    /// Values for the chart, merged last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::optional_values")]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
    /// Skip validating rendered manifests against the cluster's OpenAPI schema.
    #[serde(
        default,
        rename = "disableOpenAPIValidation",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_openapi_validation: Option<bool>,
}

fn spec_schema(schema: &mut schemars::Schema) {
    schema::require(schema, &["chart"]);
    schema::drop_default(schema, "chart");
}

/// Where the chart comes from: a git repository or a Helm repository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = schema::chart_shapes)]
pub struct ChartSource {
    /// URL of the git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<String>,
    /// Git branch, tag or commit (the operator's default ref when empty).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Path of the chart in the git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Secret with `username` and `password` for an HTTPS git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ObjectReference>,
    /// Do not run `helm dependency build/update` before installing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_dep_update: Option<bool>,
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
    /// Retry the upgrade after a rollback, up to `maxRetries` times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<bool>,
    /// Upgrade retries after rollbacks (5 when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i64>,
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

/// `helm test` after an install or upgrade.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Test {
    /// Run the chart's tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    /// Keep a release whose tests fail instead of rolling it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_failures: Option<bool>,
    /// Test timeout in seconds (300 when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Helm 2 only; accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<bool>,
}
