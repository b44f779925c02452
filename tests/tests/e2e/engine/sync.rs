//! Syncs that create, leave alone, change, correct and prune.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use manifests::cluster::{GarbageCollection, ResourceOutcome, SyncSet};
use serde_json::json;
use tests::controlplane::{ControlPlane, run};

use super::{
    assert_all, config_map, config_maps, deployment, engine, failure, get, outcome, outcomes,
    service, set_name, sync_set, with_gc,
};

/// Everything everyday manifests hold that the server normalises: quantities,
/// Secret `stringData`, `creationTimestamp: null`, Service defaults, RBAC.
fn everyday(ns: &str) -> Vec<(&'static str, String)> {
    vec![
        ("web.yaml", deployment(ns, "web", "nginx:1.27", 2)),
        ("svc.yaml", service(ns, "web")),
        ("cm.yaml", config_map(ns, "settings", "a=1")),
        (
            "secret.yaml",
            format!(
                r#"apiVersion: v1
kind: Secret
metadata:
  name: credentials
  namespace: {ns}
stringData:
  password: hunter2
  config.yaml: |
    user: admin
data:
  token: c2VjcmV0
"#
            ),
        ),
        (
            "rbac.yaml",
            format!(
                r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
  namespace: {ns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: {ns}
rules:
- apiGroups: [""]
  resources: ["configmaps", "secrets"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: web-reader
  namespace: {ns}
subjects:
- kind: ServiceAccount
  name: web
  namespace: {ns}
roleRef:
  kind: Role
  name: reader
  apiGroup: rbac.authorization.k8s.io
"#
            ),
        ),
        (
            "quota.yaml",
            format!(
                r#"apiVersion: v1
kind: ResourceQuota
metadata:
  name: quota
  namespace: {ns}
spec:
  hard:
    requests.cpu: "4"
    requests.memory: 8192Mi
    pods: 100
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: {ns}
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 0.5Gi
"#
            ),
        ),
    ]
}

#[tokio::test]
async fn first_sync_creates_and_a_second_writes_nothing() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-noop").await.unwrap();
    let set = sync_set("noop", &everyday(ns.name()), ns.name());
    let (engine, log) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));

    let first = engine.sync(&set).await;
    assert_eq!(first.results.len(), 9, "{first:#?}");
    assert_all(&first, &ResourceOutcome::Created);
    assert!(first.is_success(), "{first:#?}");
    // Applied in Flux's order: the ServiceAccount and Service before the
    // ConfigMap, the Deployment after both.
    let order: Vec<String> = first
        .results
        .iter()
        .map(|r| r.id.kind().to_owned())
        .collect();
    let position = |kind: &str| order.iter().position(|k| k == kind).unwrap();
    assert!(position("service") < position("configmap"));
    assert!(position("configmap") < position("deployment"));

    let client = cluster.client().unwrap();
    let web = get(&client, "apps/v1", "Deployment", Some(ns.name()), "web")
        .await
        .unwrap();
    let labels = web.metadata.labels.unwrap();
    let id = "".to_owned() + ns.name() + ":deployment/web";
    assert_eq!(
        labels["fluxcd.io/sync-gc-mark"],
        manifests::cluster::gc_mark(&set.name, &id.parse().unwrap())
    );
    let checksum = &web.metadata.annotations.unwrap()["fluxcd.io/sync-checksum"];
    assert_eq!(checksum.len(), 64);
    let secret = get(&client, "v1", "Secret", Some(ns.name()), "credentials")
        .await
        .unwrap();
    assert_eq!(secret.data["data"]["password"], "aHVudGVyMg==");

    // The same engine again: nothing differs, nothing is written, and the
    // live objects are read with a handful of list calls.
    log.clear();
    let second = engine.sync(&set).await;
    assert_all(&second, &ResourceOutcome::Unchanged);
    assert_eq!(log.writes(), [], "a no-op sync wrote");
    let gets = log.count("GET");
    assert!(
        gets < 120,
        "{gets} reads for 9 objects and garbage collection"
    );

    // A new engine (a restarted daemon): no memory of earlier syncs, and
    // still no write.
    let (restarted, log) = super::engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    let third = restarted.sync(&set).await;
    assert_all(&third, &ResourceOutcome::Unchanged);
    assert_eq!(log.writes(), [], "a restarted no-op sync wrote");
    // Without garbage collection a no-op sync is a few lists: one per kind.
    let (quiet, log) = super::engine(cluster.admin().config(), with_gc(GarbageCollection::Off));
    assert_all(&quiet.sync(&set).await, &ResourceOutcome::Unchanged);
    assert!(log.count("GET") <= 2 + 9, "{:#?}", log.all());
    assert_eq!(log.writes(), []);
}

