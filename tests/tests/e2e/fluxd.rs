//! fluxd as a real process (the tests' `fluxd-e2e` binary, the same library
//! entry point as `fluxd`) against the real control plane, real git
//! repositories (file:// and ssh with a deploy key) and the seed's RBAC;
//! in a pod's surroundings with Flux v1's chart arguments for the swap.

// Test helpers may unwrap, like `#[test]` functions: a panic is a test failure.
#![allow(clippy::unwrap_used)]

mod api_faults;
mod cache;
mod cli;
mod commit;
mod crash;
mod dry_run;
mod history;
mod identity;
mod loads;
mod marker;
pub(crate) mod migration;
mod outage;
mod readme;
mod restart;
mod scope;
mod secrets;
mod ssh;
mod sync;
mod verify;
mod wedge;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use tests::controlplane::ControlPlane;
use tests::fluxd::{Daemon, Finished, FluxdCommand, LogLine};
use tests::git::GitFixture;

/// Longest a `--once` or `--dry-run` run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest a daemon may take to log what a test waits for.
const LOG_TIMEOUT: Duration = Duration::from_secs(60);

/// fluxd with a clean environment and JSON logs.
fn fluxd() -> FluxdCommand {
    FluxdCommand::new(env!("CARGO_BIN_EXE_fluxd-e2e")).unwrap()
}

/// fluxd syncing `repo` (by its `file://` URL) into `cluster` as its admin,
/// restricted to `namespace`.
fn fluxd_on(repo: &GitFixture, cluster: &ControlPlane, namespace: &str) -> FluxdCommand {
    fluxd()
        .args([
            "--git-url",
            &file_url(repo),
            "--k8s-allow-namespace",
            namespace,
        ])
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
}

/// A fixture repository on `main` in `dir`.
fn repository(dir: &Path) -> GitFixture {
    GitFixture::new(dir, "main").unwrap()
}

/// The `file://` URL of a fixture's origin.
fn file_url(repo: &GitFixture) -> String {
    format!("file://{}", repo.bare_path().display())
}

/// Runs `command` to the end.
fn run(command: &FluxdCommand) -> Finished {
    command.run(RUN_TIMEOUT).unwrap()
}

/// The one `sync finished` line of a `--once` run.
fn summary(finished: &Finished) -> LogLine {
    let summaries: Vec<LogLine> = finished
        .logs()
        .into_iter()
        .filter(|line| line.is("sync finished"))
        .collect();
    assert_eq!(summaries.len(), 1, "{}", finished.output());
    summaries.into_iter().next().unwrap()
}

/// The log lines with `message`.
fn lines_with(finished: &Finished, message: &str) -> Vec<LogLine> {
    finished
        .logs()
        .into_iter()
        .filter(|line| line.is(message))
        .collect()
}

/// A ConfigMap manifest.
fn config_map(namespace: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  value: \"{value}\"\n"
    )
}

/// A Deployment and its Service.
fn web_app(namespace: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {namespace}
  annotations:
    fluxcd.io/automated: \"true\"
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27.0
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {namespace}
spec:
  selector: {{app: web}}
  ports:
    - port: 80
"
    )
}

/// An API for any kind, to check objects without typed structs.
fn dynamic_api(
    client: kube::Client,
    gvk: (&str, &str, &str, &str),
    namespace: &str,
) -> Api<DynamicObject> {
    let (group, version, kind, plural) = gvk;
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client, namespace, &resource)
}

/// The `value` of ConfigMap `name`, `None` when it does not exist.
async fn config_map_value(api: &Api<ConfigMap>, name: &str) -> Option<String> {
    api.get_opt(name)
        .await
        .unwrap_or_else(|e| panic!("reading ConfigMap {name}: {e}"))
        .and_then(|map| map.data)
        .and_then(|mut data| data.remove("value"))
}

/// Waits until `daemon` logs that it moved the sync marker to `revision`.
fn wait_for_marker(daemon: &mut Daemon, revision: &str) -> LogLine {
    daemon
        .wait_for_log(LOG_TIMEOUT, &format!("the marker at {revision}"), |line| {
            line.is("moved the sync marker") && line.str("to") == Some(revision)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()))
}

/// Whether `line` says the sync of `revision` did not run to completion.
fn is_incomplete(line: &LogLine, revision: &str) -> bool {
    line.message()
        .starts_with("the sync did not run to completion")
        && line.str("revision") == Some(revision)
}

/// Waits until `daemon` says the sync of `revision` did not run to completion.
fn wait_for_incomplete(daemon: &mut Daemon, revision: &str) -> LogLine {
    daemon
        .wait_for_log(LOG_TIMEOUT, "a sync that did not complete", |line| {
            is_incomplete(line, revision)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()))
}

/// Waits until the HTTP API's workload cache says its watch failed, or
/// (`recovered`) that it recovered.
fn wait_for_cache_watch(daemon: &mut Daemon, recovered: bool) -> LogLine {
    daemon
        .wait_for_log(LOG_TIMEOUT, "the workload cache's watch", |line| {
            if recovered {
                line.is("watch of the workload cache recovered")
            } else {
                line.message()
                    .starts_with("watch of the workload cache failed")
            }
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()))
}
