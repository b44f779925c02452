//! Where in a checkout a resource was defined.

use std::fmt;
use std::path::PathBuf;

/// The place a resource came from: a file relative to the checkout root, the
/// index of the YAML document in that file, and the line the document (or, for
/// an item of a `List`, the item) starts on.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SourceLocation {
    /// Path relative to the checkout root, with `/` separators.
    pub path: PathBuf,
    /// Zero-based index of the document within the file.
    pub document: usize,
    /// One-based line where the document (or `List` item) starts.
    pub line: usize,
}

impl fmt::Display for SourceLocation {
    /// `path:line` (`path:line (document N)` when the file holds several).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)?;
        if self.document > 0 {
            write!(f, " (document {})", self.document + 1)?;
        }
        Ok(())
    }
}
