//! The seed's walkthrough with this project's chart: the chart rendered
//! by the real helm ([`chart`]), and the walkthrough itself end to end
//! against a real control plane, sshd and helm ([`seed`]); the documents
//! that describe them ([`docs`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chart;
mod docs;
mod seed;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `deploy/chart/flux`.
fn chart_dir() -> PathBuf {
    tests::tools::workspace_root().join("deploy/chart/flux")
}

/// A file of `tests/.fixtures/walkthrough`.
fn fixture(name: &str) -> PathBuf {
    tests::tools::workspace_root()
        .join("tests/.fixtures/walkthrough")
        .join(name)
}

/// helm 4 with its homes in `home` (never the user's).
fn helm(home: &Path) -> Command {
    let mut command = Command::new(tests::tools::helm().unwrap());
    for (key, dir) in [
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ] {
        command.env(key, home.join(dir));
    }
    command
}

/// `helm template flux deploy/chart/flux -n <namespace> <extra...>`: the
/// rendered objects, or helm's error output.
fn render(namespace: &str, extra: &[&str]) -> Result<Vec<serde_json::Value>, String> {
    let home = tempfile::tempdir().unwrap();
    let output = helm(home.path())
        .arg("template")
        .arg("flux")
        .arg(chart_dir())
        .args(["-n", namespace])
        .args(extra)
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8(output.stdout).unwrap();
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// The object of `kind` named `name` among `objects`.
fn object<'a>(objects: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {objects:#?}"))
}

/// The first container's `args` of Deployment `name`, as strings.
fn container_args(objects: &[serde_json::Value], name: &str) -> Vec<String> {
    let deployment = object(objects, "Deployment", name);
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}
