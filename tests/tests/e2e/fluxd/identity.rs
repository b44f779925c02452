//! The deploy identity, as the seed's users meet it: fluxd runs as the
//! `flux` ServiceAccount with a kubeconfig whose context says `flux` and no
//! key mounted, generates a key into `flux:secret/flux-git-deploy`, and logs
//! it so that `grep identity.pub | cut -d '"' -f2` on its stderr prints
//! exactly the public key. Once that key is authorised in a real sshd, the
//! same key clones and pushes (the write check, the sync tag); a second
//! start reuses it; two starts at once end with one key.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use tests::controlplane::ControlPlane;
use tests::fluxd::FluxdCommand;
use tests::sshd::Sshd;

use super::{config_map, fluxd, repository, run};

/// `identity` and `identity.pub` of the deploy-key Secret.
async fn secret_key(secrets: &Api<Secret>) -> (String, String) {
    let secret = secrets.get("flux-git-deploy").await.unwrap();
    let data = secret.data.unwrap();
    let text = |key: &str| String::from_utf8(data.get(key).unwrap().0.clone()).unwrap();
    (text("identity"), text("identity.pub"))
}

/// The public key and SHA256 fingerprint of a private key, by the real ssh-keygen.
fn ssh_keygen_public_and_fingerprint(dir: &Path, private: &str) -> (String, String) {
    let path = dir.join("judged-key");
    std::fs::write(&path, private).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let public = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        public.status.success(),
        "{}",
        String::from_utf8_lossy(&public.stderr)
    );
    let listing = Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let fingerprint = listing.split_whitespace().nth(1).unwrap().to_owned();
    (
        String::from_utf8(public.stdout).unwrap().trim().to_owned(),
        fingerprint,
    )
}

/// The key material of a one-line public key (type and base64, no comment).
fn key_part(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn generates_the_deploy_key_into_its_namespace_logs_it_and_writes_with_it() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let (demo, flux) = (seed.demo.name(), seed.flux.name());
    // Its context's namespace is `flux`: no --k8s-namespace is given.
    let kubeconfig = seed.flux_kubeconfig().await.unwrap();
    let sshd = Sshd::start().unwrap();
    // Nobody's key is authorised yet.
    sshd.authorize(&[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    repo.write("demo/settings.yaml", &config_map(demo, "keyed", "1"))
        .unwrap();
    let revision = repo.commit_and_push("first").unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line().unwrap()).unwrap();
    let once = |format: &str| -> FluxdCommand {
        fluxd()
            .args(["--git-url", &sshd.url(repo.bare_path()), "--once"])
            .args(["--log-format", format])
            .arg(format!("--k8s-allow-namespace={demo},{flux}"))
            .arg("--git-known-hosts")
            .arg(&known_hosts)
            .arg("--k8s-secret-volume-mount-path")
            .arg(dir.path().join("nothing-mounted"))
            .arg("--kubeconfig")
            .arg(kubeconfig.path())
    };

    // First start: a key is generated into the Secret of fluxd's namespace;
    // the server does not know it yet, so this run fails to fetch.
    let first = run(&once("text"));
    assert_eq!(first.code(), Some(1), "{}", first.output());
    let secrets: Api<Secret> = Api::namespaced(cluster.client().unwrap(), flux);
    let (private, public) = secret_key(&secrets).await;
    assert!(
        public.ends_with('\n') && public.trim().lines().count() == 1,
        "{public:?}"
    );
    let public = public.trim().to_owned();
    // The seed's pipeline prints exactly the public key, and only it.
    assert_eq!(
        tests::fluxd::seed_key_pipeline(&first.stderr).unwrap(),
        format!("{public}\n"),
        "{}",
        first.output()
    );
    // The real ssh-keygen agrees the private key is that public key, and on its fingerprint.
    let (judged, fingerprint) = ssh_keygen_public_and_fingerprint(dir.path(), &private);
    assert_eq!(key_part(&judged), key_part(&public));
    let line = first
        .stderr
        .lines()
        .find(|line| line.contains("identity.pub"))
        .unwrap();
    assert!(
        line.contains(&format!("fingerprint={fingerprint}")),
        "{line}"
    );
    assert!(!first.stderr.contains("PRIVATE KEY"), "{}", first.output());

    // The user adds it as a deploy key with write access: the same key
    // (reused, not generated again) clones, syncs and pushes the sync tag.
    sshd.authorize(&[&public]).unwrap();
    let second = run(&once("json"));
    assert_eq!(
        second.code(),
        Some(0),
        "{}\n{}",
        second.output(),
        sshd.log_tail()
    );
    let logs = second.logs();
    let identity: Vec<_> = logs
        .iter()
        .filter(|l| l.str("identity.pub").is_some())
        .collect();
    assert_eq!(identity.len(), 1, "{}", second.output());
    assert_eq!(identity[0].str("identity.pub"), Some(public.as_str()));
    assert_eq!(identity[0].str("fingerprint"), Some(fingerprint.as_str()));
    assert_eq!(identity[0].str("source"), Some("secret"));
    assert!(
        logs.iter().any(|l| l.is("write access checked")),
        "{}",
        second.output()
    );
    assert_eq!(secret_key(&secrets).await.1.trim(), public);
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(revision)
    );
    // The write check's tag is gone again.
    let tags = repo
        .git_bare(["tag", "--list", "flux-write-check-*"])
        .unwrap();
    assert_eq!(tags, "", "{tags}");
}

