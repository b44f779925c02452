//! fluxd's log lines: JSON (`--log-format json`, what the tests ask for) or
//! logfmt (`--log-format fmt`, what Flux's charts ask for), read into the
//! same shape so a test runs either way.

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

/// The lines of `text` that are JSON objects or logfmt lines (others, e.g.
/// a fatal error's plain message, are skipped).
pub fn parse_logs(text: &str) -> Vec<LogLine> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with("ts=") {
                return parse_logfmt(line).map(LogLine);
            }
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(Value::is_object)
                .map(LogLine)
        })
        .collect()
}

/// A logfmt line as the JSON object fluxd would have written for it: `ts`,
/// `level` (upper-cased) and `msg` become `timestamp`, `level` and
/// `message`; unsigned integers and booleans become numbers and booleans.
/// `None` when the line is not valid logfmt (which fails the tests that
/// expect a line).
pub fn parse_logfmt(line: &str) -> Option<Value> {
    let mut object = serde_json::Map::new();
    let mut rest = line;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        if key.is_empty() || key.contains([' ', '"']) {
            return None;
        }
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            unquote(quoted)?
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        rest = after.strip_prefix(' ').unwrap_or(after);
        if after.starts_with(|c: char| c != ' ') {
            return None;
        }
        let value = match key {
            "level" => Value::String(value.to_uppercase()),
            _ if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => value
                .parse::<u64>()
                .map_or(Value::String(value), Value::from),
            _ if value == "true" || value == "false" => Value::Bool(value == "true"),
            _ => Value::String(value),
        };
        let key = match key {
            "ts" => "timestamp",
            "msg" => "message",
            other => other,
        };
        object.insert(key.to_owned(), value);
    }
    Some(Value::Object(object))
}

/// A quoted logfmt value (after its opening quote) with Go's escapes
/// undone, and what follows its closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[index + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = (0..4)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// The seed's command for the deploy key, `grep identity.pub | cut -d '"' -f2`,
/// run by a real shell over `text` (fluxd's log); its stdout.
pub fn seed_key_pipeline(text: &str) -> Result<String, crate::Error> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .args(["-c", "grep identity.pub | cut -d '\"' -f2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| crate::Error::io("running the seed's key pipeline", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| crate::Error::io("writing to the seed's key pipeline", e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| crate::Error::io("running the seed's key pipeline", e))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_lines_read_like_json_ones() {
        let line = parse_logfmt(
            "ts=2026-01-01T00:00:00Z level=info id=demo:configmap/a created=3 ok=true \
             error=\"say \\\"no\\\"\\n\" empty= msg=\"sync finished\"",
        )
        .unwrap();
        assert_eq!(line["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["id"], "demo:configmap/a");
        assert_eq!(line["created"], 3);
        assert_eq!(line["ok"], true);
        assert_eq!(line["error"], "say \"no\"\n");
        assert_eq!(line["empty"], "");
        assert_eq!(line["message"], "sync finished");
        assert!(parse_logfmt("ts=1 msg=\"unterminated").is_none());
        assert!(parse_logfmt("ts=1 broken\"key=1").is_none());
        let lines = parse_logs("ts=1 msg=a\n{\"message\":\"b\"}\nfluxd: fatal\n");
        assert_eq!(lines.len(), 2);
        assert!(lines[0].is("a") && lines[1].is("b"));
    }
}
