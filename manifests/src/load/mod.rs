//! Loading a tree of YAML manifests into resources.
//!
//! Files are found by [`walk`] and split into documents by a byte scan
//! ([`split`]) that gives each its line. A file is parsed in one pass
//! ([`parse`]), each value matched to its document by order; a file with an
//! error is parsed again document by document, so the bad document is
//! reported and the others still load. Ids are given once everything is
//! read, so that CustomResourceDefinitions anywhere in the tree decide the
//! scope of their kinds.

mod parse;
mod split;
mod walk;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::resource::IdentifyingFields;
use crate::{ClusterScopedKinds, Error, Resource, ResourceId, SourceLocation};

use parse::{ParseError, ParsedDocument, parse_document, parse_stream};
use split::{DocumentText, split_documents};

/// How to load: defaults for what files leave out, and limits against
/// hostile input. Start from [`LoadOptions::new`] and change what differs
/// with the `with_*` setters.
///
/// ```
/// use manifests::LoadOptions;
///
/// let options = LoadOptions::new().with_default_namespace("apps").with_max_files(1_000);
/// assert_eq!(options.max_depth, 100);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadOptions {
    /// The namespace in the id of a namespaced resource that names none.
    /// Default `"default"`.
    pub default_namespace: String,
    /// Files larger than this are not read. Default 16 MiB.
    pub max_file_bytes: u64,
    /// Most files read in one load. Past it the rest are not read and the
    /// load reports [`Error::TooManyFiles`] (so the set is incomplete and
    /// nothing is garbage-collected). Default 20,000.
    pub max_files: usize,
    /// Most bytes read over all files of one load. Past it the rest are not
    /// read and the load reports [`Error::TreeTooLarge`]. Default 256 MiB.
    pub max_total_bytes: u64,
    /// Deepest nesting of mappings and sequences in a document. Default 100,
    /// at most 1,000 (a larger value counts as 1,000).
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
            max_files: 20_000,
            max_total_bytes: 256 * 1024 * 1024,
            max_depth: 100,
            cluster_scoped_kinds: ClusterScopedKinds::builtin(),
        }
    }
}

impl LoadOptions {
    /// The defaults (the same as [`LoadOptions::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`default_namespace`](Self::default_namespace).
    #[must_use]
    pub fn with_default_namespace(mut self, default_namespace: impl Into<String>) -> Self {
        self.default_namespace = default_namespace.into();
        self
    }

    /// Sets [`max_file_bytes`](Self::max_file_bytes).
    #[must_use]
    pub fn with_max_file_bytes(mut self, max_file_bytes: u64) -> Self {
        self.max_file_bytes = max_file_bytes;
        self
    }

    /// Sets [`max_files`](Self::max_files).
    #[must_use]
    pub fn with_max_files(mut self, max_files: usize) -> Self {
        self.max_files = max_files;
        self
    }

    /// Sets [`max_total_bytes`](Self::max_total_bytes).
    #[must_use]
    pub fn with_max_total_bytes(mut self, max_total_bytes: u64) -> Self {
        self.max_total_bytes = max_total_bytes;
        self
    }

    /// Sets [`max_depth`](Self::max_depth).
    #[must_use]
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Sets [`cluster_scoped_kinds`](Self::cluster_scoped_kinds).
    #[must_use]
    pub fn with_cluster_scoped_kinds(mut self, cluster_scoped_kinds: ClusterScopedKinds) -> Self {
        self.cluster_scoped_kinds = cluster_scoped_kinds;
        self
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
    /// Directories skipped because they hold a Helm chart (a `Chart.yaml`),
    /// relative to the checkout root, in the order met.
    pub skipped_charts: Vec<PathBuf>,
}

impl Loaded {
    /// True when nothing went wrong.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }

