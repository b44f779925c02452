//! The apply engine (`manifests::cluster`) against the real control plane:
//! what a sync creates, changes, leaves alone and prunes, measured by what
//! the server holds afterwards and by every request the engine's client sent.

// Helpers of tests, like the tests themselves: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adopt;
mod crd;
mod plan;
mod scope;
mod sync;
mod takeover;

use std::collections::BTreeMap;

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use manifests::cluster::{
    Engine, EngineConfig, GarbageCollection, ResourceOutcome, SyncReport, SyncSet, sync_set_name,
};
use manifests::{LoadOptions, Loaded, Loader, ResourceId};
use tests::recording::{RequestLog, recording_client};

/// Loads `files` (path, YAML) as one git checkout would be; namespaced
/// resources without a namespace go to `default_namespace`.
pub(crate) fn load(files: &[(&str, String)], default_namespace: &str) -> Loaded {
    let mut options = LoadOptions::default();
    options.default_namespace = default_namespace.to_owned();
    let mut loader = Loader::new(options);
    for (path, yaml) in files {
        loader.add_file(path.as_ref(), yaml.as_bytes());
    }
    loader.finish()
}

/// A sync set named after `test` (so tests never share marks) of `files`.
pub(crate) fn sync_set(test: &str, files: &[(&str, String)], default_namespace: &str) -> SyncSet {
    let loaded = load(files, default_namespace);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    set_of(test, loaded)
}

/// The sync set of what `loaded` holds.
pub(crate) fn set_of(test: &str, loaded: Loaded) -> SyncSet {
    SyncSet {
        name: set_name(test),
        complete: loaded.is_complete(),
        resources: loaded.resources,
    }
}

/// The sync set name of a repository standing for `test`.
pub(crate) fn set_name(test: &str) -> String {
    sync_set_name(
        &format!("ssh://git@example.com/e2e/{test}"),
        "main",
        &["deploy"],
    )
}

/// An engine over a recording client of `config`.
pub(crate) fn engine(kube: &kube::Config, config: EngineConfig) -> (Engine, RequestLog) {
    let (client, log) = recording_client(kube).unwrap();
    (Engine::new(client, config).unwrap(), log)
}

/// The default configuration with garbage collection `gc`.
pub(crate) fn with_gc(gc: GarbageCollection) -> EngineConfig {
    EngineConfig::new().with_gc(gc)
}

/// The outcome for `id` (`ns:kind/name`); fails the test if there is none.
pub(crate) fn outcome<'r>(report: &'r SyncReport, id: &str) -> &'r ResourceOutcome {
    let id: ResourceId = id.parse().unwrap();
    &report
        .get(&id)
        .unwrap_or_else(|| panic!("no result for {id} in {report:#?}"))
        .outcome
}

/// Every outcome by id, for whole-report assertions.
pub(crate) fn outcomes(report: &SyncReport) -> BTreeMap<String, ResourceOutcome> {
    report
        .results
        .iter()
        .map(|result| (result.id.to_string(), result.outcome.clone()))
        .collect()
}

/// Asserts that every result of `report` is `expected`.
pub(crate) fn assert_all(report: &SyncReport, expected: &ResourceOutcome) {
    for result in &report.results {
        assert_eq!(&result.outcome, expected, "{}: {report:#?}", result.id);
    }
}

/// The message of a failed outcome.
pub(crate) fn failure(outcome: &ResourceOutcome) -> &str {
    match outcome {
        ResourceOutcome::Failed { message } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The live object `name` of `api_version`/`kind`, if it exists.
pub(crate) async fn get(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<DynamicObject> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    let api: Api<DynamicObject> = match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.get_opt(name).await.unwrap()
}

/// A ConfigMap in `namespace`.
pub(crate) fn config_map(namespace: &str, name: &str, data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  value: {data:?}\n"
    )
}

/// A Deployment in `namespace` as generators write them (`creationTimestamp:
/// null`, empty `resources`, a CPU request of `0.5`).
pub(crate) fn deployment(namespace: &str, name: &str, image: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  name: {name}
  namespace: {namespace}
  labels:
    app: {name}
  annotations:
    fluxcd.io/automated: "true"
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  strategy: {{}}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: {name}
    spec:
      containers:
      - name: {name}
        image: {image}
        args: ["--port", "8080"]
        ports:
        - containerPort: 8080
          name: http
        env:
        - name: MODE
          value: production
        resources:
          requests:
            cpu: 0.5
            memory: 1024Mi
          limits:
            memory: 2Gi
        securityContext:
          privileged: false
status: {{}}
"#
    )
}

/// A Service in `namespace` for the Deployment `name`.
pub(crate) fn service(namespace: &str, name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {namespace}
spec:
  selector:
    app: {name}
  ports:
  - port: 80
    targetPort: http
"#
    )
}

/// The `ApiResource` of ConfigMaps, for typed-free reads in tests.
pub(crate) fn config_maps() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "ConfigMap"), "configmaps")
}
