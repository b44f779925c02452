//! The sync marker: Flux's git tag, or (`--git-readonly`) an annotation on the
//! deploy-key Secret whose data fluxd never touches (a value there that is not
//! a revision counts as no marker); either one moved by someone else while
//! fluxd runs is reported.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use tests::controlplane::ControlPlane;
use tests::fluxd::{Daemon, LogLine};
use tests::git::GitFixture;

use super::{LOG_TIMEOUT, config_map, fluxd_on, repository};

const ANNOTATION: &str = "flux.weave.works/sync-hwm";

/// Checks the deploy-key Secret: the marker at `revision`, the key untouched.
async fn assert_marker_and_key(secrets: &Api<Secret>, revision: &str, key: &ByteString) {
    let secret = secrets.get("flux-git-deploy").await.unwrap();
    let annotations = secret.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations.get(ANNOTATION).map(String::as_str),
        Some(revision)
    );
    assert_eq!(secret.data.unwrap_or_default().get("identity"), Some(key));
}

/// Commits a change and waits for the daemon's warning that the marker was
/// moved by someone else; returns the new revision and the warning.
fn commit_and_wait_for_the_warning(
    repo: &GitFixture,
    daemon: &mut Daemon,
    namespace: &str,
) -> (String, LogLine) {
    repo.write("b.yaml", &config_map(namespace, "b", "1"))
        .unwrap();
    let revision = repo.commit_and_push("second").unwrap();
    let warning = daemon
        .wait_for_log(
            LOG_TIMEOUT,
            "the warning of a marker moved by someone else",
            |line| line.message().contains("moved by someone else"),
        )
        .unwrap();
    assert_eq!(warning.level(), "WARN", "{warning}");
    (revision, warning)
}

#[tokio::test]
async fn the_secret_marker_moves_keeps_the_deploy_key_and_reports_moves_by_others() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-marker").await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(cluster.client().unwrap(), ns.name());
    // The deploy-key Secret as Flux's chart makes it: a key in its data.
    let key = ByteString(b"-----BEGIN OPENSSH PRIVATE KEY----- not really".to_vec());
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("flux-git-deploy".into()),
                    // Not a revision: read as no marker, and overwritten.
                    annotations: Some(BTreeMap::from([(
                        ANNOTATION.to_owned(),
                        "not-a-revision".to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                data: Some(BTreeMap::from([("identity".to_owned(), key.clone())])),
                ..Secret::default()
            },
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("a.yaml", &config_map(ns.name(), "a", "1"))
        .unwrap();
    let first = repo.commit_and_push("first").unwrap();
    let mut daemon = fluxd_on(&repo, cluster, ns.name())
        .args(["--git-readonly", "--k8s-namespace", ns.name()])
        .args(["--git-poll-interval", "1s", "--sync-interval", "1h"])
        .start(dir.path())
        .unwrap();
    daemon
        .wait_for_log(
            LOG_TIMEOUT,
            "the marker moved to the first commit",
            |line| line.is("moved the sync marker") && line.str("to") == Some(first.as_str()),
        )
        .unwrap();
    assert!(
        daemon.count_logs(|line| line.message().contains("not a commit id")) > 0,
        "{}",
        daemon.log_text()
    );
    assert_marker_and_key(&secrets, &first, &key).await;

    // Someone else moves the marker; the next sync reports it and moves it on.
    secrets
        .patch(
            "flux-git-deploy",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({
                "metadata": {"annotations": {ANNOTATION: "0123456789abcdef0123456789abcdef01234567"}}
            })),
        )
        .await
        .unwrap();
    let (second, warning) = commit_and_wait_for_the_warning(&repo, &mut daemon, ns.name());
    assert_eq!(warning.str("expected"), Some(first.as_str()), "{warning}");
    assert_eq!(
        warning.str("found"),
        Some("0123456789abcdef0123456789abcdef01234567"),
        "{warning}"
    );
    assert_eq!(warning.str("to"), Some(second.as_str()), "{warning}");
    assert_marker_and_key(&secrets, &second, &key).await;
    // --git-readonly: nothing was pushed.
    assert_eq!(repo.origin_ref("refs/tags/flux-sync").unwrap(), None);
    daemon.stop();
}

#[tokio::test]
async fn a_sync_tag_moved_by_someone_else_is_reported() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-tag").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("a.yaml", &config_map(ns.name(), "a", "1"))
        .unwrap();
    let first = repo.commit_and_push("first").unwrap();
    let mut daemon = fluxd_on(&repo, cluster, ns.name())
        .args(["--git-label", "cluster-a"])
        .args(["--git-poll-interval", "1s", "--sync-interval", "1h"])
        .start(dir.path())
        .unwrap();
    daemon
        .wait_for_log(LOG_TIMEOUT, "the tag moved to the first commit", |line| {
            line.is("moved the sync marker") && line.str("to") == Some(first.as_str())
        })
        .unwrap();
    // --git-label names the tag.
    assert_eq!(
        repo.origin_ref("refs/tags/cluster-a").unwrap(),
        Some(first.clone())
    );
    assert_eq!(repo.origin_ref("refs/tags/flux-sync").unwrap(), None);

    // Someone deletes the tag by hand; the next sync reports it and sets it again.
    repo.git(["push", "--quiet", "origin", ":refs/tags/cluster-a"])
        .unwrap();
    let (second, warning) = commit_and_wait_for_the_warning(&repo, &mut daemon, ns.name());
    assert_eq!(warning.str("expected"), Some(first.as_str()), "{warning}");
    assert_eq!(warning.str("found"), None, "{warning}");
    assert_eq!(warning.str("to"), Some(second.as_str()), "{warning}");
    assert_eq!(
        repo.origin_ref("refs/tags/cluster-a").unwrap(),
        Some(second)
    );
    daemon.stop();
}

