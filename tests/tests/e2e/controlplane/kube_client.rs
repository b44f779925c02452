//! The `kube` crate against the real apiserver: typed and dynamic CRUD,
//! server-side apply (field removal, conflicts), a watcher, a CRD with the
//! server's own validation and pruning, the status subresource, garbage
//! collection and namespace deletion.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::json;
use tests::controlplane::{ControlPlane, wait_for};

fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn typed_crud() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("typed").await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());

    let created = api
        .create(&PostParams::default(), &config_map("one", &[("a", "1")]))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let mut fetched = api.get("one").await.unwrap();
    assert_eq!(fetched.data.as_ref().unwrap()["a"], "1");

    fetched
        .data
        .as_mut()
        .unwrap()
        .insert("b".into(), "2".into());
    let replaced = api
        .replace("one", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        created.metadata.resource_version
    );
    // A stale resourceVersion is a conflict.
    let stale = api.replace("one", &PostParams::default(), &created).await;
    assert!(matches!(stale, Err(kube::Error::Api(s)) if s.code == 409));

    api.create(&PostParams::default(), &config_map("two", &[]))
        .await
        .unwrap();
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .filter(|name| name != "kube-root-ca.crt")
        .collect();
    assert_eq!(names, ["one", "two"]);

    api.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(api.get_opt("one").await.unwrap().is_none());
}

#[tokio::test]
async fn dynamic_crud_through_discovery() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("dynamic").await.unwrap();
    let client = cluster.client().unwrap();
    let gvk = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let (resource, _caps) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
    assert_eq!(resource.plural, "deployments");
    let api: Api<DynamicObject> = Api::namespaced_with(client, ns.name(), &resource);

    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}
            }
        }
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &object).await.unwrap();
    // Defaulted by the real server.
    assert_eq!(created.data["spec"]["replicas"], 1);
    assert_eq!(created.data["spec"]["strategy"]["type"], "RollingUpdate");

    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["replicas"], 3);
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    api.delete("web", &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn server_side_apply_removes_fields_and_reports_conflicts() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("ssa").await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let apply = |data: serde_json::Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data});

    api.patch(
        "cfg",
        &PatchParams::apply("fluxd"),
        &Patch::Apply(apply(json!({"a": "1", "b": "2"}))),
    )
    .await
    .unwrap();
    // Leaving a field out of the next apply removes it (fluxd owns it).
    let after = api
        .patch(
            "cfg",
            &PatchParams::apply("fluxd"),
            &Patch::Apply(apply(json!({"a": "1"}))),
        )
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(data["a"], "1");

    // Another manager changing fluxd's field conflicts unless it forces.
    let conflict = api
        .patch(
            "cfg",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(apply(json!({"a": "changed"}))),
        )
        .await;
    match conflict {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert!(status.message.contains("fluxd"), "{status:?}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = api
        .patch(
            "cfg",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(apply(json!({"a": "changed"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["a"], "changed");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| entry.manager)
        .collect();
    assert!(
        managers.contains(&"someone-else".to_owned()),
        "{managers:?}"
    );

    // A server-side dry run answers with the result and stores nothing.
    let dry = api
        .patch(
            "cfg",
            &PatchParams::apply("fluxd").force().dry_run(),
            &Patch::Apply(apply(json!({"a": "1", "z": "26"}))),
        )
        .await
        .unwrap();
    assert_eq!(dry.data.unwrap()["z"], "26");
    let stored = api.get("cfg").await.unwrap().data.unwrap();
    assert!(!stored.contains_key("z"), "{stored:?}");
}

async fn next_event(
    events: &mut futures::stream::BoxStream<'_, Result<watcher::Event<ConfigMap>, watcher::Error>>,
) -> watcher::Event<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(30), events.try_next())
        .await
        .expect("no watch event within 30 s")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn watcher_sees_creates_updates_and_deletes() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("watcher").await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let config = watcher::Config::default().fields("metadata.name=watched");
    let mut events = watcher(api.clone(), config).boxed();

    // The initial list completes before anything is created.
    loop {
        match events.try_next().await.unwrap().unwrap() {
            watcher::Event::InitDone => break,
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    api.create(
        &PostParams::default(),
        &config_map("watched", &[("n", "1")]),
    )
    .await
    .unwrap();
    match next_event(&mut events).await {
        watcher::Event::Apply(cm) => assert_eq!(cm.data.unwrap()["n"], "1"),
        other => panic!("unexpected {other:?}"),
    }
    api.patch(
        "watched",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"n": "2"}})),
    )
    .await
    .unwrap();
    match next_event(&mut events).await {
        watcher::Event::Apply(cm) => assert_eq!(cm.data.unwrap()["n"], "2"),
        other => panic!("unexpected {other:?}"),
    }
    api.delete("watched", &DeleteParams::default())
        .await
        .unwrap();
    match next_event(&mut events).await {
        watcher::Event::Delete(cm) => assert_eq!(cm.metadata.name.unwrap(), "watched"),
        other => panic!("unexpected {other:?}"),
    }
}

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.fluxrs.io
spec:
  group: test.fluxrs.io
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wg]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
              colour: {type: string, enum: [red, green]}
          status:
            type: object
            properties:
              ready: {type: boolean}
