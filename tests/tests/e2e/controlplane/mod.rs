//! The test control plane checked by real clients: kubectl, helm 4 and 3, and
//! the `kube` crate, as admin and as ServiceAccounts restricted by the seed's RBAC.

// Helpers of tests, like the tests themselves: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helm;
mod kube_client;
mod kubectl;
mod lifecycle;
mod seed_rbac;

use std::path::Path;

/// Writes `contents` to `dir/name` and returns the path.
pub(crate) fn write_file(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, contents).unwrap();
    path
}