#[tokio::test]
async fn changes_apply_and_removals_prune_only_with_gc_on() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-gc").await.unwrap();
    let n = ns.name();
    let v1 = sync_set(
        "gc",
        &[
            ("web.yaml", deployment(n, "web", "nginx:1.26", 1)),
            ("a.yaml", config_map(n, "a", "1")),
            ("b.yaml", config_map(n, "b", "2")),
        ],
        n,
    );
    let v2 = sync_set(
        "gc",
        &[
            ("web.yaml", deployment(n, "web", "nginx:1.27", 1)),
            ("a.yaml", config_map(n, "a", "1")),
        ],
        n,
    );
    let client = cluster.client().unwrap();
    let (off, _) = engine(cluster.admin().config(), with_gc(GarbageCollection::Off));
    assert_all(&off.sync(&v1).await, &ResourceOutcome::Created);

    let report = off.sync(&v2).await;
    assert_eq!(
        outcomes(&report),
        [
            (format!("{n}:configmap/a"), ResourceOutcome::Unchanged),
            (format!("{n}:deployment/web"), ResourceOutcome::Configured),
        ]
        .into()
    );
    let web = get(&client, "apps/v1", "Deployment", Some(n), "web")
        .await
        .unwrap();
    assert_eq!(
        web.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "b")
            .await
            .is_some()
    );

    let (dry, log) = engine(cluster.admin().config(), with_gc(GarbageCollection::DryRun));
    let report = dry.sync(&v2).await;
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/b")),
        &ResourceOutcome::WouldPrune
    );
    assert_eq!(
        report
            .get(&format!("{n}:configmap/b").parse().unwrap())
            .unwrap()
            .source,
        None
    );
    assert_eq!(log.writes(), []);
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "b")
            .await
            .is_some()
    );

    let (on, log) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    let report = on.sync(&v2).await;
    // Garbage collection lists by the mark label only; kinds with nothing
    // desired to compare (Secrets here) are read as metadata alone, kinds
    // with desired objects (ConfigMaps) whole.
    let lists: Vec<_> = log
        .all()
        .into_iter()
        .filter(|r| r.method == "GET" && r.query.contains("labelSelector"))
        .collect();
    let metadata_only = |suffix: &str| {
        let of_kind: Vec<_> = lists.iter().filter(|r| r.path.ends_with(suffix)).collect();
        assert!(!of_kind.is_empty(), "no list of {suffix}: {lists:#?}");
        of_kind
            .iter()
            .all(|r| r.accept.contains("as=PartialObjectMetadataList"))
    };
    assert!(metadata_only("/secrets"), "{lists:#?}");
    assert!(!metadata_only("/configmaps"), "{lists:#?}");
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/b")),
        &ResourceOutcome::Pruned
    );
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/a")),
        &ResourceOutcome::Unchanged
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "b")
            .await
            .is_none()
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "a")
            .await
            .is_some()
    );

    // Pruning is done: the next sync has nothing to prune.
    let report = on.sync(&v2).await;
    assert_all(&report, &ResourceOutcome::Unchanged);
}

