//! One Kubernetes object as loaded from git.

use serde_json::{Map, Value};

use crate::edit::{self, Edit};
use crate::id::{is_valid_kind, is_valid_name, is_valid_namespace};
use crate::images::{self, ContainerImage};
use crate::policy::Policies;
use crate::{ClusterScopedKinds, Error, ResourceId, SourceLocation};

/// A Kubernetes object read from a file: its identifying fields, its id, the
/// whole object as JSON, and where it was defined.
///
/// The identifying fields are checked when the resource is made: `apiVersion`,
/// `kind` and `metadata.name` are non-empty strings, `metadata.namespace` is a
/// string when present, and `metadata.labels` / `metadata.annotations` are
/// mappings of strings. So the accessors below never fail.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
    id: ResourceId,
    object: Value,
    source: SourceLocation,
}

impl Resource {
    /// Makes a resource of `object`, giving namespaced kinds without a
    /// namespace `default_namespace` in their id, and cluster-scoped ones (as
    /// `scopes` says) [`CLUSTER_SCOPE`](crate::CLUSTER_SCOPE) whatever namespace
    /// they name.
    pub fn new(
        object: Value,
        source: SourceLocation,
        scopes: &ClusterScopedKinds,
        default_namespace: &str,
    ) -> Result<Self, Error> {
        let fields = match IdentifyingFields::read(&object) {
            Ok(fields) => fields,
            Err(reason) => return Err(Error::InvalidResource { at: source, reason }),
        };
        Ok(fields.into_resource(object, source, scopes, default_namespace))
    }

    /// `apiVersion` as written (`apps/v1`).
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The API group of [`Self::api_version`] (`""` for the core group).
    pub fn api_group(&self) -> &str {
        crate::api_group(&self.api_version)
    }

    /// `kind` as written (`Deployment`).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.namespace` as written, if any. The namespace in [`Self::id`]
    /// may differ: the default namespace when none is written, `<cluster>` for
    /// cluster-scoped kinds.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The resource's id in Flux's form.
    pub fn id(&self) -> &ResourceId {
        &self.id
    }

    /// The whole object.
    pub fn object(&self) -> &Value {
        &self.object
    }

    /// The whole object, taken out of the resource.
    pub fn into_object(self) -> Value {
        self.object
    }

    /// Where the resource was defined.
    pub fn source(&self) -> &SourceLocation {
        &self.source
    }

    /// The value of annotation `key`, if set.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata_string(ANNOTATIONS, key)
    }

    /// All annotations, in key order.
    pub fn annotations(&self) -> impl Iterator<Item = (&str, &str)> {
        self.metadata_strings(ANNOTATIONS)
    }

    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.metadata_string(LABELS, key)
    }

    /// All labels, in key order.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.metadata_strings(LABELS)
    }

    /// The Flux policies its annotations set (see [`Policies`]).
    pub fn policies(&self) -> Result<Policies, Error> {
        Policies::from_object(&self.object, &self.id)
    }

    /// The container images it runs: workload containers and init containers,
    /// or HelmRelease values images (see [`images::container_images`]).
    pub fn container_images(&self) -> Result<Vec<ContainerImage>, Error> {
        images::container_images(&self.object, &self.id)
    }

    /// Applies `edit` to this resource in `text`, the current content of the
    /// file it was loaded from, and returns the file's new content (see
    /// [`edit::apply`]).
    pub fn edit(&self, text: &str, edit: &Edit) -> Result<String, Error> {
        edit::apply(text, &self.source, &self.id, edit)
    }

    fn metadata_string(&self, field: &str, key: &str) -> Option<&str> {
        self.object["metadata"][field].get(key)?.as_str()
    }

    fn metadata_strings(&self, field: &str) -> impl Iterator<Item = (&str, &str)> {
        let mut pairs: Vec<(&str, &str)> = self.object["metadata"][field]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)))
            .collect();
        // serde_json's map order depends on a feature another crate may turn
        // on; sort so callers see the same order either way.
        pairs.sort_unstable();
        pairs.into_iter()
    }
}

