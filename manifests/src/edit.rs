//! Format-preserving edits of manifest files.
//!
//! An edit changes one value of one resource in the raw text of its file and
//! nothing else: comments, key order, quoting, indentation, blank lines, line
//! endings and the other documents stay byte-for-byte. It finds the exact byte
//! range of the value with `granit-parser`, splices the new text in, then reads
//! the result again and checks that it equals the original with exactly the
//! intended change. Whatever it cannot do safely (an anchor or alias on the
//! path, a block scalar, a document that is not the expected resource) is
//! refused with [`Error::EditRefused`] naming the file, the line and the
//! reason; the text is never written wrongly.
//!
//! ```
//! use manifests::{edit, ResourceId, SourceLocation};
//!
//! let text = "\
//! apiVersion: apps/v1
//! kind: Deployment
//! metadata:
//!   name: web # the front end
//! spec:
//!   template:
//!     spec:
//!       containers:
//!       - name: web
//!         image: 'nginx:1.25' # pinned
//! ";
//! let source = SourceLocation { path: "web.yaml".into(), document: 0, line: 1 };
//! let id = ResourceId::namespaced("default", "Deployment", "web");
//! let edited = edit::set_image(text, &source, &id, "web", "nginx:1.26").unwrap();
//! assert_eq!(edited, text.replace("'nginx:1.25'", "'nginx:1.26'"));
//!
//! let edited = edit::set_policy(&edited, &source, &id, &manifests::Policy::Automated, "true").unwrap();
//! assert!(edited.contains("  name: web # the front end\n  annotations:\n    fluxcd.io/automated: \"true\"\n"));
//! ```

mod render;
mod tree;

use serde_json::Value;

use crate::images::{self, PathSegment, ValuePath, display_path};
use crate::policy::{self, Policy};
use crate::stack::{DEFAULT_DEPTH, with_stack_for};
use crate::{Error, ResourceId, SourceLocation, TagFilter};

use render::Quote;
use tree::{Node, NodeKind};

/// One change to a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Edit {
    /// Point a container (or HelmRelease values image) at a new image.
    SetImage {
        /// The container name, as [`images::container_images`] reports it.
        container: String,
        /// The new image reference, e.g. `quay.io/org/app:1.2.3`.
        image: String,
    },
    /// Set a policy, under the key the object already uses for it, else under
    /// its [`policy::write_prefix`].
    SetPolicy {
        /// The policy.
        policy: Policy,
        /// Its value (`"true"` for the boolean ones).
        value: String,
    },
    /// Remove a policy under every key it is written under.
    RemovePolicy {
        /// The policy.
        policy: Policy,
    },
    /// Set an annotation, adding `metadata.annotations` when missing.
    SetAnnotation {
        /// The annotation key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove an annotation (nothing happens when it is absent).
    RemoveAnnotation {
        /// The annotation key.
        key: String,
    },
}

/// Applies `edit` to the resource `id`, which `source` says is document
/// `source.document` of `text` (counting every document of the stream, empty
/// ones too). Returns the whole new text of the file.
pub fn apply(
    text: &str,
    source: &SourceLocation,
    id: &ResourceId,
    edit: &Edit,
) -> Result<String, Error> {
    match edit {
        Edit::SetImage { container, image } => {
            let target = Target::locate(text, source, id)?;
            let plan = target.plan_image(container, image)?;
            target.finish(plan)
        }
        Edit::SetAnnotation { key, value } => {
            let target = Target::locate(text, source, id)?;
            let plan = target.plan_set_annotation(key, value)?;
            target.finish(plan)
        }
        Edit::RemoveAnnotation { key } => {
            let target = Target::locate(text, source, id)?;
            let plan = target.plan_remove_annotation(key)?;
            target.finish(plan)
        }
        Edit::SetPolicy { policy, value } => {
            let target = Target::locate(text, source, id)?;
            if let Policy::Tag(container) = policy {
                TagFilter::parse(value).map_err(|err| {
                    target.refuse(
                        target.line(),
                        format!("tag filter for {container:?}: {err}"),
                    )
                })?;
            }
            let key = policy::annotation_key(target.object(), policy);
            let plan = target.plan_set_annotation(&key, value)?;
            target.finish(plan)
        }
        Edit::RemovePolicy { policy } => {
            let keys = {
                let target = Target::locate(text, source, id)?;
                policy::present_annotation_keys(target.object(), policy)
            };
            let mut text = text.to_owned();
            for key in keys {
                text = apply(&text, source, id, &Edit::RemoveAnnotation { key })?;
            }
            Ok(text)
        }
    }
}