    /// The resource with `id`, if loaded (a linear scan).
    pub fn get(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.iter().find(|resource| resource.id() == id)
    }
}

/// Loads every `*.yaml` and `*.yml` file under `paths` of the checkout at
/// `root` (recursively; hidden entries and Helm chart directories skipped). See [`Loader`] to add files
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
    source: SourceLocation,
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
    unidentified: Vec<Unidentified>,
    errors: Vec<Error>,
    skipped_charts: Vec<PathBuf>,
    /// Files taken so far, and their bytes.
    files: usize,
    bytes: u64,
    /// Set once a bound of the whole load is passed: no more files are read.
    exhausted: bool,
}

impl Loader {
    /// A loader with nothing loaded yet.
    pub fn new(options: LoadOptions) -> Self {
        Self {
            options,
            unidentified: Vec::new(),
            errors: Vec::new(),
            skipped_charts: Vec::new(),
            files: 0,
            bytes: 0,
            exhausted: false,
        }
    }

    /// Counts one more file of `size` bytes against the bounds of the whole
    /// load; `false` (and the error, once) if it passes one.
    fn take_file(&mut self, path: &Path, size: u64) -> bool {
        if self.exhausted {
            return false;
        }
        if self.files >= self.options.max_files {
            self.exhausted = true;
            self.errors.push(Error::TooManyFiles {
                path: path.to_owned(),
                limit: self.options.max_files,
            });
            return false;
        }
        if self.bytes.saturating_add(size) > self.options.max_total_bytes {
            self.exhausted = true;
            self.errors.push(Error::TreeTooLarge {
                path: path.to_owned(),
                limit: self.options.max_total_bytes,
            });
            return false;
        }
        self.files += 1;
        self.bytes += size;
        true
    }

