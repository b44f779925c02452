//! fluxd as the seed's `flux` ServiceAccount: RBAC lets it do anything in
//! `demo` and `flux` and nothing cluster-wide. Restricted to those two
//! namespaces, it syncs what is in them and reports everything else (the
//! Namespaces themselves, another namespace's objects) as refused, keeping
//! its sync marker in the deploy-key Secret of its own namespace.

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

    let mut refused: Vec<String> = lines_with(&finished, "resource failed")
        .iter()
        .map(|line| line.str("id").unwrap().to_owned())
        .collect();
    refused.sort();
    let mut expected = vec![
        format!("<cluster>:namespace/{demo}"),
        format!("<cluster>:namespace/{flux}"),
        format!("{kube_system}:configmap/system-settings"),
    ];
    expected.sort();
    assert_eq!(refused, expected, "{}", finished.output());
    let summary = summary(&finished);
    assert_eq!(summary.u64("created"), Some(4), "{summary}");
    assert_eq!(summary.u64("failed"), Some(3), "{summary}");

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