/// Sets the image of one container: [`Edit::SetImage`].
pub fn set_image(
    text: &str,
    source: &SourceLocation,
    id: &ResourceId,
    container: &str,
    image: &str,
) -> Result<String, Error> {
    let edit = Edit::SetImage {
        container: container.to_owned(),
        image: image.to_owned(),
    };
    apply(text, source, id, &edit)
}

/// Sets a policy: [`Edit::SetPolicy`].
pub fn set_policy(
    text: &str,
    source: &SourceLocation,
    id: &ResourceId,
    policy: &Policy,
    value: &str,
) -> Result<String, Error> {
    let edit = Edit::SetPolicy {
        policy: policy.clone(),
        value: value.to_owned(),
    };
    apply(text, source, id, &edit)
}

/// Removes a policy: [`Edit::RemovePolicy`].
pub fn remove_policy(
    text: &str,
    source: &SourceLocation,
    id: &ResourceId,
    policy: &Policy,
) -> Result<String, Error> {
    let edit = Edit::RemovePolicy {
        policy: policy.clone(),
    };
    apply(text, source, id, &edit)
}

/// Bytes `start..end` of the text become `text`.
#[derive(Debug)]
struct Splice {
    start: usize,
    end: usize,
    text: String,
}

/// What the object's value must look like afterwards, relative to the object.
#[derive(Debug)]
enum Change {
    Set(ValuePath, Value),
    Remove(ValuePath),
}

#[derive(Debug, Default)]
struct Plan {
    splices: Vec<Splice>,
    changes: Vec<Change>,
}

/// The resource being edited, found in the text.
struct Target<'a> {
    text: &'a str,
    source: &'a SourceLocation,
    id: &'a ResourceId,
    root: Node,
    /// The bytes of the document: every splice falls inside them.
    region: (usize, usize),
    /// The document as read before the edit.
    value: Value,
    /// Path from the document root to the object (`items[i]` in a List).
    base: ValuePath,
}

fn key(k: &str) -> PathSegment {
    PathSegment::Key(k.to_owned())
}

impl<'a> Target<'a> {
    fn locate(
        text: &'a str,
        source: &'a SourceLocation,
        id: &'a ResourceId,
    ) -> Result<Self, Error> {
        let refuse = |line: usize, reason: String| Error::EditRefused {
            path: source.path.clone(),
            line,
            id: Box::new(id.clone()),
            reason,
        };
        let document = match tree::parse(text, source.document)
            .map_err(|err| refuse(err.line, format!("not valid YAML: {}", err.message)))?
        {
            tree::Found::Document(document) => document,
            tree::Found::Missing(count) => {
                return Err(refuse(
                    source.line,
                    format!(
                        "the file has {count} document(s), there is no document {}",
                        source.document + 1
                    ),
                ));
            }
        };
        if document.root.is_null() {
            return Err(refuse(
                document.root.line,
                format!("document {} is empty", source.document + 1),
            ));
        }
        let region = (document.start, document.end);
        let mut values: Vec<Value> = with_stack_for(DEFAULT_DEPTH, || {
            serde_saphyr::from_multiple(&text[region.0..region.1])
        })
        .map_err(|err| refuse(document.root.line, format!("not valid YAML: {err}")))?;
        let (Some(value), true) = (values.pop(), values.is_empty()) else {
            return Err(refuse(
                document.root.line,
                "the document could not be read on its own".to_owned(),
            ));
        };
        let root = document.root;
        let base = if is_resource(&value, id) {
            Vec::new()
        } else {
            let item = value
                .get("items")
                .and_then(Value::as_array)
                .filter(|_| kind_of(&value).ends_with("List"))
                .and_then(|items| items.iter().position(|item| is_resource(item, id)));
            match item {
                Some(i) => vec![key("items"), PathSegment::Index(i)],
                None => {
                    let name = value.pointer("/metadata/name").and_then(Value::as_str);
                    let what = match (kind_of(&value), name) {
                        ("", _) | (_, None) => "not a Kubernetes object".to_owned(),
                        (kind, Some(name)) => format!("{kind} {name:?}, not the resource"),
                    };
                    return Err(refuse(
                        root.line,
                        format!("document {} is {what}", source.document + 1),
                    ));
                }
            }
        };
        Ok(Self {
            text,
            source,
            id,
            root,
            region,
            value,
            base,
        })
    }

