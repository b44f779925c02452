//! Objects Flux v1 applied are adopted, and sync sets keep to their own.

use manifests::cluster::{GarbageCollection, ResourceOutcome, gc_mark};
use sha2::{Digest, Sha256};
use tests::controlplane::ControlPlane;

use super::{assert_all, config_map, engine, get, outcome, set_name, sync_set, with_gc};

/// Flux v1's mark, computed with its formula from the primitives rather than
/// with the engine's function.
fn flux_v1_mark(sync_set_name: &str, id: &str) -> String {
    use base64::Engine as _;
    let digest = Sha256::digest(format!("{sync_set_name}{id}").as_bytes());
    format!(
        "sha256.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// A ConfigMap as Flux v1 left it: its mark under `label`, a sha1 checksum.
fn applied_by_flux_v1(namespace: &str, name: &str, label: &str, mark: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    {label}: {mark}
  annotations:
    fluxcd.io/sync-checksum: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
data:
  value: "old"
"#
    )
}

#[tokio::test]
async fn objects_marked_by_flux_v1_are_adopted_not_orphaned() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-adopt").await.unwrap();
    let n = ns.name();
    let name = set_name("adopt");
    for (object, label) in [
        ("current", "fluxcd.io/sync-gc-mark"),
        ("legacy", "flux.weave.works/sync-gc-mark"),
        ("removed-current", "fluxcd.io/sync-gc-mark"),
        ("removed-legacy", "flux.weave.works/sync-gc-mark"),
    ] {
        let mark = flux_v1_mark(&name, &format!("{n}:configmap/{object}"));
        let yaml = applied_by_flux_v1(n, object, label, &mark);
        cluster.admin().apply_yaml(&yaml, object).await.unwrap();
    }
    assert_eq!(
        flux_v1_mark(&name, &format!("{n}:configmap/current")),
        gc_mark(&name, &format!("{n}:configmap/current").parse().unwrap())
    );
    // Objects of another Flux: same names, another repository's mark.
    let other = set_name("someone-else");
    let stranger = flux_v1_mark(&other, &format!("{n}:configmap/stranger"));
    cluster
        .admin()
        .apply_yaml(
            &applied_by_flux_v1(n, "stranger", "fluxcd.io/sync-gc-mark", &stranger),
            "stranger",
        )
        .await
        .unwrap();

    let set = sync_set(
        "adopt",
        &[
            ("current.yaml", config_map(n, "current", "new")),
            ("legacy.yaml", config_map(n, "legacy", "new")),
        ],
        n,
    );
    let (engine, log) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    let report = engine.sync(&set).await;
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/current")),
        &ResourceOutcome::Configured
    );
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/legacy")),
        &ResourceOutcome::Configured
    );
    // Flux v1's objects that left git are this set's: pruned, whichever label.
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/removed-current")),
        &ResourceOutcome::Pruned
    );
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/removed-legacy")),
        &ResourceOutcome::Pruned
    );
    assert!(
        report
            .get(&format!("{n}:configmap/stranger").parse().unwrap())
            .is_none()
    );

    let client = cluster.client().unwrap();
    let legacy = get(&client, "v1", "ConfigMap", Some(n), "legacy")
        .await
        .unwrap();
    assert_eq!(legacy.data["data"]["value"], "new");
    let labels = legacy.metadata.labels.unwrap();
    assert_eq!(
        labels["fluxcd.io/sync-gc-mark"],
        flux_v1_mark(&name, &format!("{n}:configmap/legacy"))
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "stranger")
            .await
            .is_some()
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "removed-legacy")
            .await
            .is_none()
    );

    log.clear();
    assert_all(&engine.sync(&set).await, &ResourceOutcome::Unchanged);
    assert_eq!(log.writes(), []);
}

#[tokio::test]
async fn two_sync_sets_never_prune_each_others_objects() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-two-sets").await.unwrap();
    let n = ns.name();
    let (engine, _) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    let a = |names: &[&str]| {
        let files: Vec<(&str, String)> = names
            .iter()
            .map(|name| ("a.yaml", config_map(n, name, "a")))
            .collect();
        sync_set("set-a", &files, n)
    };
    let b = |names: &[&str]| {
        let files: Vec<(&str, String)> = names
            .iter()
            .map(|name| ("b.yaml", config_map(n, name, "b")))
            .collect();
        sync_set("set-b", &files, n)
    };
    assert_all(
        &engine.sync(&a(&["a1", "a2"])).await,
        &ResourceOutcome::Created,
    );
    assert_all(&engine.sync(&b(&["b1"])).await, &ResourceOutcome::Created);

    // Each set drops an object: only its own goes.
    let report = engine.sync(&a(&["a1"])).await;
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/a2")),
        &ResourceOutcome::Pruned
    );
    assert_eq!(report.results.len(), 2, "{report:#?}");
    let report = engine.sync(&b(&[])).await;
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/b1")),
        &ResourceOutcome::Pruned
    );
    assert_eq!(report.results.len(), 1, "{report:#?}");

    let client = cluster.client().unwrap();
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "a1")
            .await
            .is_some()
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "a2")
            .await
            .is_none()
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "b1")
            .await
            .is_none()
    );

    // A set that takes over an object (the same id in its git) marks it as
    // its own; the first set no longer prunes it.
    assert_eq!(
        outcome(
            &engine.sync(&b(&["a1"])).await,
            &format!("{n}:configmap/a1")
        ),
        &ResourceOutcome::Configured
    );
    let report = engine.sync(&a(&[])).await;
    assert!(report.results.is_empty(), "{report:#?}");
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "a1")
            .await
            .is_some()
    );
}
