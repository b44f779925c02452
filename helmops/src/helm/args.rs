//! Command lines for each helm subcommand, for Helm 3 and Helm 4.
//!
//! The two differ in a few flags: `--force` became `--force-replace`, `--wait`
//! takes a strategy in Helm 4 (`watcher` is what Helm 3's `--wait` did), and
//! `--recreate-pods` is gone. No secret ever appears here: values travel in a
//! file, repository credentials in helm's own config files.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::HelmMajor;
use crate::model::{ReleaseOptions, RollbackPolicy};

/// What `helm upgrade --install` is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct UpgradeRequest<'a> {
    /// Release name.
    pub release_name: &'a str,
    /// Namespace of the release.
    pub namespace: &'a str,
    /// Chart directory or archive.
    pub chart: &'a Path,
    /// File with the merged values (YAML or JSON).
    pub values_file: &'a Path,
    /// The release's options.
    pub options: &'a ReleaseOptions,
}

/// `--timeout` in Go's duration syntax.
pub(crate) fn go_duration(duration: Duration) -> String {
    format!("{}s", duration.as_secs().max(1))
}

fn push<S: Into<OsString>>(args: &mut Vec<OsString>, items: impl IntoIterator<Item = S>) {
    args.extend(items.into_iter().map(Into::into));
}

fn wait_flag(major: HelmMajor) -> &'static str {
    match major {
        HelmMajor::V3 => "--wait",
        HelmMajor::V4 => "--wait=watcher",
    }
}

fn force_flag(major: HelmMajor) -> &'static str {
    match major {
        HelmMajor::V3 => "--force",
        HelmMajor::V4 => "--force-replace",
    }
}

/// `helm upgrade --install`.
pub(crate) fn upgrade(major: HelmMajor, request: &UpgradeRequest<'_>) -> Vec<OsString> {
    let options = request.options;
    let mut args: Vec<OsString> = Vec::new();
    push(&mut args, ["upgrade", request.release_name]);
    args.push(request.chart.as_os_str().to_owned());
    push(&mut args, ["--install", "--namespace", request.namespace]);
    push(&mut args, ["--values"]);
    args.push(request.values_file.as_os_str().to_owned());
    push(
        &mut args,
        ["--timeout".to_owned(), go_duration(options.timeout)],
    );
    push(&mut args, ["--output", "json"]);
    if options.reset_values {
        push(&mut args, ["--reset-values"]);
    }
    if options.force {
        push(&mut args, [force_flag(major)]);
        if major == HelmMajor::V4 {
            // Replacement is a client-side-apply strategy in Helm 4.
            push(&mut args, ["--server-side=false"]);
        }
    }
    if options.wait {
        push(&mut args, [wait_flag(major)]);
    }
    if let Some(max) = options.max_history {
        push(&mut args, ["--history-max".to_owned(), max.to_string()]);
    }
    if options.skip_crds {
        push(&mut args, ["--skip-crds"]);
    }
    if options.disable_openapi_validation {
        push(&mut args, ["--disable-openapi-validation"]);
    }
    args
}

/// `helm rollback` to `revision` (the previous one when `None`).
pub(crate) fn rollback(
    major: HelmMajor,
    release_name: &str,
    namespace: &str,
    revision: Option<i64>,
    policy: &RollbackPolicy,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    push(&mut args, ["rollback", release_name]);
    if let Some(revision) = revision {
        push(&mut args, [revision.to_string()]);
    }
    push(&mut args, ["--namespace", namespace]);
    push(
        &mut args,
        ["--timeout".to_owned(), go_duration(policy.timeout)],
    );
    if policy.force {
        push(&mut args, [force_flag(major)]);
        if major == HelmMajor::V4 {
            push(&mut args, ["--server-side=false"]);
        }
    }
    if policy.recreate && major == HelmMajor::V3 {
        push(&mut args, ["--recreate-pods"]);
    }
    if policy.disable_hooks {
        push(&mut args, ["--no-hooks"]);
    }
    if policy.wait {
        push(&mut args, [wait_flag(major)]);
    }
    args
}