"#;

/// Registers a CRD (cluster-wide state: a private control plane), then uses it.
#[tokio::test]
async fn crd_validation_pruning_and_status_subresource() {
    let cluster = ControlPlane::private().await.unwrap();
    cluster
        .admin()
        .apply_yaml(WIDGET_CRD, "widget CRD")
        .await
        .unwrap();
    let client = cluster.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_for(
        Duration::from_secs(60),
        "the Widget CRD to be established",
        || async {
            crds.get("widgets.test.fluxrs.io")
                .await
                .ok()
                .and_then(|crd| crd.status)
                .and_then(|status| status.conditions)
                .is_some_and(|conditions| {
                    conditions
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                })
        },
    )
    .await
    .unwrap();

    let ns = cluster.namespace("widgets").await.unwrap();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.fluxrs.io", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, ns.name(), &resource);
    let widget = |name: &str, spec: serde_json::Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "test.fluxrs.io/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .unwrap()
    };

    // Unknown fields are pruned by the server.
    let created = api
        .create(
            &PostParams::default(),
            &widget(
                "pruned",
                json!({"size": 2, "colour": "red", "extra": "dropped"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.data["spec"], json!({"size": 2, "colour": "red"}));

    // Schema violations are rejected with 422 and name the field.
    for (spec, field) in [
        (json!({"size": 0}), "spec.size"),
        (json!({"size": 1, "colour": "blue"}), "spec.colour"),
        (json!({"colour": "red"}), "spec.size"),
    ] {
        match api
            .create(&PostParams::default(), &widget("bad", spec.clone()))
            .await
        {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{spec}: {status:?}");
                assert!(status.message.contains(field), "{spec}: {status:?}");
            }
            other => panic!("{spec} accepted: {other:?}"),
        }
    }

    // Status goes through the subresource only.
    let with_status = api
        .patch_status(
            "pruned",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert_eq!(with_status.data["status"]["ready"], true);
    let main = api
        .patch(
            "pruned",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}, "status": {"ready": false}})),
        )
        .await
        .unwrap();
    assert_eq!(main.data["spec"]["size"], 5);
    assert_eq!(
        main.data["status"]["ready"], true,
        "main resource changed status"
    );
    assert!(
        main.metadata.generation > created.metadata.generation,
        "spec change bumps generation"
    );
    let status_only = api
        .patch_status(
            "pruned",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 9}, "status": {"ready": false}})),
        )
        .await
        .unwrap();
    assert_eq!(status_only.data["spec"]["size"], 5, "status changed spec");
    assert_eq!(status_only.data["status"]["ready"], false);
    assert_eq!(status_only.metadata.generation, main.metadata.generation);
}

#[tokio::test]
async fn garbage_collector_deletes_dependents() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("gc").await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let owner = api
        .create(&PostParams::default(), &config_map("owner", &[]))
        .await
        .unwrap();
    let mut dependent = config_map("dependent", &[]);
    dependent.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: owner.metadata.uid.unwrap(),
            ..Default::default()
        },
    ]);
    api.create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    wait_for(
        Duration::from_secs(60),
        "the garbage collector to delete the dependent",
        || async { api.get_opt("dependent").await.unwrap().is_none() },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let cluster = ControlPlane::shared().await.unwrap();
    let client = cluster.client().unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let name = "doomed-namespace";
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, name);
    api.create(&PostParams::default(), &config_map("inside", &[]))
        .await
        .unwrap();

    namespaces
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    // Terminating first (the namespace controller empties it), then gone.
    let terminating = namespaces.get_opt(name).await.unwrap();
    if let Some(ns) = terminating {
        assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    }
    wait_for(
        Duration::from_secs(60),
        "the namespace to be deleted",
        || async { namespaces.get_opt(name).await.unwrap().is_none() },
    )
    .await
    .unwrap();
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
