//! Loading a tree of YAML manifests into resources.
//!
//! Files are found by [`walk`], split into documents by a byte scan
//! ([`split`]), and each document is parsed on its own ([`parse`]): a bad
//! file or document is reported and the rest still load. Ids are given once
//! everything is read, so that CustomResourceDefinitions anywhere in the tree
//! decide the scope of their kinds.

mod parse;
mod split;
mod walk;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::resource::IdentifyingFields;
use crate::{ClusterScopedKinds, Error, Resource, ResourceId, Source};

use parse::{ParseError, parse_document};
use split::split_documents;

/// How to load: defaults for what files leave out, and limits against
/// hostile input.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadOptions {
    /// The namespace in the id of a namespaced resource that names none.
    /// Default `"default"`.
    pub default_namespace: String,
    /// Files larger than this are not read. Default 16 MiB.
    pub max_file_bytes: u64,
    /// Deepest nesting of mappings and sequences in a document. Default 100.
    pub max_depth: usize,
    /// Kinds known to be cluster-scoped, before the CustomResourceDefinitions
    /// of the loaded tree add theirs. Default [`ClusterScopedKinds::builtin`];
    /// add kinds here, or replace it with what API discovery says.
    pub cluster_scoped_kinds: ClusterScopedKinds,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            default_namespace: "default".to_owned(),
            max_file_bytes: 16 * 1024 * 1024,
            max_depth: 100,
            cluster_scoped_kinds: ClusterScopedKinds::builtin(),
        }
    }
}

/// What a load found: the resources that loaded, in file and document order,
/// and an error for each file, document or resource that did not.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Loaded {
    /// The resources, each id once, in load order.
    pub resources: Vec<Resource>,
    /// What went wrong, in the order it was found (duplicates last).
    pub errors: Vec<Error>,
}

impl Loaded {
    /// True when nothing went wrong.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }

    /// The resource with `id`, if loaded.
    pub fn get(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.iter().find(|resource| resource.id() == id)
    }
}

/// Loads every `*.yaml` and `*.yml` file under `paths` of the checkout at
/// `root` (recursively, hidden entries skipped). See [`Loader`] to add files
/// one by one.
///
/// ```no_run
/// use manifests::{LoadOptions, load};
///
/// let loaded = load("/srv/checkout".as_ref(), &["deploy", "charts"], &LoadOptions::default());
/// for error in &loaded.errors {
///     eprintln!("{error}");
/// }
/// for resource in &loaded.resources {
///     println!("{} from {}", resource.id(), resource.source());
/// }
/// ```
pub fn load<P: AsRef<Path>>(root: &Path, paths: &[P], options: &LoadOptions) -> Loaded {
    let mut loader = Loader::new(options.clone());
    loader.add_tree(root, paths);
    loader.finish()
}

/// A resource read but not yet given its id.
struct Unidentified {
    fields: IdentifyingFields,
    object: Value,
    source: Source,
}

/// Loads files into resources, step by step.
///
/// ```
/// use manifests::{LoadOptions, Loader};
///
/// let mut loader = Loader::new(LoadOptions::default());
/// loader.add_file(
///     "apps/web.yaml".as_ref(),
///     b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\nkind: Oops\n",
/// );
/// let loaded = loader.finish();
/// assert_eq!(loaded.resources[0].id().to_string(), "default:deployment/web");
/// assert_eq!(
///     loaded.errors[0].to_string(),
///     "invalid resource at apps/web.yaml:5 (document 2): missing apiVersion"
/// );
/// ```
pub struct Loader {
    options: LoadOptions,
    yaml: serde_saphyr::Options,
    unidentified: Vec<Unidentified>,
    errors: Vec<Error>,
}

