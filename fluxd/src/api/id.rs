//! Resource ids as Flux v1 writes them: `<namespace>:<kind>/<name>`, with
//! `<cluster>` as the namespace of cluster-scoped resources, and the legacy
//! `<namespace>/<name>` (a Service) still read and written back unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ParseError;
use super::go::StrVisitor;

/// The namespace Flux writes for cluster-scoped resources.
pub const CLUSTER_SCOPE: &str = "<cluster>";

/// A resource's id: `<namespace>:<kind>/<name>` (kind lower-cased), or the
/// legacy `<namespace>/<name>` of Flux's first versions, whose kind is
/// `service`. Ordered, compared and hashed by its string form, as Go orders
/// the keys of a JSON map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    /// The string form.
    text: String,
    /// End of the namespace in `text`.
    namespace_end: usize,
    /// Start of the name in `text` (after the `/`).
    name_start: usize,
    /// Whether this is the legacy `<namespace>/<name>` form.
    legacy: bool,
}

fn is_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

impl ResourceId {
    /// The id of `kind/name` in `namespace` (use [`CLUSTER_SCOPE`] for a
    /// cluster-scoped resource); the kind is lower-cased as Flux does.
    pub fn new(namespace: &str, kind: &str, name: &str) -> Self {
        let text = format!("{namespace}:{}/{name}", kind.to_ascii_lowercase());
        Self {
            namespace_end: namespace.len(),
            name_start: text.len() - name.len(),
            text,
            legacy: false,
        }
    }

    /// Parses `<namespace>:<kind>/<name>` when given in full, else
    /// `<kind>/<name>` in `namespace`: how fluxctl reads its workload
    /// arguments (Flux's `ParseIDOptionalNamespace`).
    pub fn parse_with_namespace(namespace: &str, text: &str) -> Result<Self, ParseError> {
        if let Some(id) = Self::parse_qualified(text) {
            return Ok(id);
        }
        match text.split_once('/') {
            Some((kind, name)) if is_word(kind) && is_name(name) => {
                Ok(Self::new(namespace, kind, name))
            }
            _ => Err(ParseError::resource_id(text)),
        }
    }

    fn parse_qualified(text: &str) -> Option<Self> {
        let (namespace, rest) = text.split_once(':')?;
        if namespace != CLUSTER_SCOPE && !is_word(namespace) {
            return None;
        }
        let (kind, name) = rest.split_once('/')?;
        (is_word(kind) && is_name(name)).then(|| Self::new(namespace, kind, name))
    }

    /// The namespace (`<cluster>` for a cluster-scoped resource).
    pub fn namespace(&self) -> &str {
        &self.text[..self.namespace_end]
    }

    /// The kind, lower-case (`service` for a legacy id).
    pub fn kind(&self) -> &str {
        if self.legacy {
            "service"
        } else {
            &self.text[self.namespace_end + 1..self.name_start - 1]
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.text[self.name_start..]
    }

    /// Whether the resource is cluster-scoped.
    pub fn is_cluster_scoped(&self) -> bool {
        self.namespace() == CLUSTER_SCOPE
    }

    /// Whether this is the legacy `<namespace>/<name>` form.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// The string form.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for ResourceId {
    type Err = ParseError;

    /// Parses `<namespace>:<kind>/<name>` or the legacy `<namespace>/<name>`
    /// (Flux's `ParseID`).
    fn from_str(text: &str) -> Result<Self, ParseError> {
        if let Some(id) = Self::parse_qualified(text) {
            return Ok(id);
        }
        match text.split_once('/') {
            Some((namespace, name)) if is_word(namespace) && is_word(name) => Ok(Self {
                text: text.to_owned(),
                namespace_end: namespace.len(),
                name_start: namespace.len() + 1,
                legacy: true,
            }),
            _ => Err(ParseError::resource_id(text)),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new(
            "a resource id such as default:deployment/app",
        ))
    }
}

/// An id where Go writes the zero `resource.ID` as `""` (a workload's
/// `Antecedent`): `None` is `""`.
pub(crate) mod optional_id {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<ResourceId>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.as_ref().map_or("", ResourceId::as_str))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<ResourceId>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        if text.is_empty() {
            Ok(None)
        } else {
            text.parse().map(Some).map_err(serde::de::Error::custom)
        }
    }
}

