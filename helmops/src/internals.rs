//! Entry points into the crate's internals for the workspace's own tests
//! and fuzz targets, hidden from the docs. Not a stable API: anything here
//! may change or go in any release.

pub use crate::checksum::{file_dependencies, has_dependencies};
pub use crate::helm::{Helm, HelmMajor, HelmSettings};
