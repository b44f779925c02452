//! The poller reports a head only when it changed, and goes on after errors.

use std::time::Duration;

use ::gitsync::{PollEvent, Poller};

use super::{fixture, local_mirror, mirror, remote, revision};

#[tokio::test]
async fn reports_only_changes_and_survives_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let bare = fixture.bare_path().to_owned();
    let mirror = mirror(
        remote(&bare.display().to_string()),
        dir.path(),
        Some("main"),
    )
    .await;
    let mut poller = Poller::start(mirror, Duration::from_millis(100), None);

    let Some(PollEvent::NewHead(head)) = poller.next().await else {
        panic!("expected the first head");
    };
    assert_eq!(head.revision, first);

    // Several polls find nothing new: no event.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), poller.next())
            .await
            .is_err(),
        "an unchanged head was reported again"
    );

    // The repository goes away: an error is reported...
    let moved = dir.path().join("moved.git");
    std::fs::rename(&bare, &moved).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(20), poller.next())
        .await
        .unwrap();
    assert!(
        matches!(event, Some(PollEvent::FetchFailed(_))),
        "{event:?}"
    );

    // ...and polling goes on: it comes back with a new commit.
    std::fs::rename(&moved, &bare).unwrap();
    fixture.write("deploy/app.yaml", "changed: true\n").unwrap();
    let second = revision(&fixture.commit_and_push("second").unwrap());
    poller.poll_now();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match poller.next().await {
                Some(PollEvent::NewHead(head)) => return head.revision,
                Some(_) => {}
                None => panic!("poller stopped"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(found, second);
}

#[tokio::test]
async fn last_known_revision_is_not_reported_again() {
    let dir = tempfile::tempdir().unwrap();
    let (_fixture, first, mirror) = local_mirror(dir.path(), None).await;
    let mut poller = Poller::start(mirror, Duration::from_millis(100), Some(first));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), poller.next())
            .await
            .is_err()
    );
}