#[tokio::test]
async fn two_starts_at_once_end_with_one_key() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-keyrace").await.unwrap();
    let sshd = Sshd::start().unwrap();
    sshd.authorize(&[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line().unwrap()).unwrap();
    let command = || {
        fluxd()
            .args([
                "--git-url",
                &sshd.url(&dir.path().join("none.git")),
                "--once",
            ])
            .args([
                "--k8s-namespace",
                ns.name(),
                "--k8s-allow-namespace",
                ns.name(),
            ])
            .args(["--git-timeout", "10s"])
            .arg("--git-known-hosts")
            .arg(&known_hosts)
            .arg("--k8s-secret-volume-mount-path")
            .arg(dir.path().join("nothing-mounted"))
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig_path())
    };
    let (a, b) = (command(), command());
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| run(&a));
        let b = scope.spawn(|| run(&b));
        (a.join().unwrap(), b.join().unwrap())
    });
    let key_of = |finished: &tests::fluxd::Finished| {
        finished
            .logs()
            .iter()
            .find_map(|l| l.str("identity.pub").map(ToOwned::to_owned))
            .unwrap_or_else(|| panic!("{}", finished.output()))
    };
    let secrets: Api<Secret> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let stored = secret_key(&secrets).await.1.trim().to_owned();
    assert_eq!(key_of(&a), stored, "{}", a.output());
    assert_eq!(key_of(&b), stored, "{}", b.output());
}

#[tokio::test]
async fn regenerating_replaces_the_key_keeps_the_rest_of_the_secret_and_is_used_next() {
    use std::collections::BTreeMap;

    use fluxd::internals::{DeployKey, KeySource};
    use k8s_openapi::ByteString;
    use kube::api::{ObjectMeta, PostParams};

    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-regenerate").await.unwrap();
    let client = cluster.client().unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    // The chart's Secret: empty of keys, with the sync marker and something else.
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("flux-git-deploy".into()),
                    annotations: Some(BTreeMap::from([(
                        "flux.weave.works/sync-hwm".to_owned(),
                        "0123456789abcdef0123456789abcdef01234567".to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                data: Some(BTreeMap::from([(
                    "known_hosts".to_owned(),
                    ByteString(b"example.com ssh-ed25519 AAAA\n".to_vec()),
                )])),
                ..Secret::default()
            },
        )
        .await
        .unwrap();
    let remote = gitsync::Remote::new(gitsync::GitUrl::parse("ssh://git@example.com/x").unwrap());
    let handle = remote.ssh_key_handle();
    let key = DeployKey::new(
        client,
        ns.name(),
        "flux-git-deploy",
        gitsync::KeyType::Ed25519,
        handle.clone(),
    );
    assert_eq!(key.ensure().await.unwrap(), KeySource::Generated);
    let before = key.public_key().unwrap();
    assert!(handle.get().is_some());
    let regenerated = key.regenerate().await.unwrap();
    assert_ne!(regenerated.openssh, before.openssh);
    assert_eq!(key.public_key().unwrap(), regenerated);
    let (private, public) = secret_key(&secrets).await;
    assert_eq!(public.trim(), regenerated.openssh);
    assert_eq!(
        gitsync::KeyPair::from_openssh(&private).unwrap().public(),
        &regenerated
    );
    let secret = secrets.get("flux-git-deploy").await.unwrap();
    assert!(secret.data.unwrap().contains_key("known_hosts"));
    assert!(
        secret
            .metadata
            .annotations
            .unwrap()
            .contains_key("flux.weave.works/sync-hwm")
    );
    // A second start finds the regenerated key.
    assert_eq!(key.ensure().await.unwrap(), KeySource::Secret);
    assert_eq!(key.public_key().unwrap(), regenerated);
}
