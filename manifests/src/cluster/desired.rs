//! From a loaded resource to the object a sync sends: its kind as the
//! cluster serves it, its id with the right scope, the mark and checksum.

use serde_json::{Map, Value};

use super::EngineConfig;
use super::compare::normalised_for_compare;
use super::discovery::Kind;
use super::marks::{CHECKSUM_ANNOTATION, GC_MARK_LABEL, gc_mark};
use super::order::rank_of_kind;
use crate::{Checksum, Resource, ResourceId};

/// A resource ready to apply.
#[derive(Debug, Clone)]
pub(crate) struct Desired<'a> {
    /// The resource as loaded.
    pub(crate) resource: &'a Resource,
    /// Its id with the scope discovery gives the kind.
    pub(crate) id: ResourceId,
    /// Its kind as served.
    pub(crate) kind: Kind,
    /// Its namespace (`None` for cluster-scoped kinds).
    pub(crate) namespace: Option<String>,
    /// Its rank in the apply order.
    pub(crate) rank: u8,
    /// Its garbage-collection mark.
    pub(crate) mark: String,
    /// The checksum of the manifest.
    pub(crate) checksum: Checksum,
    /// [`Self::checksum`] as the annotation holds it.
    pub(crate) checksum_hex: String,
    /// The manifest as the server would store it, when that differs (a
    /// Secret's `stringData`): see [`Self::compared`].
    normalised: Option<Value>,
}

impl<'a> Desired<'a> {
    /// Prepares `resource` of `kind` for sync set `set_name`.
    pub(crate) fn new(
        resource: &'a Resource,
        kind: &Kind,
        set_name: &str,
        config: &EngineConfig,
    ) -> Self {
        let id = scoped_id(resource, kind.namespaced, &config.default_namespace);
        let checksum = Checksum::of_resource(resource);
        Self {
            resource,
            rank: rank_of_kind(resource.kind()),
            namespace: id.namespace().map(str::to_owned),
            mark: gc_mark(set_name, &id),
            id,
            kind: kind.clone(),
            checksum_hex: checksum.to_hex(),
            checksum,
            normalised: normalised_for_compare(
                &kind.resource.group,
                &kind.resource.kind,
                resource.object(),
            ),
        }
    }

    /// The object sent: the manifest with the namespace (none for a
    /// cluster-scoped kind), the mark and the checksum. Made when sent, so a
    /// sync that sends little copies little.
    pub(crate) fn applied(&self) -> Value {
        let mut applied = self.resource.object().clone();
        if let Value::Object(object) = &mut applied {
            let metadata = object
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(metadata) = metadata {
                match &self.namespace {
                    Some(namespace) => {
                        metadata.insert("namespace".to_owned(), Value::String(namespace.clone()));
                    }
                    None => {
                        metadata.remove("namespace");
                    }
                }
                insert_string(metadata, "labels", GC_MARK_LABEL, self.mark.clone());
                insert_string(
                    metadata,
                    "annotations",
                    CHECKSUM_ANNOTATION,
                    self.checksum_hex.clone(),
                );
            }
        }
        applied
    }

    /// The manifest as the server would store it, to compare with the live
    /// object (which must also carry [`Self::mark`] and the checksum).
    pub(crate) fn compared(&self) -> &Value {
        self.normalised.as_ref().unwrap_or(self.resource.object())
    }

    /// The object's name.
    pub(crate) fn name(&self) -> &str {
        self.resource.name()
    }
}

/// Sets `metadata.<field>.<key>`, making `<field>` a mapping if it is
/// absent or null (the loader already refused any other type).
fn insert_string(metadata: &mut Map<String, Value>, field: &str, key: &str, value: String) {
    if !matches!(metadata.get(field), Some(Value::Object(_))) {
        metadata.insert(field.to_owned(), Value::Object(Map::new()));
    }
    if let Some(Value::Object(map)) = metadata.get_mut(field) {
        map.insert(key.to_owned(), Value::String(value));
    }
}

/// The id of `resource` when its kind is (or is not) namespaced: the
/// loader guessed the scope offline; discovery knows.
pub(crate) fn scoped_id(
    resource: &Resource,
    namespaced: bool,
    default_namespace: &str,
) -> ResourceId {
    if namespaced {
        let namespace = resource.namespace().unwrap_or(default_namespace);
        ResourceId::namespaced(namespace, resource.kind(), resource.name())
    } else {
        ResourceId::cluster_scoped(resource.kind(), resource.name())
    }
}

