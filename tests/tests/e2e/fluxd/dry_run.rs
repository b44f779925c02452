//! `--dry-run`: without a cluster configured, the offline plan (resources in
//! apply order, every load and scope error, exit code 1 on errors); with a
//! cluster, the server's plan, and nothing changed either way.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use tests::controlplane::ControlPlane;

use super::{config_map, file_url, fluxd, fluxd_on, repository, run, web_app};

#[test]
fn without_a_cluster_the_manifests_are_checked_offline() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("apps/web.yaml", &web_app("shop", 1)).unwrap();
    repo.write(
        "apps/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    )
    .unwrap();
    repo.write("apps/settings.yaml", &config_map("shop", "settings", "1"))
        .unwrap();
    repo.commit_and_push("a clean tree").unwrap();
    let dry_run = || fluxd().args(["--git-url", &file_url(&repo), "--dry-run"]);

    let clean = run(&dry_run());
    assert_eq!(clean.code(), Some(0), "{}", clean.output());
    let plan = &clean.stdout;
    let position = |needle: &str| {
        plan.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing from the plan:\n{plan}"))
    };
    // Apply order: the Namespace, then the Service and ConfigMap, then the Deployment.
    let namespace = position("<cluster>:namespace/shop");
    let service = position("shop:service/web");
    let settings = position("shop:configmap/settings");
    let deployment = position("shop:deployment/web");
    assert!(
        namespace < service && service < settings && settings < deployment,
        "{plan}"
    );
    assert!(plan.contains("apps/web.yaml:1"), "{plan}");
    assert!(
        clean
            .logs()
            .iter()
            .any(|line| line.is("no cluster configured")),
        "{}",
        clean.output()
    );

    // A YAML error and a resource outside the allowed namespaces: reported, exit 1.
    repo.write("apps/broken.yaml", "apiVersion: v1\nkind: [\n")
        .unwrap();
    repo.commit_and_push("a broken file").unwrap();
    let broken = run(&dry_run().args(["--k8s-allow-namespace", "elsewhere"]));
    assert_eq!(broken.code(), Some(1), "{}", broken.output());
    assert!(
        broken.stdout.contains("apps/broken.yaml:2"),
        "{}",
        broken.output()
    );
    assert!(
        broken.stdout.contains("shop:configmap/settings"),
        "{}",
        broken.output()
    );
}

#[tokio::test]
async fn with_a_cluster_the_server_plans_and_nothing_changes() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-plan").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("settings.yaml", &config_map(ns.name(), "planned", "1"))
        .unwrap();
    repo.commit_and_push("one map").unwrap();
    let finished = run(&fluxd_on(&repo, cluster, ns.name()).arg("--dry-run"));
    assert_eq!(finished.code(), Some(0), "{}", finished.output());
    let id = format!("{}:configmap/planned", ns.name());
    assert!(finished.stdout.contains(&id), "{}", finished.output());
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    assert!(config_maps.get_opt("planned").await.unwrap().is_none());
    // A dry run never moves the marker.
    assert_eq!(repo.origin_ref("refs/tags/flux-sync").unwrap(), None);
}
