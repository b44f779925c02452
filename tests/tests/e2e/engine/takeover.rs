//! Objects Flux v1 applied, taken over: the cluster as Flux v1's sync left
//! it (its exact checksums and marks, from the Flux v1 judge, applied with
//! the real client-side `kubectl apply`). The engine's first sync writes
//! nothing; once a field leaves git, the next sync removes it from the
//! cluster, which takes moving kubectl's field ownership to the engine.

use manifests::cluster::{
    CHECKSUM_ANNOTATION, GarbageCollection, KUBECTL_CLIENT_SIDE_APPLY, LAST_APPLIED_ANNOTATION,
    PlanAction, ResourceOutcome, SyncSet,
};
use manifests::{LoadOptions, load};
use tests::controlplane::ControlPlane;
use tests::fluxv1::{apply_as_flux, flux_sync};

use super::{config_map, deployment, engine, get, outcome, set_name, with_gc};

const TEST: &str = "takeover";

fn set(root: &std::path::Path, namespace: &str) -> SyncSet {
    let mut options = LoadOptions::default();
    options.default_namespace = namespace.to_owned();
    let loaded = load(root, &["deploy"], &options);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    SyncSet {
        name: set_name(TEST),
        complete: true,
        resources: loaded.resources,
    }
}

#[tokio::test]
async fn what_kubectl_applied_for_flux_is_left_alone_then_taken_over() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("e2e-takeover").await.unwrap();
    let namespace = ns.name();
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "deploy/web.yaml",
        &deployment(namespace, "web", "nginx:1.27.0", 2),
    );
    // Namespace-less: the default namespace, for Flux and for the engine.
    write(
        "deploy/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n    team: web\ndata:\n  a: \"1\"\n  b: \"2\"\n",
    );
    write("deploy/other.yaml", &config_map(namespace, "other", "x"));

    // Flux v1's sync of it, as kubectl applied it.
    let flux = flux_sync(
        dir.path(),
        "ssh://git@example.com/e2e/takeover",
        "main",
        &["deploy"],
        namespace,
        &["Namespace"],
    )
    .unwrap();
    assert_eq!(flux.resources.len(), 3, "{:?}", flux.resources);
    assert_eq!(
        flux.get(&format!("{namespace}:configmap/settings"))
            .unwrap()
            .mark,
        manifests::cluster::gc_mark(
            &set_name(TEST),
            &format!("{namespace}:configmap/settings").parse().unwrap()
        ),
        "the engine's marks are Flux's"
    );
    apply_as_flux(cluster.admin(), &flux.yaml).unwrap();

    let config = with_gc(GarbageCollection::On).with_default_namespace(namespace);
    let (engine, log) = engine(cluster.admin().config(), config);
    let report = engine.sync(&set(dir.path(), namespace)).await;
    for result in &report.results {
        assert_eq!(
            result.outcome,
            ResourceOutcome::Unchanged,
            "{}: {report:#?}",
            result.id
        );
    }
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(log.writes(), [], "nothing differs from what Flux applied");

    // A field, an annotation and a key leave git.
    write(
        "deploy/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n",
    );
    write(
        "deploy/web.yaml",
        &deployment(namespace, "web", "nginx:1.27.0", 2).replace(
            "        env:\n        - name: MODE\n          value: production\n",
            "",
        ),
    );
    // A plan says what will go, though the server's dry-run alone cannot
    // (it runs before kubectl's fields are taken over); it writes nothing.
    log.clear();
    let plan = engine.plan(&set(dir.path(), namespace)).await.unwrap();
    let settings_id = format!("{namespace}:configmap/settings");
    let entry = plan
        .entries
        .iter()
        .find(|entry| entry.id.to_string() == settings_id)
        .unwrap();
    let PlanAction::Change { diff } = &entry.action else {
        panic!("{entry:?}");
    };
    let removed: Vec<&str> = diff
        .iter()
        .filter(|change| change.desired.is_none())
        .map(|change| change.path.as_str())
        .collect();
    assert_eq!(
        removed,
        ["data.b", "metadata.annotations.team"],
        "{diff:#?}"
    );
    let writes = log.writes();
    assert!(
        writes.iter().all(|w| w.query.contains("dryRun=All")),
        "{writes:#?}"
    );

    log.clear();
    let report = engine.sync(&set(dir.path(), namespace)).await;
    assert_eq!(
        outcome(&report, &format!("{namespace}:configmap/settings")),
        &ResourceOutcome::Configured
    );
    assert_eq!(
        outcome(&report, &format!("{namespace}:deployment/web")),
        &ResourceOutcome::Configured
    );
    assert_eq!(
        outcome(&report, &format!("{namespace}:configmap/other")),
        &ResourceOutcome::Unchanged
    );
    let writes = log.writes();
    assert_eq!(
        writes.len(),
        4,
        "a migration and an apply each: {writes:#?}"
    );

    let admin = cluster.client().unwrap();
    let settings = get(&admin, "v1", "ConfigMap", Some(namespace), "settings")
        .await
        .unwrap();
    assert_eq!(settings.data["data"], serde_json::json!({"a": "1"}));
    let annotations = settings.metadata.annotations.clone().unwrap_or_default();
    assert!(!annotations.contains_key("team"), "{annotations:?}");
    assert!(
        !annotations.contains_key(LAST_APPLIED_ANNOTATION),
        "{annotations:?}"
    );
    assert_eq!(
        annotations[CHECKSUM_ANNOTATION].len(),
        64,
        "{annotations:?}"
    );
    let managers: Vec<(String, String)> = settings
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|entry| {
            (
                entry.manager.unwrap_or_default(),
                entry.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        managers,
        [("fluxd".to_owned(), "Apply".to_owned())],
        "{managers:?}"
    );
    assert!(!managers.iter().any(|(m, _)| m == KUBECTL_CLIENT_SIDE_APPLY));

    let web = get(&admin, "apps/v1", "Deployment", Some(namespace), "web")
        .await
        .unwrap();
    let container = &web.data["spec"]["template"]["spec"]["containers"][0];
    assert!(container.get("env").is_none(), "{container}");
    assert_eq!(web.data["spec"]["replicas"], 2);

    // And from then on, a sync writes nothing again.
    log.clear();
    let report = engine.sync(&set(dir.path(), namespace)).await;
    assert!(
        report
            .results
            .iter()
            .all(|r| r.outcome == ResourceOutcome::Unchanged),
        "{report:#?}"
    );
    assert_eq!(log.writes(), []);
}
