//! Stable checksums of resources and of sets of resources.
//!
//! A checksum depends only on content: two objects that are equal as JSON
//! values have the same checksum whatever their key order, YAML style,
//! comments or quoting. It is the SHA-256 of a canonical JSON encoding: object
//! keys sorted by their bytes, no whitespace, strings escaped as `serde_json`
//! escapes them. The encoding sorts keys itself, so it does not depend on
//! whether `serde_json`'s `preserve_order` feature is on.

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Resource;

/// A SHA-256 checksum. Displays as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Checksum([u8; 32]);

impl Checksum {
    /// The checksum of a JSON value's content.
    ///
    /// ```
    /// use serde_json::json;
    /// use manifests::Checksum;
    ///
    /// let a = Checksum::of_value(&json!({"a": 1, "b": [true, null]}));
    /// let b = Checksum::of_value(&json!({"b": [true, null], "a": 1}));
    /// assert_eq!(a, b);
    /// assert_eq!(a.to_string().len(), 64);
    /// ```
    pub fn of_value(value: &Value) -> Self {
        let mut hasher = Sha256::new();
        write_canonical(&mut hasher, value);
        Self(hasher.finalize().into())
    }

    /// The checksum of a resource's content (its object; the source position
    /// and the default namespace play no part).
    pub fn of_resource(resource: &Resource) -> Self {
        Self::of_value(resource.object())
    }

    /// The checksum of a set of resources: their ids and content, independent
    /// of the order they come in. Each resource counts once per occurrence.
    pub fn of_set<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Self {
        let mut entries: Vec<(String, Checksum)> = resources
            .into_iter()
            .map(|resource| (resource.id().to_string(), Self::of_resource(resource)))
            .collect();
        entries.sort_unstable();
        let mut hasher = Sha256::new();
        for (id, checksum) in &entries {
            // Ids never contain a newline; the fixed-width digest follows.
            hasher.update(id.as_bytes());
            hasher.update(b"\n");
            hasher.update(checksum.0);
        }
        Self(hasher.finalize().into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.to_hex())
    }
}

/// Feeds the canonical JSON of `value` to `hasher`. Recursion is bounded by
/// the depth the loader allows; values built in memory are the caller's.
fn write_canonical(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Null => hasher.update(b"null"),
        Value::Bool(true) => hasher.update(b"true"),
        Value::Bool(false) => hasher.update(b"false"),
        Value::Number(number) => hasher.update(number.to_string().as_bytes()),
        Value::String(string) => write_string(hasher, string),
        Value::Array(items) => {
            hasher.update(b"[");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    hasher.update(b",");
                }
                write_canonical(hasher, item);
            }
            hasher.update(b"]");
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
            hasher.update(b"{");
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    hasher.update(b",");
                }
                write_string(hasher, key);
                hasher.update(b":");
                write_canonical(hasher, item);
            }
            hasher.update(b"}");
        }
    }
}

/// A JSON string literal, escaped exactly as `serde_json` escapes it.
fn write_string(hasher: &mut Sha256, string: &str) {
    hasher.update(b"\"");
    let bytes = string.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                hasher.update(&bytes[start..index]);
                hasher.update(format!("\\u{byte:04x}").as_bytes());
                start = index + 1;
                continue;
            }
            _ => continue,
        };
        hasher.update(&bytes[start..index]);
        hasher.update(escape);
        start = index + 1;
    }
    hasher.update(&bytes[start..]);
    hasher.update(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The canonical text the hasher sees, via serde_json on a sorted copy:
    /// the two must agree byte for byte.
    fn sorted_copy(value: &Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(sorted_copy).collect()),
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by_key(|(key, _)| *key);
                let mut out = serde_json::Map::new();
                for (key, item) in entries {
                    out.insert(key.clone(), sorted_copy(item));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    #[test]
    fn matches_sha256_of_canonical_json() {
        let value = json!({
            "z": [1, -2, 3.5, 1e300, true, false, null],
            "a": {"y": "quote \" backslash \\ newline \n tab \t bell \u{7} é ☃", "b": {}},
            "m": []
        });
        let canonical = serde_json::to_string(&sorted_copy(&value)).unwrap();
        assert!(
            canonical.starts_with("{\"a\":{\"b\":{},\"y\":"),
            "{canonical}"
        );
        let expected = hex::encode(Sha256::digest(canonical.as_bytes()));
        assert_eq!(Checksum::of_value(&value).to_hex(), expected);
    }

    #[test]
    fn depends_on_content_only() {
        let a = Checksum::of_value(&json!({"a": 1, "b": {"c": "x", "d": "y"}}));
        let b = Checksum::of_value(&json!({"b": {"d": "y", "c": "x"}, "a": 1}));
        assert_eq!(a, b);
        let c = Checksum::of_value(&json!({"a": 1, "b": {"c": "x", "d": "z"}}));
        assert_ne!(a, c);
        // Types matter: "1" is not 1.
        assert_ne!(
            Checksum::of_value(&json!({"a": "1"})),
            Checksum::of_value(&json!({"a": 1}))
        );
        // Nesting matters: {"a":{"b":1}} is not {"a.b":1} nor [..].
        assert_ne!(
            Checksum::of_value(&json!({"a": {"b": 1}})),
            Checksum::of_value(&json!({"a.b": 1}))
        );
    }

    #[test]
    fn formats_as_hex() {
        let sum = Checksum::of_value(&Value::Null);
        assert_eq!(
            sum.to_string(),
            // sha256("null")
            "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"
        );
        assert_eq!(format!("{sum:?}"), format!("Checksum({sum})"));
    }
}
