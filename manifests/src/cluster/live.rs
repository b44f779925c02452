//! Objects as the cluster has them, read without `metadata.managedFields`
//! (often half of an object's JSON, and never compared).

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::marks::{GC_MARK_LABEL, LEGACY_GC_MARK_LABEL};
use crate::policy::Ignore;

/// A live object: its JSON without `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveObject(pub(crate) Value);

impl LiveObject {
    pub(crate) fn metadata_str(&self, field: &str) -> Option<&str> {
        self.0["metadata"][field].as_str()
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.metadata_str("name")
    }

    pub(crate) fn namespace(&self) -> Option<&str> {
        self.metadata_str("namespace").filter(|ns| !ns.is_empty())
    }

    pub(crate) fn uid(&self) -> Option<&str> {
        self.metadata_str("uid")
    }

    pub(crate) fn resource_version(&self) -> Option<&str> {
        self.metadata_str("resourceVersion")
    }

    /// The garbage-collection mark, under the current label or Flux v1's
    /// older one.
    pub(crate) fn gc_marks(&self) -> impl Iterator<Item = &str> {
        let labels = &self.0["metadata"]["labels"];
        [GC_MARK_LABEL, LEGACY_GC_MARK_LABEL]
            .into_iter()
            .filter_map(|label| labels[label].as_str())
    }

    pub(crate) fn has_owners(&self) -> bool {
        self.0["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|owners| !owners.is_empty())
    }

    pub(crate) fn ignore(&self) -> Ignore {
        Ignore::of_object(&self.0)
    }
}

impl<'de> Deserialize<'de> for LiveObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor { top: true })
            .map(|map| Self(Value::Object(map)))
    }
}

/// Reads a mapping into a [`Map`]; at the top level, its `metadata` through
/// a visitor that skips `managedFields` unread.
struct ObjectVisitor {
    top: bool,
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if !self.top && key == "managedFields" {
                access.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = if self.top && key == "metadata" {
                access.next_value_seed(MetadataSeed)?
            } else {
                access.next_value::<Value>()?
            };
            map.insert(key, value);
        }
        Ok(map)
    }
}

struct MetadataSeed;

impl<'de> DeserializeSeed<'de> for MetadataSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        // `metadata: null` is not an object: keep whatever it is.
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("object metadata")
            }
            fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
                ObjectVisitor { top: false }
                    .visit_map(access)
                    .map(Value::Object)
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// One page of a list call.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    pub(crate) metadata: PageMetadata,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub(crate) items: Vec<LiveObject>,
}

/// The list's metadata: only the token of the next page matters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageMetadata {
    #[serde(rename = "continue", default)]
    pub(crate) next: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<LiveObject>, D::Error> {
    Ok(Option::<Vec<LiveObject>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_managed_fields_only() {
        let text = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "a", "namespace": "demo", "uid": "u-1", "resourceVersion": "42",
                "labels": {"fluxcd.io/sync-gc-mark": "sha256.new", "flux.weave.works/sync-gc-mark": "sha256.old"},
                "annotations": {"fluxcd.io/ignore": "sync_only"},
                "managedFields": [{"manager": "fluxd", "fieldsV1": {"f:data": {}}}],
                "ownerReferences": [{"kind": "X"}]
            },
            "data": {"managedFields": "kept: not metadata"}
        })
        .to_string();
        let live: LiveObject = serde_json::from_str(&text).unwrap();
        assert!(live.0["metadata"].get("managedFields").is_none());
        assert_eq!(live.0["data"]["managedFields"], "kept: not metadata");
        assert_eq!(live.name(), Some("a"));
        assert_eq!(live.namespace(), Some("demo"));
        assert_eq!(live.uid(), Some("u-1"));
        assert_eq!(live.resource_version(), Some("42"));
        assert_eq!(
            live.gc_marks().collect::<Vec<_>>(),
            ["sha256.new", "sha256.old"]
        );
        assert!(live.has_owners());
        assert_eq!(live.ignore(), Ignore::SyncOnly);
    }

    #[test]
    fn pages() {
        let page: Page = serde_json::from_str(
            r#"{"kind":"ConfigMapList","metadata":{"continue":"tok","resourceVersion":"9"},
                "items":[{"metadata":{"name":"a"}},{"metadata":null}]}"#,
        )
        .unwrap();
        assert_eq!(page.metadata.next.as_deref(), Some("tok"));
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[1].name(), None);
        let empty: Page = serde_json::from_str(r#"{"metadata":{},"items":null}"#).unwrap();
        assert!(empty.items.is_empty());
        assert!(empty.metadata.next.is_none());
        assert!(serde_json::from_str::<Page>(r#"{"items":[1]}"#).is_err());
    }
}