/// A kind defined by a CustomResourceDefinition of the set being synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CrdKind {
    /// The CRD's name (`helmreleases.helm.fluxcd.io`).
    pub(crate) crd: String,
    /// Its API group.
    pub(crate) group: String,
    /// The kind it defines.
    pub(crate) kind: String,
}

impl CrdKind {
    /// The kind `resource` defines, if it is a CustomResourceDefinition.
    pub(crate) fn of(resource: &Resource) -> Option<Self> {
        if resource.kind() != "CustomResourceDefinition"
            || resource.api_group() != "apiextensions.k8s.io"
        {
            return None;
        }
        let spec = &resource.object()["spec"];
        Some(Self {
            crd: resource.name().to_owned(),
            group: spec["group"].as_str()?.to_owned(),
            kind: spec["names"]["kind"].as_str()?.to_owned(),
        })
    }

    /// True when `resource` is an object of this kind.
    pub(crate) fn defines(&self, resource: &Resource) -> bool {
        resource.api_group() == self.group && resource.kind() == self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterScopedKinds, SourceLocation};
    use kube::discovery::ApiResource;
    use serde_json::json;

    fn resource(object: Value) -> Resource {
        Resource::new(
            object,
            SourceLocation {
                path: "a.yaml".into(),
                document: 0,
                line: 1,
            },
            &ClusterScopedKinds::builtin(),
            "default",
        )
        .unwrap()
    }

    fn kind(group: &str, name: &str, namespaced: bool) -> Kind {
        Kind {
            resource: ApiResource {
                group: group.into(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: name.into(),
                plural: format!("{}s", name.to_lowercase()),
            },
            namespaced,
            verbs: vec![],
        }
    }

    #[test]
    fn adds_namespace_mark_and_checksum() {
        let config = EngineConfig {
            default_namespace: "apps".into(),
            ..EngineConfig::default()
        };
        let cm = resource(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "labels": null}, "data": {"a": "1"}
        }));
        let desired = Desired::new(&cm, &kind("", "ConfigMap", true), "set", &config);
        assert_eq!(desired.id.to_string(), "apps:configmap/cfg");
        assert_eq!(desired.namespace.as_deref(), Some("apps"));
        assert_eq!(desired.rank, 2);
        let applied = desired.applied();
        let metadata = &applied["metadata"];
        assert_eq!(metadata["namespace"], "apps");
        assert_eq!(
            metadata["labels"][GC_MARK_LABEL],
            gc_mark("set", &desired.id)
        );
        assert_eq!(
            metadata["annotations"][CHECKSUM_ANNOTATION],
            Checksum::of_resource(&cm).to_hex()
        );
        assert_eq!(applied["data"], json!({"a": "1"}));
    }

    #[test]
    fn discovery_corrects_the_scope() {
        let config = EngineConfig::default();
        // The loader cannot know this custom kind is cluster-scoped.
        let issuer = resource(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": "letsencrypt", "namespace": "stray"}
        }));
        assert_eq!(issuer.id().to_string(), "stray:clusterissuer/letsencrypt");
        let desired = Desired::new(
            &issuer,
            &kind("cert-manager.io", "ClusterIssuer", false),
            "s",
            &config,
        );
        assert_eq!(
            desired.id.to_string(),
            "<cluster>:clusterissuer/letsencrypt"
        );
        assert!(desired.applied()["metadata"].get("namespace").is_none());
        assert_eq!(desired.rank, 4);
    }

    #[test]
    fn crd_kinds() {
        let crd = resource(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced"}
        }));
        let defined = CrdKind::of(&crd).unwrap();
        assert_eq!(defined.crd, "widgets.example.com");
        let widget = resource(
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
        );
        let gadget = resource(
            json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}),
        );
        assert!(defined.defines(&widget));
        assert!(!defined.defines(&gadget));
        assert_eq!(CrdKind::of(&widget), None);
        let broken = resource(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "x"}, "spec": {"group": 3}
        }));
        assert_eq!(CrdKind::of(&broken), None);
    }
}
