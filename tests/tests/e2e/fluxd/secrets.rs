//! Secrets fluxd is handed never reach a line it writes: a git token in the
//! URL (and in its query string), a Weave Cloud bearer token on the command
//! line, a registry password in a pull Secret synced from git, and a wrong
//! password in a failing run. They are planted with
//! `tests::fluxd::secrets::plant`, so every fluxd process of the test binary
//! is checked for them, and this test checks its own runs and daemon.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use tests::controlplane::ControlPlane;
use tests::fluxd::secrets::{check, plant};
use tests::git::http::{Access, GitHttpServer};

use super::{LOG_TIMEOUT, config_map, fluxd, repository, run, summary};

#[tokio::test]
async fn planted_secrets_never_reach_fluxds_output() {
    let git_token = plant("planted-git-token-5c1e9a77");
    let wrong_token = plant("planted-wrong-token-0b4d2f19");
    let query_token = plant("planted-query-token-8e3a6c02");
    let bearer = plant("planted-bearer-token-2f7b9d41");
    let registry_password = plant("planted-registry-password-6a1c3e58");

    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-secrets").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir(&root).unwrap();
    let repo = repository(&root);
    repo.write("deploy/settings.yaml", &config_map(ns.name(), "plain", "1"))
        .unwrap();
    let docker_config = format!(
        r#"{{"auths":{{"registry.example.com":{{"username":"bob","password":"{registry_password}"}}}}}}"#
    );
    repo.write(
        "deploy/pull-secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\n  namespace: {}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{docker_config}'\n",
            ns.name()
        ),
    )
    .unwrap();
    repo.commit_and_push("first").unwrap();
    let server = GitHttpServer::start(
        &root,
        Access::Basic {
            username: "x-token".to_owned(),
            password: git_token.clone(),
        },
    )
    .unwrap();
    let url_with = |token: &str| {
        server
            .url("origin.git")
            .replace("http://", &format!("http://x-token:{token}@"))
    };
    let fluxd_with = |url: &str| {
        fluxd()
            .args(["--git-url", url, "--log-level", "debug"])
            .args(["--token", &bearer])
            .args(["--k8s-allow-namespace", ns.name()])
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig_path())
    };

    // A wrong token: the run fails and says why, without the token.
    let refused = run(&fluxd_with(&url_with(&wrong_token)).arg("--once"));
    assert_eq!(refused.code(), Some(1), "{}", refused.output());
    assert!(
        refused
            .stderr
            .contains("authentication to http://127.0.0.1:"),
        "{}",
        refused.output()
    );

    // The right one, with a token in the query string as well: it syncs,
    // the pull Secret included, and says nothing of either.
    let good = format!("{}?private_token={query_token}", url_with(&git_token));
    let finished = run(&fluxd_with(&good).arg("--once"));
    assert_eq!(finished.code(), Some(0), "{}", finished.output());
    assert_eq!(summary(&finished).u64("failed"), Some(0));
    let secrets: Api<Secret> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let pull = secrets.get("pull").await.unwrap();
    assert!(
        pull.data
            .unwrap_or_default()
            .contains_key(".dockerconfigjson")
    );

    // As a daemon, through a sync and a change to the Secret.
    let mut daemon = fluxd_with(&good).start(dir.path()).unwrap();
    daemon
        .wait_for_log(LOG_TIMEOUT, "a sync", |line| line.is("sync finished"))
        .unwrap();
    daemon.check_no_planted_secrets().unwrap();
    daemon.stop();
    check("fluxd's log", &daemon.log_text()).unwrap();
}
