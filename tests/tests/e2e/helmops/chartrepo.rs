//! The chart repository client against a real repository on 127.0.0.1 with
//! basic auth, serving charts packaged by the real helm.

use std::time::Duration;

use helmops::chartrepo::{ChartRepositories, RepoCredentials};
use tests::helm::{ChartRepository, configmap_chart, package_into_repo};

fn credentials(password: &str) -> RepoCredentials {
    RepoCredentials {
        username: "charts".to_owned(),
        password: password.to_owned(),
    }
}

#[tokio::test]
async fn fetches_verifies_and_caches_charts_behind_basic_auth() {
    let helm = tests::tools::helm().unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo_dir = work.path().join("repo");
    for version in ["1.0.0", "1.1.0"] {
        let chart = configmap_chart(
            &work.path().join(format!("src-{version}")),
            "hello",
            version,
        )
        .unwrap();
        package_into_repo(&helm, &chart, &repo_dir).unwrap();
    }
    let server = ChartRepository::start(repo_dir.clone(), Some(("charts", "s3cret")))
        .await
        .unwrap();
    let repos = ChartRepositories::new(
        reqwest::Client::new(),
        work.path().join("cache"),
        Duration::from_secs(600),
        tests::helm::operator::fixture_policy(),
    );

    // Wrong password: a clear error naming the repository and the secret to check.
    let err = repos
        .fetch(&server.url(), "hello", "1.0.0", Some(&credentials("wrong")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("401") && err.contains("chartPullSecret"),
        "{err}"
    );
    assert!(
        !err.contains("wrong"),
        "a password leaked into an error: {err}"
    );

    // A range picks the newest match; the archive is verified and kept.
    let fetched = repos
        .fetch(&server.url(), "hello", "^1.0", Some(&credentials("s3cret")))
        .await
        .unwrap();
    assert_eq!(fetched.version, "1.1.0");
    assert!(fetched.archive.is_file());
    assert_eq!(fetched.digest.len(), 64);
    let before = server.requests().len();

    // Again: index from memory, archive from disk, no request at all.
    let again = repos
        .fetch(
            &server.url(),
            "hello",
            "1.1.0",
            Some(&credentials("s3cret")),
        )
        .await
        .unwrap();
    assert_eq!(again, fetched);
    assert_eq!(server.requests().len(), before, "{:?}", server.requests());

    // Missing chart and version say what exists.
    let err = repos
        .fetch(
            &server.url(),
            "hello",
            "9.9.9",
            Some(&credentials("s3cret")),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("available: 1.1.0, 1.0.0") || err.contains("available: 1.0.0, 1.1.0"),
        "{err}"
    );

    // A tampered archive fails the digest check.
    let tgz = repo_dir.join("hello-1.0.0.tgz");
    let mut bytes = std::fs::read(&tgz).unwrap();
    bytes.push(0);
    std::fs::write(&tgz, bytes).unwrap();
    let err = repos
        .fetch(
            &server.url(),
            "hello",
            "1.0.0",
            Some(&credentials("s3cret")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, helmops::Error::DigestMismatch { .. }),
        "{err}"
    );
}

/// A kept archive is checked against the index digest before each use: one
/// changed on disk is fetched again, never installed.
#[tokio::test]
async fn kept_archives_are_checked_against_the_index_again() {
    let helm = tests::tools::helm().unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo_dir = work.path().join("repo");
    let chart = configmap_chart(&work.path().join("src"), "hello", "1.0.0").unwrap();
    package_into_repo(&helm, &chart, &repo_dir).unwrap();
    let server = ChartRepository::start(repo_dir.clone(), None)
        .await
        .unwrap();
    let repos = ChartRepositories::new(
        reqwest::Client::new(),
        work.path().join("cache"),
        Duration::from_secs(600),
        tests::helm::operator::fixture_policy(),
    );
    let fetched = repos
        .fetch(&server.url(), "hello", "1.0.0", None)
        .await
        .unwrap();
    let original = std::fs::read(&fetched.archive).unwrap();
    let before = server.requests().len();
    std::fs::write(&fetched.archive, b"a chart someone slipped in").unwrap();
    let again = repos
        .fetch(&server.url(), "hello", "1.0.0", None)
        .await
        .unwrap();
    assert_eq!(again.digest, fetched.digest);
    assert_eq!(std::fs::read(&again.archive).unwrap(), original);
    assert_eq!(
        server.requests().len(),
        before + 1,
        "the archive was fetched again: {:?}",
        server.requests()
    );
}