/// A workload selector of a release: one id, or `<all>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceSpec {
    /// Every workload (`<all>`).
    All,
    /// One workload.
    Id(ResourceId),
}

impl ResourceSpec {
    /// The string Flux writes for [`ResourceSpec::All`].
    pub const ALL: &'static str = "<all>";
}

impl FromStr for ResourceSpec {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        if text == Self::ALL {
            Ok(Self::All)
        } else {
            text.parse().map(Self::Id).map_err(|error| ParseError {
                message: format!("invalid workload spec: {error}"),
            })
        }
    }
}

impl fmt::Display for ResourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str(Self::ALL),
            Self::Id(id) => id.fmt(f),
        }
    }
}

impl From<ResourceId> for ResourceSpec {
    fn from(id: ResourceId) -> Self {
        Self::Id(id)
    }
}

impl Serialize for ResourceSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor::new("a resource id or <all>"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let id: ResourceId = "default:Deployment/helloworld".parse().unwrap();
        assert_eq!(id.to_string(), "default:deployment/helloworld");
        assert_eq!(
            (id.namespace(), id.kind(), id.name()),
            ("default", "deployment", "helloworld")
        );
        let id: ResourceId = "<cluster>:namespace/demo".parse().unwrap();
        assert!(id.is_cluster_scoped());
        assert_eq!(id.name(), "demo");
        let id: ResourceId = "default/helloworld".parse().unwrap();
        assert!(id.is_legacy());
        assert_eq!(id.to_string(), "default/helloworld");
        assert_eq!(
            (id.namespace(), id.kind(), id.name()),
            ("default", "service", "helloworld")
        );
        // Names may carry dots and colons (Flux's IDRegexp).
        let id: ResourceId = "ns:clusterrole/system:a.b".parse().unwrap();
        assert_eq!(id.name(), "system:a.b");
    }

    #[test]
    fn refuses_what_flux_refuses() {
        for bad in [
            "",
            "deployment",
            "ns:deployment",
            "ns:/x",
            ":deployment/x",
            "a b:deployment/x",
            "ns:kind/",
            "ns:ki.nd/x",
            "a/b/c",
        ] {
            let error = bad.parse::<ResourceId>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("parsing {bad}: invalid service ID")
            );
        }
    }

    #[test]
    fn a_namespace_completes_kind_and_name() {
        let id = ResourceId::parse_with_namespace("demo", "deployment/podinfo").unwrap();
        assert_eq!(id.to_string(), "demo:deployment/podinfo");
        let id = ResourceId::parse_with_namespace("demo", "other:deployment/podinfo").unwrap();
        assert_eq!(id.to_string(), "other:deployment/podinfo");
        let error = ResourceId::parse_with_namespace("demo", "podinfo").unwrap_err();
        assert_eq!(error.to_string(), "parsing podinfo: invalid service ID");
    }

    #[test]
    fn ordered_as_strings() {
        let mut ids: Vec<ResourceId> =
            ["default:deployment/b", "default/a", "default:deployment/a"]
                .iter()
                .map(|s| s.parse().unwrap())
                .collect();
        ids.sort();
        let texts: Vec<_> = ids.iter().map(ResourceId::as_str).collect();
        assert_eq!(
            texts,
            ["default/a", "default:deployment/a", "default:deployment/b"]
        );
    }

    #[test]
    fn specs() {
        assert_eq!("<all>".parse::<ResourceSpec>().unwrap(), ResourceSpec::All);
        let json = serde_json::to_string(&ResourceSpec::All).unwrap();
        assert_eq!(json, r#""<all>""#);
        // Go's encoder escapes < and >; both spellings decode.
        let spec: ResourceSpec = serde_json::from_str(r#""\u003call\u003e""#).unwrap();
        assert_eq!(spec, ResourceSpec::All);
        let error = "nope".parse::<ResourceSpec>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid workload spec: parsing nope: invalid service ID"
        );
    }
}
