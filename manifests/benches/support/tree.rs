//! A generated manifest tree at realistic scale, for benchmarks.
//!
//! Include it from a benchmark with
//! `#[path = "support/tree.rs"] mod tree;` and call [`write_tree`]. The tree
//! is deterministic: the same spec writes the same bytes. Deployments carry
//! several containers with images, HelmReleases come in the three kinds
//! (`flux.weave.works/v1beta1`, `helm.fluxcd.io/v1`,
//! `helm.integrations.flux.weave.works/v1alpha2` FluxHelmRelease) with an
//! image in their values, so the tree also serves image and edit benchmarks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeSpec {
    /// Number of files.
    pub(crate) files: usize,
    /// Number of resources over all files. Every fifth file holds one
    /// resource; the others share the rest as multi-document files.
    pub(crate) resources: usize,
}

impl Default for TreeSpec {
    /// 10,000 resources in 500 files.
    fn default() -> Self {
        Self {
            files: 500,
            resources: 10_000,
        }
    }
}

/// The kinds of resource the tree holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// apps/v1 Deployment with three containers and an init container.
    Deployment,
    /// v1 Service.
    Service,
    /// v1 ConfigMap with a block-scalar file.
    ConfigMap,
    /// One of the three HelmRelease kinds, with an image in its values.
    HelmRelease,
}

/// One resource written.
#[derive(Debug, Clone)]
pub(crate) struct TreeResource {
    /// Its kind.
    pub(crate) kind: Kind,
    /// `metadata.name`.
    pub(crate) name: String,
    /// `metadata.namespace`.
    pub(crate) namespace: String,
    /// One-based line of its document start in its file.
    pub(crate) line: usize,
}

/// One file written.
#[derive(Debug, Clone)]
pub(crate) struct TreeFile {
    /// Path relative to the tree root.
    pub(crate) path: PathBuf,
    /// Its resources, in order.
    pub(crate) resources: Vec<TreeResource>,
    /// Its size in bytes.
    pub(crate) bytes: usize,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    /// The files, in the order they were written.
    pub(crate) files: Vec<TreeFile>,
}

impl Tree {
    /// Total resources.
    pub(crate) fn resources(&self) -> usize {
        self.files.iter().map(|file| file.resources.len()).sum()
    }

    /// Total bytes of YAML.
    pub(crate) fn bytes(&self) -> usize {
        self.files.iter().map(|file| file.bytes).sum()
    }
}

/// The kind of the `index`-th resource: 40% Deployments, 25% ConfigMaps,
/// 20% Services, 15% HelmReleases.
fn kind_of(index: usize) -> Kind {
    match index % 20 {
        0..=7 => Kind::Deployment,
        8..=12 => Kind::ConfigMap,
        13..=16 => Kind::Service,
        _ => Kind::HelmRelease,
    }
}

/// Writes the tree under `root` (which must exist) and says what it wrote.
pub(crate) fn write_tree(root: &Path, spec: TreeSpec) -> Tree {
    let singles = spec.files.div_ceil(5);
    let multis = spec.files - singles;
    let shared = spec.resources.saturating_sub(singles);
    let mut tree = Tree::default();
    let mut next = 0;
    let mut multi_index = 0;
    for file_index in 0..spec.files {
        let count = if file_index.is_multiple_of(5) {
            1
        } else {
            // Spread `shared` over the multi-document files as evenly as
            // possible.
            let count = shared / multis + usize::from(multi_index < shared % multis);
            multi_index += 1;
            count
        };
        let team = file_index % 10;
        let path = PathBuf::from(format!("teams/team-{team}/app-{file_index:04}.yaml"));
        let mut text = String::new();
        let mut lines = 0;
        let mut resources = Vec::with_capacity(count);
        for document in 0..count {
            let kind = kind_of(next);
            let name = format!("app-{file_index:04}-{document:02}");
            let namespace = format!("team-{team}");
            // Odd files start without a marker: the document then starts at
            // its first line with content (a ConfigMap opens with a comment).
            let line = if document > 0 || file_index.is_multiple_of(2) {
                text.push_str("---\n");
                lines += 1;
                lines
            } else {
                lines + 1 + usize::from(kind == Kind::ConfigMap)
            };
            let before = text.len();
            write_resource(&mut text, kind, &name, &namespace, next);
            lines += text[before..].matches('\n').count();
            resources.push(TreeResource {
                kind,
                name,
                namespace,
                line,
            });
            next += 1;
        }
        let absolute = root.join(&path);
        fs::create_dir_all(absolute.parent().unwrap()).unwrap();
        fs::write(&absolute, &text).unwrap();
        tree.files.push(TreeFile {
            path,
            resources,
            bytes: text.len(),
        });
    }
    tree
}

