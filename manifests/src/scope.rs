//! Which kinds are cluster-scoped, decided offline.
//!
//! A resource id needs to know whether a kind lives in a namespace. Without a
//! cluster to ask, [`ClusterScopedKinds`] answers from a built-in table of the
//! core Kubernetes kinds, the CustomResourceDefinitions found in the loaded
//! tree, and whatever the caller adds (later: from API discovery).

use std::collections::HashMap;

use serde_json::Value;

/// The API group of an `apiVersion`: `"apps"` for `apps/v1`, `""` (the core
/// group) for `v1`.
///
/// ```
/// assert_eq!(manifests::api_group("rbac.authorization.k8s.io/v1beta1"), "rbac.authorization.k8s.io");
/// assert_eq!(manifests::api_group("v1"), "");
/// ```
pub fn api_group(api_version: &str) -> &str {
    api_version
        .rsplit_once('/')
        .map_or("", |(group, _version)| group)
}

/// Cluster-scoped kinds of Kubernetes itself, by API group. Every version of a
/// group counts (`rbac.authorization.k8s.io/v1beta1` ClusterRole is as
/// cluster-scoped as `v1`).
const BUILTIN: &[(&str, &str)] = &[
    ("", "ComponentStatus"),
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("apiserver.k8s.io", "StorageVersion"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authentication.k8s.io", "TokenReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("extensions", "PodSecurityPolicy"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("networking.k8s.io", "ClusterCIDR"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "DeviceTaintRule"),
    ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("storagemigration.k8s.io", "StorageVersionMigration"),
];

/// An API group and a kind, e.g. `("rbac.authorization.k8s.io", "ClusterRole")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKind {
    /// The API group, `""` for the core group.
    pub group: String,
    /// The kind, as Kubernetes spells it (`ClusterRole`).
    pub kind: String,
}

impl GroupKind {
    /// A group and kind.
    pub fn new(group: &str, kind: &str) -> Self {
        Self {
            group: group.to_owned(),
            kind: kind.to_owned(),
        }
    }
}

/// The set of cluster-scoped kinds, keyed by API group and kind. Everything
/// else is namespaced.
///
/// ```
/// use manifests::{ClusterScopedKinds, GroupKind};
///
/// let mut kinds = ClusterScopedKinds::builtin();
/// assert!(kinds.contains("rbac.authorization.k8s.io/v1beta1", "ClusterRole"));
/// assert!(!kinds.contains("apps/v1", "Deployment"));
///
/// kinds.insert(GroupKind::new("cert-manager.io", "ClusterIssuer"));
/// assert!(kinds.contains("cert-manager.io/v1", "ClusterIssuer"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClusterScopedKinds {
    /// Groups by kind: a lookup borrows the kind and scans a group or two.
    groups_by_kind: HashMap<String, Vec<String>>,
}

impl ClusterScopedKinds {
    /// An empty set: every kind namespaced.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The cluster-scoped kinds of Kubernetes itself.
    pub fn builtin() -> Self {
        let mut kinds = Self::empty();
        for (group, kind) in BUILTIN {
            kinds.insert(GroupKind::new(group, kind));
        }
        kinds
    }

    /// Adds a cluster-scoped kind.
    pub fn insert(&mut self, kind: GroupKind) {
        let groups = self.groups_by_kind.entry(kind.kind).or_default();
        if !groups.contains(&kind.group) {
            groups.push(kind.group);
        }
    }

    /// True when `kind` of `api_version` is cluster-scoped.
    pub fn contains(&self, api_version: &str, kind: &str) -> bool {
        let group = api_group(api_version);
        self.groups_by_kind
            .get(kind)
            .is_some_and(|groups| groups.iter().any(|known| known == group))
    }

    /// Adds the kind a CustomResourceDefinition object defines, when the CRD
    /// says `spec.scope: Cluster`. Returns true when it did. Any other object
    /// is left alone.
    pub fn insert_from_crd(&mut self, api_version: &str, kind: &str, object: &Value) -> bool {
        if kind != "CustomResourceDefinition" || api_group(api_version) != "apiextensions.k8s.io" {
            return false;
        }
        let spec = &object["spec"];
        if spec["scope"].as_str() != Some("Cluster") {
            return false;
        }
        match (spec["group"].as_str(), spec["names"]["kind"].as_str()) {
            (Some(group), Some(defined_kind)) if !defined_kind.is_empty() => {
                self.insert(GroupKind::new(group, defined_kind));
                true
            }
            _ => false,
        }
    }

    /// The number of kinds in the set.
    pub fn len(&self) -> usize {
        self.groups_by_kind.values().map(Vec::len).sum()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.groups_by_kind.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_of_api_versions() {
        assert_eq!(api_group("v1"), "");
        assert_eq!(api_group("apps/v1"), "apps");
        assert_eq!(api_group("helm.fluxcd.io/v1"), "helm.fluxcd.io");
        assert_eq!(api_group(""), "");
    }

    #[test]
    fn builtin_kinds_in_every_version_of_their_group() {
        let kinds = ClusterScopedKinds::builtin();
        for (api_version, kind) in [
            ("v1", "Namespace"),
            ("v1", "PersistentVolume"),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
            ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
            ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
            ("storage.k8s.io/v1", "StorageClass"),
            ("scheduling.k8s.io/v1", "PriorityClass"),
            ("apiregistration.k8s.io/v1", "APIService"),
            (
                "admissionregistration.k8s.io/v1",
                "MutatingWebhookConfiguration",
            ),
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
            ),
            ("storage.k8s.io/v1", "CSIDriver"),
            ("node.k8s.io/v1", "RuntimeClass"),
            ("networking.k8s.io/v1", "IngressClass"),
            ("storage.k8s.io/v1", "VolumeAttachment"),
        ] {
            assert!(kinds.contains(api_version, kind), "{api_version} {kind}");
        }
        for (api_version, kind) in [
            ("v1", "Service"),
            ("rbac.authorization.k8s.io/v1beta1", "Role"),
            ("rbac.authorization.k8s.io/v1beta1", "RoleBinding"),
            // Same kind name, other group: not the built-in one.
            ("example.com/v1", "Namespace"),
            // Kinds are case-sensitive.
            ("v1", "namespace"),
        ] {
            assert!(!kinds.contains(api_version, kind), "{api_version} {kind}");
        }
    }

    #[test]
    fn cluster_scoped_crds_add_their_kind() {
        let mut kinds = ClusterScopedKinds::empty();
        let crd = json!({
            "spec": {"group": "cert-manager.io", "scope": "Cluster", "names": {"kind": "ClusterIssuer"}}
        });
        assert!(kinds.insert_from_crd("apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd));
        assert!(kinds.contains("cert-manager.io/v1", "ClusterIssuer"));

        let namespaced = json!({
            "spec": {"group": "flux.weave.works", "scope": "Namespaced", "names": {"kind": "HelmRelease"}}
        });
        assert!(!kinds.insert_from_crd(
            "apiextensions.k8s.io/v1beta1",
            "CustomResourceDefinition",
            &namespaced
        ));
        // Not a CRD, or a CRD without the fields: ignored, no panic.
        assert!(!kinds.insert_from_crd("v1", "ConfigMap", &crd));
        assert!(!kinds.insert_from_crd(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            &json!({"spec": {"scope": "Cluster"}})
        ));
        assert!(!kinds.insert_from_crd(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            &json!("not a mapping")
        ));
        assert_eq!(kinds.len(), 1);
    }
}
