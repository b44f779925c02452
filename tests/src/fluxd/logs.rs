//! fluxd's JSON log lines (`--log-format json`).

use serde_json::Value;

/// One log event: `timestamp`, `level`, `message` and the event's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine(pub Value);

impl LogLine {
    /// The message.
    pub fn message(&self) -> &str {
        self.str("message").unwrap_or_default()
    }

    /// The level (`INFO`, `WARN`, ...).
    pub fn level(&self) -> &str {
        self.str("level").unwrap_or_default()
    }

    /// A field, as a string if it is one.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// A numeric field.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.0.get(key).and_then(Value::as_u64)
    }

    /// True when the message is `message`.
    pub fn is(&self, message: &str) -> bool {
        self.message() == message
    }
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The lines of `text` that are JSON objects (others, e.g. a fatal error's
/// plain message, are skipped).
pub fn parse_logs(text: &str) -> Vec<LogLine> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(Value::is_object)
        .map(LogLine)
        .collect()
}
