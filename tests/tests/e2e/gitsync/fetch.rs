//! Fetching over file:// and plain paths; branches.

use ::gitsync::{Error, GitUrl, Remote};
use tests::git::GitFixture;

use super::{fixture, mirror, remote, revision};

#[tokio::test]
async fn fetch_over_file_url_and_plain_path() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let bare = fixture.bare_path().display().to_string();

    for (name, url) in [("file", format!("file://{bare}")), ("path", bare.clone())] {
        let mirror_dir = dir.path().join(name);
        let mirror = mirror(remote(&url), &mirror_dir, Some("main")).await;
        let head = mirror.fetch().await.unwrap();
        assert_eq!(head.branch, "main");
        assert_eq!(head.revision, first, "{url}");
    }

    // A new commit shows up on the next fetch of the same mirror.
    let mirror = mirror(remote(&bare), &dir.path().join("path"), Some("main")).await;
    fixture
        .write("deploy/app.yaml", "kind: Deployment\n")
        .unwrap();
    let second = revision(&fixture.commit_and_push("second").unwrap());
    assert_eq!(mirror.fetch().await.unwrap().revision, second);
}

#[tokio::test]
async fn default_branch_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = GitFixture::new(dir.path(), "trunk").unwrap();
    fixture.write("a.yaml", "a: 1\n").unwrap();
    let first = revision(&fixture.commit_and_push("on trunk").unwrap());

    let mirror = mirror(
        remote(&fixture.bare_path().display().to_string()),
        dir.path(),
        None,
    )
    .await;
    let head = mirror.fetch().await.unwrap();
    assert_eq!(head.branch, "trunk");
    assert_eq!(head.revision, first);
}

#[tokio::test]
async fn non_default_branch() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, main) = fixture(dir.path());
    fixture
        .git(["checkout", "--quiet", "-b", "staging"])
        .unwrap();
    fixture.write("staging.yaml", "env: staging\n").unwrap();
    let staging = revision(&fixture.commit_and_push("staging only").unwrap());
    assert_ne!(main, staging);

    let url = fixture.bare_path().display().to_string();
    let mirror = mirror(remote(&url), dir.path(), Some("staging")).await;
    let head = mirror.fetch().await.unwrap();
    assert_eq!((head.branch.as_str(), head.revision), ("staging", staging));

    let missing = super::mirror(remote(&url), &dir.path().join("other"), Some("nope")).await;
    let err = missing.fetch().await.unwrap_err();
    assert!(matches!(err, Error::BranchNotFound { .. }), "{err}");
    assert!(err.to_string().contains("branch `nope` not found"), "{err}");
}

#[tokio::test]
async fn empty_repository_has_no_default_branch() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = GitFixture::new(dir.path(), "main").unwrap();
    let url = fixture.bare_path().display().to_string();
    let mirror = mirror(Remote::new(GitUrl::parse(&url).unwrap()), dir.path(), None).await;
    let err = mirror.fetch().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoDefaultBranch { .. } | Error::BranchNotFound { .. }
        ),
        "{err}"
    );
}

/// A fluxd killed while libgit2 wrote a ref leaves the ref's `.lock` file
/// in the mirror (libgit2 writes `<ref>.lock`, then renames it). The mirror
/// is one process's alone, so a lock found when it is opened is such a
/// leftover: the next fetch, and pushing from the mirror, still work.
#[tokio::test]
async fn locks_a_killed_process_left_in_the_mirror_are_removed_when_it_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let url = fixture.bare_path().display().to_string();
    let base = dir.path().join("m");
    let mirror_dir = base.join("mirror");
    let opened = mirror(remote(&url), &base, Some("main")).await;
    assert_eq!(opened.fetch().await.unwrap().revision, first);
    drop(opened);
    for lock in [
        "refs/heads/main.lock",
        "refs/tags/flux-sync.lock",
        "packed-refs.lock",
        "HEAD.lock",
        "config.lock",
    ] {
        let path = mirror_dir.join(lock);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "half written by a killed fluxd\n").unwrap();
    }
    fixture.write("b.yaml", "b: 1\n").unwrap();
    let second = revision(&fixture.commit_and_push("second").unwrap());

    let reopened = mirror(remote(&url), &base, Some("main")).await;
    assert_eq!(reopened.fetch().await.unwrap().revision, second);
    assert!(!mirror_dir.join("refs/heads/main.lock").exists());
    assert!(!mirror_dir.join("packed-refs.lock").exists());
}

