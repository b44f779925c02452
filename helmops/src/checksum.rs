//! Checksums that decide whether a release needs `helm upgrade`.
//!
//! A release's checksum covers the chart's content and the merged values.
//! Chart content is hashed from the files themselves (git charts, with their
//! `file://` dependencies) or taken from the archive's digest (repository
//! charts), so a resync that finds the same checksum in the status does
//! nothing at all.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Error;

/// Hex-encoded sha256 of some bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The checksum of a release: chart digest and values, canonically encoded.
pub(crate) fn release_checksum(chart_digest: &str, values: &Map<String, Value>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"chart\0");
    hasher.update(chart_digest.as_bytes());
    hasher.update(b"\0values\0");
    let mut canonical = Vec::new();
    write_canonical(&Value::Object(values.clone()), &mut canonical);
    hasher.update(&canonical);
    hex::encode(hasher.finalize())
}

/// JSON with object keys sorted, whatever order the map kept them in.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(key.clone()).to_string().as_bytes());
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// The directories a chart is made of: the chart itself and, transitively,
/// every dependency declared with `repository: file://...`, relative to `root`.
///
/// Every directory must stay inside `root` (the repository checkout).
pub(crate) fn chart_closure(root: &Path, chart: &Path) -> Result<Vec<PathBuf>, Error> {
    let root = root
        .canonicalize()
        .map_err(|e| Error::io(format!("resolving {}", root.display()), e))?;
    let mut seen = BTreeSet::new();
    let mut pending = vec![chart.to_path_buf()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let canonical = dir.canonicalize().map_err(|e| Error::Chart {
            chart: relative.display().to_string(),
            reason: format!("not found in the repository ({e})"),
        })?;
        let Ok(inside) = canonical.strip_prefix(&root) else {
            return Err(Error::Chart {
                chart: relative.display().to_string(),
                reason: "leaves the repository (through '..' or a symlink)".to_owned(),
            });
        };
        if !canonical.join("Chart.yaml").is_file() {
            return Err(Error::Chart {
                chart: inside.display().to_string(),
                reason: "has no Chart.yaml: not a Helm chart".to_owned(),
            });
        }
        if !seen.insert(inside.to_path_buf()) {
            continue;
        }
        for dependency in file_dependencies(&canonical)? {
            pending.push(inside.join(dependency));
        }
    }
    Ok(seen.into_iter().collect())
}

/// `file://` dependency paths of the chart in `dir` (Chart.yaml, or
/// requirements.yaml for apiVersion v1 charts).
pub fn file_dependencies(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut found = Vec::new();
    for file in ["Chart.yaml", "requirements.yaml"] {
        let path = dir.join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let doc: Value = crate::yaml::from_str(&text).map_err(|e| Error::Chart {
            chart: path.display().to_string(),
            reason: format!("not valid YAML: {e}"),
        })?;
        let Some(dependencies) = doc.get("dependencies").and_then(Value::as_array) else {
            continue;
        };
        for dependency in dependencies {
            if let Some(target) = dependency
                .get("repository")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("file://"))
            {
                found.push(PathBuf::from(target));
            }
        }
    }
    Ok(found)
}

/// Whether the chart in `dir` declares any dependency at all.
pub fn has_dependencies(dir: &Path) -> bool {
    ["Chart.yaml", "requirements.yaml"].iter().any(|file| {
        std::fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|text| crate::yaml::from_str::<Value>(&text).ok())
            .and_then(|doc| {
                doc.get("dependencies")
                    .and_then(Value::as_array)
                    .map(|d| !d.is_empty())
            })
            .unwrap_or(false)
    })
}

/// Digest of the files of a chart and its `file://` dependencies: paths
/// (relative to `root`) and contents, in sorted order. `.git` is skipped;
/// symlinks are not followed.
pub(crate) fn chart_dir_digest(root: &Path, chart: &Path) -> Result<String, Error> {
    let closure = chart_closure(root, chart)?;
    let root = root
        .canonicalize()
        .map_err(|e| Error::io(format!("resolving {}", root.display()), e))?;
    let mut files = BTreeSet::new();
    for dir in &closure {
        collect_files(&root, &root.join(dir), &mut files)?;
    }
    let mut hasher = Sha256::new();
    for relative in &files {
        let path = root.join(relative);
        let content = std::fs::read(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update(b"\0");
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) -> Result<(), Error> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(format!("inspecting {}", path.display()), e))?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file()
            && let Ok(relative) = path.strip_prefix(root)
        {
            out.insert(relative.to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn release_checksum_ignores_key_order_but_not_values() {
        let a = map(json!({"a": 1, "b": {"x": [1, 2], "y": "s"}}));
        let mut b = Map::new();
        b.insert("b".into(), json!({"y": "s", "x": [1, 2]}));
        b.insert("a".into(), json!(1));
        assert_eq!(release_checksum("d", &a), release_checksum("d", &b));
        assert_ne!(release_checksum("d", &a), release_checksum("e", &a));
        let c = map(json!({"a": 1, "b": {"x": [2, 1], "y": "s"}}));
        assert_ne!(release_checksum("d", &a), release_checksum("d", &c));
        assert_eq!(release_checksum("d", &a).len(), 64);
    }

    fn write(root: &Path, path: &str, content: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    fn umbrella(root: &Path) {
        write(
            root,
            "charts/umbrella/Chart.yaml",
            "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  repository: file://../sub\n",
        );
        write(root, "charts/umbrella/values.yaml", "sub: {}\n");
        write(
            root,
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
        );
        write(root, "charts/sub/templates/cm.yaml", "kind: ConfigMap\n");
        write(
            root,
            "charts/other/Chart.yaml",
            "apiVersion: v2\nname: other\nversion: 0.1.0\n",
        );
    }

    #[test]
    fn chart_digest_covers_file_dependencies_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        umbrella(root);
        let chart = Path::new("charts/umbrella");
        assert_eq!(
            chart_closure(root, chart).unwrap(),
            vec![
                PathBuf::from("charts/sub"),
                PathBuf::from("charts/umbrella")
            ]
        );
        let before = chart_dir_digest(root, chart).unwrap();
        write(root, "charts/other/values.yaml", "x: 1\n");
        assert_eq!(
            before,
            chart_dir_digest(root, chart).unwrap(),
            "unrelated chart changed"
        );
        write(
            root,
            "charts/sub/templates/cm.yaml",
            "kind: ConfigMap # changed\n",
        );
        assert_ne!(
            before,
            chart_dir_digest(root, chart).unwrap(),
            "subchart change missed"
        );
        assert!(has_dependencies(&root.join(chart)));
        assert!(!has_dependencies(&root.join("charts/sub")));
    }

    #[test]
    fn charts_must_exist_and_stay_in_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        umbrella(&root);
        let err = chart_dir_digest(&root, Path::new("charts/missing"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("charts/missing") && err.contains("not found"),
            "{err}"
        );
        write(&root, "charts/plain/README.md", "no chart here\n");
        let err = chart_dir_digest(&root, Path::new("charts/plain"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no Chart.yaml"), "{err}");
        write(
            dir.path(),
            "outside/Chart.yaml",
            "apiVersion: v2\nname: o\nversion: 1.0.0\n",
        );
        write(
            &root,
            "charts/escape/Chart.yaml",
            "apiVersion: v2\nname: e\nversion: 0.1.0\ndependencies:\n- name: o\n  repository: file://../../../outside\n",
        );
        let err = chart_dir_digest(&root, Path::new("charts/escape"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("leaves the repository"), "{err}");
    }
}
