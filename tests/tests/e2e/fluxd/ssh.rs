//! An ssh URL: fluxd clones through a real OpenSSH server with a deploy key
//! mounted where Flux's chart mounts it (`--k8s-secret-volume-mount-path`,
//! `--k8s-secret-data-key`), checks the host key against known_hosts, and
//! pushes its sync tag back over ssh. A host key that does not match is
//! refused with a message that says so.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use tests::controlplane::ControlPlane;
use tests::sshd::Sshd;

use super::{config_map, fluxd, repository, run, summary};

#[tokio::test]
async fn syncs_over_ssh_with_a_deploy_key_and_known_hosts() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-ssh").await.unwrap();
    let sshd = Sshd::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    let repo = repository(&dir.path().join("repo"));
    repo.write(
        "deploy/settings.yaml",
        &config_map(ns.name(), "over-ssh", "1"),
    )
    .unwrap();
    let revision = repo.commit_and_push("first").unwrap();

    let mount = dir.path().join("fluxd-ssh");
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::write(mount.join("deploy-key"), sshd.client_key().unwrap()).unwrap();
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, sshd.known_hosts_line().unwrap()).unwrap();
    let wrong_known_hosts = dir.path().join("wrong_known_hosts");
    std::fs::write(&wrong_known_hosts, sshd.wrong_known_hosts_line().unwrap()).unwrap();

    let once = |known_hosts: &std::path::Path| {
        fluxd()
            .args(["--git-url", &sshd.url(repo.bare_path()), "--once"])
            .arg("--k8s-secret-volume-mount-path")
            .arg(&mount)
            .args(["--k8s-secret-data-key", "deploy-key"])
            .arg("--git-known-hosts")
            .arg(known_hosts)
            .args(["--k8s-allow-namespace", ns.name()])
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig_path())
    };

    let refused = run(&once(&wrong_known_hosts));
    assert_eq!(refused.code(), Some(1), "{}", refused.output());
    assert!(
        refused.stderr.contains("host key verification failed"),
        "{}",
        refused.output()
    );

    let finished = run(&once(&known_hosts));
    assert_eq!(
        finished.code(),
        Some(0),
        "{}\n{}",
        finished.output(),
        sshd.log_tail()
    );
    assert_eq!(summary(&finished).str("revision"), Some(revision.as_str()));
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    assert!(config_maps.get_opt("over-ssh").await.unwrap().is_some());
    assert_eq!(
        repo.origin_ref("refs/tags/flux-sync").unwrap(),
        Some(revision)
    );
}
