//! The README's main-job command, run exactly as written (with this test's
//! fluxd binary standing in for `cargo run -p fluxd --`), from the root of
//! this checkout with no cluster configured; and the demo's umbrella chart
//! renders with the real helm.

use std::path::Path;
use std::process::Command;

use tests::tools::{helm, workspace_root};

use super::{fluxd, run};

/// What the README's command starts with; the rest are fluxd's arguments.
const CARGO_RUN: &str = "cargo run -p fluxd --";

/// The README's main-job command line: the one line that runs fluxd.
fn readme_command(readme: &str) -> String {
    let lines: Vec<&str> = readme
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with(CARGO_RUN) && line.contains("--dry-run"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one main-job command in README.md: {lines:?}"
    );
    lines[0].to_owned()
}

/// Splits the arguments after `cargo run -p fluxd --` on whitespace and
/// expands `$PWD` (the command is run from the checkout's root).
fn arguments(command: &str, pwd: &Path) -> Vec<String> {
    command[CARGO_RUN.len()..]
        .split_whitespace()
        .map(|word| word.replace("$PWD", &pwd.display().to_string()))
        .collect()
}

#[test]
fn the_readme_main_job_command_prints_the_demo_plan_without_a_cluster() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = readme_command(&readme);
    let args = arguments(&command, &root);
    assert!(args.iter().any(|arg| arg == "--dry-run"), "{command}");
    let finished = run(&fluxd()
        .args(&args)
        .arg("--log-format=text")
        .current_dir(&root));
    assert_eq!(finished.code(), Some(0), "{command}\n{}", finished.output());
    for id in [
        "<cluster>:namespace/demo",
        "<cluster>:namespace/flux",
        "demo:deployment/podinfo",
        "demo:service/podinfo",
        "demo:configmap/podinfo-config",
        "demo:helmrelease/xposer",
    ] {
        assert!(
            finished.stdout.contains(id),
            "{id} missing:\n{}",
            finished.output()
        );
    }
}

#[test]
fn the_demo_umbrella_chart_builds_its_file_dependency_and_renders() {
    let work = tempfile::tempdir().unwrap();
    let charts = workspace_root().join("examples/charts");
    for chart in ["xposer-umbrella", "xposer"] {
        copy_dir(&charts.join(chart), &work.path().join(chart));
    }
    let helm = |args: &[&str]| {
        let output = Command::new(helm().unwrap())
            .args(args)
            .current_dir(work.path())
            .env("HELM_CACHE_HOME", work.path().join(".helm/cache"))
            .env("HELM_CONFIG_HOME", work.path().join(".helm/config"))
            .env("HELM_DATA_HOME", work.path().join(".helm/data"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "helm {args:?}: {text}");
        text
    };
    helm(&["dependency", "build", "xposer-umbrella"]);
    let rendered = helm(&[
        "template",
        "xposer",
        "xposer-umbrella",
        "--namespace",
        "demo",
    ]);
    assert!(rendered.contains("name: xposer-xposer"), "{rendered}");
    assert!(
        rendered.contains("image: \"stakater/xposer:v0.0.13\""),
        "{rendered}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
