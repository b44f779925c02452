//! A tree of the nodes of a YAML stream with the exact byte range of each,
//! built from `granit-parser` events. It keeps what an edit needs to find a
//! value and splice it: styles, anchors, aliases and positions, not values
//! of the whole document.

use granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle};

/// One node and where it is in the text.
#[derive(Debug)]
pub(crate) struct Node {
    /// Byte offset where the node's content starts (for a block collection:
    /// its first key or item).
    pub(crate) start: usize,
    /// Byte offset just past the node (meaningful for scalars, aliases and
    /// flow collections; block collections end where their last child does).
    pub(crate) end: usize,
    /// One-based line of `start`.
    pub(crate) line: usize,
    /// Zero-based column of `start`, in characters.
    pub(crate) col: usize,
    /// The node defines an anchor (`&name`).
    pub(crate) anchored: bool,
    /// The node has an explicit tag (`!!str`, `!custom`).
    pub(crate) tagged: bool,
    pub(crate) kind: NodeKind,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
    },
    Mapping {
        flow: bool,
        entries: Vec<(Node, Node)>,
    },
    Sequence {
        flow: bool,
        items: Vec<Node>,
    },
    Alias,
}

impl Node {
    /// The scalar's value, if this is a scalar.
    pub(crate) fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of key `key` in this mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key and value of `key` in this mapping.
    pub(crate) fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        match &self.kind {
            NodeKind::Mapping { entries, .. } => {
                entries.iter().find(|(k, _)| k.scalar() == Some(key))
            }
            _ => None,
        }
    }

    /// True for a flow collection.
    pub(crate) fn is_flow(&self) -> bool {
        matches!(
            self.kind,
            NodeKind::Mapping { flow: true, .. } | NodeKind::Sequence { flow: true, .. }
        )
    }

    /// True for a null scalar the way a loader skips empty documents.
    pub(crate) fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar {
                value,
                style: ScalarStyle::Plain,
            } => !self.tagged && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"),
            _ => false,
        }
    }

    /// The byte offset just past the last content of this node, and whether
    /// that content is a block scalar (whose range runs to the start of the
    /// next content line).
    pub(crate) fn content_end(&self) -> (usize, bool) {
        match &self.kind {
            NodeKind::Scalar { style, .. } => (
                self.end,
                matches!(style, ScalarStyle::Literal | ScalarStyle::Folded),
            ),
            NodeKind::Mapping {
                flow: false,
                entries,
            } => match entries.last() {
                Some((_, value)) => value.content_end(),
                None => (self.end, false),
            },
            NodeKind::Sequence { flow: false, items } => match items.last() {
                Some(item) => item.content_end(),
                None => (self.end, false),
            },
            _ => (self.end, false),
        }
    }
}

/// A document of the stream and the bytes it owns: from the end of the
/// previous document's bytes (the start of the text for the first) to the
/// start of the next document's `---` (the end of the text for the last).
/// Splicing inside these bytes cannot touch another document.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) root: Node,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The result of looking for one document.
#[derive(Debug)]
pub(crate) enum Found {
    Document(Document),
    /// The stream has only this many documents.
    Missing(usize),
}

/// Why the text could not be read: a line and a message.
#[derive(Debug)]
pub(crate) struct TreeError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

enum Frame {
    Mapping { node: Node, key: Option<Node> },
    Sequence { node: Node },
}

fn offsets(span: &Span) -> Result<(usize, usize), TreeError> {
    match (span.start.byte_offset(), span.end.byte_offset()) {
        (Some(start), Some(end)) => Ok((start, end.max(start))),
        _ => Err(TreeError {
            line: span.start.line(),
            message: "the parser gave no byte offsets".to_owned(),
        }),
    }
}

fn leaf(span: &Span, anchored: bool, tagged: bool, kind: NodeKind) -> Result<Node, TreeError> {
    let (start, end) = offsets(span)?;
    Ok(Node {
        start,
        end,
        line: span.start.line(),
        col: span.start.col(),
        anchored,
        tagged,
        kind,
    })
}

