//! The API's watch-backed workload cache on the real control plane, as the
//! seed's `flux` ServiceAccount (RBAC: anything in `demo` and `flux`,
//! nothing cluster-wide). Restricted to those namespaces, one watch per
//! namespace follows a Deployment's creation, change and deletion.
//! Cluster-wide, every watch is forbidden: the listing answers as the list
//! calls did before the cache (an error naming the kind for every
//! namespace, the workloads for one allowed namespace).

use std::time::Duration;

use fluxd::internals::{ClusterView, WorkloadsConfig};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams};
use tests::controlplane::ControlPlane;

use super::web_app;

/// The image of `id` in the listing, once `wanted` says so (or panics
/// after a minute).
async fn until(view: &ClusterView, id: &str, wanted: impl Fn(Option<String>) -> bool) {
    let mut last = None;
    for _ in 0..240 {
        let listed = view.workloads("", None).await.unwrap();
        last = listed.iter().find(|w| w.id.as_str() == id).map(|w| {
            w.containers
                .first()
                .map(|c| c.current.id.to_string())
                .unwrap_or_default()
        });
        if wanted(last.clone()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{id} never listed as wanted; last seen: {last:?}");
}

#[tokio::test]
async fn the_workload_cache_follows_the_cluster_and_answers_as_before_when_forbidden() {
    let cluster = ControlPlane::shared().await.unwrap();
    let seed = cluster.seed_rbac().await.unwrap();
    let (demo, flux) = (seed.demo.name(), seed.flux.name());
    let client = seed.flux_kubeconfig().await.unwrap().client().unwrap();
    let id = format!("{demo}:deployment/web");

    let view = ClusterView::new(
        client.clone(),
        WorkloadsConfig {
            allowed_namespaces: vec![demo.to_owned(), flux.to_owned()],
            readonly: false,
        },
        None,
    )
    .watching();
    assert!(
        !view
            .workloads("", None)
            .await
            .unwrap()
            .iter()
            .any(|w| w.id.as_str() == id)
    );
    cluster
        .admin()
        .apply_yaml(&web_app(demo, 1), "web")
        .await
        .unwrap();
    until(&view, &id, |image| image.as_deref() == Some("nginx:1.27.0")).await;
    let changed = web_app(demo, 1).replace("nginx:1.27.0", "nginx:1.27.1");
    cluster.admin().apply_yaml(&changed, "web").await.unwrap();
    until(&view, &id, |image| image.as_deref() == Some("nginx:1.27.1")).await;

    // Cluster-wide as the same account: every watch is forbidden.
    let wide = ClusterView::new(client, WorkloadsConfig::default(), None).watching();
    let error = wide.workloads("", None).await.unwrap_err();
    assert!(error.starts_with("listing "), "{error}");
    let in_demo = wide.workloads(demo, None).await.unwrap();
    assert!(in_demo.iter().any(|w| w.id.as_str() == id), "{in_demo:?}");
    // The restricted view is not affected by the other's failing watches.
    Api::<Deployment>::namespaced(cluster.client().unwrap(), demo)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    until(&view, &id, |image| image.is_none()).await;
}
