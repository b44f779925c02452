//! Syncing: the first sync creates everything, a new commit changes a
//! Deployment and removes a ConfigMap (deleted only with garbage collection
//! on, only logged with it in dry-run mode), drift is corrected on the sync
//! interval, and a CRD comes with its objects in one commit.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use tests::controlplane::{ControlPlane, wait_for};

use super::{
    LOG_TIMEOUT, config_map, dynamic_api, fluxd_on, lines_with, repository, run, summary, web_app,
};

fn replicas(deployment: &Deployment) -> Option<i32> {
    deployment.spec.replicas
}

#[tokio::test]
async fn daemon_syncs_new_commits_prunes_and_corrects_drift() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-sync").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("deploy/web.yaml", &web_app(ns.name(), 1))
        .unwrap();
    repo.write(
        "deploy/settings.yaml",
        &config_map(ns.name(), "settings", "one"),
    )
    .unwrap();
    repo.write("README.md", "not a manifest\n").unwrap();
    let first = repo.commit_and_push("first").unwrap();

    let mut daemon = fluxd_on(&repo, cluster, ns.name())
        .args(["--git-path", "deploy", "--sync-garbage-collection"])
        .args(["--git-poll-interval", "1s", "--sync-interval", "2s"])
        .start(dir.path())
        .unwrap();

    // The first sync creates everything and moves the sync tag.
    let synced = daemon
        .wait_for_log(LOG_TIMEOUT, "the first sync", |line| {
            line.is("sync finished") && line.str("revision") == Some(first.as_str())
        })
        .unwrap();
    assert_eq!(synced.u64("created"), Some(3), "{synced}");
    assert_eq!(synced.u64("failed"), Some(0), "{synced}");
    assert_eq!(synced.u64("load_errors"), Some(0), "{synced}");
    assert_eq!(synced.str("branch"), Some("main"), "{synced}");
    let client = cluster.client().unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let services: Api<Service> = Api::namespaced(client.clone(), ns.name());
    assert_eq!(replicas(&deployments.get("web").await.unwrap()), Some(1));
    assert!(services.get_opt("web").await.unwrap().is_some());
    assert!(config_maps.get_opt("settings").await.unwrap().is_some());
    wait_for(LOG_TIMEOUT, "the sync tag at the first commit", || async {
        repo.origin_ref("refs/tags/flux-sync").unwrap().as_deref() == Some(first.as_str())
    })
    .await
    .unwrap();

    // A new commit scales the Deployment and removes the ConfigMap.
    repo.write("deploy/web.yaml", &web_app(ns.name(), 3))
        .unwrap();
    repo.remove("deploy/settings.yaml").unwrap();
    let second = repo.commit_and_push("second").unwrap();
    let synced = daemon
        .wait_for_log(LOG_TIMEOUT, "the sync of the second commit", |line| {
            line.is("sync finished") && line.str("revision") == Some(second.as_str())
        })
        .unwrap();
    assert_eq!(synced.u64("configured"), Some(1), "{synced}");
    assert_eq!(synced.u64("pruned"), Some(1), "{synced}");
    assert_eq!(replicas(&deployments.get("web").await.unwrap()), Some(3));
    assert!(config_maps.get_opt("settings").await.unwrap().is_none());
    let pruned_id = format!("{}:configmap/settings", ns.name());
    assert_eq!(
        daemon
            .count_logs(|line| line.str("id") == Some(pruned_id.as_str())
                && line.message().contains("deleted")),
        1,
        "{}",
        daemon.log_text()
    );
    wait_for(LOG_TIMEOUT, "the sync tag at the second commit", || async {
        repo.origin_ref("refs/tags/flux-sync").unwrap().as_deref() == Some(second.as_str())
    })
    .await
    .unwrap();

    // Drift (a hand-edited replica count) is corrected on the sync interval.
    deployments
        .patch(
            "web",
            &PatchParams::apply("someone-by-hand").force(),
            &Patch::Apply(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"}, "spec": {"replicas": 7}
            })),
        )
        .await
        .unwrap();
    wait_for(
        LOG_TIMEOUT,
        "the drifted replica count to be corrected",
        || async { replicas(&deployments.get("web").await.unwrap()) == Some(3) },
    )
    .await
    .unwrap();

    daemon.check_running().unwrap();
    daemon.stop();
    let logs = daemon.logs();
    assert!(
        logs.iter().any(|line| line.is("stopped")),
        "{}",
        daemon.log_text()
    );
    assert!(
        logs.iter().all(|line| line.level() != "ERROR"),
        "{}",
        daemon.log_text()
    );
}

