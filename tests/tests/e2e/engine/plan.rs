//! Plans: what a sync would do, from the server's dry-runs, with nothing
//! changed.

use manifests::cluster::{GarbageCollection, PlanAction, ResourceOutcome};
use tests::controlplane::ControlPlane;

use super::{assert_all, config_map, deployment, engine, get, service, sync_set, with_gc};

#[tokio::test]
async fn a_plan_shows_creates_changes_and_prunes_and_changes_nothing() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-plan").await.unwrap();
    let n = ns.name();
    let secret = |password: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: {n}\nstringData:\n  password: {password}\n"
        )
    };
    let v1 = sync_set(
        "plan",
        &[
            ("web.yaml", deployment(n, "web", "nginx:1.26", 1)),
            ("svc.yaml", service(n, "web")),
            ("old.yaml", config_map(n, "old", "1")),
            ("secret.yaml", secret("hunter2")),
        ],
        n,
    );
    let (engine, log) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    assert_all(&engine.sync(&v1).await, &ResourceOutcome::Created);

    let v2 = sync_set(
        "plan",
        &[
            ("web.yaml", deployment(n, "web", "nginx:1.27", 3)),
            ("svc.yaml", service(n, "web")),
            ("new.yaml", config_map(n, "new", "2")),
            ("secret.yaml", secret("correct-horse")),
        ],
        n,
    );
    log.clear();
    let plan = engine.plan(&v2).await.unwrap();
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let action = |id: String| {
        plan.entries
            .iter()
            .find(|entry| entry.id.to_string() == id)
            .unwrap_or_else(|| panic!("{id} not planned: {plan:#?}"))
            .action
            .clone()
    };
    assert_eq!(action(format!("{n}:service/web")), PlanAction::Unchanged);
    assert_eq!(action(format!("{n}:configmap/new")), PlanAction::Create);
    assert_eq!(action(format!("{n}:configmap/old")), PlanAction::Prune);
    let PlanAction::Change { diff } = action(format!("{n}:deployment/web")) else {
        panic!("web should change: {plan:#?}");
    };
    let paths: Vec<&str> = diff.iter().map(|change| change.path.as_str()).collect();
    assert!(paths.contains(&"spec.replicas"), "{paths:?}");
    assert!(
        paths.contains(&"spec.template.spec.containers[name=web].image"),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("metadata.annotations.fluxcd.io/sync-checksum")),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("managedFields") || p.contains("resourceVersion")),
        "{paths:?}"
    );
    let replicas = diff.iter().find(|c| c.path == "spec.replicas").unwrap();
    assert_eq!(replicas.live, Some(serde_json::json!(1)));
    assert_eq!(replicas.desired, Some(serde_json::json!(3)));
    let PlanAction::Change { diff } = action(format!("{n}:secret/creds")) else {
        panic!("the secret should change: {plan:#?}");
    };
    let shown = serde_json::to_string(&diff).unwrap();
    assert!(shown.contains("data.password"), "{shown}");
    assert!(
        !shown.contains("Y29ycmVjdC1ob3JzZQ") && !shown.contains("aHVudGVyMg"),
        "secret values leaked: {shown}"
    );

    // Nothing changed: every write was a dry-run.
    for write in log.writes() {
        assert!(write.query.contains("dryRun=All"), "{write:?}");
    }
    let client = cluster.client().unwrap();
    let web = get(&client, "apps/v1", "Deployment", Some(n), "web")
        .await
        .unwrap();
    assert_eq!(web.data["spec"]["replicas"], 1);
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "old")
            .await
            .is_some()
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "new")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_plan_into_a_namespace_the_sync_would_create() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-plan-ns").await.unwrap();
    let fresh = format!("{}-fresh", ns.name());
    let set = sync_set(
        "plan-ns",
        &[
            (
                "ns.yaml",
                format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {fresh}\n"),
            ),
            ("cm.yaml", config_map(&fresh, "inside", "1")),
        ],
        ns.name(),
    );
    let (engine, _) = engine(cluster.admin().config(), with_gc(GarbageCollection::Off));
    let plan = engine.plan(&set).await.unwrap();
    let actions: Vec<(String, PlanAction)> = plan
        .entries
        .iter()
        .map(|entry| (entry.id.to_string(), entry.action.clone()))
        .collect();
    assert_eq!(
        actions,
        [
            (format!("<cluster>:namespace/{fresh}"), PlanAction::Create),
            (format!("{fresh}:configmap/inside"), PlanAction::Create),
        ]
    );
    let client = cluster.client().unwrap();
    assert!(
        get(&client, "v1", "Namespace", None, &fresh)
            .await
            .is_none()
    );
}
