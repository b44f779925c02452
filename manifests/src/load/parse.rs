//! Parsing YAML documents into JSON values, in one pass, keeping the
//! lines of the items of a `List`.

use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::{MessageFormatter, Spanned};

use crate::stack::with_stack_for;

/// The YAML options of the loader: limits against hostile input, YAML 1.1
/// octals as Kubernetes reads them (`0644`), no comment events.
fn yaml_options(max_depth: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = max_depth.min(crate::stack::MAX_DEPTH);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // An alias expands to a copy of what it names; a "billion laughs" file
    // nests them. Real manifests replay a few hundred events at most.
    options.alias_limits.max_total_replayed_events = 100_000;
    options.legacy_octal_numbers = true;
    options.emit_comments = false;
    options.with_snippet = false;
    options
}

/// A parsed, non-empty document.
#[derive(Debug)]
pub(crate) struct ParsedDocument {
    /// The document's root: a mapping for anything that can be a resource.
    pub(crate) root: Value,
    /// When the root is a mapping whose `items` is a sequence: the line of each
    /// item, one-based and relative to the parsed text.
    pub(crate) item_lines: Vec<usize>,
}

/// Why a document did not parse.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Malformed YAML.
    Syntax {
        /// One-based line relative to the parsed text, when known.
        line: Option<usize>,
        message: String,
    },
    /// A safety limit (depth, aliases, nodes, events) was reached.
    Limit {
        line: Option<usize>,
        message: String,
    },
}

/// Parses `text` (one document). `None` for an empty document: nothing,
/// comments only, or a null.
pub(crate) fn parse_document(
    text: &str,
    max_depth: usize,
) -> Result<Option<ParsedDocument>, ParseError> {
    with_stack_for(max_depth, || {
        serde_saphyr::from_str_with_options::<Document>(text, yaml_options(max_depth))
    })
    .map(|document| document.0)
    .map_err(|err| ParseError::from_yaml(&err))
}

/// Parses every document of `text` in one pass: the fast way for a file
/// without errors. Null documents are skipped, so the caller must check that
/// the count matches the documents it expects.
pub(crate) fn parse_stream(
    text: &str,
    max_depth: usize,
) -> Result<Vec<ParsedDocument>, ParseError> {
    with_stack_for(max_depth, || {
        serde_saphyr::from_str_multiple_with_options::<Document, Vec<Document>>(
            text,
            yaml_options(max_depth),
        )
    })
    .map(|documents| {
        documents
            .into_iter()
            .filter_map(|document| document.0)
            .collect()
    })
    .map_err(|err| ParseError::from_yaml(&err))
}

impl ParseError {
    fn from_yaml(err: &serde_saphyr::Error) -> Self {
        let mut original = err;
        while let serde_saphyr::Error::AliasError { error, .. }
        | serde_saphyr::Error::WithSnippet { error, .. } = original
        {
            original = error;
        }
        let line = err
            .location()
            .and_then(|location| usize::try_from(location.line()).ok())
            .filter(|&line| line > 0);
        let message: String = serde_saphyr::DefaultMessageFormatter
            .format_message(original)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        match original {
            serde_saphyr::Error::ExternalMessage { source, .. }
                if matches!(
                    &**source,
                    serde_saphyr::ExternalMessageSource::Parser(scan)
                        if matches!(scan.kind(), serde_saphyr::granit_parser::ErrorKind::RecursionLimitExceeded)
                ) =>
            {
                Self::Limit { line, message }
            }
            serde_saphyr::Error::Budget { .. }
            | serde_saphyr::Error::AliasReplayLimitExceeded { .. }
            | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
            | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
            | serde_saphyr::Error::AliasReplayCounterOverflow { .. } => {
                Self::Limit { line, message }
            }
            _ => Self::Syntax { line, message },
        }
    }
}