    fn refuse(&self, line: usize, reason: String) -> Error {
        Error::EditRefused {
            path: self.source.path.clone(),
            line,
            id: Box::new(self.id.clone()),
            reason,
        }
    }

    /// The line the object starts on.
    fn line(&self) -> usize {
        self.object_node().map_or(self.root.line, |n| n.line)
    }

    fn object(&self) -> &Value {
        let mut value = &self.value;
        for segment in &self.base {
            value = match segment {
                PathSegment::Key(k) => &value[k.as_str()],
                PathSegment::Index(i) => &value[*i],
            };
        }
        value
    }

    fn object_node(&self) -> Option<&Node> {
        self.node_at(&[]).ok().map(|(node, _)| node)
    }

    /// The node at `path` (relative to the object) and whether it sits in a
    /// flow collection. Anchors and aliases anywhere on the way refuse.
    fn node_at(&self, path: &[PathSegment]) -> Result<(&Node, bool), Error> {
        let mut node = &self.root;
        let mut in_flow = false;
        let full: Vec<&PathSegment> = self.base.iter().chain(path).collect();
        for (depth, segment) in full.iter().enumerate() {
            self.check_plain_node(node)?;
            in_flow |= node.is_flow();
            let next = match (segment, &node.kind) {
                (PathSegment::Key(k), NodeKind::Mapping { .. }) => node.get(k),
                (PathSegment::Index(i), NodeKind::Sequence { items, .. }) => items.get(*i),
                _ => None,
            };
            node = next.ok_or_else(|| {
                let at: Vec<PathSegment> = full[..=depth].iter().map(|s| (*s).clone()).collect();
                self.refuse(node.line, format!("{} not found", display_path(&at)))
            })?;
        }
        self.check_plain_node(node)?;
        Ok((node, in_flow))
    }

    fn check_plain_node(&self, node: &Node) -> Result<(), Error> {
        if node.anchored {
            return Err(self.refuse(node.line, "an anchor (&) is on the path".to_owned()));
        }
        if matches!(node.kind, NodeKind::Alias) {
            return Err(self.refuse(node.line, "an alias (*) is on the path".to_owned()));
        }
        Ok(())
    }

