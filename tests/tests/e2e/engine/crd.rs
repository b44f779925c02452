//! CustomResourceDefinitions and their objects: in one sync, with the scope
//! of a custom kind learnt from discovery.
//!
//! CRDs are cluster-wide, but each test's group is unique to it (named after
//! its namespace), so these tests share the control plane; they delete their
//! CRDs at the end.

use kube::api::{Api, DeleteParams};
use manifests::cluster::{GarbageCollection, ResourceOutcome};
use tests::controlplane::ControlPlane;

use super::{assert_all, engine, get, outcome, sync_set, with_gc};

/// A CRD of kind `kind` in `group`, with a schema that has a quantity and a
/// defaulted field, and status as a subresource.
fn crd(group: &str, kind: &str, plural: &str, scope: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names:
    kind: {kind}
    listKind: {kind}List
    plural: {plural}
    singular: {singular}
  scope: {scope}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {{}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                x-kubernetes-int-or-string: true
                anyOf: [{{type: integer}}, {{type: string}}]
              color:
                type: string
                default: blue
              replicas:
                type: integer
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#,
        singular = kind.to_lowercase()
    )
}

async fn delete_crd(name: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let cluster = ControlPlane::shared().await.unwrap();
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client().unwrap());
    let _ = api.delete(name, &DeleteParams::background()).await;
}

#[tokio::test]
async fn a_crd_and_its_objects_in_one_sync() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-crd").await.unwrap();
    let n = ns.name();
    let group = format!("{n}.e2e.example.com");
    let widget = |name: &str, size: &str| {
        format!(
            "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: {name}\n  namespace: {n}\nspec:\n  size: {size}\n  replicas: 2\nstatus:\n  ready: false\n"
        )
    };
    let set = sync_set(
        "crd",
        &[
            ("crd.yaml", crd(&group, "Widget", "widgets", "Namespaced")),
            ("small.yaml", widget("small", "1")),
            ("large.yaml", widget("large", "'10Gi'")),
        ],
        n,
    );
    let (engine, log) = engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    let report = engine.sync(&set).await;
    assert_all(&report, &ResourceOutcome::Created);
    assert_eq!(report.results.len(), 3);
    let client = cluster.client().unwrap();
    let small = get(&client, &format!("{group}/v1"), "Widget", Some(n), "small")
        .await
        .unwrap();
    assert_eq!(
        small.data["spec"]["color"], "blue",
        "defaulted by the schema"
    );

    // A second sync, and one by a new engine, write nothing: the defaulted
    // field and the status in git are not differences.
    log.clear();
    assert_all(&engine.sync(&set).await, &ResourceOutcome::Unchanged);
    assert_eq!(log.writes(), []);
    let (restarted, log) = super::engine(cluster.admin().config(), with_gc(GarbageCollection::On));
    assert_all(&restarted.sync(&set).await, &ResourceOutcome::Unchanged);
    assert_eq!(log.writes(), []);

    // Objects of a CRD that leaves git with them are pruned before it.
    let report = restarted.sync(&sync_set("crd", &[], n)).await;
    let pruned: Vec<String> = report.results.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(
        pruned,
        [
            format!("{n}:widget/large"),
            format!("{n}:widget/small"),
            format!("<cluster>:customresourcedefinition/widgets.{group}"),
        ]
    );
    assert_all(&report, &ResourceOutcome::Pruned);
    delete_crd(&format!("widgets.{group}")).await;
}

#[tokio::test]
async fn objects_of_a_crd_that_fails_are_reported_with_it() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-bad-crd").await.unwrap();
    let n = ns.name();
    let group = format!("{n}.e2e.example.com");
    // `scope: Everywhere` is not a scope: the server refuses the CRD.
    let broken = crd(&group, "Doohickey", "doohickeys", "Everywhere");
    let set = sync_set(
        "bad-crd",
        &[
            ("crd.yaml", broken),
            (
                "thing.yaml",
                format!(
                    "apiVersion: {group}/v1\nkind: Doohickey\nmetadata:\n  name: thing\n  namespace: {n}\n"
                ),
            ),
            ("cm.yaml", super::config_map(n, "unrelated", "1")),
        ],
        n,
    );
    let (engine, _) = engine(cluster.admin().config(), with_gc(GarbageCollection::Off));
    let report = engine.sync(&set).await;
    let crd_failure = super::failure(outcome(
        &report,
        &format!("<cluster>:customresourcedefinition/doohickeys.{group}"),
    ));
    assert!(crd_failure.contains("Everywhere"), "{crd_failure}");
    let thing = super::failure(outcome(&report, &format!("{n}:doohickey/thing")));
    assert!(
        thing.contains(&format!("doohickeys.{group}")) && thing.contains("not ready"),
        "{thing}"
    );
    assert_eq!(
        outcome(&report, &format!("{n}:configmap/unrelated")),
        &ResourceOutcome::Created
    );
    assert_eq!(report.results.len(), 3);
}

#[tokio::test]
async fn discovery_gives_custom_kinds_their_scope() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("engine-scope-crd").await.unwrap();
    let n = ns.name();
    let group = format!("{n}.e2e.example.com");
    // The CRD is installed by someone else: the loader cannot know the kind
    // is cluster-scoped, and guesses namespaced.
    cluster
        .admin()
        .apply_yaml(&crd(&group, "Gadget", "gadgets", "Cluster"), "gadget CRD")
        .await
        .unwrap();
    let crd_name = format!("gadgets.{group}");
    let gvk = kube::core::GroupVersionKind::gvk(&group, "v1", "Gadget");
    let client = cluster.client().unwrap();
    tests::controlplane::wait_for(
        std::time::Duration::from_secs(30),
        "the gadget CRD to be served",
        || async { kube::discovery::pinned_kind(&client, &gvk).await.is_ok() },
    )
    .await
    .unwrap();
    let set = sync_set(
        "scope-crd",
        &[(
            "gadget.yaml",
            format!(
                "apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: tool\nspec:\n  size: 3\n"
            ),
        )],
        n,
    );
    assert_eq!(
        set.resources[0].id().to_string(),
        format!("{n}:gadget/tool")
    );
    let (engine, log) = engine(cluster.admin().config(), with_gc(GarbageCollection::Off));
    let report = engine.sync(&set).await;
    assert_eq!(
        outcome(&report, "<cluster>:gadget/tool"),
        &ResourceOutcome::Created
    );
    let client = cluster.client().unwrap();
    let tool = get(&client, &format!("{group}/v1"), "Gadget", None, "tool")
        .await
        .unwrap();
    assert_eq!(
        tool.metadata.labels.unwrap()["fluxcd.io/sync-gc-mark"],
        manifests::cluster::gc_mark(&set.name, &"<cluster>:gadget/tool".parse().unwrap())
    );
    log.clear();
    assert_all(&engine.sync(&set).await, &ResourceOutcome::Unchanged);
    assert_eq!(log.writes(), []);
    let api: Api<kube::api::DynamicObject> = Api::all_with(
        client,
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(&group, "v1", "Gadget"),
            "gadgets",
        ),
    );
    let _ = api.delete("tool", &DeleteParams::background()).await;
    delete_crd(&crd_name).await;
}
