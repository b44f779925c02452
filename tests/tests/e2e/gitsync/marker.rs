//! The sync tag: created, moved, pushed, read back after a restart, and a
//! tag moved by someone else reported.

use ::gitsync::{DEFAULT_SYNC_TAG, GitTagMarker, MarkerTracker, MarkerUpdate, SyncMarker};

use super::{bot, fixture, local_mirror, mirror, remote, revision};

#[tokio::test]
async fn sync_tag_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let url = fixture.bare_path().display().to_string();

    let mirror_a = mirror(remote(&url), &dir.path().join("a"), Some("main")).await;
    let marker = GitTagMarker::new(mirror_a.clone(), DEFAULT_SYNC_TAG, bot()).unwrap();
    assert!(
        marker.describe().contains("tag flux-sync in "),
        "{}",
        marker.describe()
    );
    let mut tracker = MarkerTracker::new(marker);
    assert_eq!(tracker.resume().await.unwrap(), None);

    // Created at the first sync, as an annotated tag.
    mirror_a.fetch().await.unwrap();
    assert_eq!(
        tracker.advance(first).await.unwrap(),
        MarkerUpdate::Moved {
            from: None,
            to: first
        }
    );
    assert_eq!(
        fixture
            .git_bare(["cat-file", "-t", "refs/tags/flux-sync"])
            .unwrap(),
        "tag"
    );
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(first.to_string())
    );

    // Moved (force) at the next sync.
    fixture.write("deploy/app.yaml", "v: 2\n").unwrap();
    let second = revision(&fixture.commit_and_push("second").unwrap());
    mirror_a.fetch().await.unwrap();
    assert_eq!(
        tracker.advance(second).await.unwrap(),
        MarkerUpdate::Moved {
            from: Some(first),
            to: second
        }
    );
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(second.to_string())
    );
    assert_eq!(
        tracker.advance(second).await.unwrap(),
        MarkerUpdate::Unchanged { at: second }
    );

    // A "restart": a fresh mirror directory and tracker resume from the tag.
    let mirror_b = mirror(remote(&url), &dir.path().join("b"), Some("main")).await;
    let mut restarted =
        MarkerTracker::new(GitTagMarker::new(mirror_b.clone(), DEFAULT_SYNC_TAG, bot()).unwrap());
    assert_eq!(restarted.resume().await.unwrap(), Some(second));

    // Someone moves the tag back by hand: the next advance reports it.
    fixture
        .git([
            "tag",
            "--force",
            "--annotate",
            "-m",
            "manual",
            "flux-sync",
            &first.to_string(),
        ])
        .unwrap();
    fixture
        .git([
            "push",
            "--quiet",
            "--force",
            "origin",
            "refs/tags/flux-sync",
        ])
        .unwrap();
    fixture.write("deploy/app.yaml", "v: 3\n").unwrap();
    let third = revision(&fixture.commit_and_push("third").unwrap());
    // The restarted daemon has never fetched `third`: moving the tag fetches it.
    assert_eq!(
        restarted.advance(third).await.unwrap(),
        MarkerUpdate::MovedByOther {
            expected: Some(second),
            found: Some(first),
            to: third
        }
    );
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(third.to_string())
    );

    // A tag deleted by someone else is reported too.
    fixture.git_bare(["tag", "--delete", "flux-sync"]).unwrap();
    assert_eq!(
        restarted.advance(third).await.unwrap(),
        MarkerUpdate::MovedByOther {
            expected: Some(third),
            found: None,
            to: third
        }
    );
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(third.to_string())
    );
}

#[tokio::test]
async fn custom_tag_name_and_invalid_names() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first, mirror) = local_mirror(dir.path(), None).await;
    mirror.fetch().await.unwrap();
    let marker = GitTagMarker::new(mirror.clone(), "flux-sync-prod", bot()).unwrap();
    marker.write(None, first).await.unwrap();
    assert_eq!(marker.read().await.unwrap(), Some(first));
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync-prod").unwrap(),
        Some(first.to_string())
    );
    for bad in ["", "a..b", "bad tag", "-x", "x.lock"] {
        let err = GitTagMarker::new(mirror.clone(), bad, bot()).unwrap_err();
        assert!(err.to_string().contains("invalid tag name"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn two_writers_never_overwrite_each_other_blindly() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let url = fixture.bare_path().display().to_string();
    fixture.write("deploy/app.yaml", "v: 2\n").unwrap();
    let second = revision(&fixture.commit_and_push("second").unwrap());
    let mirror_a = mirror(remote(&url), &dir.path().join("a"), Some("main")).await;
    let mirror_b = mirror(remote(&url), &dir.path().join("b"), Some("main")).await;
    mirror_a.fetch().await.unwrap();
    mirror_b.fetch().await.unwrap();
    let a = GitTagMarker::new(mirror_a, DEFAULT_SYNC_TAG, bot()).unwrap();
    let b = GitTagMarker::new(mirror_b, DEFAULT_SYNC_TAG, bot()).unwrap();

    // Both saw no tag; A creates it, B's creation is refused.
    a.write(None, first).await.unwrap();
    let err = b.write(None, second).await.unwrap_err();
    assert!(
        matches!(err, ::gitsync::Error::MarkerConflict { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("expected none, found {first}")),
        "{err}"
    );
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(first.to_string())
    );

    // B, having read A's tag, moves it; A's write from the old state is refused.
    b.write(Some(first), second).await.unwrap();
    let err = a.write(Some(first), first).await.unwrap_err();
    assert!(
        matches!(err, ::gitsync::Error::MarkerConflict { .. }),
        "{err:?}"
    );
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(second.to_string())
    );

    // A tracker reads again and reports the other writer instead of
    // overwriting what it did not see.
    let mut tracker = MarkerTracker::new(a);
    assert_eq!(tracker.resume().await.unwrap(), Some(second));
    fixture
        .git_bare(["tag", "--force", "flux-sync", &first.to_string()])
        .unwrap();
    assert_eq!(
        tracker.advance(second).await.unwrap(),
        MarkerUpdate::MovedByOther {
            expected: Some(second),
            found: Some(first),
            to: second
        }
    );
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(second.to_string())
    );
}

/// A killed writer left the tag's lock file in a local remote: every write
/// of the marker fails until someone removes it, and the error says which
/// file and what to do. Removing it lets the marker move again.
#[tokio::test]
async fn a_stale_tag_lock_in_a_local_remote_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let url = fixture.bare_path().display().to_string();
    let mirror = mirror(remote(&url), dir.path(), Some("main")).await;
    let mut tracker =
        MarkerTracker::new(GitTagMarker::new(mirror.clone(), DEFAULT_SYNC_TAG, bot()).unwrap());
    mirror.fetch().await.unwrap();

    let lock = fixture.bare_path().join("refs/tags/flux-sync.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();

    let error = tracker.advance(first).await.unwrap_err().to_string();
    assert!(error.contains(&lock.display().to_string()), "{error}");
    assert!(error.contains("remove that file"), "{error}");
    assert_eq!(fixture.origin_ref("refs/tags/flux-sync").unwrap(), None);

    std::fs::remove_file(&lock).unwrap();
    assert_eq!(
        tracker.advance(first).await.unwrap(),
        MarkerUpdate::Moved {
            from: None,
            to: first
        }
    );
}
