//! Locating the real binaries the tests drive.
//!
//! `helm` (4), `helm3` and `kubectl` are downloaded by
//! `tests/scripts/install-test-deps.sh` into `target/test-tools/bin` (or
//! `$FLUXRS_TOOLS_DIR/bin`); `sshd`, `docker-registry`, `skopeo` and `htpasswd`
//! come from Debian packages the same script installs. A missing binary is an
//! error that says how to install it: tests never skip silently.

use std::path::{Path, PathBuf};

use crate::Error;

/// Root of the workspace this crate belongs to.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        Path::to_path_buf,
    )
}

/// Directory of downloaded test tools (`$FLUXRS_TOOLS_DIR` or `target/test-tools`).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("FLUXRS_TOOLS_DIR").map_or_else(
        || workspace_root().join("target").join("test-tools"),
        PathBuf::from,
    )
}

/// A downloaded tool: `helm`, `helm3` or `kubectl`.
pub fn downloaded(name: &str) -> Result<PathBuf, Error> {
    let path = tools_dir().join("bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingTool {
            name: name.to_owned(),
            hint: format!(
                "expected at {}; run tests/scripts/install-test-deps.sh",
                path.display()
            ),
        })
    }
}

/// The Helm 4 binary.
pub fn helm() -> Result<PathBuf, Error> {
    downloaded("helm")
}

/// The Helm 3 binary.
pub fn helm3() -> Result<PathBuf, Error> {
    downloaded("helm3")
}

/// The kubectl binary.
pub fn kubectl() -> Result<PathBuf, Error> {
    downloaded("kubectl")
}

/// A binary from the system `PATH` (or `/usr/sbin`, where Debian puts `sshd`).
pub fn system(name: &str) -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::MissingTool {
            name: name.to_owned(),
            hint: "not on PATH; run tests/scripts/install-test-deps.sh".to_owned(),
        })
}
