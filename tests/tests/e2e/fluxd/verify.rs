//! Signatures through the daemon: with --git-verify-signatures-mode all and
//! the ssh keys allowed to sign, fluxd applies a commit signed by an allowed
//! key, and a later head signed by a stranger is logged with its reason,
//! reported in the sync summary and never applied, while the verified
//! revision stays synced. fluxd signs its own sync tag (`--git-signing-key
//! ssh:FILE`), and git, with gpg.format=ssh, verifies it.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use tests::controlplane::ControlPlane;
use tests::git::GitFixture;

use super::{LOG_TIMEOUT, config_map, file_url, fluxd, repository};

fn keygen(path: &Path) -> String {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Commits everything with an ssh signature by `key` (git runs ssh-keygen) and pushes.
fn signed_commit(repo: &GitFixture, key: &Path, message: &str) -> String {
    repo.git(["add", "--all"]).unwrap();
    let signing_key = format!("user.signingkey={}", key.display());
    repo.git([
        "-c",
        "gpg.format=ssh",
        "-c",
        &signing_key,
        "commit",
        "--quiet",
        "-S",
        "-m",
        message,
    ])
    .unwrap();
    repo.push().unwrap();
    repo.git(["rev-parse", "HEAD"]).unwrap()
}

#[tokio::test]
async fn applies_only_verified_commits_and_signs_its_sync_tag() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-verify").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let developer = keygen(&keys.join("developer"));
    let stranger_public = keygen(&keys.join("stranger"));
    let flux_public = keygen(&keys.join("flux"));
    let allowed = keys.join("allowed_signers");
    std::fs::write(&allowed, format!("dev@example.com {developer}\n")).unwrap();
    assert_ne!(developer, stranger_public);

    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    repo.write("a.yaml", &config_map(ns.name(), "signed", "1"))
        .unwrap();
    let first = signed_commit(&repo, &keys.join("developer"), "signed by a developer");

    let mut daemon = fluxd()
        .args(["--git-url", &file_url(&repo)])
        .args(["--git-verify-signatures-mode", "all"])
        .arg("--git-ssh-allowed-signers")
        .arg(&allowed)
        .arg(format!(
            "--git-signing-key=ssh:{}",
            keys.join("flux").display()
        ))
        .args(["--git-poll-interval", "1s", "--sync-interval", "1h"])
        .args(["--k8s-allow-namespace", ns.name()])
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .start(dir.path())
        .unwrap();
    daemon
        .wait_for_log(LOG_TIMEOUT, "the signed commit synced", |line| {
            line.is("moved the sync marker") && line.str("to") == Some(first.as_str())
        })
        .unwrap();
    // fluxd's sync tag carries its ssh signature.
    let flux_allowed = keys.join("flux_allowed_signers");
    std::fs::write(&flux_allowed, format!("flux@example.com {flux_public}\n")).unwrap();
    let verified = repo
        .git_bare([
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", flux_allowed.display()),
            "verify-tag",
            "flux-sync",
        ])
        .map(drop);
    assert!(verified.is_ok(), "{verified:?}");

    // A stranger signs the next head: it is not applied.
    repo.write("b.yaml", &config_map(ns.name(), "unsigned", "1"))
        .unwrap();
    let second = signed_commit(&repo, &keys.join("stranger"), "signed by a stranger");
    let warning = daemon
        .wait_for_log(LOG_TIMEOUT, "the unverified head", |line| {
            line.message().starts_with("commit signature not verified")
                && line.str("commit") == Some(second.as_str())
        })
        .unwrap();
    assert!(
        warning
            .str("reason")
            .is_some_and(|r| r.contains("not allowed")),
        "{warning}"
    );
    assert_eq!(warning.str("applying"), Some(first.as_str()), "{warning}");
    let summary = daemon
        .wait_for_log(LOG_TIMEOUT, "the summary naming it", |line| {
            line.is("sync finished") && line.str("unverified_commit") == Some(second.as_str())
        })
        .unwrap();
    assert_eq!(summary.str("revision"), Some(first.as_str()), "{summary}");
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    assert!(config_maps.get_opt("signed").await.unwrap().is_some());
    assert!(config_maps.get_opt("unsigned").await.unwrap().is_none());
    assert_eq!(repo.origin_ref("refs/tags/flux-sync").unwrap(), Some(first));
    daemon.stop();
}
