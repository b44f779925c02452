//! Small charts whose objects need no running pods (the test control plane
//! has no nodes): a ConfigMap chart, and an umbrella chart that pulls it in
//! through a `file://` dependency, like the seed's Xposer umbrella.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

fn write(path: &Path, content: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(path, content).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Writes a chart `name` at `version` into `dir` (the chart's own directory).
///
/// It renders one ConfigMap `<release>-<chart>` whose data is `.Values.data`.
/// With `fail: true` in its values the ConfigMap gets a label value the API
/// server rejects, which makes an install or upgrade fail on demand.
pub fn configmap_chart(dir: &Path, name: &str, version: &str) -> Result<PathBuf, Error> {
    write(
        &dir.join("Chart.yaml"),
        &format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"1.0\"\n"),
    )?;
    write(
        &dir.join("values.yaml"),
        "data:\n  greeting: hello\nfail: false\n",
    )?;
    write(
        &dir.join("templates/configmap.yaml"),
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  labels:
    app.kubernetes.io/instance: {{ .Release.Name | quote }}
    {{- if .Values.fail }}
    broken: "this label value is not valid!"
    {{- end }}
data:
  {{- range $key, $value := .Values.data }}
  {{ $key }}: {{ $value | quote }}
  {{- end }}
"#,
    )?;
    Ok(dir.to_path_buf())
}

/// Adds to a chart a `helm test` hook: a ConfigMap the API server accepts,
/// or, with `testFail: true` in the values, refuses (there are no nodes to
/// run a test Pod).
pub fn add_test_hook(chart: &Path) -> Result<(), Error> {
    write(
        &chart.join("templates/test.yaml"),
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    "helm.sh/hook": test
    "helm.sh/hook-delete-policy": before-hook-creation
  {{- if .Values.testFail }}
  labels:
    broken: "this label value is not valid!"
  {{- end }}
data:
  test: ok
"#,
    )
}

/// Adds to a chart a Deployment of `.Values.replicas` (default 1) pods that
/// never become ready (there are no nodes): a `--wait` on it lasts until
/// its timeout, which is how tests catch helm in the middle of an upgrade.
pub fn add_deployment(chart: &Path) -> Result<(), Error> {
    write(
        &chart.join("templates/deployment.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
spec:
  replicas: {{ .Values.replicas | default 1 }}
  selector:
    matchLabels: {app: {{ .Release.Name | quote }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name | quote }}}
    spec:
      containers:
      - name: app
        image: registry.invalid/app:1
"#,
    )
}

/// Adds to a chart a CRD in `crds/` (a cluster admin's to install; the
/// seed's ServiceAccount may not).
pub fn add_crd(chart: &Path, group: &str) -> Result<(), Error> {
    write(
        &chart.join("crds/widgets.yaml"),
        &format!(
            r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets, singular: widget}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"
        ),
    )
}

/// Writes an umbrella chart `name` into `root/name` whose only dependency is
/// the ConfigMap chart `sub` at `root/sub`, pulled in as `file://../sub`.
pub fn umbrella_chart(root: &Path, name: &str, sub: &str) -> Result<PathBuf, Error> {
    configmap_chart(&root.join(sub), sub, "0.1.0")?;
    let dir = root.join(name);
    write(
        &dir.join("Chart.yaml"),
        &format!(
            "apiVersion: v2\nname: {name}\nversion: 0.1.0\ndependencies:\n- name: {sub}\n  version: 0.1.0\n  repository: file://../{sub}\n"
        ),
    )?;
    write(
        &dir.join("values.yaml"),
        &format!("{sub}:\n  data:\n    greeting: from-umbrella\n"),
    )?;
    write(
        &dir.join("templates/service.yaml"),
        r#"apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
spec:
  type: ClusterIP
  ports:
  - port: 80
    targetPort: 8080
  selector:
    app: {{ .Release.Name | quote }}
"#,
    )?;
    Ok(dir)
}

/// Packages `chart_dir` with the real `helm` into `repo_dir` and rewrites the
/// repository's `index.yaml`.
pub fn package_into_repo(helm: &Path, chart_dir: &Path, repo_dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(repo_dir)
        .map_err(|e| Error::io(format!("creating {}", repo_dir.display()), e))?;
    let home = tempfile::tempdir().map_err(|e| Error::io("creating a helm home", e))?;
    let run = |args: &[&std::ffi::OsStr]| -> Result<(), Error> {
        let output = Command::new(helm)
            .args(args)
            .env("HELM_CACHE_HOME", home.path().join("cache"))
            .env("HELM_CONFIG_HOME", home.path().join("config"))
            .env("HELM_DATA_HOME", home.path().join("data"))
            .output()
            .map_err(|e| Error::io(format!("running {}", helm.display()), e))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::Command {
                command: format!(
                    "helm {}",
                    args.iter()
                        .map(|a| a.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    };
    run(&[
        "package".as_ref(),
        chart_dir.as_os_str(),
        "--destination".as_ref(),
        repo_dir.as_os_str(),
    ])?;
    run(&["repo".as_ref(), "index".as_ref(), repo_dir.as_os_str()])
}
