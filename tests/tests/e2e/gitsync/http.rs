//! Smart HTTP through `git http-backend`, with basic auth and bearer tokens.

use ::gitsync::{Error, HttpAuth};
use tests::git::http::{Access, GitHttpServer};

use super::{fixture, mirror, push_file, remote};

fn basic(username: &str, password: &str) -> Access {
    Access::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    }
}

#[tokio::test]
async fn basic_auth_right_and_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let server = GitHttpServer::start(dir.path(), basic("bot", "s3cret")).unwrap();
    let url = server.url("origin.git");

    // Given separately.
    let right = remote(&url).with_http_auth(HttpAuth::basic("bot".into(), "s3cret".into()));
    let mirror_ok = mirror(right, &dir.path().join("ok"), None).await;
    assert_eq!(mirror_ok.fetch().await.unwrap().revision, first);

    // Written into the URL.
    let in_url = url.replace("http://", "http://bot:s3cret@");
    let mirror_url = mirror(remote(&in_url), &dir.path().join("in-url"), Some("main")).await;
    assert_eq!(mirror_url.fetch().await.unwrap().revision, first);

    // Pushing with basic auth.
    push_file(
        &mirror_ok,
        &fixture,
        "over http",
        "http.yaml",
        "via: http\n",
    )
    .await;

    // Wrong password, and none at all: refused, never retried in a loop, never printed.
    let wrong = remote(&url).with_http_auth(HttpAuth::basic("bot".into(), "hunter2".into()));
    let err = mirror(wrong, &dir.path().join("wrong"), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
    let err = mirror(remote(&url), &dir.path().join("none"), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(err.to_string().contains("none are configured"), "{err}");
    assert!(server.refused() >= 2);
}

#[tokio::test]
async fn bearer_token_right_and_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (_fixture, first) = fixture(dir.path());
    let server = GitHttpServer::start(
        dir.path(),
        Access::Bearer {
            token: "tok-123".to_owned(),
        },
    )
    .unwrap();
    let url = server.url("origin.git");

    let right = remote(&url).with_http_auth(HttpAuth::bearer("tok-123".into()));
    let mirror_ok = mirror(right, &dir.path().join("ok"), None).await;
    assert_eq!(mirror_ok.fetch().await.unwrap().revision, first);

    let wrong = remote(&url).with_http_auth(HttpAuth::bearer("tok-999".into()));
    let err = mirror(wrong, &dir.path().join("wrong"), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(
        err.to_string().contains("refused the bearer token"),
        "{err}"
    );
    assert!(!format!("{err:?}").contains("tok-999"));
}

#[tokio::test]
async fn missing_repository_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = GitHttpServer::start(dir.path(), Access::Anonymous).unwrap();
    let err = mirror(remote(&server.url("nothing.git")), dir.path(), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RepositoryNotFound { .. }), "{err}");
}
