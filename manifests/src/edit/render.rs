//! Writing a string as a YAML scalar: plain when YAML reads it back as the
//! same string, quoted otherwise, and in the quoting style of the value it
//! replaces.

use std::sync::LazyLock;

use granit_parser::ScalarStyle;
use serde_json::Value;

/// How a new scalar is quoted when it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quote {
    Single,
    Double,
}

/// The text that replaces a scalar written in `style`, or why it cannot be
/// written in that style.
pub(crate) fn replacement(
    style: ScalarStyle,
    value: &str,
    in_flow: bool,
) -> Result<String, String> {
    match style {
        ScalarStyle::Plain => Ok(if plain_ok(value, in_flow) {
            value.to_owned()
        } else {
            double_quoted(value)
        }),
        ScalarStyle::SingleQuoted => single_quoted(value)
            .ok_or_else(|| format!("{value:?} cannot be written in single quotes")),
        ScalarStyle::DoubleQuoted => Ok(double_quoted(value)),
        ScalarStyle::Literal | ScalarStyle::Folded => {
            Err("the value is a block scalar (| or >)".to_owned())
        }
    }
}

/// A new scalar: plain when that reads back as the same string, else
/// quoted the way `quote` says (double quotes where single cannot hold it).
pub(crate) fn new_scalar(value: &str, in_flow: bool, quote: Quote) -> String {
    if plain_ok(value, in_flow) {
        return value.to_owned();
    }
    match quote {
        Quote::Single => single_quoted(value).unwrap_or_else(|| double_quoted(value)),
        Quote::Double => double_quoted(value),
    }
}

/// `'...'` with `'` doubled; `None` when the string holds characters single
/// quotes cannot carry on one line.
pub(crate) fn single_quoted(value: &str) -> Option<String> {
    if value.chars().any(char::is_control) {
        return None;
    }
    Some(format!("'{}'", value.replace('\'', "''")))
}

/// `"..."` with escapes.
pub(crate) fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// True when `value` written plain reads back as the same string, both for
/// YAML 1.2 and for the YAML 1.1 readers Kubernetes tools still use.
pub(crate) fn plain_ok(value: &str, in_flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if value.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    if value.contains(": ") || value.contains(" #") || value.ends_with(':') {
        return false;
    }
    if in_flow && value.contains(['[', ']', '{', '}', ',']) {
        return false;
    }
    if looks_typed(value) {
        return false;
    }
    // The last word goes to the parser itself.
    let probe = format!("k: {value}\n");
    matches!(
        crate::stack::with_stack_for(crate::stack::DEFAULT_DEPTH, || {
            serde_saphyr::from_str::<Value>(&probe)
        }),
        Ok(Value::Object(map)) if map.get("k").and_then(Value::as_str) == Some(value)
    )
}

/// Numbers in every base and spelling YAML 1.1 or 1.2 knows (`1_000`,
/// `0x1f`, `0o17`, `1e3`, `.5`, `1.10`, `1:30`, `.inf`), and dates.
static TYPED: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?x)^(?:
            [-+]?[0-9][0-9_]*                                   # integer
          | [-+]?(?:\.[0-9]+|[0-9][0-9_]*\.[0-9_]*)(?:[eE][-+]?[0-9]+)?  # float
          | [-+]?[0-9][0-9_]*[eE][-+]?[0-9]+                    # 1e3
          | [-+]?0[xX][0-9a-fA-F_]+ | [-+]?0[oO]?[0-7_]+ | [-+]?0[bB][01_]+
          | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?   # base 60
          | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
          | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt \t].*)?        # dates
        )$",
    )
    .ok()
});

/// Words and shapes some YAML reader takes for a null, boolean, number or
/// date rather than a string.
fn looks_typed(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return true;
    }
    // Without the pattern (it always compiles) everything is quoted.
    TYPED.as_ref().is_none_or(|typed| typed.is_match(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_only_when_it_reads_back_as_a_string() {
        for ok in [
            "nginx:1.2",
            "v1.2.3",
            "latest",
            "quay.io/org/app",
            "sync_only",
            "a b",
        ] {
            assert!(plain_ok(ok, false), "{ok}");
        }
        for quoted in [
            "",
            "true",
            "True",
            "yes",
            "off",
            "null",
            "~",
            "1.2",
            "1.10",
            "42",
            "1e3",
            "0x1f",
            "1_000",
            "2024-01-02",
            "1:30",
            ".5",
            "-1",
            "- a",
            "a: b",
            "a #b",
            "*x",
            "&x",
            "!x",
            "'a'",
            "\"a\"",
            " a",
            "a ",
            "a:",
            "#",
            "@x",
            "`x",
            "%x",
            "|",
            ">",
        ] {
            assert!(!plain_ok(quoted, false), "{quoted:?}");
        }
        assert!(plain_ok("a,b", false));
        assert!(!plain_ok("a,b", true));
    }

    #[test]
    fn quoting_styles() {
        assert_eq!(double_quoted("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(single_quoted("it's").unwrap(), "'it''s'");
        assert_eq!(single_quoted("a\nb"), None);
        assert_eq!(new_scalar("true", false, Quote::Single), "'true'");
        assert_eq!(new_scalar("true", false, Quote::Double), "\"true\"");
        assert_eq!(new_scalar("web", false, Quote::Double), "web");
        assert!(replacement(ScalarStyle::Literal, "x", false).is_err());
        assert_eq!(
            replacement(ScalarStyle::Plain, "1.2", false).unwrap(),
            "\"1.2\""
        );
    }
}
