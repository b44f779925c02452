//! A branch whose history was rewritten behind the sync marker (a force
//! push: the new head does not descend from the marker's revision) is
//! refused: an error each sync naming the branch, the marker's revision and
//! the new head, `success="false"` in the sync metrics, nothing applied and
//! nothing pruned, the marker left where it was. A fast-forward is still
//! followed, the first sync (no marker yet) is no rewrite, and once the
//! branch descends from the marker again the next sync follows it. With
//! `--git-allow-history-rewrite` the rewritten head is applied (and what
//! left it pruned) with a warning.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use tests::controlplane::{ControlPlane, wait_for};
use tests::git::GitFixture;

use super::{
    LOG_TIMEOUT, config_map, config_map_value as value, fluxd_on, repository, wait_for_marker,
};

/// A repository in `dir/repo` with ConfigMaps `a` and `b` at 1, committed
/// and pushed; returns it and the commit.
fn two_maps(dir: &Path, namespace: &str) -> (GitFixture, String) {
    std::fs::create_dir(dir.join("repo")).unwrap();
    let repo = repository(&dir.join("repo"));
    for name in ["a", "b"] {
        repo.write(&format!("{name}.yaml"), &config_map(namespace, name, "1"))
            .unwrap();
    }
    let first = repo.commit_and_push("first").unwrap();
    (repo, first)
}

/// Rewrites `repo`'s branch: back to `base`, with `a` at `value` and `b`
/// removed, force-pushed. Returns the new head.
fn rewrite(repo: &GitFixture, base: &str, namespace: &str, value: &str) -> String {
    repo.git(["reset", "--quiet", "--hard", base]).unwrap();
    repo.write("a.yaml", &config_map(namespace, "a", value))
        .unwrap();
    repo.remove("b.yaml").unwrap();
    let head = repo.commit("rewritten").unwrap();
    repo.force_push().unwrap();
    head
}

/// fluxd's `/metrics` on `port`.
async fn metrics(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading /metrics: {e}"))
}

/// The count of failed syncs in fluxd's `/metrics` on `port`.
async fn failed_syncs(port: u16) -> u64 {
    metrics(port)
        .await
        .lines()
        .find_map(|line| {
            line.strip_prefix("flux_daemon_sync_duration_seconds_count{success=\"false\"} ")
        })
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_rewritten_history_is_refused_until_the_branch_descends_from_the_marker_again() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-rewrite").await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = two_maps(dir.path(), ns.name());
    let port = tests::net::free_port().unwrap();
    let mut daemon = fluxd_on(&repo, cluster, ns.name())
        .args(["--git-poll-interval", "1s", "--sync-interval", "1s"])
        .arg("--sync-garbage-collection")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .start(dir.path())
        .unwrap();
    // No marker yet: the first sync is no rewrite.
    wait_for_marker(&mut daemon, &first);

    // A fast-forward is followed.
    repo.write("a.yaml", &config_map(ns.name(), "a", "2"))
        .unwrap();
    let second = repo.commit_and_push("second").unwrap();
    wait_for_marker(&mut daemon, &second);
    assert_eq!(value(&maps, "a").await.as_deref(), Some("2"));

    // Force-pushed from the first commit: refused, each sync.
    let failed_before = failed_syncs(port).await;
    let rewritten = rewrite(&repo, &first, ns.name(), "3");
    let refused = |line: &tests::fluxd::LogLine| {
        line.is("sync refused: the branch's history was rewritten behind the sync marker")
            && line.str("head") == Some(rewritten.as_str())
    };
    let deadline = std::time::Instant::now() + LOG_TIMEOUT;
    while daemon.count_logs(refused) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "not refused twice:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let line = daemon
        .logs()
        .into_iter()
        .find(|line| refused(line))
        .unwrap();
    assert!(line.level().eq_ignore_ascii_case("error"), "{line}");
    assert_eq!(line.str("branch"), Some("main"), "{line}");
    assert_eq!(line.str("marker_revision"), Some(second.as_str()), "{line}");
    let error = line.str("error").unwrap_or_default();
    for part in [
        "refusing to sync branch main",
        &format!("the head {rewritten} does not descend from {second}"),
        "tag flux-sync",
        "nothing was applied or pruned",
        "--git-allow-history-rewrite",
    ] {
        assert!(error.contains(part), "{part:?} not in {error}");
    }
    // Nothing of the rewritten tree applied, nothing pruned, the marker stays.
    assert_eq!(value(&maps, "a").await.as_deref(), Some("2"));
    assert_eq!(value(&maps, "b").await.as_deref(), Some("1"));
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(second.clone())
    );
    assert!(
        daemon.count_logs(
            |line| line.is("sync finished") && line.str("revision") == Some(rewritten.as_str())
        ) == 0,
        "{}",
        daemon.log_text()
    );
    // The sync metrics count the refusals as failed syncs.
    let failed_after = failed_syncs(port).await;
    assert!(
        failed_after >= failed_before + 2,
        "{failed_before} -> {failed_after}\n{}",
        metrics(port).await
    );

    // The branch is put back on top of the marker's revision: followed.
    repo.git(["reset", "--quiet", "--hard", &second]).unwrap();
    repo.write("a.yaml", &config_map(ns.name(), "a", "4"))
        .unwrap();
    let restored = repo.commit("restored").unwrap();
    repo.force_push().unwrap();
    wait_for_marker(&mut daemon, &restored);
    assert_eq!(value(&maps, "a").await.as_deref(), Some("4"));
    assert_eq!(value(&maps, "b").await.as_deref(), Some("1"));
    daemon.check_running().unwrap();
    daemon.stop();
}

#[tokio::test]
async fn with_the_flag_a_rewritten_history_is_followed_and_pruned() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-rewrite-allowed").await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let dir = tempfile::tempdir().unwrap();
    let (repo, first) = two_maps(dir.path(), ns.name());
    repo.write("a.yaml", &config_map(ns.name(), "a", "2"))
        .unwrap();
    let second = repo.commit_and_push("second").unwrap();
    let mut daemon = fluxd_on(&repo, cluster, ns.name())
        .args(["--git-poll-interval", "1s", "--sync-interval", "1h"])
        .arg("--sync-garbage-collection")
        .arg("--git-allow-history-rewrite")
        .start(dir.path())
        .unwrap();
    wait_for_marker(&mut daemon, &second);

    let rewritten = rewrite(&repo, &first, ns.name(), "3");
    wait_for_marker(&mut daemon, &rewritten);
    let warned = daemon
        .logs()
        .into_iter()
        .find(|line| {
            line.message().starts_with(
                "the branch's history was rewritten behind the sync marker; following it",
            )
        })
        .unwrap_or_else(|| panic!("no warning\n{}", daemon.log_text()));
    assert!(warned.level().eq_ignore_ascii_case("warn"), "{warned}");
    assert_eq!(warned.str("head"), Some(rewritten.as_str()), "{warned}");
    assert_eq!(
        warned.str("marker_revision"),
        Some(second.as_str()),
        "{warned}"
    );
    assert_eq!(value(&maps, "a").await.as_deref(), Some("3"));
    wait_for(LOG_TIMEOUT, "ConfigMap b pruned", || async {
        value(&maps, "b").await.is_none()
    })
    .await
    .unwrap();
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(rewritten)
    );
    daemon.stop();
}
