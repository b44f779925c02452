//! What the helmops scenarios share: objects to create, and reading back
//! statuses, conditions and Events.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use helmops::api::{Condition, HelmReleaseStatus, v1, v1beta1};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use tests::helm::ChartRepository;

/// How long a release may take to get where a test waits for it.
pub(super) const WAIT: Duration = Duration::from_secs(120);
/// The resync interval of the scenarios.
pub(super) const RESYNC: Duration = Duration::from_secs(2);

/// A Secret with text data.
pub(super) fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Secret::default()
    }
}

/// Creates a Secret in `namespace`.
pub(super) async fn create_secret(client: &kube::Client, namespace: &str, secret: &Secret) {
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), secret)
        .await
        .unwrap();
}

/// A `helm.fluxcd.io/v1` HelmRelease.
pub(super) fn v1_release(name: &str, spec: &serde_json::Value) -> v1::HelmRelease {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

/// A `flux.weave.works/v1beta1` HelmRelease.
pub(super) fn v1beta1_release(name: &str, spec: &serde_json::Value) -> v1beta1::HelmRelease {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flux.weave.works/v1beta1",
        "kind": "HelmRelease",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

/// The status of any HelmRelease kind.
pub(super) fn status<K: helmops::model::HelmReleaseResource>(obj: &K) -> HelmReleaseStatus {
    obj.release_status().cloned().unwrap_or_default()
}

/// Whether the phase is `phase`.
pub(super) fn phase_is<K: helmops::model::HelmReleaseResource>(
    phase: &'static str,
) -> impl Fn(&K) -> bool {
    move |obj| status(obj).phase.as_deref() == Some(phase)
}

/// The condition of `type_`, if any.
pub(super) fn condition<K: helmops::model::HelmReleaseResource>(
    obj: &K,
    type_: &str,
) -> Option<Condition> {
    status(obj)
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)
}

/// The message of the condition of `type_` (empty when there is none).
pub(super) fn message<K: helmops::model::HelmReleaseResource>(obj: &K, type_: &str) -> String {
    condition(obj, type_)
        .and_then(|c| c.message)
        .unwrap_or_default()
}

/// `(status, reason, message)` of the condition of `type_`.
pub(super) fn condition_triple<K: helmops::model::HelmReleaseResource>(
    obj: &K,
    type_: &str,
) -> (String, String, String) {
    let c = condition(obj, type_).unwrap_or_default();
    (
        c.status,
        c.reason.unwrap_or_default(),
        c.message.unwrap_or_default(),
    )
}

/// The Events about the object `name` in `namespace`: `(reason, note)`.
pub(super) async fn events_about(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Vec<(String, String)> {
    Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// Writes a chart into the directory given.
pub(super) type WriteChart = dyn Fn(&Path);

/// A chart repository without auth serving the charts written by `charts`
/// into `work/<name>`, each packaged by the real helm.
pub(super) async fn repository_of(work: &Path, charts: &[(&str, &WriteChart)]) -> ChartRepository {
    let helm = tests::tools::helm().unwrap();
    for (name, write) in charts {
        let dir = work.join("src").join(name);
        write(&dir);
        tests::helm::package_into_repo(&helm, &dir, &work.join("repo")).unwrap();
    }
    ChartRepository::start(work.join("repo"), None)
        .await
        .unwrap()
}

/// The names of the Secrets that hold Helm's revisions of `release`.
pub(super) async fn storage_revisions(
    client: &kube::Client,
    namespace: &str,
    release: &str,
) -> usize {
    Api::<Secret>::namespaced(client.clone(), namespace)
        .list_metadata(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .unwrap()
        .items
        .len()
}

/// How many helm calls start with `prefix`.
pub(super) fn calls_starting(calls: &[String], prefix: &str) -> usize {
    calls.iter().filter(|c| c.starts_with(prefix)).count()
}
