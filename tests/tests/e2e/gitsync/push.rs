//! Commit and push: plain, nothing to do, the remote moved (retried), the
//! remote kept moving, a failing edit, and a server-side rejection.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex};

use ::gitsync::{BoxError, CommitOutcome, CommitRequest, Error, Identity};
use tests::git::GitFixture;
use tests::git::http::{Access, GitHttpServer};

use super::{bot, fixture, local_mirror, mirror, remote, revision, write_file};

fn request(message: &str) -> CommitRequest {
    CommitRequest::new(message, bot()).with_committer(Identity::new("Committer", "c@example.com"))
}

#[tokio::test]
async fn commit_and_push_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first, mirror) = local_mirror(dir.path(), None).await;

    let outcome = mirror
        .commit_and_push(request("Auto-release app:v2"), |dir| {
            let path = dir.join("deploy/app.yaml");
            let text = std::fs::read_to_string(&path)?;
            std::fs::write(
                &path,
                text.replace("name: app", "name: app\n  image: app:v2"),
            )?;
            std::fs::write(dir.join("new.yaml"), "added: true\n")?;
            Ok(())
        })
        .await
        .unwrap();
    let CommitOutcome::Pushed {
        revision: pushed,
        parent,
        branch,
        attempts,
    } = outcome
    else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!((parent, branch.as_str(), attempts), (first, "main", 1));
    assert_eq!(
        fixture.origin_ref("refs/heads/main").unwrap(),
        Some(pushed.to_string())
    );
    assert_eq!(
        fixture.git_bare(["show", "main:deploy/app.yaml"]).unwrap(),
        "kind: Deployment\nmetadata:\n  name: app\n  image: app:v2"
    );
    assert_eq!(
        fixture.git_bare(["show", "main:new.yaml"]).unwrap(),
        "added: true"
    );
    assert_eq!(
        fixture
            .git_bare(["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main"])
            .unwrap(),
        "Flux Bot <flux@example.com>|Committer <c@example.com>|Auto-release app:v2"
    );

    // An edit that changes nothing makes no commit.
    let outcome = mirror
        .commit_and_push(request("noop"), write_file("new.yaml", "added: true\n"))
        .await
        .unwrap();
    assert_eq!(outcome, CommitOutcome::NothingToCommit { head: pushed });
}

#[tokio::test]
async fn deleting_files_and_emptied_directories() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, _, mirror) = local_mirror(dir.path(), None).await;
    mirror
        .commit_and_push(request("remove the app"), |dir| {
            std::fs::remove_file(dir.join("deploy/app.yaml"))?;
            std::fs::write(dir.join("README.md"), "empty\n")?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        fixture
            .git_bare(["ls-tree", "-r", "--name-only", "main"])
            .unwrap(),
        "README.md"
    );
}

/// The remote moves between our fetch and our push (the edit itself pushes a
/// competing commit the first time): the push is rejected as non-fast-forward,
/// and the edit is applied again on top of the new head.
#[tokio::test]
async fn rejected_non_fast_forward_is_retried_on_the_new_head() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, _) = fixture(dir.path());
    let url = fixture.bare_path().display().to_string();
    let mirror = mirror(remote(&url), dir.path(), Some("main")).await;
    let fixture = Arc::new(Mutex::new(fixture));
    let competitor = fixture.clone();
    let mut calls = 0;
    let outcome = mirror
        .commit_and_push(request("ours"), move |dir| {
            calls += 1;
            if calls == 1 {
                let fixture = competitor.lock().unwrap();
                fixture.write("theirs.yaml", "theirs: true\n")?;
                fixture.commit_and_push("theirs")?;
            }
            std::fs::write(dir.join("ours.yaml"), format!("ours: {calls}\n"))?;
            Ok(())
        })
        .await
        .unwrap();
    let CommitOutcome::Pushed {
        revision: pushed,
        parent,
        attempts,
        ..
    } = outcome
    else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!(attempts, 2);
    let fixture = fixture.lock().unwrap();
    let theirs = fixture.origin_ref("refs/heads/main~1").unwrap().unwrap();
    assert_eq!(parent, revision(&theirs));
    assert_eq!(
        fixture.origin_ref("refs/heads/main").unwrap(),
        Some(pushed.to_string())
    );
    assert_eq!(
        fixture.git_bare(["show", "main:ours.yaml"]).unwrap(),
        "ours: 2"
    );
    assert_eq!(
        fixture.git_bare(["show", "main:theirs.yaml"]).unwrap(),
        "theirs: true"
    );
}

#[tokio::test]
async fn remote_that_keeps_moving_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, _, mirror) = local_mirror(dir.path(), None).await;
    let fixture = Mutex::new(fixture);
    let mut calls = 0;
    let err = mirror
        .commit_and_push(request("ours").with_max_attempts(3), move |dir| {
            calls += 1;
            let fixture = fixture.lock().unwrap();
            fixture.write("theirs.yaml", &format!("theirs: {calls}\n"))?;
            fixture.commit_and_push("theirs")?;
            std::fs::write(dir.join("ours.yaml"), "ours\n")?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RemoteKeptMoving { attempts: 3, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn failing_edit_pushes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first, mirror) = local_mirror(dir.path(), None).await;
    let err = mirror
        .commit_and_push(request("never"), |_| -> Result<(), BoxError> {
            Err("deploy/app.yaml:3: no container named `app`".into())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Edit { .. }), "{err}");
    assert!(
        err.to_string().contains("no container named `app`"),
        "{err}"
    );
    assert_eq!(
        fixture.origin_ref("refs/heads/main").unwrap(),
        Some(first.to_string())
    );
}

/// A server-side refusal (a pre-receive hook, run by `git receive-pack` behind
/// smart HTTP; the local transport runs no hooks) arrives as a per-reference
/// status, not as an error from `push()`; it is reported and not retried.
#[tokio::test]
async fn server_side_rejection_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = GitFixture::new(dir.path(), "main").unwrap();
    fixture.write("a.yaml", "a: 1\n").unwrap();
    fixture.commit_and_push("first").unwrap();
    let hook = fixture.bare_path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'branch is protected' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    let server = GitHttpServer::start(dir.path(), Access::Anonymous).unwrap();
    let mirror = mirror(remote(&server.url("origin.git")), dir.path(), None).await;
    let err = mirror
        .commit_and_push(request("refused"), write_file("b.yaml", "b: 1\n"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PushRejected { .. }), "{err}");
    assert!(err.to_string().contains("refs/heads/main"), "{err}");
    assert!(
        err.to_string().contains("pre-receive hook declined"),
        "{err}"
    );
}