    fn eol(&self) -> &'static str {
        if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// The offset of the start of the line holding `at`.
    fn line_start(&self, at: usize) -> usize {
        self.text[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The offset just past the line break ending the line holding `at`.
    fn line_end(&self, at: usize) -> usize {
        self.text[at..]
            .find('\n')
            .map_or(self.text.len(), |i| at + i + 1)
    }

    /// Where a new line goes after `node`, the last value of a block mapping.
    fn after_lines_of(&self, node: &Node) -> usize {
        let (end, block_scalar) = node.content_end();
        if block_scalar {
            let start = self.line_start(end);
            if self.text[start..end].trim().is_empty() {
                return start;
            }
        }
        self.line_end(end)
    }

    /// Inserts whole `lines` (without their last line break) at `at`, the
    /// start of a line; at the end of a file that lacks a final line break,
    /// the file still ends without one.
    fn insert_lines(&self, at: usize, lines: &str) -> Splice {
        let eol = self.eol();
        let at_unterminated_end =
            at == self.text.len() && !self.text.is_empty() && !self.text.ends_with('\n');
        let text = if at_unterminated_end {
            format!("{eol}{lines}")
        } else {
            format!("{lines}{eol}")
        };
        Splice {
            start: at,
            end: at,
            text,
        }
    }

    /// Replaces a scalar's text with `value` in the scalar's own style.
    fn replace_scalar(&self, node: &Node, value: &str, in_flow: bool) -> Result<Splice, Error> {
        let NodeKind::Scalar { style, .. } = &node.kind else {
            return Err(self.refuse(node.line, "the value is not a scalar".to_owned()));
        };
        let text = render::replacement(*style, value, in_flow)
            .map_err(|reason| self.refuse(node.line, reason))?;
        Ok(Splice {
            start: node.start,
            end: node.end,
            text,
        })
    }

    fn plan_image(&self, container: &str, image: &str) -> Result<Plan, Error> {
        let containers =
            images::container_images(self.object(), self.id).map_err(|err| match err {
                Error::InvalidContainer { reason, .. } => self.refuse(self.line(), reason),
                other => other,
            })?;
        let Some(found) = containers.iter().find(|c| c.name == container) else {
            let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
            return Err(self.refuse(
                self.line(),
                format!(
                    "no container {container:?} (containers: {})",
                    names.join(", ")
                ),
            ));
        };
        let writes = found.fields.writes(image).map_err(|err| {
            let line = found
                .fields
                .paths()
                .first()
                .and_then(|p| self.node_at(p).ok())
                .map_or(self.line(), |(n, _)| n.line);
            self.refuse(line, err.to_string())
        })?;
        let mut plan = Plan::default();
        for (path, value) in writes {
            let (node, in_flow) = self.node_at(&path)?;
            if node.scalar() == Some(value.as_str()) {
                continue;
            }
            plan.splices
                .push(self.replace_scalar(node, &value, in_flow)?);
            plan.changes.push(Change::Set(path, Value::String(value)));
        }
        Ok(plan)
    }

    /// The metadata mapping node and the `metadata` key node.
    fn metadata(&self) -> Result<(&Node, &Node, bool), Error> {
        let (object, _) = self.node_at(&[])?;
        let Some((meta_key, _)) = object.entry("metadata") else {
            return Err(self.refuse(object.line, "the object has no metadata".to_owned()));
        };
        let (meta, in_flow) = self.node_at(&[key("metadata")])?;
        if !matches!(meta.kind, NodeKind::Mapping { .. }) {
            return Err(self.refuse(meta.line, "metadata is not a mapping".to_owned()));
        }
        Ok((meta_key, meta, in_flow || meta.is_flow()))
    }

    fn plan_set_annotation(&self, name: &str, value: &str) -> Result<Plan, Error> {
        let (meta_key, meta, meta_in_flow) = self.metadata()?;
        let path = vec![key("metadata"), key("annotations"), key(name)];
        let mut plan = Plan {
            splices: Vec::new(),
            changes: vec![Change::Set(path.clone(), Value::String(value.to_owned()))],
        };
        let eol = self.eol();
        let Some((annotations_key, annotations)) = meta.entry("annotations") else {
            // No annotations yet: add the mapping after metadata's last entry.
            let NodeKind::Mapping { entries, .. } = &meta.kind else {
                return Err(self.refuse(meta.line, "metadata is not a mapping".to_owned()));
            };
            let Some((first_key, last_value)) = entries
                .first()
                .map(|e| &e.0)
                .zip(entries.last().map(|e| &e.1))
            else {
                return Err(self.refuse(meta.line, "metadata is empty".to_owned()));
            };
            let entry = |in_flow| {
                format!(
                    "{}: {}",
                    render::new_scalar(name, in_flow, Quote::Double),
                    render::new_scalar(value, in_flow, Quote::Double)
                )
            };
            if meta_in_flow {
                if !meta.is_flow() {
                    return Err(
                        self.refuse(meta.line, "metadata is inside a flow collection".into())
                    );
                }
                plan.splices.push(Splice {
                    start: last_value.content_end().0,
                    end: last_value.content_end().0,
                    text: format!(", annotations: {{{}}}", entry(true)),
                });
                return Ok(plan);
            }
            let indent = first_key.col;
            let step = indent.saturating_sub(meta_key.col).max(1);
            let at = self.after_lines_of(last_value);
            let lines = format!(
                "{}annotations:{eol}{}{}",
                " ".repeat(indent),
                " ".repeat(indent + step),
                entry(false)
            );
            plan.splices.push(self.insert_lines(at, &lines));
            return Ok(plan);
        };
        self.check_plain_node(annotations)?;
        let NodeKind::Mapping { flow, entries } = &annotations.kind else {
            return Err(self.refuse(
                annotations.line,
                "metadata.annotations is not a mapping".to_owned(),
            ));
        };
        let in_flow = meta_in_flow || *flow;
        if let Some((_, existing)) = entries.iter().find(|(k, _)| k.scalar() == Some(name)) {
            self.check_plain_node(existing)?;
            if existing.scalar() != Some(value) {
                plan.splices
                    .push(self.replace_scalar(existing, value, in_flow)?);
            }
            return Ok(plan);
        }
        let quote = entries
            .iter()
            .find_map(|(_, v)| match &v.kind {
                NodeKind::Scalar {
                    style: granit_parser::ScalarStyle::SingleQuoted,
                    ..
                } => Some(Quote::Single),
                NodeKind::Scalar {
                    style: granit_parser::ScalarStyle::DoubleQuoted,
                    ..
                } => Some(Quote::Double),
                _ => None,
            })
            .unwrap_or(Quote::Double);
        let entry = format!(
            "{}: {}",
            render::new_scalar(name, in_flow, quote),
            render::new_scalar(value, in_flow, quote)
        );
        match (entries.last(), *flow) {
            (Some((_, last)), true) => {
                let at = last.content_end().0;
                plan.splices.push(Splice {
                    start: at,
                    end: at,
                    text: format!(", {entry}"),
                });
            }
            (None, true) if meta_in_flow => plan.splices.push(Splice {
                start: annotations.start,
                end: annotations.end,
                text: format!("{{{entry}}}"),
            }),
            (None, true) => {
                // `annotations: {}` in block metadata becomes a block mapping.
                let colon = self.text[annotations_key.end..annotations.start]
                    .find(':')
                    .map(|i| annotations_key.end + i)
                    .ok_or_else(|| self.refuse(annotations.line, "no ':' after the key".into()))?;
                let step = annotations_key.col.saturating_sub(meta_key.col).max(1);
                plan.splices.push(Splice {
                    start: colon + 1,
                    end: annotations.end,
                    text: format!("{eol}{}{entry}", " ".repeat(annotations_key.col + step)),
                });
            }
            (Some((first_key, _)), false) => {
                let last = entries.last().map(|(_, v)| v).unwrap_or(annotations);
                let at = self.after_lines_of(last);
                let line = format!("{}{entry}", " ".repeat(first_key.col));
                plan.splices.push(self.insert_lines(at, &line));
            }
            (None, false) => {
                return Err(self.refuse(annotations.line, "empty block mapping".to_owned()));
            }
        }
        Ok(plan)
    }

    fn plan_remove_annotation(&self, name: &str) -> Result<Plan, Error> {
        let (_, meta, _) = self.metadata()?;
        let Some((annotations_key, annotations)) = meta.entry("annotations") else {
            return Ok(Plan::default());
        };
        self.check_plain_node(annotations)?;
        let NodeKind::Mapping { flow, entries } = &annotations.kind else {
            return Ok(Plan::default());
        };
        let Some(index) = entries.iter().position(|(k, _)| k.scalar() == Some(name)) else {
            return Ok(Plan::default());
        };
        let (entry_key, entry_value) = &entries[index];
        self.check_plain_node(entry_value)?;
        let path = vec![key("metadata"), key("annotations"), key(name)];
        let mut plan = Plan {
            splices: Vec::new(),
            changes: vec![Change::Remove(path)],
        };
        let cut = |start: usize, end: usize| Splice {
            start,
            end,
            text: String::new(),
        };
        if *flow {
            let (start, end) = match (index, entries.len()) {
                (_, 1) => (entry_key.start, entry_value.content_end().0),
                (0, _) => (entry_key.start, entries[1].0.start),
                _ => (
                    entries[index - 1].1.content_end().0,
                    entry_value.content_end().0,
                ),
            };
            plan.splices.push(cut(start, end));
            return Ok(plan);
        }
        let line_start = self.line_start(entry_key.start);
        if !self.text[line_start..entry_key.start].trim().is_empty() {
            return Err(self.refuse(entry_key.line, "the key shares its line".to_owned()));
        }
        let end = self.after_lines_of(entry_value);
        if entries.len() > 1 {
            plan.splices.push(cut(line_start, end));
            return Ok(plan);
        }
        // The last annotation: drop `annotations:` too when nothing else
        // (a comment) lives in between; else leave `annotations: {}`.
        let key_line_start = self.line_start(annotations_key.start);
        let key_line_end = self.line_end(annotations_key.end);
        let before_key = &self.text[key_line_start..annotations_key.start];
        let rest_of_key_line = &self.text[annotations_key.end..key_line_end];
        let between = &self.text[key_line_end.min(line_start)..line_start];
        let bare_key_line = rest_of_key_line.trim() == ":";
        if before_key.trim().is_empty() && bare_key_line && between.trim().is_empty() {
            plan.splices.push(cut(key_line_start, end));
            plan.changes
                .push(Change::Remove(vec![key("metadata"), key("annotations")]));
        } else {
            let colon = self.text[annotations_key.end..key_line_end]
                .find(':')
                .map(|i| annotations_key.end + i)
                .ok_or_else(|| self.refuse(annotations.line, "no ':' after the key".into()))?;
            plan.splices.push(Splice {
                start: colon + 1,
                end: colon + 1,
                text: " {}".to_owned(),
            });
            plan.splices.push(cut(line_start, end));
        }
        Ok(plan)
    }

    /// Splices the plan into the document's bytes and checks they read back
    /// as the original document with exactly the planned changes.
    fn finish(&self, mut plan: Plan) -> Result<String, Error> {
        if plan.splices.is_empty() {
            return Ok(self.text.to_owned());
        }
        plan.splices.sort_by_key(|s| (s.start, s.end));
        let (start, end) = self.region;
        let mut region = String::with_capacity(end - start + 64);
        let mut at = start;
        for splice in &plan.splices {
            if splice.start < at || splice.end < splice.start || splice.end > end {
                return Err(self.refuse(self.line(), "overlapping changes".to_owned()));
            }
            region.push_str(&self.text[at..splice.start]);
            region.push_str(&splice.text);
            at = splice.end;
        }
        region.push_str(&self.text[at..end]);

        let mut expected = self.value.clone();
        let object = value_at_mut(&mut expected, &self.base)
            .ok_or_else(|| self.refuse(self.line(), "the object vanished".to_owned()))?;
        for change in plan.changes {
            apply_change(object, change);
        }
        // The other documents' bytes are untouched; the edited bytes must
        // still be one document, equal to the expectation.
        let reread: Result<Vec<Value>, _> =
            with_stack_for(DEFAULT_DEPTH, || serde_saphyr::from_multiple(&region));
        match reread {
            Ok(values) if values.len() == 1 && values[0] == expected => {
                let mut out = String::with_capacity(self.text.len() + region.len() - (end - start));
                out.push_str(&self.text[..start]);
                out.push_str(&region);
                out.push_str(&self.text[end..]);
                Ok(out)
            }
            Ok(_) => Err(self.refuse(
                self.line(),
                "the edited text does not read back as exactly the intended change".to_owned(),
            )),
            Err(err) => Err(self.refuse(
                self.line(),
                format!("the edited text would not parse: {err}"),
            )),
        }
    }
}

fn kind_of(value: &Value) -> &str {
    value.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// True when `value` is the object `id` names.
fn is_resource(value: &Value, id: &ResourceId) -> bool {
    let name = value.pointer("/metadata/name").and_then(Value::as_str);
    let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str);
    kind_of(value).eq_ignore_ascii_case(id.kind())
        && name == Some(id.name())
        && (id.is_cluster_scoped() || namespace.is_none_or(|ns| ns == id.scope()))
}

fn value_at_mut<'v>(mut here: &'v mut Value, path: &[PathSegment]) -> Option<&'v mut Value> {
    for segment in path {
        here = match segment {
            PathSegment::Key(k) => here.get_mut(k.as_str())?,
            PathSegment::Index(i) => here.get_mut(*i)?,
        };
    }
    Some(here)
}