#[tokio::test]
async fn drift_is_corrected_on_the_next_sync() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-drift").await.unwrap();
    let n = ns.name();
    let set = sync_set(
        "drift",
        &[
            ("web.yaml", deployment(n, "web", "nginx:1.27", 2)),
            ("cm.yaml", config_map(n, "settings", "a=1")),
        ],
        n,
    );
    let (engine, log) = engine(cluster.admin().config(), with_gc(GarbageCollection::Off));
    assert_all(&engine.sync(&set).await, &ResourceOutcome::Created);

    // Someone scales by hand and edits a label and a value.
    run(cluster.admin().kubectl().unwrap().args([
        "scale",
        "deployment/web",
        "--replicas=5",
        "-n",
        n,
    ]))
    .unwrap();
    run(cluster.admin().kubectl().unwrap().args([
        "label",
        "deployment/web",
        "app=edited",
        "--overwrite",
        "-n",
        n,
    ]))
    .unwrap();
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client().unwrap(), n, &config_maps());
    api.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"value": "tampered"}})),
    )
    .await
    .unwrap();

    log.clear();
    let report = engine.sync(&set).await;
    assert_all(&report, &ResourceOutcome::Configured);
    assert_eq!(log.count("PATCH"), 2, "{:#?}", log.all());
    let client = cluster.client().unwrap();
    let web = get(&client, "apps/v1", "Deployment", Some(n), "web")
        .await
        .unwrap();
    assert_eq!(web.data["spec"]["replicas"], 2);
    assert_eq!(web.metadata.labels.unwrap()["app"], "web");
    let settings = get(&client, "v1", "ConfigMap", Some(n), "settings")
        .await
        .unwrap();
    assert_eq!(settings.data["data"]["value"], "a=1");

    log.clear();
    assert_all(&engine.sync(&set).await, &ResourceOutcome::Unchanged);
    assert_eq!(log.writes(), []);
}

#[tokio::test]
async fn ignore_policies_in_git_and_on_the_cluster() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-ignore").await.unwrap();
    let n = ns.name();
    let ignored_in_git = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: never\n  namespace: {n}\n  annotations:\n    fluxcd.io/ignore: \"true\"\n"
    );
    let sync_only = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: {n}\n  annotations:\n    flux.weave.works/ignore: sync_only\n"
    );
    let v1 = sync_set(
        "ignore",
        &[
            ("never.yaml", ignored_in_git),
            ("kept.yaml", sync_only),
            ("hand.yaml", config_map(n, "hand", "git")),
        ],
        n,
    );
    let (engine, _) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    let report = engine.sync(&v1).await;
    assert!(matches!(
        outcome(&report, &format!("{n}:configmap/never")),
        ResourceOutcome::Skipped { .. }
    ));
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/kept")),
        &ResourceOutcome::Created
    );
    let client = cluster.client().unwrap();
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "never")
            .await
            .is_none()
    );

    // Someone marks the live object ignored and edits it: git no longer wins.
    run(cluster.admin().kubectl().unwrap().args([
        "annotate",
        "configmap/hand",
        "fluxcd.io/ignore=true",
        "-n",
        n,
    ]))
    .unwrap();
    let v2 = sync_set(
        "ignore",
        &[("hand.yaml", config_map(n, "hand", "changed in git"))],
        n,
    );
    let report = engine.sync(&v2).await;
    match outcome(&report, &format!("{n}:configmap/hand")) {
        ResourceOutcome::Skipped { reason } => assert!(reason.contains("cluster"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let hand = get(&client, "v1", "ConfigMap", Some(n), "hand")
        .await
        .unwrap();
    assert_eq!(hand.data["data"]["value"], "git");
    // `sync_only` left git but is never pruned.
    assert!(
        report
            .get(&format!("{n}:configmap/kept").parse().unwrap())
            .is_none()
    );
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "kept")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn one_failing_resource_never_stops_the_others() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-fail").await.unwrap();
    let n = ns.name();
    let set = sync_set(
        "fail",
        &[
            ("ok.yaml", config_map(n, "fine", "1")),
            (
                "unknown.yaml",
                format!(
                    "apiVersion: example.com/v9\nkind: Gizmo\nmetadata:\n  name: g\n  namespace: {n}\n"
                ),
            ),
            (
                "invalid.yaml",
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\n  namespace: {n}\nspec:\n  ports:\n  - port: 99999\n"
                ),
            ),
            (
                "typo.yaml",
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\n  namespace: {n}\nspec:\n  replica: 1\n  selector: {{matchLabels: {{app: t}}}}\n  template:\n    metadata: {{labels: {{app: t}}}}\n    spec: {{containers: [{{name: t, image: t}}]}}\n"
                ),
            ),
            (
                "missing-ns.yaml",
                config_map("no-such-namespace-e2e", "orphan", "1"),
            ),
            (
                // The seed's RBAC as written: a version no longer served.
                "seed-role.yaml",
                format!(
                    "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\nmetadata:\n  name: flux-role\n  namespace: {n}\nrules: []\n"
                ),
            ),
            ("web.yaml", deployment(n, "web", "nginx:1.27", 1)),
        ],
        n,
    );
    let (engine, _) = engine(cluster.admin().config(), with_gc(GarbageCollection::Off));
    let report = engine.sync(&set).await;
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/fine")),
        &ResourceOutcome::Created
    );
    assert_eq!(
        outcome(&report, &format!("{n}:deployment/web")),
        &ResourceOutcome::Created
    );
    let unknown = failure(outcome(&report, &format!("{n}:gizmo/g")));
    assert!(
        unknown.contains("Gizmo") && unknown.contains("example.com/v9"),
        "{unknown}"
    );
    let invalid = failure(outcome(&report, &format!("{n}:service/bad")));
    assert!(
        invalid.contains("99999"),
        "the API's message is kept: {invalid}"
    );
    let typo = failure(outcome(&report, &format!("{n}:deployment/typo")));
    assert!(
        typo.contains("replica"),
        "unknown fields are refused: {typo}"
    );
    let missing = failure(outcome(&report, "no-such-namespace-e2e:configmap/orphan"));
    assert!(missing.contains("not found"), "{missing}");
    let old = failure(outcome(&report, &format!("{n}:role/flux-role")));
    assert!(
        old.contains("v1beta1") && old.contains("it serves it in rbac.authorization.k8s.io/v1"),
        "{old}"
    );
    assert_eq!(report.counts().failed, 5);
    assert!(!report.is_success());
}

