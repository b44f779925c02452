//! Resource identity in Flux's `<namespace>:<kind>/<name>` form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The namespace part of the id of a cluster-scoped resource.
pub const CLUSTER_SCOPE: &str = "<cluster>";

/// Identifies a resource as Flux v1 did: `<namespace>:<kind>/<name>`, the kind
/// lower-cased, [`CLUSTER_SCOPE`] in place of the namespace for cluster-scoped
/// kinds. Two resources with the same id are the same object.
///
/// ```
/// use manifests::ResourceId;
///
/// let id: ResourceId = "demo:Deployment/podinfo".parse().unwrap();
/// assert_eq!(id.to_string(), "demo:deployment/podinfo");
/// assert_eq!(id.namespace(), Some("demo"));
///
/// let ns = ResourceId::cluster_scoped("Namespace", "demo");
/// assert_eq!(ns.to_string(), "<cluster>:namespace/demo");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    namespace: String,
    kind: String,
    name: String,
}

impl ResourceId {
    /// The id of a namespaced resource.
    pub fn namespaced(namespace: &str, kind: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            kind: kind.to_ascii_lowercase(),
            name: name.to_owned(),
        }
    }

    /// The id of a cluster-scoped resource.
    pub fn cluster_scoped(kind: &str, name: &str) -> Self {
        Self::namespaced(CLUSTER_SCOPE, kind, name)
    }

    /// The namespace, or `None` for a cluster-scoped resource.
    pub fn namespace(&self) -> Option<&str> {
        (self.namespace != CLUSTER_SCOPE).then_some(self.namespace.as_str())
    }

    /// The namespace part as written in the id (`<cluster>` when cluster-scoped).
    pub fn scope(&self) -> &str {
        &self.namespace
    }

    /// True when the resource is cluster-scoped.
    pub fn is_cluster_scoped(&self) -> bool {
        self.namespace == CLUSTER_SCOPE
    }

    /// The kind, lower-cased.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.namespace, self.kind, self.name)
    }
}

impl FromStr for ResourceId {
    type Err = Error;

    /// Parses `<namespace>:<kind>/<name>`, and Flux's legacy `<namespace>/<name>`
    /// (a Deployment).
    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidResourceId {
            id: s.to_owned(),
            reason: reason.to_owned(),
        };
        let (namespace, kind, name) = match s.split_once(':') {
            Some((namespace, rest)) => {
                let (kind, name) = rest
                    .split_once('/')
                    .ok_or_else(|| invalid("expected <namespace>:<kind>/<name>"))?;
                (namespace, kind, name)
            }
            None => {
                let (namespace, name) = s
                    .split_once('/')
                    .ok_or_else(|| invalid("expected <namespace>:<kind>/<name>"))?;
                (namespace, "deployment", name)
            }
        };
        if namespace != CLUSTER_SCOPE && !is_valid_namespace(namespace) {
            return Err(invalid(
                "namespace must be <cluster> or letters, digits, '-' and '_'",
            ));
        }
        if !is_valid_kind(kind) {
            return Err(invalid("kind must be letters, digits, '-' and '_'"));
        }
        if !is_valid_name(name) {
            return Err(invalid(
                "name must be letters, digits, '-', '_', '.' and ':'",
            ));
        }
        Ok(Self::namespaced(namespace, kind, name))
    }
}

fn is_word(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// True when `namespace` can be the namespace part of an id.
pub(crate) fn is_valid_namespace(namespace: &str) -> bool {
    is_word(namespace)
}

/// True when `kind` can be the kind part of an id.
pub(crate) fn is_valid_kind(kind: &str) -> bool {
    is_word(kind)
}

/// True when `name` can be the name part of an id (Kubernetes names, including
/// RBAC's `system:` names).
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "demo:deployment/podinfo",
            "<cluster>:namespace/demo",
            "kube-system:configmap/a.b.c",
            "flux:helmrelease/xposer",
        ] {
            assert_eq!(s.parse::<ResourceId>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn lower_cases_the_kind_only() {
        let id: ResourceId = "Demo_NS:HelmRelease/MyApp".parse().unwrap();
        assert_eq!(id.to_string(), "Demo_NS:helmrelease/MyApp");
    }

    #[test]
    fn legacy_form_is_a_deployment() {
        let id: ResourceId = "demo/podinfo".parse().unwrap();
        assert_eq!(id.to_string(), "demo:deployment/podinfo");
    }

    #[test]
    fn rejects_malformed_ids() {
        for s in [
            "",
            "demo",
            "demo:deployment",
            ":deployment/x",
            "demo:/x",
            "demo:deployment/",
            "de mo:deployment/x",
            "demo:deploy ment/x",
            "demo:deployment/a b",
        ] {
            let err = s.parse::<ResourceId>().unwrap_err();
            assert!(err.to_string().contains(&format!("{s:?}")), "{err}");
        }
    }

    #[test]
    fn serde_as_string() {
        let id = ResourceId::namespaced("demo", "Deployment", "web");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"demo:deployment/web\"");
        assert_eq!(serde_json::from_str::<ResourceId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ResourceId>("\"nope\"").is_err());
    }
}