/// `helm uninstall`.
pub(crate) fn uninstall(release_name: &str, namespace: &str, timeout: Duration) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    push(
        &mut args,
        ["uninstall", release_name, "--namespace", namespace],
    );
    push(&mut args, ["--timeout".to_owned(), go_duration(timeout)]);
    args
}

/// `helm status -o json`.
pub(crate) fn status(release_name: &str, namespace: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    push(
        &mut args,
        [
            "status",
            release_name,
            "--namespace",
            namespace,
            "--output",
            "json",
        ],
    );
    args
}

/// `helm history -o json`.
pub(crate) fn history(release_name: &str, namespace: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    push(
        &mut args,
        [
            "history",
            release_name,
            "--namespace",
            namespace,
            "--output",
            "json",
            "--max",
            "256",
        ],
    );
    args
}

/// `helm get values --all -o json`.
pub(crate) fn get_values(release_name: &str, namespace: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    push(
        &mut args,
        [
            "get",
            "values",
            release_name,
            "--namespace",
            namespace,
            "--output",
            "json",
        ],
    );
    args
}

/// `helm dependency update` (or `build`, which keeps `Chart.lock`).
pub(crate) fn dependency(chart_dir: &Path, build: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    push(
        &mut args,
        ["dependency", if build { "build" } else { "update" }],
    );
    args.push(chart_dir.as_os_str().to_owned());
    args
}

/// `helm test`.
pub(crate) fn test(release_name: &str, namespace: &str, timeout: Duration) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    push(&mut args, ["test", release_name, "--namespace", namespace]);
    push(&mut args, ["--timeout".to_owned(), go_duration(timeout)]);
    args
}

/// `helm pull` of an OCI chart into `destination`.
pub(crate) fn pull_oci(reference: &str, version: &str, destination: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    push(
        &mut args,
        ["pull", reference, "--version", version, "--destination"],
    );
    args.push(destination.as_os_str().to_owned());
    args
}

/// The subcommand and its non-file arguments, for logs and errors.
pub(crate) fn describe(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DEFAULT_TIMEOUT;

    fn options() -> ReleaseOptions {
        ReleaseOptions {
            timeout: Duration::from_secs(90),
            reset_values: true,
            force: true,
            wait: true,
            max_history: Some(5),
            skip_crds: true,
            disable_openapi_validation: false,
            rollback: None,
            test: None,
        }
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn upgrade_flags_differ_between_helm_3_and_4() {
        let options = options();
        let request = UpgradeRequest {
            release_name: "demo-app",
            namespace: "demo",
            chart: Path::new("/charts/app"),
            values_file: Path::new("/tmp/values.yaml"),
            options: &options,
        };
        let v3 = strings(upgrade(HelmMajor::V3, &request));
        assert_eq!(
            v3,
            [
                "upgrade",
                "demo-app",
                "/charts/app",
                "--install",
                "--namespace",
                "demo",
                "--values",
                "/tmp/values.yaml",
                "--timeout",
                "90s",
                "--output",
                "json",
                "--reset-values",
                "--force",
                "--wait",
                "--history-max",
                "5",
                "--skip-crds"
            ]
        );
        let v4 = strings(upgrade(HelmMajor::V4, &request));
        assert!(v4.contains(&"--force-replace".to_owned()));
        assert!(v4.contains(&"--server-side=false".to_owned()));
        assert!(v4.contains(&"--wait=watcher".to_owned()));
        assert!(!v4.contains(&"--force".to_owned()) && !v4.contains(&"--wait".to_owned()));
    }

    #[test]
    fn rollback_flags() {
        let policy = RollbackPolicy {
            force: false,
            recreate: true,
            disable_hooks: true,
            timeout: DEFAULT_TIMEOUT,
            wait: false,
            retry: false,
            max_retries: 0,
        };
        assert_eq!(
            strings(rollback(HelmMajor::V3, "r", "ns", Some(2), &policy)),
            [
                "rollback",
                "r",
                "2",
                "--namespace",
                "ns",
                "--timeout",
                "300s",
                "--recreate-pods",
                "--no-hooks"
            ]
        );
        assert_eq!(
            strings(rollback(HelmMajor::V4, "r", "ns", None, &policy)),
            [
                "rollback",
                "r",
                "--namespace",
                "ns",
                "--timeout",
                "300s",
                "--no-hooks"
            ]
        );
    }
}