#[tokio::test]
async fn an_incomplete_set_is_never_pruned() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-incomplete").await.unwrap();
    let n = ns.name();
    let full = sync_set(
        "incomplete",
        &[
            ("a.yaml", config_map(n, "a", "1")),
            ("b.yaml", config_map(n, "b", "1")),
        ],
        n,
    );
    let (engine, _) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    assert_all(&engine.sync(&full).await, &ResourceOutcome::Created);
    // b.yaml no longer parses: its ConfigMap must not look removed.
    let loaded = super::load(
        &[
            ("a.yaml", config_map(n, "a", "1")),
            ("b.yaml", "kind: [unclosed\n".to_owned()),
        ],
        n,
    );
    assert_eq!(loaded.errors.len(), 1);
    let broken = SyncSet {
        name: set_name("incomplete"),
        complete: loaded.is_complete(),
        resources: loaded.resources,
    };
    let report = engine.sync(&broken).await;
    assert_all(&report, &ResourceOutcome::Unchanged);
    assert!(
        report.errors[0].contains("garbage collection skipped"),
        "{:?}",
        report.errors
    );
    assert!(
        get(&cluster.client().unwrap(), "v1", "ConfigMap", Some(n), "b")
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_resource_defined_twice_is_applied_in_neither_form() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-twice").await.unwrap();
    let n = ns.name();
    let (engine, _) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    let first = sync_set("twice", &[("kept.yaml", config_map(n, "kept", "1"))], n);
    assert_all(&engine.sync(&first).await, &ResourceOutcome::Created);

    // `fresh` and the live `kept` are each defined twice, with different data.
    let loaded = super::load(
        &[
            ("once.yaml", config_map(n, "once", "1")),
            ("a.yaml", config_map(n, "fresh", "from-a")),
            ("b.yaml", config_map(n, "fresh", "from-b")),
            ("kept.yaml", config_map(n, "kept", "2")),
            ("kept-again.yaml", config_map(n, "kept", "3")),
        ],
        n,
    );
    let messages: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            format!(
                "resource {n}:configmap/fresh is defined twice: at a.yaml:1 and at b.yaml:1; neither is applied"
            ),
            format!(
                "resource {n}:configmap/kept is defined twice: at kept.yaml:1 and at kept-again.yaml:1; neither is applied"
            ),
        ]
    );
    let report = engine.sync(&super::set_of("twice", loaded)).await;
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/once")),
        &ResourceOutcome::Created
    );
    let client = cluster.client().unwrap();
    assert!(
        get(&client, "v1", "ConfigMap", Some(n), "fresh")
            .await
            .is_none()
    );
    // The live one is neither changed to either form nor pruned.
    let kept = get(&client, "v1", "ConfigMap", Some(n), "kept")
        .await
        .unwrap();
    assert_eq!(kept.data["data"]["value"], "1");
}
