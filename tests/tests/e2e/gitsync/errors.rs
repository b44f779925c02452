//! A silent server times out instead of hanging; bad URLs and missing
//! repositories are clear errors.

use std::time::Duration;

use ::gitsync::{Error, GitUrl, KnownHosts};
use tests::git::silent::SilentServer;

use super::{mirror, remote};

#[tokio::test]
async fn silent_server_times_out_over_ssh_and_http() {
    let server = SilentServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in [
        ("ssh", format!("ssh://git@{}/repo.git", server.addr())),
        ("http", format!("http://{}/repo.git", server.addr())),
    ] {
        let remote = remote(&url)
            .with_timeout(Duration::from_secs(1))
            .with_known_hosts(KnownHosts::default());
        let mirror = mirror(remote, &dir.path().join(name), None).await;
        let err = mirror.fetch().await.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{name}: {err}");
        assert!(err.to_string().contains("timed out after 1s"), "{err}");
        // While the abandoned task is still blocked, the mirror says so at once.
        let err = mirror.fetch().await.unwrap_err();
        assert!(matches!(err, Error::StillBlocked { .. }), "{name}: {err}");
    }
    // Closing the connections lets the abandoned tasks end.
    drop(server);
}

#[tokio::test]
async fn missing_local_repository() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("does-not-exist.git");
    let mirror = mirror(remote(&path.display().to_string()), dir.path(), None).await;
    let err = mirror.fetch().await.unwrap_err();
    assert!(matches!(err, Error::RepositoryNotFound { .. }), "{err}");
    assert!(err.to_string().contains("does-not-exist.git"), "{err}");
}

#[test]
fn malformed_urls() {
    for (url, expect) in [
        (
            "https://bot:hunter2@host:notaport/repo",
            "invalid port `notaport`",
        ),
        ("gopher://host/repo", "unsupported scheme `gopher`"),
        ("ssh://host", "no repository path"),
    ] {
        let err = GitUrl::parse(url).unwrap_err().to_string();
        assert!(err.contains(expect), "{url}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