/// Reads document `wanted` (zero-based, counting every document of the
/// stream, empty ones too) of `text`; the text is parsed up to the start of
/// the document after it.
pub(crate) fn parse(text: &str, wanted: usize) -> Result<Found, TreeError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut seen = 0usize;
    let mut start = 0usize;
    let mut found: Option<Node> = None;
    // Where an explicit `...` ends the wanted document: the directives of the
    // next document, between `...` and its `---`, belong to neither.
    let mut explicit_end: Option<usize> = None;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|err| TreeError {
            line: err.marker().line(),
            message: err.to_string(),
        })?;
        match &event {
            Event::DocumentStart(..) => {
                seen += 1;
                if seen == wanted + 2 {
                    let (end, _) = offsets(&span)?;
                    return done(found, start, explicit_end.unwrap_or(end), seen);
                }
                if seen == wanted + 1 && wanted > 0 {
                    start = offsets(&span)?.0;
                }
                continue;
            }
            Event::StreamEnd => {
                return done(found, start, explicit_end.unwrap_or(text.len()), seen);
            }
            _ if seen != wanted + 1 => continue,
            _ => {}
        }
        let finished = match event {
            Event::Scalar(value, style, anchor, tag) => Some(leaf(
                &span,
                anchor != 0,
                tag.is_some(),
                NodeKind::Scalar {
                    value: value.into_owned(),
                    style,
                },
            )?),
            Event::Alias(_) => Some(leaf(&span, false, false, NodeKind::Alias)?),
            Event::MappingStart(style, anchor, tag) => {
                let node = leaf(
                    &span,
                    anchor != 0,
                    tag.is_some(),
                    NodeKind::Mapping {
                        flow: style == StructureStyle::Flow,
                        entries: Vec::new(),
                    },
                )?;
                stack.push(Frame::Mapping { node, key: None });
                None
            }
            Event::SequenceStart(style, anchor, tag) => {
                let node = leaf(
                    &span,
                    anchor != 0,
                    tag.is_some(),
                    NodeKind::Sequence {
                        flow: style == StructureStyle::Flow,
                        items: Vec::new(),
                    },
                )?;
                stack.push(Frame::Sequence { node });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (_, end) = offsets(&span)?;
                match stack.pop() {
                    Some(Frame::Mapping { mut node, .. } | Frame::Sequence { mut node }) => {
                        if node.is_flow() {
                            node.end = end;
                        } else {
                            node.end = node.content_end().0.max(node.start);
                        }
                        Some(node)
                    }
                    None => None,
                }
            }
            Event::DocumentEnd => {
                found = root.take();
                let (end_start, end) = offsets(&span)?;
                if end > end_start && text[end_start..end].starts_with("...") {
                    explicit_end = Some(
                        text[end..]
                            .find('\n')
                            .map_or(text.len(), |newline| end + newline + 1),
                    );
                }
                None
            }
            _ => None,
        };
        let Some(node) = finished else { continue };
        match stack.last_mut() {
            Some(Frame::Mapping { node: map, key }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    if let NodeKind::Mapping { entries, .. } = &mut map.kind {
                        entries.push((k, node));
                    }
                }
            },
            Some(Frame::Sequence { node: seq }) => {
                if let NodeKind::Sequence { items, .. } = &mut seq.kind {
                    items.push(node);
                }
            }
            None => root = Some(node),
        }
    }
    done(found, start, explicit_end.unwrap_or(text.len()), seen)
}

fn done(found: Option<Node>, start: usize, end: usize, seen: usize) -> Result<Found, TreeError> {
    Ok(match found {
        Some(root) => Found::Document(Document { root, start, end }),
        None => Found::Missing(seen),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_exact_bytes() {
        let text = "a: 'é'\nb:\n  - {c: \"d\"}\n---\n---\nx: 1\n...\n";
        let doc = |i| match parse(text, i).unwrap() {
            Found::Document(doc) => doc,
            Found::Missing(n) => panic!("only {n}"),
        };
        let first = doc(0);
        let a = first.root.get("a").unwrap();
        assert_eq!(&text[a.start..a.end], "'é'");
        let NodeKind::Sequence { items, .. } = &first.root.get("b").unwrap().kind else {
            panic!()
        };
        assert_eq!(&text[items[0].start..items[0].end], "{c: \"d\"}");
        assert_eq!(
            &text[first.start..first.end],
            "a: 'é'\nb:\n  - {c: \"d\"}\n"
        );
        assert!(doc(1).root.is_null());
        let last = doc(2);
        assert_eq!(last.root.get("x").unwrap().line, 6);
        assert_eq!(&text[last.start..last.end], "---\nx: 1\n...\n");
        assert!(matches!(parse(text, 3).unwrap(), Found::Missing(3)));
    }
}
