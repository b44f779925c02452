//! A restart with an unchanged repository resumes from the sync marker and
//! sends no write request; a commit that changes no manifest costs exactly
//! one write: moving the marker. Counted by the apiserver's own
//! `apiserver_request_total`, on a control plane of this test's own so no
//! other test's requests count. The controllers' work on the Deployment the
//! first sync created (its ReplicaSet, Pods, Events and status) may still be
//! going on meanwhile: none of it is fluxd's, so it is not counted.

use tests::controlplane::{ControlPlane, RequestCounts};

use super::{config_map, fluxd_on, lines_with, repository, run, summary, web_app};

/// The write requests (by verb and resource) in `counts`, but for those of
/// the controllers: fluxd never writes ReplicaSets, Pods, Events or status.
fn writes(counts: &RequestCounts) -> Vec<String> {
    counts
        .iter()
        .filter(|(key, _)| {
            matches!(
                key.verb.as_str(),
                "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE"
            )
        })
        .filter(|(key, _)| {
            !matches!(key.resource.as_str(), "replicasets" | "pods" | "events")
                && key.subresource != "status"
        })
        .map(|(key, count)| format!("{count} {} {}/{}", key.verb, key.resource, key.subresource))
        .collect()
}

#[tokio::test]
async fn a_restart_resumes_from_the_marker_and_writes_nothing() {
    let cluster = ControlPlane::private().await.unwrap();
    let ns = cluster.namespace("fluxd-restart").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("deploy/web.yaml", &web_app(ns.name(), 2))
        .unwrap();
    repo.write(
        "deploy/settings.yaml",
        &config_map(ns.name(), "settings", "1"),
    )
    .unwrap();
    let first = repo.commit_and_push("first").unwrap();
    let once = || {
        fluxd_on(&repo, &cluster, ns.name())
            .args([
                "--git-path",
                "deploy",
                "--once",
                "--sync-garbage-collection",
            ])
            .args(["--git-readonly", "--k8s-namespace", ns.name()])
    };
    let initial = run(&once());
    assert_eq!(initial.code(), Some(0), "{}", initial.output());
    assert_eq!(
        summary(&initial).u64("created"),
        Some(3),
        "{}",
        initial.output()
    );

    // Restart, nothing changed: resumes from the marker, writes nothing.
    let before = cluster.request_counts().await.unwrap();
    let again = run(&once());
    let made = cluster.request_counts().await.unwrap().since(&before);
    assert_eq!(again.code(), Some(0), "{}", again.output());
    let resumed = lines_with(&again, "resuming from the sync marker");
    assert_eq!(resumed.len(), 1, "{}", again.output());
    assert_eq!(resumed[0].str("revision"), Some(first.as_str()));
    let synced = summary(&again);
    assert_eq!(synced.u64("unchanged"), Some(3), "{synced}");
    assert_eq!(synced.str("revision"), Some(first.as_str()));
    assert_eq!(writes(&made), Vec::<String>::new(), "{}", again.output());

    // A commit outside --git-path: only the marker moves (one PATCH of the Secret).
    repo.write("README.md", "docs only\n").unwrap();
    let docs = repo.commit_and_push("docs").unwrap();
    let before = cluster.request_counts().await.unwrap();
    let moved = run(&once());
    let made = cluster.request_counts().await.unwrap().since(&before);
    assert_eq!(moved.code(), Some(0), "{}", moved.output());
    assert_eq!(summary(&moved).str("revision"), Some(docs.as_str()));
    assert_eq!(writes(&made), ["1 PATCH secrets/"], "{}", moved.output());
}
