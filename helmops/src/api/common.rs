//! Reference types shared by the HelmRelease kinds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to an object in the HelmRelease's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the object.
    pub name: String,
}

/// A reference to an object, optionally in another namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ObjectReference {
    /// Name of the object.
    pub name: String,
    /// Namespace of the object; the HelmRelease's own when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A key of a ConfigMap or Secret holding a YAML document of values.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct KeySelector {
    /// Name of the ConfigMap or Secret.
    pub name: String,
    /// Namespace of the object; the HelmRelease's own when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Key holding the values; `values.yaml` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// When true, a missing object or key is skipped instead of failing the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A YAML file of values fetched over HTTP(S).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ExternalSourceSelector {
    /// URL of the values file.
    pub url: String,
    /// When true, an unreachable source is skipped instead of failing the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A values file inside the chart (git charts only).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ChartFileSelector {
    /// Path of the file, relative to the chart's root.
    pub path: String,
    /// When true, a missing file is skipped instead of failing the release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// One source of values; exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValuesFromSource {
    /// A key of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    /// A key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    /// A values file fetched over HTTP(S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_source_ref: Option<ExternalSourceSelector>,
    /// A values file inside the chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_file_ref: Option<ChartFileSelector>,
}