impl Loader {
    /// A loader with nothing loaded yet.
    pub fn new(options: LoadOptions) -> Self {
        let yaml = yaml_options(options.max_depth);
        Self {
            options,
            yaml,
            unidentified: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Loads the YAML files under `paths` (files or directories, relative to
    /// `root`, which they must not leave) in the order given.
    pub fn add_tree<P: AsRef<Path>>(&mut self, root: &Path, paths: &[P]) {
        let files = {
            let Some(mut walk) = walk::Walk::new(root, &mut self.errors) else {
                return;
            };
            for path in paths {
                walk.add_path(path.as_ref());
            }
            walk.finish()
        };
        for file in files {
            match read_limited(&file.absolute, self.options.max_file_bytes) {
                Ok(bytes) => self.add_file(&file.relative, &bytes),
                Err(ReadError::TooLarge(size)) => self.errors.push(Error::FileTooLarge {
                    path: file.relative,
                    size,
                    limit: self.options.max_file_bytes,
                }),
                Err(ReadError::Io(source)) => self.errors.push(Error::Io {
                    path: file.relative,
                    source,
                }),
            }
        }
    }

    /// Loads one file's content; `path` is what sources and errors will name.
    pub fn add_file(&mut self, path: &Path, bytes: &[u8]) {
        if bytes.len() as u64 > self.options.max_file_bytes {
            self.errors.push(Error::FileTooLarge {
                path: path.to_owned(),
                size: bytes.len() as u64,
                limit: self.options.max_file_bytes,
            });
            return;
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                let valid = &bytes[..err.valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                self.errors.push(Error::NotUtf8 {
                    path: path.to_owned(),
                    line,
                });
                return;
            }
        };
        for (index, document) in split_documents(text).into_iter().enumerate() {
            let at = |line: usize| Source {
                path: path.to_owned(),
                document: index,
                line,
            };
            // Lines the parser reports are relative to the document's text.
            let absolute = |line: Option<usize>| {
                line.map_or(document.start_line, |line| document.first_line + line - 1)
            };
            let parsed = match parse_document(document.text, &self.yaml) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => continue,
                Err(ParseError::Syntax { line, message }) => {
                    self.errors.push(Error::Yaml {
                        at: at(absolute(line)),
                        message,
                    });
                    continue;
                }
                Err(ParseError::Limit { line, message }) => {
                    self.errors.push(Error::YamlLimit {
                        at: at(absolute(line)),
                        message,
                    });
                    continue;
                }
            };
            let source = at(document.start_line);
            if let Some(list_kind) = list_kind(&parsed.root) {
                let list_kind = list_kind.to_owned();
                let item_sources = parsed
                    .item_lines
                    .iter()
                    .map(|&line| at(absolute(Some(line))))
                    .collect();
                self.add_list(&list_kind, parsed.root, item_sources, source);
            } else {
                self.add_object(parsed.root, source, None);
            }
        }
    }

    /// Gives every resource read its id (with the scopes of the
    /// CustomResourceDefinitions read), drops duplicates, and returns them
    /// with every error.
    pub fn finish(mut self) -> Loaded {
        let mut scopes = self.options.cluster_scoped_kinds;
        for read in &self.unidentified {
            scopes.insert_from_crd(&read.fields.api_version, &read.fields.kind, &read.object);
        }
        let mut resources: Vec<Resource> = Vec::with_capacity(self.unidentified.len());
        let mut index_by_id: HashMap<ResourceId, usize> =
            HashMap::with_capacity(self.unidentified.len());
        for read in self.unidentified {
            let resource = read.fields.into_resource(
                read.object,
                read.source,
                &scopes,
                &self.options.default_namespace,
            );
            if let Some(&first) = index_by_id.get(resource.id()) {
                self.errors.push(Error::DuplicateResource {
                    id: resource.id().clone(),
                    first: Box::new(resources[first].source().clone()),
                    second: Box::new(resource.source().clone()),
                });
                continue;
            }
            index_by_id.insert(resource.id().clone(), resources.len());
            resources.push(resource);
        }
        tracing::debug!(
            resources = resources.len(),
            errors = self.errors.len(),
            "loaded manifests"
        );
        Loaded {
            resources,
            errors: self.errors,
        }
    }

    fn add_object(&mut self, object: Value, source: Source, list_item: Option<usize>) {
        match IdentifyingFields::read(&object) {
            Ok(fields) => self.unidentified.push(Unidentified {
                fields,
                object,
                source,
            }),
            Err(reason) => self.errors.push(Error::InvalidResource {
                at: source,
                reason: match list_item {
                    Some(index) => format!("List item {}: {reason}", index + 1),
                    None => reason,
                },
            }),
        }
    }

    /// Expands a `List` (or `*List`) into its items, as Flux v1 did.
    fn add_list(&mut self, kind: &str, mut root: Value, item_sources: Vec<Source>, at: Source) {
        let items = match root.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) => Vec::new(),
            _ => {
                self.errors.push(Error::InvalidResource {
                    at,
                    reason: format!("the items of a {kind} must be a sequence"),
                });
                return;
            }
        };
        let mut item_sources = item_sources.into_iter();
        for (index, item) in items.into_iter().enumerate() {
            let source = item_sources.next().unwrap_or_else(|| at.clone());
            self.add_object(item, source, Some(index));
        }
    }
}

/// The kind of a root to expand as a list: `List` or any `*List` kind that has
/// `items`.
fn list_kind(root: &Value) -> Option<&str> {
    let kind = root.get("kind")?.as_str()?;
    (kind.ends_with("List") && root.get("items").is_some()).then_some(kind)
}

/// The YAML options of the loader: limits against hostile input, YAML 1.1
/// octals as Kubernetes reads them (`0644`), no comment events.
pub(crate) fn yaml_options(max_depth: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = max_depth;
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

enum ReadError {
    TooLarge(u64),
    Io(std::io::Error),
}

/// Reads a file, refusing one over `limit` bytes without reading all of it.
fn read_limited(path: &PathBuf, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path).map_err(ReadError::Io)?;
    let size = file.metadata().map_err(ReadError::Io)?.len();
    if size > limit {
        return Err(ReadError::TooLarge(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may grow between the check and the read.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}
