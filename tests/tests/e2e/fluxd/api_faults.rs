//! An API server that answers 429, 500 or 503 for a while (an HTTPS proxy
//! in front of the real apiserver, `tests::api_proxy`, answering for it):
//! fluxd retries a short burst of "later" answers within the request
//! (honouring `Retry-After`) and the sync goes through; a fault that lasts
//! leaves the sync incomplete, with a clear line naming the failures, the
//! marker where it was and garbage collection skipped (so nothing is pruned
//! from a half-done apply); the workload cache of the HTTP API says its
//! watch failed and then that it recovered; fluxd never exits, and the
//! first sync after the fault clears converges.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use tests::api_proxy::{ApiProxy, Fault};
use tests::controlplane::{ControlPlane, wait_for};
use tests::fluxd::FluxdCommand;
use tests::git::GitFixture;

use super::{
    LOG_TIMEOUT, config_map, config_map_value as value, file_url, fluxd, is_incomplete, repository,
    wait_for_cache_watch, wait_for_incomplete, wait_for_marker,
};

/// fluxd syncing `repo` into `namespace` through the proxy's `kubeconfig`,
/// polling every second, syncing every 2 s, with its API on a free port.
fn through_proxy(repo: &GitFixture, namespace: &str, kubeconfig: &Path) -> FluxdCommand {
    let port = tests::net::free_port().unwrap();
    fluxd()
        .args(["--git-url", &file_url(repo)])
        .args(["--k8s-allow-namespace", namespace])
        .args(["--git-poll-interval", "1s", "--sync-interval", "2s"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--kubeconfig")
        .arg(kubeconfig)
}

#[tokio::test]
async fn api_server_errors_leave_the_sync_incomplete_unpruned_and_the_next_sync_converges() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-api-faults").await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let proxy = ApiProxy::start(cluster).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = proxy.kubeconfig(cluster, dir.path()).unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    for name in ["a", "b"] {
        repo.write(&format!("{name}.yaml"), &config_map(ns.name(), name, "1"))
            .unwrap();
    }
    let first = repo.commit_and_push("first").unwrap();
    let mut daemon = through_proxy(&repo, ns.name(), &kubeconfig)
        .arg("--sync-garbage-collection")
        .start(dir.path())
        .unwrap();
    wait_for_marker(&mut daemon, &first);

    // A burst of 429s with Retry-After: retried within the requests.
    proxy.fail(Fault::status(429).retry_after(1).times(3).applies_only());
    repo.write("a.yaml", &config_map(ns.name(), "a", "2"))
        .unwrap();
    let second = repo.commit_and_push("second").unwrap();
    wait_for_marker(&mut daemon, &second);
    assert_eq!(proxy.failed(), 3);
    assert_eq!(value(&maps, "a").await.as_deref(), Some("2"));
    assert_eq!(
        daemon.count_logs(|line| is_incomplete(line, &second)),
        0,
        "{}",
        daemon.log_text()
    );

    // Every apply answered 503 (and, after the retries, 500) for a while:
    // the sync is incomplete, b (removed from git) is not pruned.
    for status in [503, 500] {
        let failed_before = proxy.failed();
        proxy.fail(Fault::status(status).applies_only());
        let value_now = if status == 503 { "3" } else { "4" };
        repo.write("a.yaml", &config_map(ns.name(), "a", value_now))
            .unwrap();
        if status == 503 {
            repo.remove("b.yaml").unwrap();
        }
        let revision = repo.commit_and_push(&format!("during {status}")).unwrap();
        let line = wait_for_incomplete(&mut daemon, &revision);
        assert!(
            line.str("reason")
                .is_some_and(|r| r.contains("failed in the API server (429 or 5xx)")),
            "{line}"
        );
        daemon
            .wait_for_log(LOG_TIMEOUT, "garbage collection skipped", |line| {
                line.is("sync problem")
                    && line
                        .str("error")
                        .is_some_and(|e| e.starts_with("garbage collection skipped"))
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", daemon.log_text()));
        assert!(proxy.failed() > failed_before);
        assert_eq!(value(&maps, "b").await.as_deref(), Some("1"));
        assert_eq!(
            repo.origin_ref("refs/tags/flux-sync").unwrap(),
            Some(second.clone())
        );
        daemon.check_running().unwrap();
    }

    // The fault clears: the next sync converges and prunes.
    proxy.heal();
    let head = repo.git(["rev-parse", "HEAD"]).unwrap();
    wait_for_marker(&mut daemon, &head);
    assert_eq!(value(&maps, "a").await.as_deref(), Some("4"));
    wait_for(LOG_TIMEOUT, "ConfigMap b pruned", || async {
        value(&maps, "b").await.is_none()
    })
    .await
    .unwrap();
    daemon.check_running().unwrap();
    daemon.stop();
}

#[tokio::test]
async fn an_api_server_failing_every_request_from_the_start_is_survived() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-api-down").await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let proxy = ApiProxy::start(cluster).unwrap();
    proxy.fail(Fault::status(503));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = proxy.kubeconfig(cluster, dir.path()).unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    repo.write("a.yaml", &config_map(ns.name(), "a", "1"))
        .unwrap();
    let first = repo.commit_and_push("first").unwrap();
    let mut daemon = through_proxy(&repo, ns.name(), &kubeconfig)
        .start(dir.path())
        .unwrap();
    // Nothing can be applied: the sync says so, the marker is not written.
    wait_for_incomplete(&mut daemon, &first);
    // The HTTP API's workload cache says its watch failed.
    let watch_failed = wait_for_cache_watch(&mut daemon, false);
    assert!(
        watch_failed.to_string().contains("503")
            || watch_failed.to_string().contains("unable to handle"),
        "{watch_failed}"
    );
    assert_eq!(repo.origin_ref("refs/tags/flux-sync").unwrap(), None);
    daemon.check_running().unwrap();

    proxy.heal();
    wait_for_marker(&mut daemon, &first);
    assert_eq!(value(&maps, "a").await.as_deref(), Some("1"));
    wait_for_cache_watch(&mut daemon, true);
    daemon.check_running().unwrap();
    daemon.stop();
}
