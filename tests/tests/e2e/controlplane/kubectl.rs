//! kubectl 1.35 as admin: discovery, server-side apply, dry-run, get, patch,
//! delete, watch and `auth can-i`.

use std::io::BufReader;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tests::controlplane::{ControlPlane, run};

use super::write_file;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  colour: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1.0.0
"#;

#[tokio::test]
async fn api_resources_lists_core_and_extension_kinds() {
    let cluster = ControlPlane::shared().await.unwrap();
    let out = run(cluster
        .admin()
        .kubectl()
        .unwrap()
        .args(["api-resources", "-o", "name"]))
    .unwrap();
    for resource in [
        "configmaps",
        "deployments.apps",
        "roles.rbac.authorization.k8s.io",
        "customresourcedefinitions.apiextensions.k8s.io",
        "serviceaccounts",
    ] {
        assert!(
            out.lines().any(|line| line == resource),
            "{resource} missing:\n{out}"
        );
    }
}

#[tokio::test]
async fn apply_dry_run_get_patch_delete() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("kubectl").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "app.yaml", MANIFESTS);
    let kubectl = || {
        let mut command = cluster.admin().kubectl().unwrap();
        command.args(["-n", ns.name()]);
        command
    };

    // Server-side dry run: validated and defaulted by the server, not stored.
    let dry = run(kubectl()
        .args([
            "apply",
            "--server-side",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
        ])
        .arg(&file))
    .unwrap();
    assert!(dry.contains("\"kind\": \"Deployment\""), "{dry}");
    assert!(
        dry.contains("\"revisionHistoryLimit\": 10"),
        "no server defaults: {dry}"
    );
    let none = run(kubectl().args(["get", "configmap,deployment", "-o", "name"])).unwrap();
    assert!(!none.contains("settings"), "dry run stored objects: {none}");

    let applied = run(kubectl().args(["apply", "--server-side", "-f"]).arg(&file)).unwrap();
    assert!(
        applied.contains("configmap/settings serverside-applied"),
        "{applied}"
    );
    assert!(
        applied.contains("deployment.apps/web serverside-applied"),
        "{applied}"
    );

    let colour = || {
        run(kubectl().args([
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.colour}",
        ]))
        .unwrap()
    };
    assert_eq!(colour(), "blue");
    let managers = run(kubectl().args([
        "get",
        "configmap",
        "settings",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]))
    .unwrap();
    assert_eq!(managers, "kubectl");

    run(kubectl().args([
        "patch",
        "configmap",
        "settings",
        "--type=merge",
        "-p",
        r#"{"data":{"colour":"green"}}"#,
    ]))
    .unwrap();
    assert_eq!(colour(), "green");

    // The deployment controller gives the Deployment a ReplicaSet.
    let replica_sets = run(kubectl().args([
        "wait",
        "--for=jsonpath={.status.observedGeneration}=1",
        "deployment/web",
        "--timeout=60s",
    ]));
    replica_sets.unwrap();
    let owned = run(kubectl().args(["get", "replicasets", "-l", "app=web", "-o", "name"])).unwrap();
    assert!(owned.starts_with("replicaset.apps/web-"), "{owned}");

    run(kubectl()
        .args(["delete", "-f"])
        .arg(&file)
        .arg("--wait=true"))
    .unwrap();
    let gone = kubectl()
        .args(["get", "configmap", "settings"])
        .output()
        .unwrap();
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
}

#[tokio::test]
async fn get_watch_streams_added_modified_deleted() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("watch").await.unwrap();
    let kubectl = || {
        let mut command = cluster.admin().kubectl().unwrap();
        command.args(["-n", ns.name()]);
        command
    };
    run(kubectl().args(["create", "configmap", "watched", "--from-literal=n=1"])).unwrap();

    // One JSON document per event, read as they come.
    let mut watch: Child = kubectl()
        .args([
            "get",
            "configmap",
            "watched",
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (events, received) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        let stream = serde_json::Deserializer::from_reader(BufReader::new(stdout))
            .into_iter::<serde_json::Value>();
        for event in stream.map_while(Result::ok) {
            if events.send(event).is_err() {
                break;
            }
        }
    });
    let next = || {
        let event = received.recv_timeout(Duration::from_secs(30)).unwrap();
        (
            event["type"].as_str().unwrap_or_default().to_owned(),
            event["object"]["data"]["n"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    assert_eq!(next(), ("ADDED".to_owned(), "1".to_owned()));
    run(kubectl().args([
        "patch",
        "configmap",
        "watched",
        "--type=merge",
        "-p",
        r#"{"data":{"n":"2"}}"#,
    ]))
    .unwrap();
    assert_eq!(next(), ("MODIFIED".to_owned(), "2".to_owned()));
    run(kubectl().args(["delete", "configmap", "watched"])).unwrap();
    assert_eq!(next().0, "DELETED");
    let _ = watch.kill();
    let _ = watch.wait();
}

#[tokio::test]
async fn auth_can_i_as_admin() {
    let cluster = ControlPlane::shared().await.unwrap();
    let out = run(cluster.admin().kubectl().unwrap().args([
        "auth",
        "can-i",
        "*",
        "*",
        "--all-namespaces",
    ]))
    .unwrap();
    assert_eq!(out.trim(), "yes");
    let whoami = run(cluster.admin().kubectl().unwrap().args([
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]))
    .unwrap();
    assert_eq!(whoami, "admin");
}
