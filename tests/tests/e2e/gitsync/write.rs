//! Writing through smart HTTP (`git http-backend`, which runs hooks as a
//! hosting service does): a concurrent pusher races the commit and both
//! commits end on the branch with nothing forced (the remote's reflog says
//! so) and the note on the retried commit; a pre-receive hook's refusal
//! comes back with its message; a push whose answer is cut after the server
//! took it is not made twice; the write check pushes and deletes its tag,
//! and a refusal says there is no write access.

use std::path::Path;
use std::process::Command;

use ::gitsync::{CommitOutcome, CommitRequest, Error, Mirror, Note};
use tests::git::GitFixture;
use tests::git::http::{Access, GitHttpServer};
use tests::proxy::Proxy;

use super::{bot, fixture, mirror, remote};

/// Runs git in `dir` with a pinned identity; returns trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Other",
            "-c",
            "user.email=other@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Every update of `refname` in the bare repository's reflog was a
/// fast-forward of the one before (nothing was force-pushed).
fn assert_only_fast_forwards(bare: &Path, refname: &str) {
    let log = git(bare, &["reflog", "show", "--format=%H", refname]);
    let entries: Vec<&str> = log.lines().collect();
    assert!(entries.len() >= 2, "{log}");
    for pair in entries.windows(2) {
        let (newer, older) = (pair[0], pair[1]);
        let status = Command::new("git")
            .args(["merge-base", "--is-ancestor", older, newer])
            .current_dir(bare)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "{older} -> {newer} was not a fast-forward:\n{log}"
        );
    }
}

/// A fixture served over smart HTTP with reflogs on, and a mirror of it (through `url`).
async fn served(dir: &Path) -> (GitFixture, GitHttpServer) {
    let (fixture, _) = fixture(dir);
    fixture
        .git_bare(["config", "core.logAllRefUpdates", "always"])
        .unwrap();
    fixture
        .git_bare(["config", "receive.denyNonFastForwards", "true"])
        .unwrap();
    let server = GitHttpServer::start(dir, Access::Anonymous).unwrap();
    (fixture, server)
}

#[tokio::test]
async fn a_concurrent_pusher_loses_nothing_forces_nothing_and_the_note_survives() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, server) = served(dir.path()).await;
    let mirror = mirror(remote(&server.url("origin.git")), dir.path(), Some("main")).await;

    // Someone else pushes while fluxd's first attempt is being built.
    let other = dir.path().join("other");
    git(
        dir.path(),
        &[
            "clone",
            "--quiet",
            fixture.bare_path().to_str().unwrap(),
            "other",
        ],
    );
    let mut raced = false;
    let edit = move |checkout: &Path| -> Result<(), ::gitsync::BoxError> {
        if !raced {
            raced = true;
            std::fs::write(other.join("theirs.yaml"), "kind: ConfigMap\n")?;
            std::fs::write(other.join("deploy/app.yaml"), "kind: Deployment # theirs\n")?;
            git(&other, &["add", "--all"]);
            git(&other, &["commit", "--quiet", "-m", "their change"]);
            git(&other, &["push", "--quiet", "origin", "HEAD:main"]);
        }
        std::fs::write(checkout.join("ours.yaml"), "kind: Secret\n")?;
        Ok(())
    };
    let job = r#"{"jobID":"6f1c0a52-0000-4000-8000-000000000001","spec":{"type":"policy"},"result":null}"#;
    let request = CommitRequest::new("Automated: demo:deployment/web", bot())
        .with_note(Note::new("flux", job).unwrap());
    let outcome = mirror.commit_and_push(request, edit).await.unwrap();
    let CommitOutcome::Pushed {
        revision, attempts, ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(attempts, 2);

    let bare = fixture.bare_path();
    assert_eq!(git(bare, &["rev-parse", "main"]), revision.to_string());
    let subjects = git(bare, &["log", "--format=%s", "main"]);
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        ["Automated: demo:deployment/web", "their change", "first"],
        "{subjects}"
    );
    assert_eq!(git(bare, &["show", "main:theirs.yaml"]), "kind: ConfigMap");
    assert_eq!(git(bare, &["show", "main:ours.yaml"]), "kind: Secret");
    // The retry's working copy was brought to their head: their edit stands.
    assert_eq!(
        git(bare, &["show", "main:deploy/app.yaml"]),
        "kind: Deployment # theirs"
    );
    // The note holds the job and is on the commit that landed.
    assert_eq!(
        git(
            bare,
            &["notes", "--ref", "flux", "show", &revision.to_string()]
        ),
        job
    );
    assert_only_fast_forwards(bare, "refs/heads/main");
}

#[tokio::test]
async fn a_pre_receive_hook_refusal_comes_back_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, server) = served(dir.path()).await;
    let hook = fixture.bare_path().join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'policy: pushes to main need a review' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = fixture.origin_ref("refs/heads/main").unwrap();
    let mirror = mirror(remote(&server.url("origin.git")), dir.path(), Some("main")).await;
    let error = mirror
        .commit_and_push(
            CommitRequest::new("change", bot()),
            |dir: &Path| -> Result<(), ::gitsync::BoxError> {
                std::fs::write(dir.join("x.yaml"), "a: 1\n")?;
                Ok(())
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::PushRejected { .. }), "{error}");
    assert!(
        error.to_string().contains("pushes to main need a review"),
        "{error}"
    );
    assert_eq!(fixture.origin_ref("refs/heads/main").unwrap(), before);

    // The write check is refused the same way: no write access, with the reason.
    let error = mirror.check_write_access().await.unwrap_err();
    assert!(matches!(error, Error::NoWriteAccess { .. }), "{error}");
    assert!(error.to_string().contains("need a review"), "{error}");
}

#[tokio::test]
async fn a_push_whose_answer_is_cut_is_verified_not_made_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, server) = served(dir.path()).await;
    let target: std::net::SocketAddr = server
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).unwrap();
    let url = format!("http://{}/origin.git", proxy.addr());
    let mirror: Mirror = mirror(remote(&url), dir.path(), Some("main")).await;

    // The write check passes and leaves no tag behind.
    mirror.check_write_access().await.unwrap();
    assert_eq!(fixture.git_bare(["tag", "--list"]).unwrap(), "");

    proxy.cut_next_push_answer();
    let outcome = mirror
        .commit_and_push(
            CommitRequest::new("only once", bot()),
            |dir: &Path| -> Result<(), ::gitsync::BoxError> {
                std::fs::write(dir.join("once.yaml"), "a: 1\n")?;
                Ok(())
            },
        )
        .await
        .unwrap();
    assert_eq!(proxy.cut_count(), 1);
    let CommitOutcome::Pushed {
        revision, attempts, ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(attempts, 1);
    let bare = fixture.bare_path();
    assert_eq!(git(bare, &["rev-parse", "main"]), revision.to_string());
    let subjects = git(bare, &["log", "--format=%s", "main"]);
    assert_eq!(subjects.matches("only once").count(), 1, "{subjects}");
}
