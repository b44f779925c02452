//! `save`: the cluster's objects from `GET /v6/export`, written as Flux's
//! fluxctl wrote them: only `apiVersion`, `kind`, `metadata` (annotations,
//! labels, name, namespace) and `spec`, without the annotations Kubernetes
//! and kubectl add, `spec.template.metadata.creationTimestamp` or empty
//! values; to stdout (each object after `---`), or one file per object
//! under a directory: `<namespace>/<name>-<kind>.yaml` (`dep` for a
//! Deployment), `<name>-ns.yaml` for a Namespace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::Context;
use crate::Io;
use crate::cli::Save;
use crate::error::{Error, no_args};

/// Annotations that are not worth keeping in git.
const DROPPED_ANNOTATIONS: [&str; 3] = [
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubernetes.io/change-cause",
];

/// What is kept of one object, in the order Flux wrote it.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct SaveObject {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "SaveMetadata::is_empty")]
    metadata: SaveMetadata,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    spec: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Serialize, PartialEq)]
struct SaveMetadata {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    namespace: String,
}

impl SaveMetadata {
    fn is_empty(&self) -> bool {
        self.annotations.is_empty()
            && self.labels.is_empty()
            && self.name.is_empty()
            && self.namespace.is_empty()
    }
}

/// Flux's `deleteEmptyMapValues`: removes map entries whose value is an
/// empty map, an empty list or null, at any depth (a map emptied so stays).
fn delete_empty(value: &mut Value) -> bool {
    match value {
        Value::Object(map) if map.is_empty() => true,
        Value::Object(map) => {
            map.retain(|_, child| !delete_empty(child));
            false
        }
        Value::Array(list) if list.is_empty() => true,
        Value::Array(list) => {
            for item in list {
                delete_empty(item);
            }
            false
        }
        Value::Null => true,
        _ => false,
    }
}

fn string_map(
    value: Option<&Value>,
    what: &str,
    index: usize,
) -> Result<BTreeMap<String, String>, Error> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Ok((k.clone(), other.to_string())),
            })
            .collect(),
        Some(_) => Err(Error::Failed(format!(
            "unmarshalling exported yaml: document {index}: {what} is not a map"
        ))),
    }
}

/// What `save` keeps of one exported object.
pub(crate) fn filter(object: &Value, index: usize) -> Result<SaveObject, Error> {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    let metadata = object.get("metadata");
    let mut annotations = string_map(
        metadata.and_then(|m| m.get("annotations")),
        "metadata.annotations",
        index,
    )?;
    for key in DROPPED_ANNOTATIONS {
        annotations.remove(key);
    }
    let mut spec = match object.get("spec") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(map)) => map.clone().into_iter().collect(),
        Some(_) => {
            return Err(Error::Failed(format!(
                "unmarshalling exported yaml: document {index}: spec is not a map"
            )));
        }
    };
    if let Some(Value::Object(template)) = spec.get_mut("template")
        && let Some(Value::Object(metadata)) = template.get_mut("metadata")
    {
        metadata.remove("creationTimestamp");
    }
    spec.retain(|_, child| !delete_empty(child));
    Ok(SaveObject {
        api_version: text(object.get("apiVersion")),
        kind: text(object.get("kind")),
        metadata: SaveMetadata {
            annotations,
            labels: string_map(
                metadata.and_then(|m| m.get("labels")),
                "metadata.labels",
                index,
            )?,
            name: text(metadata.and_then(|m| m.get("name"))),
            namespace: text(metadata.and_then(|m| m.get("namespace"))),
        },
        spec,
    })
}

/// The file of an object under `out` (Flux's `outputFile`).
pub(crate) fn file_name(out: &Path, object: &SaveObject) -> PathBuf {
    if object.kind == "Namespace" {
        return out.join(format!("{}-ns.yaml", object.metadata.name));
    }
    let kind = if object.kind == "Deployment" {
        "dep"
    } else {
        object.kind.as_str()
    };
    out.join(&object.metadata.namespace)
        .join(format!("{}-{kind}.yaml", object.metadata.name))
}

/// `save`.
pub(crate) async fn run(
    context: &mut Context<'_>,
    io: &mut Io<'_>,
    args: Save,
) -> Result<(), Error> {
    no_args(&args.args)?;
    let out = (args.out != "-").then(|| PathBuf::from(&args.out));
    let client = context.client().await?;
    let exported = client
        .export()
        .await
        .map_err(|error| Error::Failed(format!("exporting config: {error}")))?;
    if let Some(out) = &out {
        let metadata = std::fs::metadata(out)
            .map_err(|error| Error::Failed(format!("stat {}: {error}", out.display())))?;
        if !metadata.is_dir() {
            return Err(Error::Failed(format!(
                "path {} is not a directory",
                out.display()
            )));
        }
    }
    let text = String::from_utf8(exported)
        .map_err(|error| Error::Failed(format!("unmarshalling exported yaml: {error}")))?;
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
        .map_err(|error| Error::Failed(format!("unmarshalling exported yaml: {error}")))?;
    for (index, document) in documents.iter().enumerate().filter(|(_, d)| !d.is_null()) {
        let object = filter(document, index + 1)?;
        let yaml = serde_saphyr::to_string(&object).map_err(|error| {
            Error::Failed(format!("saving yaml object: marshalling yaml: {error}"))
        })?;
        match &out {
            None => {
                let _ = write!(io.out, "---\n{yaml}");
            }
            Some(out) => {
                let path = file_name(out, &object);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|error| {
                        Error::Failed(format!(
                            "saving yaml object: making directory for namespace: {error}"
                        ))
                    })?;
                }
                let _ = writeln!(
                    io.out,
                    "Saving {} '{}' to {}",
                    object.kind,
                    object.metadata.name,
                    path.display()
                );
                std::fs::write(&path, format!("---\n{yaml}")).map_err(|error| {
                    Error::Failed(format!(
                        "saving yaml object: writing yaml file {}: {error}",
                        path.display()
                    ))
                })?;
            }
        }
    }
    Ok(())
}
