//! fluxd as the seed's `flux` ServiceAccount: RBAC lets it do anything in
//! `demo` and `flux` and nothing cluster-wide. Restricted to those two
//! namespaces, it syncs what is in them, reports another namespace's objects
//! as refused and the cluster-scoped Namespaces as skipped (outside the
//! allowed scope, once per revision, no error), keeping its sync marker in
//! the deploy-key Secret of its own namespace.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use tests::controlplane::ControlPlane;

use super::{config_map, file_url, fluxd, lines_with, repository, run, summary, web_app};

#[tokio::test]
async fn the_seed_service_account_syncs_demo_and_flux_and_reports_the_rest() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let (demo, flux, kube_system) = (seed.demo.name(), seed.flux.name(), seed.kube_system.name());
    let kubeconfig = seed.flux_kubeconfig().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write(
        "namespaces.yaml",
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {demo}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {flux}\n"
        ),
    )
    .unwrap();
    repo.write("demo/web.yaml", &web_app(demo, 1)).unwrap();
    repo.write("demo/settings.yaml", &config_map(demo, "settings", "1"))
        .unwrap();
    repo.write(
        "flux/settings.yaml",
        &config_map(flux, "flux-settings", "1"),
    )
    .unwrap();
    repo.write(
        "system/settings.yaml",
        &config_map(kube_system, "system-settings", "1"),
    )
    .unwrap();
    let revision = repo.commit_and_push("the seed's layout").unwrap();

    let finished = run(&fluxd()
        .args(["--git-url", &file_url(&repo), "--once", "--git-readonly"])
        .args(["--k8s-namespace", flux])
        .arg(format!("--k8s-namespace-whitelist={demo},{flux}"))
        .arg("--kubeconfig")
        .arg(kubeconfig.path()));
    assert_eq!(finished.code(), Some(1), "{}", finished.output());

    let refused: Vec<String> = lines_with(&finished, "resource failed")
        .iter()
        .map(|line| line.str("id").unwrap().to_owned())
        .collect();
    assert_eq!(
        refused,
        [format!("{kube_system}:configmap/system-settings")],
        "{}",
        finished.output()
    );
    let mut skipped: Vec<String> = lines_with(&finished, "resource skipped")
        .iter()
        .map(|line| {
            assert_eq!(line.level(), "INFO", "{line}");
            assert!(
                line.str("reason")
                    .unwrap()
                    .starts_with("outside the allowed scope"),
                "{line}"
            );
            line.str("id").unwrap().to_owned()
        })
        .collect();
    skipped.sort();
    let mut expected = vec![
        format!("<cluster>:namespace/{demo}"),
        format!("<cluster>:namespace/{flux}"),
    ];
    expected.sort();
    assert_eq!(skipped, expected, "{}", finished.output());
    let summary = summary(&finished);
    assert_eq!(summary.u64("created"), Some(4), "{summary}");
    assert_eq!(summary.u64("failed"), Some(1), "{summary}");
    assert_eq!(summary.u64("skipped"), Some(2), "{summary}");

    let admin = cluster.client().unwrap();
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), demo);
    assert!(deployments.get_opt("web").await.unwrap().is_some());
    let in_flux: Api<ConfigMap> = Api::namespaced(admin.clone(), flux);
    assert!(in_flux.get_opt("flux-settings").await.unwrap().is_some());
    let in_system: Api<ConfigMap> = Api::namespaced(admin.clone(), kube_system);
    assert!(
        in_system
            .get_opt("system-settings")
            .await
            .unwrap()
            .is_none()
    );

    // The sync marker: an annotation on the deploy-key Secret in fluxd's namespace.
    let secrets: Api<Secret> = Api::namespaced(admin, flux);
    let secret = secrets.get("flux-git-deploy").await.unwrap();
    let annotations = secret.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations.get("flux.weave.works/sync-hwm"),
        Some(&revision),
        "{annotations:?}"
    );
    // --git-readonly: no tag was pushed.
    assert_eq!(repo.origin_ref("refs/tags/flux-sync").unwrap(), None);
}