/// Applies a planned change to the expected value; intermediate mappings are
/// created as an edit that adds `annotations` creates them.
fn apply_change(object: &mut Value, change: Change) {
    let (path, new) = match change {
        Change::Set(path, value) => (path, Some(value)),
        Change::Remove(path) => (path, None),
    };
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = object;
    for segment in parents {
        let next = match segment {
            PathSegment::Key(k) => {
                if !here.is_object() {
                    *here = Value::Object(serde_json::Map::new());
                }
                here.as_object_mut()
                    .map(|map| map.entry(k.clone()).or_insert(Value::Null))
            }
            PathSegment::Index(i) => here.get_mut(*i),
        };
        let Some(next) = next else { return };
        here = next;
    }
    match (last, new) {
        (PathSegment::Key(k), Some(value)) => {
            if !here.is_object() {
                *here = Value::Object(serde_json::Map::new());
            }
            if let Some(map) = here.as_object_mut() {
                map.insert(k.clone(), value);
            }
        }
        (PathSegment::Key(k), None) => {
            if let Some(map) = here.as_object_mut() {
                map.remove(k);
            }
        }
        (PathSegment::Index(i), Some(value)) => {
            if let Some(slot) = here.get_mut(*i) {
                *slot = value;
            }
        }
        (PathSegment::Index(_), None) => {}
    }
}
