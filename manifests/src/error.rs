//! The one error type of this crate.

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
        id: Box<crate::ResourceId>,
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
        id: Box<crate::ResourceId>,
        /// The annotation key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A workload's container list is malformed.
    #[error("{id}: {reason}")]
    InvalidContainer {
        /// The resource.
        id: Box<crate::ResourceId>,
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
        path: std::path::PathBuf,
        /// The one-based line where the problem is.
        line: usize,
        /// The resource being edited.
        id: Box<crate::ResourceId>,
        /// What blocked the edit.
        reason: String,
    },
}
