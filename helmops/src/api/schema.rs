//! Hand-written parts of the CRD schemas: what the seed's validation needs and
//! derive cannot say.

use schemars::{Schema, SchemaGenerator, json_schema};

/// The pattern of a Helm release name (DNS-1123 label, as in the seed's CRDs).
pub(crate) const RELEASE_NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Free-form Helm values: any object, kept as written.
pub(crate) fn values(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "Values for the chart, as in a values.yaml file."
    })
}

/// Free-form Helm values that may be left out.
pub(crate) fn optional_values(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = values(generator);
    schema.insert("nullable".to_owned(), true.into());
    schema
}

/// The release name pattern on an optional string.
pub(crate) fn release_name(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "nullable": true,
        "pattern": RELEASE_NAME_PATTERN,
        "maxLength": 53,
        "description": "Name of the Helm release; `<namespace>-<name>` when empty."
    })
}

/// Marks properties of an object schema as required.
pub(crate) fn require(schema: &mut Schema, names: &[&str]) {
    let object = schema.ensure_object();
    let required = object
        .entry("required")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(list) = required.as_array_mut() {
        for name in names {
            if !list.iter().any(|v| v == name) {
                list.push((*name).into());
            }
        }
    }
}

/// Drops the `default` derive puts on a property whose Rust field defaults
/// only to read odd objects leniently; the schema requires it instead.
pub(crate) fn drop_default(schema: &mut Schema, property: &str) {
    if let Some(prop) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut(property))
        .and_then(serde_json::Value::as_object_mut)
    {
        prop.remove("default");
    }
}

/// A chart is exactly one of: a path in a git repository, or a chart in a
/// Helm repository.
pub(crate) fn chart_shapes(schema: &mut Schema) {
    schema.insert(
        "oneOf".to_owned(),
        serde_json::json!([
            {"required": ["git", "path"]},
            {"required": ["repository", "name", "version"]}
        ]),
    );
}
