//! Finding (and if need be building) the control plane's binaries.
//!
//! `tests/scripts/build-controlplane.sh` builds kube-apiserver,
//! kube-controller-manager and etcd from the Go modules in `tests/controlplane/`
//! into a cache directory keyed by the pinned versions, and points the
//! checkout's `target/test-tools/controlplane` symlink at it. This module
//! follows that symlink; it runs the script first when the symlink is missing
//! or older than the pin (so `cargo test -p tests` works on its own), and
//! reports the script's own error (for example "install Go 1.26 or newer")
//! when it fails. `$FLUXRS_CONTROLPLANE_DIR` names a directory to use as is.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::Error;
use crate::tools::workspace_root;

/// Environment variable naming a directory that holds the three binaries.
pub const DIR_ENV: &str = "FLUXRS_CONTROLPLANE_DIR";

/// The three binaries of the control plane.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// Directory holding them.
    pub dir: PathBuf,
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `kube-controller-manager`.
    pub kube_controller_manager: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
}

impl Binaries {
    /// The binaries in `dir`, checked to exist.
    pub fn in_dir(dir: &Path) -> Result<Self, Error> {
        let binaries = Self {
            dir: dir.to_owned(),
            kube_apiserver: dir.join("kube-apiserver"),
            kube_controller_manager: dir.join("kube-controller-manager"),
            etcd: dir.join("etcd"),
        };
        for path in [
            &binaries.kube_apiserver,
            &binaries.kube_controller_manager,
            &binaries.etcd,
        ] {
            if !path.is_file() {
                return Err(Error::MissingTool {
                    name: file_name(path),
                    hint: format!(
                        "expected at {}; run tests/scripts/build-controlplane.sh",
                        path.display()
                    ),
                });
            }
        }
        Ok(binaries)
    }

    /// The binaries for this checkout: `$FLUXRS_CONTROLPLANE_DIR` if set,
    /// otherwise the build script's symlink, building first when needed.
    ///
    /// Blocks (for minutes when the Go build has to run); one call per process
    /// does the work, later calls return the first answer.
    pub fn locate() -> Result<Self, Error> {
        if let Some(dir) = std::env::var_os(DIR_ENV) {
            return Self::in_dir(Path::new(&dir));
        }
        static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
        let mut built = BUILT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(dir) = built.as_ref() {
            return Self::in_dir(dir);
        }
        let root = workspace_root();
        let link = symlink_path(&root);
        if needs_build(&root, &link) {
            run_build_script(&root)?;
        }
        let dir = std::fs::canonicalize(&link)
            .map_err(|e| Error::io(format!("resolving {}", link.display()), e))?;
        let binaries = Self::in_dir(&dir)?;
        *built = Some(dir);
        Ok(binaries)
    }
}

/// `target/test-tools/controlplane` of the checkout at `root`.
pub(super) fn symlink_path(root: &Path) -> PathBuf {
    root.join("target").join("test-tools").join("controlplane")
}

/// Whether the symlink is missing, dangling, or older than any input of the
/// build (then the script decides whether the cache already has that build).
fn needs_build(root: &Path, link: &Path) -> bool {
    let Ok(linked) = std::fs::symlink_metadata(link).and_then(|m| m.modified()) else {
        return true;
    };
    if !link.join(".complete").is_file() {
        return true;
    }
    let src = root.join("tests").join("controlplane");
    let inputs = [
        src.join("versions"),
        src.join("kube").join("go.mod"),
        src.join("kube").join("go.sum"),
        src.join("etcd").join("go.mod"),
        src.join("etcd").join("go.sum"),
        src.join("etcd").join("main.go"),
        root.join("tests")
            .join("scripts")
            .join("build-controlplane.sh"),
    ];
    inputs.iter().any(|input| {
        std::fs::metadata(input)
            .and_then(|m| m.modified())
            .is_ok_and(|changed: SystemTime| changed > linked)
    })
}

/// Runs the build script; its progress goes straight to stderr so a long first
/// build is visible even while the test harness captures output.
fn run_build_script(root: &Path) -> Result<(), Error> {
    use std::io::{BufRead, BufReader, Write};

    let script = root
        .join("tests")
        .join("scripts")
        .join("build-controlplane.sh");
    let context = || format!("running {}", script.display());
    let mut child = Command::new("bash")
        .arg(&script)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(context(), e))?;
    // Copy stderr through, keeping the script's own error line for the error.
    let mut error_line = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line.map_err(|e| Error::io(context(), e))?;
            let _ = writeln!(std::io::stderr(), "{line}");
            if line.contains("error:") {
                error_line = Some(line);
            }
        }
    }
    let status = child.wait().map_err(|e| Error::io(context(), e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            command: format!("bash {}", script.display()),
            status: status.to_string(),
            stderr: error_line.unwrap_or_else(|| "see its output above".to_owned()),
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the build script with only `tools` (plus a fake `go`, if given) on PATH.
    fn build_script_with(tools: &[&str], go: Option<&str>) -> (bool, String) {
        let bin = tempfile::tempdir().unwrap();
        for tool in tools {
            let path = crate::tools::system(tool).unwrap();
            std::os::unix::fs::symlink(path, bin.path().join(tool)).unwrap();
        }
        if let Some(script) = go {
            let fake = bin.path().join("go");
            std::fs::write(&fake, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::process::Command::new("chmod")
                .arg("+x")
                .arg(&fake)
                .status()
                .unwrap();
        }
        let root = workspace_root();
        let output = Command::new(crate::tools::system("bash").unwrap())
            .arg(root.join("tests/scripts/build-controlplane.sh"))
            .env("PATH", bin.path())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    #[test]
    fn build_script_says_what_to_install_without_go() {
        let (ok, stderr) = build_script_with(&["dirname"], None);
        assert!(!ok);
        assert!(stderr.contains("`go` is not on PATH"), "{stderr}");
        assert!(stderr.contains("install Go 1.26.0 or newer"), "{stderr}");
    }

    #[test]
    fn build_script_refuses_an_old_go() {
        let (ok, stderr) = build_script_with(
            &["dirname", "sort", "head", "printf"],
            Some("echo go1.22.5"),
        );
        assert!(!ok);
        assert!(stderr.contains("Go 1.22.5 is too old"), "{stderr}");
        assert!(stderr.contains("install Go 1.26.0 or newer"), "{stderr}");
    }

    #[test]
    fn missing_binaries_name_the_build_script() {
        let dir = tempfile::tempdir().unwrap();
        let err = Binaries::in_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("kube-apiserver"), "{err}");
        assert!(err.contains("build-controlplane.sh"), "{err}");
    }
}
