//! Git over a real OpenSSH server with a deploy key and known_hosts.

use std::path::Path;

use ::gitsync::{DEFAULT_SYNC_TAG, Error, GitTagMarker, KnownHosts, SshKey, SyncMarker};
use tests::sshd::Sshd;

use super::{bot, fixture, mirror, push_file, remote};

fn known_hosts(text: &str) -> KnownHosts {
    KnownHosts::parse(text, Path::new("test known_hosts")).unwrap()
}

#[tokio::test]
async fn fetch_push_and_tag_over_ssh_with_a_key_file() {
    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());
    let url = sshd.url(fixture.bare_path());
    let remote = remote(&url)
        .with_ssh_key(SshKey::file(sshd.client_key_path()))
        .with_known_hosts(known_hosts(&sshd.known_hosts_line().unwrap()));
    let mirror = mirror(remote, dir.path(), None).await;

    let head = mirror.fetch().await.unwrap();
    assert_eq!((head.branch.as_str(), head.revision), ("main", first));

    let revision = push_file(&mirror, &fixture, "over ssh", "ssh.yaml", "via: ssh\n").await;

    let marker = GitTagMarker::new(mirror.clone(), DEFAULT_SYNC_TAG, bot()).unwrap();
    marker.write(None, revision).await.unwrap();
    assert_eq!(marker.read().await.unwrap(), Some(revision));
    assert_eq!(
        fixture.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(revision.to_string())
    );
}

#[tokio::test]
async fn key_from_memory_and_hashed_known_hosts() {
    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first) = fixture(dir.path());

    // `ssh-keygen -H` hashes the host names of a known_hosts file.
    let file = dir.path().join("known_hosts");
    std::fs::write(&file, sshd.known_hosts_line().unwrap()).unwrap();
    let output = std::process::Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let hashed = std::fs::read_to_string(&file).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");

    let remote = remote(&sshd.url(fixture.bare_path()))
        .with_ssh_key(SshKey::from_memory(sshd.client_key().unwrap()))
        .with_known_hosts(KnownHosts::from_file(&file).unwrap());
    let mirror = mirror(remote, dir.path(), Some("main")).await;
    assert_eq!(mirror.fetch().await.unwrap().revision, first);
}

#[tokio::test]
async fn wrong_or_missing_host_key_is_refused() {
    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (fixture, _) = fixture(dir.path());
    let url = sshd.url(fixture.bare_path());
    let host = format!("[127.0.0.1]:{}", sshd.port());

    let wrong = remote(&url)
        .with_ssh_key(SshKey::file(sshd.client_key_path()))
        .with_known_hosts(known_hosts(&sshd.wrong_known_hosts_line().unwrap()));
    let err = mirror(wrong, &dir.path().join("wrong"), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HostKeyMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&host) && text.contains("ssh-ed25519"),
        "{text}"
    );
    // Louder than an unknown host, with both fingerprints.
    assert!(text.starts_with("HOST KEY CHANGED"), "{text}");
    assert_eq!(text.matches("SHA256:").count(), 2, "{text}");

    // No known_hosts at all: unknown, and nothing from $HOME/.ssh is consulted.
    let unknown = remote(&url).with_ssh_key(SshKey::file(sshd.client_key_path()));
    let err = mirror(unknown, &dir.path().join("unknown"), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HostKeyUnknown { .. }), "{err}");
    assert!(err.to_string().contains(&host), "{err}");
    // It says how to add the host: the ssh-keyscan line, checked by running it.
    let keyscan = format!("ssh-keyscan -t ed25519 -p {} 127.0.0.1", sshd.port());
    assert!(err.to_string().contains(&keyscan), "{err}");
    let scanned = std::process::Command::new("sh")
        .args(["-c", &format!("{keyscan} 2>/dev/null")])
        .output()
        .unwrap();
    let line = String::from_utf8(scanned.stdout).unwrap();
    assert_eq!(
        line.split_whitespace().take(3).collect::<Vec<_>>(),
        sshd.known_hosts_line()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        "{line}"
    );
}

#[tokio::test]
async fn unauthorised_or_missing_key_is_an_auth_error() {
    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (fixture, _) = fixture(dir.path());
    let url = sshd.url(fixture.bare_path());
    let other_key = dir.path().join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .unwrap();
    assert!(status.success());
    let known = known_hosts(&sshd.known_hosts_line().unwrap());

    let refused = remote(&url)
        .with_ssh_key(SshKey::file(&other_key))
        .with_known_hosts(known.clone());
    let err = mirror(refused, &dir.path().join("a"), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("refused the ssh key for user `root`"),
        "{err}"
    );

    let keyless = remote(&url).with_known_hosts(known);
    let err = mirror(keyless, &dir.path().join("b"), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("none is configured"), "{err}");
}

#[tokio::test]
async fn missing_repository_over_ssh() {
    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let remote = remote(&sshd.url(&dir.path().join("nothing-here.git")))
        .with_ssh_key(SshKey::file(sshd.client_key_path()))
        .with_known_hosts(known_hosts(&sshd.known_hosts_line().unwrap()));
    let err = mirror(remote, dir.path(), None)
        .await
        .fetch()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RepositoryNotFound { .. }), "{err}");
}
