//! helm 4 (and helm 3) against the control plane: install of a local chart
//! with a subchart, upgrade, history, rollback, list, uninstall, as admin and
//! as the seed's flux ServiceAccount.

use std::path::{Path, PathBuf};
use std::process::Command;

use tests::controlplane::{ControlPlane, Kubeconfig, SeedRbac, TestNamespace, run, run_failing};

use super::write_file;

/// A chart `umbrella` with its subchart `sub` unpacked under `charts/`, a
/// `kubeVersion` constraint (checked against the apiserver's stamped version),
/// a Deployment and two ConfigMaps.
fn write_chart(dir: &Path) -> PathBuf {
    let chart = dir.join("umbrella");
    write_file(
        &chart,
        "Chart.yaml",
        "apiVersion: v2\nname: umbrella\nversion: 0.1.0\nappVersion: \"1.0.0\"\n\
         kubeVersion: \">=1.35.0-0 <1.36.0-0\"\n\
         dependencies:\n- name: sub\n  version: 0.2.0\n",
    );
    write_file(
        &chart,
        "values.yaml",
        "message: hello\nsub:\n  greeting: hi\n",
    );
    write_file(
        &chart,
        "templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-parent\n\
         data:\n  message: {{ .Values.message | quote }}\n",
    );
    write_file(
        &chart,
        "templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n\
         spec:\n  replicas: 1\n  selector:\n    matchLabels: {app: {{ .Release.Name }}-web}\n\
         \x20 template:\n    metadata:\n      labels: {app: {{ .Release.Name }}-web}\n\
         \x20   spec:\n      containers:\n      - name: web\n        image: registry.invalid/web:{{ .Chart.AppVersion }}\n",
    );
    write_file(
        &chart,
        "charts/sub/Chart.yaml",
        "apiVersion: v2\nname: sub\nversion: 0.2.0\n",
    );
    write_file(&chart, "charts/sub/values.yaml", "greeting: default\n");
    write_file(
        &chart,
        "charts/sub/templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-sub\n\
         data:\n  greeting: {{ .Values.greeting | quote }}\n",
    );
    chart
}

fn config_map_value(user: &Kubeconfig, namespace: &str, name: &str, key: &str) -> String {
    run(user.kubectl().unwrap().args([
        "get",
        "configmap",
        name,
        "-n",
        namespace,
        "-o",
        &format!("jsonpath={{.data.{key}}}"),
    ]))
    .unwrap()
}

/// install, upgrade, history, rollback, list, uninstall of release `app` in
/// `namespace`, run as `user` with the given helm binary.
fn release_lifecycle(user: &Kubeconfig, helm: impl Fn() -> Command, namespace: &str, chart: &Path) {
    let out = run(helm()
        .args(["install", "app"])
        .arg(chart)
        .args(["-n", namespace]))
    .unwrap();
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert_eq!(
        config_map_value(user, namespace, "app-parent", "message"),
        "hello"
    );
    assert_eq!(
        config_map_value(user, namespace, "app-sub", "greeting"),
        "hi"
    );

    run(helm().args(["upgrade", "app"]).arg(chart).args([
        "-n",
        namespace,
        "--set",
        "message=upgraded,sub.greeting=hey",
    ]))
    .unwrap();
    assert_eq!(
        config_map_value(user, namespace, "app-parent", "message"),
        "upgraded"
    );
    assert_eq!(
        config_map_value(user, namespace, "app-sub", "greeting"),
        "hey"
    );

    let history = run(helm().args(["history", "app", "-n", namespace, "-o", "json"])).unwrap();
    let history: Vec<serde_json::Value> = serde_json::from_str(&history).unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["status"], "deployed");

    run(helm().args(["rollback", "app", "1", "-n", namespace])).unwrap();
    assert_eq!(
        config_map_value(user, namespace, "app-parent", "message"),
        "hello"
    );
    assert_eq!(
        config_map_value(user, namespace, "app-sub", "greeting"),
        "hi"
    );

    let list = run(helm().args(["list", "-n", namespace, "-o", "json"])).unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "app");
    assert_eq!(list[0]["revision"], "3");
    assert_eq!(list[0]["chart"], "umbrella-0.1.0");

    run(helm().args(["uninstall", "app", "-n", namespace])).unwrap();
    let gone = user
        .kubectl()
        .unwrap()
        .args(["get", "configmap", "app-parent", "-n", namespace])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "app-parent survived uninstall");
    let list = run(helm().args(["list", "-n", namespace, "-q"])).unwrap();
    assert!(list.trim().is_empty(), "{list}");
}

#[tokio::test]
async fn helm4_release_lifecycle_as_admin() {
    let cluster = ControlPlane::shared().await.unwrap();
    let ns = cluster.namespace("helm-admin").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chart = write_chart(dir.path());
    let admin = cluster.admin();
    release_lifecycle(admin, || admin.helm().unwrap(), ns.name(), &chart);
}

/// The seed's RBAC, a namespace outside it, a kubeconfig for the flux
/// ServiceAccount and the test chart.
struct FluxSetup {
    seed: SeedRbac,
    elsewhere: TestNamespace,
    flux: Kubeconfig,
    chart: PathBuf,
    _dir: tempfile::TempDir,
}

impl FluxSetup {
    async fn new() -> Self {
        let cluster = ControlPlane::shared().await.unwrap();
        let seed = cluster.seed_rbac().await.unwrap();
        let elsewhere = cluster.namespace("elsewhere").await.unwrap();
        let flux = seed.flux_kubeconfig().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let chart = write_chart(dir.path());
        Self {
            seed,
            elsewhere,
            flux,
            chart,
            _dir: dir,
        }
    }
}

#[tokio::test]
async fn helm4_as_flux_installs_into_demo_and_is_forbidden_elsewhere() {
    let FluxSetup {
        seed,
        elsewhere,
        flux,
        chart,
        _dir,
    } = FluxSetup::new().await;

    release_lifecycle(&flux, || flux.helm().unwrap(), seed.demo.name(), &chart);

    let err = run_failing(
        flux.helm()
            .unwrap()
            .args(["install", "app"])
            .arg(&chart)
            .args(["-n", elsewhere.name()]),
    )
    .unwrap();
    assert!(err.contains("forbidden"), "{err}");
    assert!(err.contains(flux.user()), "{err}");
}

#[tokio::test]
async fn helm3_installs_and_uninstalls_as_flux() {
    let FluxSetup {
        seed,
        elsewhere,
        flux,
        chart,
        _dir,
    } = FluxSetup::new().await;
    let helm3 = || flux.helm3().unwrap();

    let out = run(helm3()
        .args(["install", "app"])
        .arg(&chart)
        .args(["-n", seed.flux.name()]))
    .unwrap();
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert_eq!(
        config_map_value(&flux, seed.flux.name(), "app-sub", "greeting"),
        "hi"
    );
    run(helm3().args(["uninstall", "app", "-n", seed.flux.name()])).unwrap();

    let err = run_failing(
        helm3()
            .args(["install", "app"])
            .arg(&chart)
            .args(["-n", elsewhere.name()]),
    )
    .unwrap();
    assert!(err.contains("forbidden"), "{err}");
}