    /// Loads the YAML files under `paths` (files or directories, relative to
    /// `root`, which they must not leave) in the order given. Directories
    /// holding a Helm chart (a `Chart.yaml`) are skipped, as Flux v1 skipped
    /// them: see [`Loaded::skipped_charts`].
    pub fn add_tree<P: AsRef<Path>>(&mut self, root: &Path, paths: &[P]) {
        let (files, charts) = {
            let Some(mut walk) = walk::Walk::new(root, &mut self.errors) else {
                return;
            };
            for path in paths {
                walk.add_path(path.as_ref());
            }
            walk.finish()
        };
        for chart in charts {
            if !self.skipped_charts.contains(&chart) {
                self.skipped_charts.push(chart);
            }
        }
        for file in files {
            if self.exhausted {
                break;
            }
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
    ///
    /// Every file counts against [`LoadOptions::max_files`] and
    /// [`LoadOptions::max_total_bytes`]; once either is passed, this and
    /// every later file are left out.
    pub fn add_file(&mut self, path: &Path, bytes: &[u8]) {
        if bytes.len() as u64 > self.options.max_file_bytes {
            self.errors.push(Error::FileTooLarge {
                path: path.to_owned(),
                size: bytes.len() as u64,
                limit: self.options.max_file_bytes,
            });
            return;
        }
        if !self.take_file(path, bytes.len() as u64) {
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
        let documents = split_documents(text);
        if !self.add_stream(path, text, &documents) {
            self.add_each(path, &documents);
        }
    }

    /// Gives every resource read its id (with the scopes of the
    /// CustomResourceDefinitions read), drops every definition of a
    /// resource defined more than once, and returns them
    /// with every error.
    pub fn finish(mut self) -> Loaded {
        let mut scopes = self.options.cluster_scoped_kinds;
        for read in &self.unidentified {
            scopes.insert_from_crd(&read.fields.api_version, &read.fields.kind, &read.object);
        }
        let default_namespace = &self.options.default_namespace;
        let mut resources: Vec<Resource> = self
            .unidentified
            .into_iter()
            .map(|read| {
                read.fields
                    .into_resource(read.object, read.source, &scopes, default_namespace)
            })
            .collect();
        // Duplicates: each later definition is reported with the first, and
        // none of them is kept. Applying one would pick a winner the author
        // did not choose; the set is incomplete, so nothing is pruned either.
        let mut first_by_id: HashMap<&ResourceId, usize> = HashMap::with_capacity(resources.len());
        let mut duplicated: HashSet<ResourceId> = HashSet::new();
        for (index, resource) in resources.iter().enumerate() {
            match first_by_id.entry(resource.id()) {
                Entry::Occupied(first) => {
                    let first = &resources[*first.get()];
                    self.errors.push(Error::DuplicateResource {
                        id: resource.id().clone(),
                        first: Box::new(first.source().clone()),
                        second: Box::new(resource.source().clone()),
                    });
                    duplicated.insert(resource.id().clone());
                }
                Entry::Vacant(vacant) => {
                    vacant.insert(index);
                }
            }
        }
        drop(first_by_id);
        if !duplicated.is_empty() {
            resources.retain(|resource| !duplicated.contains(resource.id()));
        }
        tracing::debug!(
            resources = resources.len(),
            errors = self.errors.len(),
            charts_skipped = self.skipped_charts.len(),
            "loaded manifests"
        );
        Loaded {
            resources,
            errors: self.errors,
            skipped_charts: self.skipped_charts,
        }
    }

    /// The fast way: the whole file in one parse, each value matched to its
    /// document by order. False, with nothing added, when the file has an
    /// error or a null document: then each document is parsed on its own.
    fn add_stream(&mut self, path: &Path, text: &str, documents: &[DocumentText<'_>]) -> bool {
        let Ok(parsed) = parse_stream(text, self.options.max_depth) else {
            return false;
        };
        let with_content = documents.iter().filter(|doc| doc.has_content).count();
        if parsed.len() != with_content {
            return false;
        }
        let with_content = documents
            .iter()
            .enumerate()
            .filter(|(_, doc)| doc.has_content);
        for ((index, document), parsed) in with_content.zip(parsed) {
            // Lines in a whole-file parse count from the file's first line.
            self.add_parsed(path, index, document, parsed, 1);
        }
        true
    }

    /// The careful way: each document parsed on its own, so that one bad
    /// document is reported and the others still load.
    fn add_each(&mut self, path: &Path, documents: &[DocumentText<'_>]) {
        for (index, document) in documents.iter().enumerate() {
            let at = |line: Option<usize>| SourceLocation {
                path: path.to_owned(),
                document: index,
                line: line.map_or(document.start_line, |line| document.first_line + line - 1),
            };
            match parse_document(document.text, self.options.max_depth) {
                Ok(Some(parsed)) => {
                    self.add_parsed(path, index, document, parsed, document.first_line);
                }
                Ok(None) => {}
                Err(ParseError::Syntax { line, message }) => self.errors.push(Error::Yaml {
                    at: at(line),
                    message,
                }),
                Err(ParseError::Limit { line, message }) => self.errors.push(Error::YamlLimit {
                    at: at(line),
                    message,
                }),
            }
        }
    }

    /// Adds a parsed document: a resource, or the items of a List. Lines the
    /// parser gave count from `first_line` of the file.
    fn add_parsed(
        &mut self,
        path: &Path,
        index: usize,
        document: &DocumentText<'_>,
        parsed: ParsedDocument,
        first_line: usize,
    ) {
        let at = |line: usize| SourceLocation {
            path: path.to_owned(),
            document: index,
            line,
        };
        let source = at(document.start_line);
        if let Some(list_kind) = list_kind(&parsed.root) {
            let list_kind = list_kind.to_owned();
            let item_sources = parsed
                .item_lines
                .iter()
                .map(|&line| at(first_line + line - 1))
                .collect();
            self.add_list(&list_kind, parsed.root, item_sources, source);
        } else {
            self.add_object(parsed.root, source, None);
        }
    }

    fn add_object(&mut self, object: Value, source: SourceLocation, list_item: Option<usize>) {
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
    fn add_list(
        &mut self,
        kind: &str,
        mut root: Value,
        item_sources: Vec<SourceLocation>,
        at: SourceLocation,
    ) {
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

enum ReadError {
    TooLarge(u64),
    Io(std::io::Error),
}

/// Reads a file, refusing one over `limit` bytes without reading all of it.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `id @ source` of what the fast and the careful way load from `text`.
    fn both_ways(text: &str) -> (Vec<String>, Vec<String>) {
        let path = Path::new("file.yaml");
        let documents = split_documents(text);
        let listing = |loader: Loader| -> Vec<String> {
            let loaded = loader.finish();
            assert!(loaded.is_complete(), "{:?}", loaded.errors);
            loaded
                .resources
                .iter()
                .map(|r| format!("{} @ {}", r.id(), r.source()))
                .collect()
        };
        let mut fast = Loader::new(LoadOptions::default());
        assert!(fast.add_stream(path, text, &documents), "parses whole");
        let mut careful = Loader::new(LoadOptions::default());
        careful.add_each(path, &documents);
        (listing(fast), listing(careful))
    }

    #[test]
    fn loaders_and_what_they_load_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Loader>();
        assert_send::<Loaded>();
    }

    #[test]
    fn the_fast_and_the_careful_way_agree() {
        let text = "# head\n%YAML 1.2\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n\n-   apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: b}\n---\n# empty\n--- {apiVersion: v1, kind: Secret, metadata: {name: c}}\n...\n\napiVersion: v1\nkind: Service\nmetadata:\n  name: d\n";
        let (fast, careful) = both_ways(text);
        assert_eq!(
            fast,
            [
                "default:configmap/a @ file.yaml:7",
                "default:configmap/b @ file.yaml:11",
                "default:secret/c @ file.yaml:16 (document 3)",
                "default:service/d @ file.yaml:19 (document 4)",
            ]
        );
        assert_eq!(fast, careful);
    }

    #[test]
    fn duplicates_keep_none_and_name_both_places() {
        let service =
            |name: &str| format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n");
        let mut loader = Loader::new(LoadOptions::default());
        loader.add_file(Path::new("a.yaml"), service("web").as_bytes());
        loader.add_file(
            Path::new("b.yaml"),
            format!("{}---\n{}", service("db"), service("web")).as_bytes(),
        );
        // Same id: the namespace written is the default one.
        loader.add_file(
            Path::new("c.yaml"),
            b"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\n",
        );
        loader.add_file(Path::new("d.yaml"), service("cache").as_bytes());
        let loaded = loader.finish();
        let kept: Vec<String> = loaded
            .resources
            .iter()
            .map(|r| format!("{} @ {}", r.id(), r.source()))
            .collect();
        assert_eq!(
            kept,
            [
                "default:service/db @ b.yaml:1",
                "default:service/cache @ d.yaml:1",
            ]
        );
        let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "resource default:service/web is defined twice: at a.yaml:1 and at b.yaml:5 (document 2); neither is applied",
                "resource default:service/web is defined twice: at a.yaml:1 and at c.yaml:1; neither is applied",
            ]
        );
    }

    #[test]
    fn a_null_document_falls_back_to_the_careful_way() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n~\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n";
        let documents = split_documents(text);
        let mut loader = Loader::new(LoadOptions::default());
        // Two values for three documents with content: refused...
        assert!(!loader.add_stream(Path::new("f.yaml"), text, &documents));
        // ...and the file still loads right.
        loader.add_file(Path::new("f.yaml"), text.as_bytes());
        let loaded = loader.finish();
        let sources: Vec<String> = loaded
            .resources
            .iter()
            .map(|r| r.source().to_string())
            .collect();
        assert_eq!(sources, ["f.yaml:1", "f.yaml:6 (document 3)"]);
    }
}