/// The root of a document; its own visitor so that the `items` of a `List`
/// are read with their positions in the same pass.
struct Document(Option<ParsedDocument>);

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor).map(Document)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Option<ParsedDocument>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object (a mapping)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut root = Map::new();
        let mut item_lines = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = if key == "items" {
                match map.next_value::<Items>()? {
                    Items::Sequence(items) => {
                        item_lines = items.iter().map(|item| item.line).collect();
                        Value::Array(items.into_iter().map(|item| item.value).collect())
                    }
                    Items::Other(value) => value,
                }
            } else {
                map.next_value::<Value>()?
            };
            root.insert(key, value);
        }
        Ok(Some(ParsedDocument {
            root: Value::Object(root),
            item_lines,
        }))
    }

    // Roots that are not mappings parse as values; the loader then says the
    // document is not a Kubernetes object, naming what it is instead.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let root = Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(Some(ParsedDocument {
            root,
            item_lines: Vec::new(),
        }))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(scalar_root(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(scalar_root(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(scalar_root(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(scalar_root(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(scalar_root(Value::from(v)))
    }
}

fn scalar_root(root: Value) -> Option<ParsedDocument> {
    Some(ParsedDocument {
        root,
        item_lines: Vec::new(),
    })
}

/// An item of a sequence and its line.
struct LocatedValue {
    value: Value,
    line: usize,
}

/// The value of a top-level `items` key: a sequence read with positions, or
/// any other value as is.
enum Items {
    Sequence(Vec<LocatedValue>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemsVisitor)
    }
}

struct ItemsVisitor;

impl<'de> Visitor<'de> for ItemsVisitor {
    type Value = Items;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            let line = usize::try_from(item.referenced.line()).unwrap_or(0);
            items.push(LocatedValue {
                value: item.value,
                line,
            });
        }
        Ok(Items::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Items::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Items::Other(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Items::Other(Value::Null))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Items::Other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Items::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Items::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Items::Other(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Items::Other(Value::from(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<Option<ParsedDocument>, ParseError> {
        parse_document(text, 64)
    }

    #[test]
    fn empty_documents_are_none() {
        for text in ["", "# c\n", "---\n", "~\n", "null\n", "--- # c\n...\n"] {
            assert!(parse(text).unwrap().is_none(), "{text:?}");
        }
    }

    #[test]
    fn mappings_parse_into_objects() {
        let doc = parse("---\napiVersion: v1\nkind: ConfigMap\ndata: {a: '1', b: \"2\"}\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            doc.root,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "2"}})
        );
        assert!(doc.item_lines.is_empty());
    }

    #[test]
    fn items_keep_their_lines() {
        let text =
            "apiVersion: v1\nkind: List\nitems:\n- kind: A\n  x: 1\n\n-   kind: B\n- [1]\n-\n";
        let doc = parse(text).unwrap().unwrap();
        assert_eq!(doc.item_lines, [4, 7, 8, 9]);
        assert_eq!(
            doc.root["items"],
            json!([{"kind": "A", "x": 1}, {"kind": "B"}, [1], null])
        );
        // `items` that is not a sequence is kept as is.
        let doc = parse("items: {a: 1}\n").unwrap().unwrap();
        assert_eq!(doc.root, json!({"items": {"a": 1}}));
        assert!(doc.item_lines.is_empty());
        // Nested `items` are plain values.
        let doc = parse("spec:\n  items:\n  - a\n").unwrap().unwrap();
        assert_eq!(doc.root, json!({"spec": {"items": ["a"]}}));
        assert!(doc.item_lines.is_empty());
    }

    #[test]
    fn other_roots_are_values() {
        assert_eq!(
            parse("- a\n- b\n").unwrap().unwrap().root,
            json!(["a", "b"])
        );
        assert_eq!(
            parse("just text\n").unwrap().unwrap().root,
            json!("just text")
        );
        assert_eq!(parse("42\n").unwrap().unwrap().root, json!(42));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let text = "base: &base {cpu: 100m, memory: 64Mi}\nlimits:\n  <<: *base\n  memory: 128Mi\nrequests: *base\n";
        let doc = parse(text).unwrap().unwrap();
        assert_eq!(
            doc.root["limits"],
            json!({"cpu": "100m", "memory": "128Mi"})
        );
        assert_eq!(
            doc.root["requests"],
            json!({"cpu": "100m", "memory": "64Mi"})
        );
    }

    #[test]
    fn yaml_1_1_octal_file_modes() {
        // `defaultMode: 0644` means 420 to Kubernetes (YAML 1.1).
        let doc = parse("defaultMode: 0644\n").unwrap().unwrap();
        assert_eq!(doc.root["defaultMode"], json!(420));
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = parse("a: 1\nb: [1, 2\n").unwrap_err();
        let ParseError::Syntax { line, message } = err else {
            panic!("{err:?}")
        };
        assert_eq!(line, Some(2));
        assert!(message.contains("bracket"), "{message}");
        assert!(
            !message.contains("line"),
            "location is the caller's: {message}"
        );

        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert!(
            matches!(&err, ParseError::Syntax { line: Some(2), message } if message.contains("duplicate")),
            "{err:?}"
        );
    }

    #[test]
    fn limits_are_limits() {
        // Passing the depth budget, and the scanner's own nesting limit (255
        // flow levels) which it checks before the parser sees the depth.
        for depth in [100, 300] {
            let deep = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            let err = parse(&deep).unwrap_err();
            assert!(
                matches!(err, ParseError::Limit { line: Some(1), .. }),
                "{err:?}"
            );
        }
    }
}