const ANNOTATIONS: &str = "annotations";
const LABELS: &str = "labels";

/// The fields an id is made of, read and checked from an object.
pub(crate) struct IdentifyingFields {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
}

impl IdentifyingFields {
    /// Reads and checks the identifying fields; the error is the reason the
    /// object is not a usable resource.
    pub(crate) fn read(object: &Value) -> Result<Self, String> {
        let Some(object) = object.as_object() else {
            return Err(format!(
                "expected a Kubernetes object (a mapping), found {}",
                type_name(object)
            ));
        };
        let api_version = required_string(object, "apiVersion")?;
        let kind = required_string(object, "kind")?;
        if !is_valid_kind(kind) {
            return Err(format!(
                "kind {kind:?} is not a valid kind (letters, digits, '-' and '_')"
            ));
        }
        let metadata = match object.get("metadata") {
            None | Some(Value::Null) => return Err("missing metadata.name".to_owned()),
            Some(Value::Object(metadata)) => metadata,
            Some(other) => {
                return Err(format!(
                    "metadata must be a mapping, found {}",
                    type_name(other)
                ));
            }
        };
        let name = match metadata.get("name") {
            None | Some(Value::Null) => return Err("missing metadata.name".to_owned()),
            Some(Value::String(name)) if is_valid_name(name) => name,
            Some(Value::String(name)) => {
                return Err(format!("metadata.name {name:?} is not a valid name"));
            }
            Some(other) => {
                return Err(format!(
                    "metadata.name must be a string, found {}",
                    type_name(other)
                ));
            }
        };
        let namespace = match metadata.get("namespace") {
            None | Some(Value::Null) => None,
            Some(Value::String(namespace)) if namespace.is_empty() => None,
            Some(Value::String(namespace)) if is_valid_namespace(namespace) => Some(namespace),
            Some(Value::String(namespace)) => {
                return Err(format!(
                    "metadata.namespace {namespace:?} is not a valid namespace"
                ));
            }
            Some(other) => {
                return Err(format!(
                    "metadata.namespace must be a string, found {}",
                    type_name(other)
                ));
            }
        };
        for field in [LABELS, ANNOTATIONS] {
            check_string_map(metadata, field)?;
        }
        Ok(Self {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.clone(),
            namespace: namespace.cloned(),
        })
    }

    pub(crate) fn into_resource(
        self,
        object: Value,
        source: SourceLocation,
        scopes: &ClusterScopedKinds,
        default_namespace: &str,
    ) -> Resource {
        let id = if scopes.contains(&self.api_version, &self.kind) {
            ResourceId::cluster_scoped(&self.kind, &self.name)
        } else {
            let namespace = self.namespace.as_deref().unwrap_or(default_namespace);
            ResourceId::namespaced(namespace, &self.kind, &self.name)
        };
        Resource {
            api_version: self.api_version,
            kind: self.kind,
            name: self.name,
            namespace: self.namespace,
            id,
            object,
            source,
        }
    }
}

fn required_string<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    match object.get(field) {
        None | Some(Value::Null) => Err(format!("missing {field}")),
        Some(Value::String(value)) if value.is_empty() => Err(format!("{field} is empty")),
        Some(Value::String(value)) => Ok(value),
        Some(other) => Err(format!(
            "{field} must be a string, found {}",
            type_name(other)
        )),
    }
}