/// The fixture and a mirror of its `main`.
async fn fixture_and_mirror(
    dir: &std::path::Path,
) -> (GitFixture, ::gitsync::Revision, ::gitsync::Mirror) {
    let (fixture, first) = fixture(dir);
    let mirror = mirror(
        remote(&fixture.bare_path().display().to_string()),
        dir,
        Some("main"),
    )
    .await;
    (fixture, first, mirror)
}

#[tokio::test]
async fn descends_from_tells_a_fast_forward_from_a_rewritten_history() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first, mirror) = fixture_and_mirror(dir.path()).await;
    fixture.write("b.yaml", "b: 1\n").unwrap();
    let second = revision(&fixture.commit_and_push("second").unwrap());
    assert_eq!(mirror.fetch().await.unwrap().revision, second);
    assert!(mirror.descends_from(second, first).await.unwrap());
    assert!(mirror.descends_from(second, second).await.unwrap());
    assert!(!mirror.descends_from(first, second).await.unwrap());

    // Force-pushed: the new head is a sibling of `second`.
    fixture
        .git(["reset", "--quiet", "--hard", "HEAD~1"])
        .unwrap();
    fixture.write("c.yaml", "c: 1\n").unwrap();
    fixture.commit("rewritten").unwrap();
    fixture.force_push().unwrap();
    let rewritten = mirror.fetch().await.unwrap().revision;
    assert!(mirror.descends_from(rewritten, first).await.unwrap());
    assert!(!mirror.descends_from(rewritten, second).await.unwrap());

    // A commit the mirror never had is no ancestor.
    let unknown = revision("0123456789abcdef0123456789abcdef01234567");
    assert!(!mirror.descends_from(rewritten, unknown).await.unwrap());
}

#[tokio::test]
async fn revisions_touching_keep_only_the_commits_under_the_paths_as_git_log_does() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first, mirror) = fixture_and_mirror(dir.path()).await;
    fixture.write("deploy/a.yaml", "a: 1\n").unwrap();
    let in_deploy = revision(&fixture.commit_and_push("in deploy").unwrap());
    fixture.write("docs/readme.md", "words\n").unwrap();
    let in_docs = revision(&fixture.commit_and_push("in docs").unwrap());
    fixture.write("deploy/sub/b.yaml", "b: 1\n").unwrap();
    let nested = revision(&fixture.commit_and_push("nested in deploy").unwrap());
    // A directory whose name only starts like the path is not under it.
    fixture.write("deploy-old/c.yaml", "c: 1\n").unwrap();
    let lookalike = revision(&fixture.commit_and_push("beside deploy").unwrap());
    let head = mirror.fetch().await.unwrap().revision;
    assert_eq!(head, lookalike);

    let paths = |list: &[&str]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    let touching = |list: Vec<String>| {
        let mirror = mirror.clone();
        async move {
            mirror
                .revisions_touching(Some(first), "main", &list)
                .await
                .unwrap()
        }
    };
    assert_eq!(touching(paths(&["deploy"])).await, [nested, in_deploy]);
    assert_eq!(touching(paths(&["deploy/"])).await, [nested, in_deploy]);
    assert_eq!(
        touching(paths(&["docs", "deploy/sub"])).await,
        [nested, in_docs]
    );
    assert_eq!(touching(paths(&["nowhere"])).await, []);
    let every = [lookalike, nested, in_docs, in_deploy];
    assert_eq!(touching(paths(&[])).await, every);
    assert_eq!(touching(paths(&["."])).await, every);
    assert_eq!(
        mirror.revisions_between(Some(first), "main").await.unwrap(),
        every
    );
    // Everything up to an applied commit is applied, whatever it touched.
    assert_eq!(
        mirror
            .revisions_touching(Some(lookalike), "main", &paths(&["deploy"]))
            .await
            .unwrap(),
        []
    );
}
