//! Signed commits and tags, judged by the real tools: GPG signatures made
//! through the real `gpg` and checked by `git verify-commit`/`verify-tag`
//! with gpg; ssh signatures made in process and checked by git with
//! `gpg.format=ssh` and by `ssh-keygen -Y verify` itself. Verification finds
//! the newest revision that may be applied when a later commit is signed by
//! a key nobody trusts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ::gitsync::{
    CommitOutcome, CommitRequest, GitTagMarker, KeyPair, KeyType, Mirror, Revision, Signer,
    SyncMarker, Verifier, VerifyMode,
};

use super::{bot, local_mirror};

/// A GnuPG home with one new signing key, and a `gpg` wrapper that uses it.
struct Gpg {
    home: PathBuf,
    wrapper: PathBuf,
    fingerprint: String,
}

impl Gpg {
    fn new(dir: &Path, name: &str) -> Self {
        let home = dir.join(format!("gnupg-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let wrapper = dir.join(format!("gpg-{name}.sh"));
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nGNUPGHOME='{}' exec gpg \"$@\"\n",
                home.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let mut gpg = Self {
            home,
            wrapper,
            fingerprint: String::new(),
        };
        let uid = format!("{name} <{name}@example.com>");
        let made = gpg.run(&[
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            &uid,
            "ed25519",
            "sign",
            "never",
        ]);
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let listing = gpg.run(&["--list-secret-keys", "--with-colons"]);
        let fingerprint = String::from_utf8(listing.stdout)
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("fpr:"))
            .map(|rest| rest.trim_matches(':').to_owned())
            .unwrap();
        gpg.fingerprint = fingerprint;
        gpg
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("gpg")
            .args(args)
            .env("GNUPGHOME", &self.home)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn signer(&self) -> Signer {
        Signer::Gpg {
            key: self.fingerprint.clone(),
            program: self.wrapper.clone(),
        }
    }
}

impl Drop for Gpg {
    /// Stops the gpg-agent that gpg started for this home.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "all"])
            .env("GNUPGHOME", &self.home)
            .status();
    }
}

/// `git <args>` in `dir` with extra environment; the whole output.
fn git(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new("git");
    command
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn signed_commit(mirror: &Mirror, signer: Signer, name: &'static str) -> Revision {
    let request = CommitRequest::new(format!("add {name}"), bot()).with_signer(signer);
    let outcome = mirror
        .commit_and_push(
            request,
            move |dir: &Path| -> Result<(), ::gitsync::BoxError> {
                std::fs::write(dir.join(name), "kind: ConfigMap\n")?;
                Ok(())
            },
        )
        .await
        .unwrap();
    match outcome {
        CommitOutcome::Pushed { revision, .. } => revision,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn gpg_signed_commits_and_sync_tags_verify_with_gpg() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first, mirror) = local_mirror(dir.path(), Some("main")).await;
    let gpg = Gpg::new(dir.path(), "flux");
    let revision = signed_commit(&mirror, gpg.signer(), "signed.yaml").await;
    let bare = fixture.bare_path();
    let env = [("GNUPGHOME", gpg.home.as_path())];
    let verified = git(bare, &["verify-commit", &revision.to_string()], &env);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        text(&verified).contains("Good signature"),
        "{}",
        text(&verified)
    );

    let marker = GitTagMarker::new(mirror.clone(), "flux-sync", bot())
        .unwrap()
        .with_signer(gpg.signer());
    marker.write(None, revision).await.unwrap();
    let tag = git(bare, &["verify-tag", "flux-sync"], &env);
    assert!(tag.status.success(), "{}", text(&tag));
    let object = text(&git(bare, &["cat-file", "-p", "flux-sync"], &[]));
    assert!(
        object.contains("\n\nSync pointer\n-----BEGIN PGP SIGNATURE-----"),
        "{object}"
    );
    assert_eq!(marker.read().await.unwrap(), Some(revision));

    // A commit signed by a key gpg's keyring does not have is not applied.
    let stranger = Gpg::new(dir.path(), "stranger");
    let unknown = signed_commit(&mirror, stranger.signer(), "unknown.yaml").await;
    let verifier = Verifier::Gpg {
        program: gpg.wrapper.clone(),
    };
    let found = mirror
        .newest_verified(unknown, Some(first), VerifyMode::All, verifier)
        .await
        .unwrap();
    assert_eq!(found.verified, Some(revision), "{found:?}");
    let unverified = found.unverified.unwrap();
    assert_eq!(unverified.revision, unknown);
    assert!(
        unverified.reason.contains("unknown GPG key"),
        "{}",
        unverified.reason
    );
}

#[tokio::test]
async fn ssh_signed_commits_and_tags_verify_with_git_and_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, first, mirror) = local_mirror(dir.path(), Some("main")).await;
    let pair = KeyPair::generate(KeyType::Ed25519, "flux").unwrap();
    let allowed = dir.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("flux@example.com {}\n", pair.public().openssh),
    )
    .unwrap();
    let signer = Signer::ssh(&pair).unwrap();
    let revision = signed_commit(&mirror, signer.clone(), "signed.yaml").await;
    let bare = fixture.bare_path();
    let verified = git(
        bare,
        &[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            "verify-commit",
            &revision.to_string(),
        ],
        &[],
    );
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        text(&verified).contains("Good \"git\" signature"),
        "{}",
        text(&verified)
    );

    // The signed sync tag, checked by ssh-keygen -Y verify directly.
    let marker = GitTagMarker::new(mirror.clone(), "flux-sync", bot())
        .unwrap()
        .with_signer(signer);
    marker.write(None, revision).await.unwrap();
    let object =
        String::from_utf8(git(bare, &["cat-file", "tag", "flux-sync"], &[]).stdout).unwrap();
    let at = object.find("-----BEGIN SSH SIGNATURE-----").unwrap();
    let (payload, signature) = object.split_at(at);
    let signature_file = dir.path().join("tag.sig");
    std::fs::write(&signature_file, signature).unwrap();
    let mut judge = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", "git", "-I", "flux@example.com", "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(&signature_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut judge.stdin.take().unwrap(), payload.as_bytes()).unwrap();
    let judged = judge.wait_with_output().unwrap();
    assert!(judged.status.success(), "{}", text(&judged));

    // Signed by another key: the newest verified revision is the one before.
    let other = KeyPair::generate(KeyType::Ed25519, "other").unwrap();
    let unknown = signed_commit(&mirror, Signer::ssh(&other).unwrap(), "other.yaml").await;
    let verifier = Verifier::ssh_allowed(&std::fs::read_to_string(&allowed).unwrap()).unwrap();
    for mode in [VerifyMode::All, VerifyMode::FirstParent] {
        let found = mirror
            .newest_verified(unknown, Some(first), mode, verifier.clone())
            .await
            .unwrap();
        assert_eq!(found.verified, Some(revision), "{mode:?}: {found:?}");
        let reason = found.unverified.unwrap().reason;
        assert!(reason.contains("not allowed"), "{reason}");
    }
    // The unsigned first commit: nothing verifies when starting from scratch.
    let found = mirror
        .newest_verified(unknown, None, VerifyMode::All, verifier)
        .await
        .unwrap();
    assert_eq!(found.verified, None, "{found:?}");
    assert_eq!(found.unverified.unwrap().reason, "not signed");
}
