//! Keeping secret text out of statuses, Events and logs.
//!
//! A release's values may come from Secrets, and its chart credentials
//! always do. Helm and the API server echo values back in their errors (an
//! invalid label value, a template that failed on a value), so every message
//! the reconciler writes about a release first goes through that release's
//! [`Redactor`], which knows the secret strings it read for it.

use serde_json::{Map, Value};

/// Secret strings shorter than this are not looked for: they would match
/// ordinary words and numbers, and carry little of a secret.
const MIN_SECRET_LEN: usize = 4;

/// What replaces a secret in a message.
pub(crate) const REDACTED: &str = "<redacted>";

/// The secret strings of one release.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor that knows no secret.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers one secret string (its lines too, which helm may quote apart).
    pub fn add(&mut self, secret: &str) {
        for candidate in std::iter::once(secret).chain(secret.lines()) {
            let candidate = candidate.trim();
            if candidate.chars().count() >= MIN_SECRET_LEN
                && !self.secrets.iter().any(|s| s == candidate)
            {
                self.secrets.push(candidate.to_owned());
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Remembers every string and number of a values tree read from a Secret.
    pub fn add_values(&mut self, values: &Map<String, Value>) {
        fn walk(redactor: &mut Redactor, value: &Value) {
            match value {
                Value::String(s) => redactor.add(s),
                Value::Number(n) => redactor.add(&n.to_string()),
                Value::Array(items) => items.iter().for_each(|v| walk(redactor, v)),
                Value::Object(map) => map.values().for_each(|v| walk(redactor, v)),
                Value::Null | Value::Bool(_) => {}
            }
        }
        values.values().for_each(|v| walk(self, v));
    }

    /// Takes in another release's secrets (a retry of the same reconcile).
    pub fn extend(&mut self, other: &Self) {
        for secret in &other.secrets {
            self.add(secret);
        }
    }

    /// Whether `value` is one of the secrets.
    pub fn is_secret(&self, value: &str) -> bool {
        self.secrets.iter().any(|s| s == value.trim())
    }

    /// `text` with every known secret replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_and_never_shown() {
        let mut redactor = Redactor::new();
        let values = serde_json::json!({
            "db": {"password": "hunter2-long", "port": 5432},
            "list": ["tok-abcdef"],
            "flag": true,
            "short": "ab"
        });
        redactor.add_values(values.as_object().unwrap());
        redactor.add("line one\nline-two-secret");
        let text = "error: invalid value \"hunter2-long\" for port 5432 with tok-abcdef and line-two-secret; ab stays";
        let out = redactor.redact(text);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("5432"), "{out}");
        assert!(!out.contains("tok-abcdef"), "{out}");
        assert!(!out.contains("line-two-secret"), "{out}");
        assert!(out.contains("ab stays"), "{out}");
        assert!(!format!("{redactor:?}").contains("hunter2"));
        assert!(redactor.is_secret("hunter2-long"));
    }
}
