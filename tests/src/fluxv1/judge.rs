//! The Flux v1 judge: `tests/fluxv1/main.go`, built once (cached by the hash
//! of its sources), prints what Flux v1.25's sync would send to `kubectl
//! apply` for a checkout, with Flux's marks and checksums.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::Error;
use crate::tools::workspace_root;

/// The sources of the judge, relative to the workspace.
const SOURCES: &[&str] = &[
    "tests/fluxv1/main.go",
    "tests/fluxv1/go.mod",
    "tests/fluxv1/go.sum",
];

/// One resource as Flux v1 synced it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FluxResource {
    /// Flux's resource id (`ns:kind/name`, `<cluster>` for cluster-scoped).
    pub id: String,
    /// The `fluxcd.io/sync-checksum` Flux wrote: SHA-1 of its re-encoding.
    pub checksum: String,
    /// The `fluxcd.io/sync-gc-mark` Flux wrote.
    pub mark: String,
    /// The file it came from.
    pub source: String,
}

/// What Flux v1's sync of one checkout sends.
#[derive(Debug, Clone)]
pub struct FluxSync {
    /// The YAML stream Flux piped into `kubectl apply -f -`.
    pub yaml: String,
    /// Every resource, by id.
    pub resources: Vec<FluxResource>,
}

impl FluxSync {
    /// The resource with `id`.
    pub fn get(&self, id: &str) -> Option<&FluxResource> {
        self.resources.iter().find(|resource| resource.id == id)
    }
}

/// Runs the judge over the checkout at `root` as Flux v1 would have synced
/// it with `--git-url url --git-branch branch --git-path paths...`,
/// namespace-less resources going to `default_namespace`, and the kinds in
/// `cluster_scoped` cluster-scoped (as discovery told Flux).
pub fn flux_sync(
    root: &Path,
    url: &str,
    branch: &str,
    paths: &[&str],
    default_namespace: &str,
    cluster_scoped: &[&str],
) -> Result<FluxSync, Error> {
    let judge = build()?;
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temp dir", e))?;
    let ids = dir.path().join("ids.jsonl");
    let mut command = Command::new(&judge);
    command
        .arg("--root")
        .arg(root)
        .args(["--url", url, "--branch", branch])
        .args(["--default-namespace", default_namespace])
        .arg("--cluster-scoped")
        .arg(cluster_scoped.join(","))
        .arg("--ids")
        .arg(&ids);
    for path in paths {
        command.args(["--path", path]);
    }
    let output = command
        .output()
        .map_err(|e| Error::io(format!("running {}", judge.display()), e))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: format!("{command:?}"),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let records =
        std::fs::read_to_string(&ids).map_err(|e| Error::io("reading the judge's ids", e))?;
    let resources = records
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|e| Error::invalid("a line of the judge", e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(FluxSync {
        yaml: String::from_utf8_lossy(&output.stdout).into_owned(),
        resources,
    })
}

/// The judge's binary, built with `go build` into
/// `${XDG_CACHE_HOME:-~/.cache}/fluxd-rs/fluxv1/<hash of its sources>/`
/// the first time (a few seconds, plus fetching one module).
pub fn build() -> Result<PathBuf, Error> {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = built.as_ref() {
        return Ok(path.clone());
    }
    let root = workspace_root();
    let mut hasher = Sha256::new();
    for source in SOURCES {
        let path = root.join(source);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(format!("reading {source}"), e))?;
        hasher.update(source.as_bytes());
        hasher.update(&bytes);
    }
    let hash = hex::encode(hasher.finalize());
    let dir = cache_dir().join(&hash[..16]);
    let binary = dir.join("fluxv1-sync");
    if !binary.is_file() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let go = crate::tools::system("go").map_err(|_| Error::MissingTool {
            name: "go".to_owned(),
            hint: "the Flux v1 judge of the migration tests is built with Go 1.26 or newer"
                .to_owned(),
        })?;
        let partial = dir.join(format!("fluxv1-sync.{}.partial", std::process::id()));
        let output = Command::new(go)
            .args(["build", "-trimpath", "-o"])
            .arg(&partial)
            .arg(".")
            .current_dir(root.join("tests/fluxv1"))
            .env("GOFLAGS", "-mod=readonly")
            .env("GOWORK", "off")
            .env("CGO_ENABLED", "0")
            .output()
            .map_err(|e| Error::io("running go build", e))?;
        if !output.status.success() {
            return Err(Error::Command {
                command: "go build (tests/fluxv1)".to_owned(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        std::fs::rename(&partial, &binary)
            .map_err(|e| Error::io(format!("installing {}", binary.display()), e))?;
    }
    *built = Some(binary.clone());
    Ok(binary)
}

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|home| home.join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("fluxd-rs").join("fluxv1")
}
