//! `gitsync` against real repositories: the git CLI, file and path URLs,
//! OpenSSH, and smart HTTP through `git http-backend`.

// Test helpers may unwrap, like `#[test]` functions: a panic is a test failure.
#![allow(clippy::unwrap_used)]

mod bounds;
mod checkout;
mod errors;
mod fetch;
mod http;
mod marker;
mod poll;
mod push;
mod signing;
mod ssh;
mod write;

use std::path::Path;

use ::gitsync::{
    BoxError, CommitOutcome, CommitRequest, GitUrl, Identity, Mirror, Remote, Revision,
};
use tests::git::GitFixture;

/// A fixture repository on `main` with one commit pushed; returns it and that revision.
fn fixture(dir: &Path) -> (GitFixture, Revision) {
    let fixture = GitFixture::new(dir, "main").unwrap();
    fixture
        .write(
            "deploy/app.yaml",
            "kind: Deployment\nmetadata:\n  name: app\n",
        )
        .unwrap();
    let revision = fixture.commit_and_push("first").unwrap();
    (fixture, revision.parse().unwrap())
}

/// A remote at `url` with a short timeout.
fn remote(url: &str) -> Remote {
    Remote::new(GitUrl::parse(url).unwrap()).with_timeout(std::time::Duration::from_secs(10))
}

/// A mirror of `remote` in `<dir>/mirror`.
async fn mirror(remote: Remote, dir: &Path, branch: Option<&str>) -> Mirror {
    Mirror::open(remote, dir.join("mirror"), branch.map(ToOwned::to_owned))
        .await
        .unwrap()
}

fn revision(text: &str) -> Revision {
    text.parse().unwrap()
}

fn bot() -> Identity {
    Identity::new("Flux Bot", "flux@example.com")
}

/// [`fixture`] plus a mirror of it by path, following `branch` (or the default).
async fn local_mirror(dir: &Path, branch: Option<&str>) -> (GitFixture, Revision, Mirror) {
    let (fixture, first) = fixture(dir);
    let url = fixture.bare_path().display().to_string();
    let mirror = mirror(remote(&url), dir, branch).await;
    (fixture, first, mirror)
}

/// An edit that writes one file.
fn write_file(
    name: &'static str,
    contents: &'static str,
) -> impl FnMut(&Path) -> Result<(), BoxError> + Send + 'static {
    move |dir| {
        std::fs::write(dir.join(name), contents)?;
        Ok(())
    }
}

/// The revision of a [`CommitOutcome::Pushed`].
fn pushed(outcome: &CommitOutcome) -> Revision {
    match outcome {
        CommitOutcome::Pushed { revision, .. } => *revision,
        other => panic!("expected a push, got {other:?}"),
    }
}

/// Commits `contents` as `name` through `mirror` and pushes it; checks that
/// the fixture's `main` is now the pushed revision, and returns it.
async fn push_file(
    mirror: &Mirror,
    fixture: &GitFixture,
    message: &str,
    name: &'static str,
    contents: &'static str,
) -> Revision {
    let outcome = mirror
        .commit_and_push(
            CommitRequest::new(message, bot()),
            write_file(name, contents),
        )
        .await
        .unwrap();
    let revision = pushed(&outcome);
    assert_eq!(
        fixture.origin_ref("refs/heads/main").unwrap(),
        Some(revision.to_string())
    );
    revision
}