/// Restricted to `demo` and `flux` with nothing but their objects and the
/// Namespaces themselves in git: `--once` exits 0 (the Namespaces are
/// skipped, not failed), and a daemon that syncs the same revision again
/// and again reports each skipped Namespace once for it, then once more for
/// the next revision.
#[tokio::test]
async fn cluster_scoped_resources_are_skipped_once_per_revision_and_no_error() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let (demo, flux) = (seed.demo.name(), seed.flux.name());
    let kubeconfig = seed.flux_kubeconfig().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write(
        "namespaces.yaml",
        &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {demo}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {flux}\n"
        ),
    )
    .unwrap();
    repo.write("demo/settings.yaml", &config_map(demo, "settings", "1"))
        .unwrap();
    repo.commit_and_push("namespaces and a ConfigMap").unwrap();
    let command = || {
        fluxd()
            .args(["--git-url", &file_url(&repo), "--git-readonly"])
            .args(["--k8s-namespace", flux])
            .arg(format!("--k8s-allow-namespace={demo},{flux}"))
            .arg("--kubeconfig")
            .arg(kubeconfig.path())
    };

    let once = run(&command().arg("--once"));
    assert_eq!(once.code(), Some(0), "{}", once.output());
    assert_eq!(
        lines_with(&once, "resource skipped").len(),
        2,
        "{}",
        once.output()
    );
    assert!(
        lines_with(&once, "resource failed").is_empty(),
        "{}",
        once.output()
    );

    let daemon_dir = tempfile::tempdir().unwrap();
    let mut daemon = command()
        .args(["--git-poll-interval", "1s", "--sync-interval", "1s"])
        .start(daemon_dir.path())
        .unwrap();
    let syncs = |daemon: &tests::fluxd::Daemon| daemon.count_logs(|line| line.is("sync finished"));
    let deadline = std::time::Instant::now() + super::LOG_TIMEOUT;
    while syncs(&daemon) < 3 && std::time::Instant::now() < deadline {
        daemon.check_running().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(syncs(&daemon) >= 3, "{}", daemon.log_text());
    let skipped =
        |daemon: &tests::fluxd::Daemon| daemon.count_logs(|line| line.is("resource skipped"));
    assert_eq!(skipped(&daemon), 2, "{}", daemon.log_text());

    repo.write("demo/settings.yaml", &config_map(demo, "settings", "2"))
        .unwrap();
    let second = repo.commit_and_push("a new revision").unwrap();
    daemon
        .wait_for_log(super::LOG_TIMEOUT, "the sync of the new revision", |line| {
            line.is("sync finished") && line.str("revision") == Some(second.as_str())
        })
        .unwrap();
    assert_eq!(skipped(&daemon), 4, "{}", daemon.log_text());
    daemon.stop();
}

/// An API refusal reads like kubectl's: the seed's `flux` ServiceAccount may
/// not read Secrets in `kube-system`, and that is what the log says, with
/// the status, never a dump of the client's `Status` struct.
#[tokio::test]
async fn a_forbidden_request_reads_like_kubectl() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let (demo, kube_system) = (seed.demo.name(), seed.kube_system.name());
    let kubeconfig = seed.flux_kubeconfig().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("demo/settings.yaml", &config_map(demo, "settings", "1"))
        .unwrap();
    repo.commit_and_push("a ConfigMap").unwrap();
    let finished = run(&fluxd()
        .args(["--git-url", &file_url(&repo), "--git-readonly", "--once"])
        .args(["--k8s-namespace", kube_system])
        .arg(format!("--k8s-allow-namespace={demo}"))
        .arg("--kubeconfig")
        .arg(kubeconfig.path()));
    assert_eq!(finished.code(), Some(1), "{}", finished.output());
    let expected = format!(
        "secrets \"flux-git-deploy\" is forbidden: User \"system:serviceaccount:{}:flux\" cannot get resource \"secrets\" in API group \"\" in the namespace \"{kube_system}\" (403 Forbidden)",
        seed.flux.name()
    );
    let errors: Vec<String> = finished
        .logs()
        .iter()
        .filter_map(|line| line.str("error").map(str::to_owned))
        .collect();
    assert!(
        errors.iter().any(|error| error.ends_with(&expected)),
        "{expected}\n{}",
        finished.output()
    );
    assert!(
        !finished.stderr.contains("Status {"),
        "{}",
        finished.output()
    );
    assert!(
        !finished.stderr.contains("ApiError"),
        "{}",
        finished.output()
    );
}