fn write_resource(out: &mut String, kind: Kind, name: &str, namespace: &str, seed: usize) {
    match kind {
        Kind::Deployment => write_deployment(out, name, namespace, seed),
        Kind::Service => write_service(out, name, namespace),
        Kind::ConfigMap => write_config_map(out, name, namespace, seed),
        Kind::HelmRelease => write_helm_release(out, name, namespace, seed),
    }
}

fn write_deployment(out: &mut String, name: &str, namespace: &str, seed: usize) {
    let automated = if seed.is_multiple_of(3) {
        "true"
    } else {
        "false"
    };
    write!(
        out,
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app: {name}
    team: {namespace}
  annotations:
    fluxcd.io/automated: "{automated}"
    fluxcd.io/tag.app: semver:~1.{minor}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      initContainers:
      - name: migrate
        image: registry.example.com/{namespace}/migrate:1.{minor}.{patch}
        command: ["/bin/migrate", "--wait"]
      containers:
      - name: app
        image: registry.example.com/{namespace}/{name}:1.{minor}.{patch}
        ports:
        - containerPort: 8080
          name: http
        env:
        - name: LOG_LEVEL
          value: info
        - name: CONFIG_PATH
          value: /etc/{name}/config.yaml
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
          limits: {{cpu: 500m, memory: 256Mi}}
        readinessProbe:
          httpGet: {{path: /healthz, port: http}}
          periodSeconds: 10
        volumeMounts:
        - name: config
          mountPath: /etc/{name}
      - name: sidecar
        image: "docker.io/envoyproxy/envoy:v1.{minor}.0"
        args: ["--config-path", "/etc/envoy/envoy.yaml"]
      - name: metrics
        image: quay.io/prometheus/statsd-exporter:v0.{patch}.0
      volumes:
      - name: config
        configMap:
          name: {name}
          defaultMode: 0644
"#,
        minor = seed % 17,
        patch = seed % 7,
    )
    .unwrap();
}

fn write_service(out: &mut String, name: &str, namespace: &str) {
    write!(
        out,
        r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app: {name}}}
spec:
  type: ClusterIP
  selector:
    app: {name}
  ports:
  - name: http
    port: 80
    targetPort: http
"#
    )
    .unwrap();
}

fn write_config_map(out: &mut String, name: &str, namespace: &str, seed: usize) {
    write!(
        out,
        r#"# Configuration of {name}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: {namespace}
data:
  LOG_LEVEL: info
  WORKERS: "{workers}"
  config.yaml: |
    server:
      port: 8080
      timeout: 30s
    features:
      - search
      - export
    upstream: "http://backend-{workers}.{namespace}.svc:8080"
"#,
        workers = seed % 9 + 1,
    )
    .unwrap();
}

fn write_helm_release(out: &mut String, name: &str, namespace: &str, seed: usize) {
    let minor = seed % 11;
    match seed % 3 {
        0 => write!(
            out,
            r#"apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: {name}
  namespace: {namespace}
  annotations:
    fluxcd.io/automated: "true"
    filter.fluxcd.io/chart-image: semver:~2.{minor}
spec:
  releaseName: {name}
  chart:
    repository: https://charts.example.com/stable
    name: web
    version: 2.{minor}.0
  values:
    image:
      repository: registry.example.com/{namespace}/{name}
      tag: 2.{minor}.1
    replicaCount: 2
"#
        ),
        1 => write!(
            out,
            r#"apiVersion: flux.weave.works/v1beta1
kind: HelmRelease
metadata:
  name: {name}
  namespace: {namespace}
  annotations:
    flux.weave.works/automated: "true"
spec:
  releaseName: {name}
  chart:
    git: ssh://git@git.example.com/charts
    path: charts/web
    ref: master
  values:
    image: registry.example.com/{namespace}/{name}:3.{minor}.0
    worker:
      image: registry.example.com/{namespace}/worker
      tag: 3.{minor}.0
"#
        ),
        _ => write!(
            out,
            r#"apiVersion: helm.integrations.flux.weave.works/v1alpha2
kind: FluxHelmRelease
metadata:
  name: {name}
  namespace: {namespace}
spec:
  chartGitPath: web
  releaseName: {name}
  values:
    image: registry.example.com/{namespace}/{name}
    tag: 0.{minor}.0
"#
        ),
    }
    .unwrap();
}