/// Two writers of the Secret marker (two daemons, or a daemon and an
/// operator's `kubectl annotate`): every write names what it expects and the
/// resourceVersion it read, so neither overwrites the other blindly.
#[tokio::test]
async fn two_writers_of_the_secret_marker_never_overwrite_each_other_blindly() {
    use fluxd::SecretMarker;
    use gitsync::{MarkerTracker, MarkerUpdate, Revision, SyncMarker};

    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("marker-writers").await.unwrap();
    let client = cluster.client().unwrap();
    let a = SecretMarker::new(client.clone(), ns.name(), "flux-git-deploy");
    let b = SecretMarker::new(client.clone(), ns.name(), "flux-git-deploy");
    let rev = |c: char| -> Revision { c.to_string().repeat(40).parse().unwrap() };
    let conflict = |err: &gitsync::Error| matches!(err, gitsync::Error::MarkerConflict { .. });

    // Both saw no Secret: A creates it, B's create is refused.
    a.write(None, rev('1')).await.unwrap();
    let err = b.write(None, rev('2')).await.unwrap_err();
    assert!(conflict(&err), "{err:?}");
    assert!(
        err.to_string().contains("expected none, found 1111"),
        "{err}"
    );
    assert_eq!(b.read().await.unwrap(), Some(rev('1')));

    // B moves it from what it read; A's write from the older state is refused.
    b.write(Some(rev('1')), rev('2')).await.unwrap();
    let err = a.write(Some(rev('1')), rev('3')).await.unwrap_err();
    assert!(conflict(&err), "{err:?}");
    assert_eq!(a.read().await.unwrap(), Some(rev('2')));

    // The deploy key written into the data meanwhile (a new resourceVersion)
    // is kept, and a tracker reads again, reports the other writer and moves on.
    let secrets: Api<Secret> = Api::namespaced(client, ns.name());
    let key = ByteString(b"private key".to_vec());
    secrets
        .patch(
            "flux-git-deploy",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"identity": key}})),
        )
        .await
        .unwrap();
    let mut tracker = MarkerTracker::new(a);
    assert_eq!(tracker.resume().await.unwrap(), Some(rev('2')));
    b.write(Some(rev('2')), rev('4')).await.unwrap();
    assert_eq!(
        tracker.advance(rev('5')).await.unwrap(),
        MarkerUpdate::MovedByOther {
            expected: Some(rev('2')),
            found: Some(rev('4')),
            to: rev('5')
        }
    );
    assert_marker_and_key(&secrets, &rev('5').to_string(), &key).await;
}