/// Labels and annotations must be strings: Kubernetes rejects anything else,
/// and an unquoted `true` is the usual mistake, so say which key.
fn check_string_map(metadata: &Map<String, Value>, field: &str) -> Result<(), String> {
    match metadata.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(map)) => {
            match map.iter().find(|(_, value)| !value.is_string()) {
                // Checked in sorted order would cost a sort; any offending key
                // will do, and a map has few entries.
                Some((key, value)) => Err(format!(
                    "metadata.{field}.{key:?} must be a string, found {} (quote it)",
                    type_name(value)
                )),
                None => Ok(()),
            }
        }
        Some(other) => Err(format!(
            "metadata.{field} must be a mapping, found {}",
            type_name(other)
        )),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn source() -> SourceLocation {
        SourceLocation {
            path: PathBuf::from("dir/file.yaml"),
            document: 1,
            line: 7,
        }
    }

    fn make(object: Value) -> Result<Resource, Error> {
        Resource::new(object, source(), &ClusterScopedKinds::builtin(), "default")
    }

    #[test]
    fn namespaced_with_and_without_namespace() {
        let web = make(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo"}
        }))
        .unwrap();
        assert_eq!(web.id().to_string(), "demo:deployment/web");
        assert_eq!(web.namespace(), Some("demo"));
        assert_eq!(web.kind(), "Deployment");
        assert_eq!(web.api_group(), "apps");
        assert_eq!(web.source(), &source());

        let config = make(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}
        }))
        .unwrap();
        assert_eq!(config.id().to_string(), "default:configmap/cfg");
        assert_eq!(config.namespace(), None);
    }

    #[test]
    fn cluster_scoped_ignores_a_written_namespace() {
        let role = make(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1beta1", "kind": "ClusterRole",
            "metadata": {"name": "system:reader", "namespace": "flux"}
        }))
        .unwrap();
        assert_eq!(role.id().to_string(), "<cluster>:clusterrole/system:reader");
        assert_eq!(role.namespace(), Some("flux"));
    }

    #[test]
    fn labels_and_annotations() {
        let res = make(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": "svc",
                "labels": {"b": "2", "a": "1"},
                "annotations": {"fluxcd.io/automated": "true"}
            }
        }))
        .unwrap();
        assert_eq!(res.label("a"), Some("1"));
        assert_eq!(res.label("z"), None);
        assert_eq!(res.labels().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        assert_eq!(res.annotation("fluxcd.io/automated"), Some("true"));
        assert_eq!(res.annotations().count(), 1);

        let bare = make(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}))
            .unwrap();
        assert_eq!(bare.labels().count(), 0);
        assert_eq!(bare.annotation("x"), None);
    }

    #[test]
    fn rejects_objects_that_are_not_resources() {
        for (object, reason) in [
            (
                json!([1, 2]),
                "expected a Kubernetes object (a mapping), found a sequence",
            ),
            (
                json!({"kind": "Service", "metadata": {"name": "s"}}),
                "missing apiVersion",
            ),
            (
                json!({"apiVersion": "v1", "metadata": {"name": "s"}}),
                "missing kind",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service"}),
                "missing metadata.name",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {}}),
                "missing metadata.name",
            ),
            (
                json!({"apiVersion": 1, "kind": "Service", "metadata": {"name": "s"}}),
                "apiVersion must be a string, found a number",
            ),
            (
                json!({"apiVersion": "", "kind": "Service", "metadata": {"name": "s"}}),
                "apiVersion is empty",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Ser vice", "metadata": {"name": "s"}}),
                "kind \"Ser vice\" is not a valid kind",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "metadata": "s"}),
                "metadata must be a mapping, found a string",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": ["s"]}}),
                "metadata.name must be a string, found a sequence",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a b"}}),
                "metadata.name \"a b\" is not a valid name",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "s", "namespace": 3}}),
                "metadata.namespace must be a string, found a number",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "s", "namespace": "a/b"}}),
                "metadata.namespace \"a/b\" is not a valid namespace",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "s", "annotations": {"fluxcd.io/automated": true}}}),
                "metadata.annotations.\"fluxcd.io/automated\" must be a string, found a boolean",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "s", "labels": ["a"]}}),
                "metadata.labels must be a mapping, found a sequence",
            ),
        ] {
            let err = make(object).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with("invalid resource at dir/file.yaml:7 (document 2): "),
                "{text}"
            );
            assert!(text.contains(reason), "{text} should say {reason}");
        }
    }
}
