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
}
