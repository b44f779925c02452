//! YAML from charts, chart repositories and values sources, parsed with
//! stack to spare and errors that never quote the input.
//!
//! serde-saphyr recurses once per nesting level (about 25 KiB of stack per
//! level unoptimised) up to its default budget of 64 levels; the operator
//! parses on tokio threads with 2 MiB of stack. A hostile values file must be
//! refused by the budget, not abort the operator with a stack overflow, so
//! the parse runs on a fresh stack segment when the thread has too little.
//!
//! The text parsed here is often secret (a values file in a Secret) or
//! fetched from wherever a HelmRelease points: an error names the line and
//! column and what was wrong, never a snippet of the text, so nothing of it
//! reaches a status, an Event or a log.

use serde::de::DeserializeOwned;

/// Aliases a document may replay in all (a "billion laughs" document nests
/// them; real values files replay a few hundred events at most).
const MAX_REPLAYED_EVENTS: usize = 100_000;

/// Why a document did not parse, without any of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    /// Where, when known: `line L column C`.
    location: Option<(u64, u64)>,
    /// What serde-saphyr said, with any quoted text of the input removed.
    reason: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location {
            Some((line, column)) => write!(f, "{} at line {line} column {column}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    options.emit_comments = false;
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options
}

/// Parses one YAML document.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    manifests::stack::with_stack_for(manifests::stack::DEFAULT_DEPTH, || {
        serde_saphyr::from_str_with_options(text, options())
    })
    .map_err(|e| describe(&e))
}

/// The error as one line: serde-saphyr's message with its location taken
/// out into numbers, and anything quoted (values of the input, which may be
/// secret) replaced.
fn describe(error: &serde_saphyr::Error) -> YamlError {
    let location = error
        .location()
        .map(|l| (l.line(), l.column()))
        .filter(|(line, _)| *line > 0);
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    // serde-saphyr appends " at line L column C"; the numbers are kept apart.
    let bare = match first.find(" at line ") {
        Some(at) => &first[..at],
        None => first,
    };
    YamlError {
        location,
        reason: unquote(bare),
    }
}

/// Replaces everything between quotes or backticks with `...`: serde's
/// messages quote the input they did not expect (`invalid type: string
/// "hunter2", expected a map`).
fn unquote(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    for c in message.chars() {
        match open {
            Some(quote) if c == quote => {
                out.push_str("...");
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None if matches!(c, '"' | '`') => {
                out.push(c);
                open = Some(c);
            }
            None => out.push(c),
        }
    }
    if open.is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_quote_the_text() {
        let secret = "password: hunter2-the-secret\nlist: [1,\n  other: x\n";
        let err = from_str::<serde_json::Value>(secret).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("line"), "{text}");

        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Shape {
            entries: Vec<String>,
        }
        let err = from_str::<Shape>("entries: hunter2-the-secret\n").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("line 1"), "{text}");
    }

    #[test]
    fn unquote_hides_quoted_text() {
        assert_eq!(
            unquote("invalid type: string \"s3cret\", expected a map"),
            "invalid type: string \"...\", expected a map"
        );
        assert_eq!(
            unquote("duplicate key `a` and \"b"),
            "duplicate key `...` and \"..."
        );
        assert_eq!(unquote("didn't find"), "didn't find");
    }
}
