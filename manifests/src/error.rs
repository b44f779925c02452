//! The one error type of this crate.

use std::path::PathBuf;

use crate::{ResourceId, SourceLocation};

/// Everything that can go wrong reading, checking or editing manifests.
///
/// Each variant names what was wrong and where (file and line, resource id,
/// container), so the message alone tells a user what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string is not a resource id.
    #[error("invalid resource id {id:?}: {reason}")]
    InvalidResourceId {
        /// The string as given.
        id: String,
        /// What is wrong with it.
        reason: String,
    },

    // --- loading ---
    /// A path given to the loader is not inside the checkout root (`..`, an
    /// absolute path elsewhere, or a symlink out of it).
    #[error("path {path:?} is outside the checkout root")]
    PathOutsideRoot {
        /// The path as given.
        path: PathBuf,
    },
    /// A path given to the loader does not exist.
    #[error("path {path:?} does not exist in the checkout")]
    PathNotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// Reading a file or directory failed.
    #[error("cannot read {path:?}: {source}")]
    Io {
        /// The file or directory, relative to the checkout root where possible.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A symlink in the checkout leads outside of it.
    #[error("symlink {path:?} leads outside the checkout (to {target:?})")]
    SymlinkOutsideRoot {
        /// The symlink, relative to the checkout root.
        path: PathBuf,
        /// Where it leads.
        target: PathBuf,
    },
    /// A symlink in the checkout leads back into a directory being read, or
    /// through too many links.
    #[error("symlink {path:?} forms a loop")]
    SymlinkLoop {
        /// The symlink, relative to the checkout root.
        path: PathBuf,
    },
    /// Something other than a file or directory (a FIFO, socket or device).
    #[error("{path:?} is not a regular file")]
    NotAFile {
        /// The entry, relative to the checkout root.
        path: PathBuf,
    },
    /// A file is larger than [`LoadOptions::max_file_bytes`](crate::LoadOptions).
    #[error("{path:?} is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge {
        /// The file, relative to the checkout root.
        path: PathBuf,
        /// Its size in bytes (at least this much).
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A load read [`LoadOptions::max_files`](crate::LoadOptions) files;
    /// `path` and the files after it were not read.
    #[error("more than {limit} files to load: {path:?} and the files after it were not read")]
    TooManyFiles {
        /// The first file left out, relative to the checkout root.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The files of a load passed
    /// [`LoadOptions::max_total_bytes`](crate::LoadOptions) together;
    /// `path` and the files after it were not read.
    #[error(
        "the files to load pass {limit} bytes together: {path:?} and the files after it were not read"
    )]
    TreeTooLarge {
        /// The first file left out, relative to the checkout root.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// A file is not UTF-8 text.
    #[error("{path:?} is not UTF-8: invalid bytes on line {line}")]
    NotUtf8 {
        /// The file, relative to the checkout root.
        path: PathBuf,
        /// One-based line of the first invalid byte.
        line: usize,
    },
    /// A YAML document does not parse.
    #[error("malformed YAML at {at}: {message}")]
    Yaml {
        /// The file, document and the line of the problem.
        at: SourceLocation,
        /// What the parser said.
        message: String,
    },
    /// A YAML document exceeds a safety limit: nesting depth, alias
    /// expansion (a "billion laughs" bomb), node or event count.
    #[error("YAML at {at} exceeds a safety limit: {message}")]
    YamlLimit {
        /// The file, document and the line of the problem.
        at: SourceLocation,
        /// Which limit and by how much.
        message: String,
    },
    /// A document parses but is not a Kubernetes object this crate can use.
    #[error("invalid resource at {at}: {reason}")]
    InvalidResource {
        /// The file, document and the line the object (or `List` item) starts on.
        at: SourceLocation,
        /// What is missing or wrong.
        reason: String,
    },
    /// Two documents define the same resource. Neither is kept: the
    /// resource is not applied until git defines it once.
    #[error("resource {id} is defined twice: at {first} and at {second}; neither is applied")]
    DuplicateResource {
        /// The id both define.
        id: ResourceId,
        /// Where it was first defined.
        first: Box<SourceLocation>,
        /// Where it was defined again.
        second: Box<SourceLocation>,
    },

    // --- policies, filters, images, edits ---
    /// A tag filter expression does not parse.
    #[error("invalid tag filter {expression:?}: {reason}")]
    InvalidTagFilter {
        /// The expression as written.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A resource's tag policy for a container holds an invalid filter.
    #[error("{id}: invalid tag filter {expression:?} for container {container:?}: {reason}")]
    InvalidPolicyFilter {
        /// The resource.
        id: Box<ResourceId>,
        /// The container the policy is for.
        container: String,
        /// The expression as written.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Flux annotation is malformed.
    #[error("{id}: annotation {key:?}: {reason}")]
    InvalidAnnotation {
        /// The resource.
        id: Box<ResourceId>,
        /// The annotation key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A workload's container list is malformed.
    #[error("{id}: {reason}")]
    InvalidContainer {
        /// The resource.
        id: Box<ResourceId>,
        /// What is wrong, naming the container.
        reason: String,
    },
    /// An image reference cannot be split into the fields a manifest keeps it in.
    #[error("invalid image reference {image:?}: {reason}")]
    InvalidImageRef {
        /// The reference as given.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An edit could not be made safely, so the file was left as it was.
    #[error("{}:{line}: cannot edit {id}: {reason}", path.display())]
    EditRefused {
        /// The file, relative to the checkout.
        path: PathBuf,
        /// The one-based line where the problem is.
        line: usize,
        /// The resource being edited.
        id: Box<ResourceId>,
        /// What blocked the edit.
        reason: String,
    },

    // --- applying to a cluster ---
    /// An apply engine's configuration is not usable.
    #[cfg(feature = "cluster")]
    #[error("invalid engine configuration: {reason}")]
    InvalidEngineConfig {
        /// What is wrong with it.
        reason: String,
    },
    /// A request to the Kubernetes API failed.
    #[cfg(feature = "cluster")]
    #[error("{context}: {}", crate::cluster::kube_error_message(source))]
    Kube {
        /// What was being done (`listing apps/v1 deployments in demo`).
        context: String,
        /// What the client or the API said.
        source: Box<kube::Error>,
    },
}