#[tokio::test]
async fn removed_objects_stay_unless_garbage_collection_is_on() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-gc").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("a.yaml", &config_map(ns.name(), "kept", "1"))
        .unwrap();
    repo.write("b.yaml", &config_map(ns.name(), "leaving", "1"))
        .unwrap();
    repo.commit_and_push("two maps").unwrap();
    let once = |extra: &[&str]| {
        fluxd_on(&repo, cluster, ns.name())
            .arg("--once")
            .args(extra.iter().copied())
    };
    let first = run(&once(&[]));
    assert_eq!(first.code(), Some(0), "{}", first.output());
    assert_eq!(
        summary(&first).u64("created"),
        Some(2),
        "{}",
        first.output()
    );

    repo.remove("b.yaml").unwrap();
    repo.commit_and_push("one map leaves").unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client().unwrap(), ns.name());
    let leaving = format!("{}:configmap/leaving", ns.name());

    // GC off: nothing said, nothing deleted.
    let off = run(&once(&[]));
    assert_eq!(off.code(), Some(0), "{}", off.output());
    assert!(
        off.logs()
            .iter()
            .all(|line| line.str("id") != Some(leaving.as_str())),
        "{}",
        off.output()
    );
    assert!(config_maps.get_opt("leaving").await.unwrap().is_some());

    // GC dry run: logged, not deleted.
    let dry = run(&once(&["--sync-garbage-collection-dry"]));
    assert_eq!(dry.code(), Some(0), "{}", dry.output());
    let would = lines_with(&dry, "garbage collection (dry run) would delete it");
    assert_eq!(would.len(), 1, "{}", dry.output());
    assert_eq!(would[0].str("id"), Some(leaving.as_str()));
    assert_eq!(summary(&dry).u64("would_prune"), Some(1));
    assert!(config_maps.get_opt("leaving").await.unwrap().is_some());

    // GC on: deleted; the one still in git stays.
    let on = run(&once(&["--sync-garbage-collection"]));
    assert_eq!(on.code(), Some(0), "{}", on.output());
    assert_eq!(summary(&on).u64("pruned"), Some(1), "{}", on.output());
    assert!(config_maps.get_opt("leaving").await.unwrap().is_none());
    assert!(config_maps.get_opt("kept").await.unwrap().is_some());
}

#[tokio::test]
async fn a_crd_and_its_objects_in_one_commit() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-crd").await.unwrap();
    let group = format!("{}.fluxd.test", ns.name());
    let crd_name = format!("widgets.{group}");
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write(
        "crds/widget.yaml",
        &format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {crd_name}
spec:
  group: {group}
  names: {{kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {{type: integer}}
"
        ),
    )
    .unwrap();
    repo.write(
        "widgets/small.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: small\n  namespace: {ns}\nspec:\n  size: 1\n",
            ns = ns.name()
        ),
    )
    .unwrap();
    repo.commit_and_push("a kind and a widget").unwrap();

    let finished =
        run(&fluxd_on(&repo, cluster, ns.name()).args(["--once", "--k8s-allow-cluster-scoped"]));
    let client = cluster.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let widget = dynamic_api(client, (&group, "v1", "Widget", "widgets"), ns.name())
        .get_opt("small")
        .await;
    // Clean up the cluster-wide kind before asserting.
    let _ = crds.delete(&crd_name, &DeleteParams::default()).await;
    assert_eq!(finished.code(), Some(0), "{}", finished.output());
    assert_eq!(
        summary(&finished).u64("created"),
        Some(2),
        "{}",
        finished.output()
    );
    let widget = widget.unwrap().expect("the Widget was created");
    assert_eq!(widget.data["spec"]["size"], 1);
}

#[tokio::test]
async fn a_broken_manifest_and_one_out_of_scope_are_reported_and_the_rest_syncs() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("fluxd-bad").await.unwrap();
    let outside = cluster.namespace("fluxd-outside").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = repository(dir.path());
    repo.write("deploy/good.yaml", &config_map(ns.name(), "good", "1"))
        .unwrap();
    repo.write(
        "deploy/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n data: [unclosed\n",
    )
    .unwrap();
    repo.write(
        "deploy/elsewhere.yaml",
        &format!(
            "# in a namespace fluxd may not touch\n{}",
            config_map(outside.name(), "elsewhere", "1")
        ),
    )
    .unwrap();
    repo.commit_and_push("one good, one broken, one elsewhere")
        .unwrap();

    let finished = run(&fluxd_on(&repo, cluster, ns.name()).arg("--once"));
    assert_eq!(finished.code(), Some(1), "{}", finished.output());

    let not_loaded = lines_with(&finished, "manifest not loaded");
    assert_eq!(not_loaded.len(), 1, "{}", finished.output());
    let source = not_loaded[0].str("source").unwrap();
    assert!(
        source.starts_with("deploy/broken.yaml:"),
        "{}",
        not_loaded[0]
    );

    let failed = lines_with(&finished, "resource failed");
    assert_eq!(failed.len(), 1, "{}", finished.output());
    let id = format!("{}:configmap/elsewhere", outside.name());
    assert_eq!(failed[0].str("id"), Some(id.as_str()), "{}", failed[0]);
    assert_eq!(
        failed[0].str("source"),
        Some("deploy/elsewhere.yaml:2"),
        "{}",
        failed[0]
    );
    assert!(failed[0].str("error").is_some_and(|e| !e.is_empty()));

    let summary = summary(&finished);
    assert_eq!(summary.u64("created"), Some(1), "{summary}");
    assert_eq!(summary.u64("failed"), Some(1), "{summary}");
    assert_eq!(summary.u64("load_errors"), Some(1), "{summary}");

    let client = cluster.client().unwrap();
    let here: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let there: Api<ConfigMap> = Api::namespaced(client, outside.name());
    assert!(here.get_opt("good").await.unwrap().is_some());
    assert!(there.get_opt("elsewhere").await.unwrap().is_none());
}
