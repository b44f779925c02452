//! The read side of the API: the workloads running in the cluster (in the
//! allowed namespaces only), with Flux's `Status`, `Rollout` and `ReadOnly`,
//! their containers, and the policies of their manifests in git at the
//! revision last synced; and the export of the cluster's objects.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use gitsync::Revision;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Namespace, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use super::cache::{Cached, Watched};
use crate::api::{
    ControllerStatus, ImageInfo, ReadOnlyReason, ResourceId, RolloutStatus, STATUS_ERROR,
    STATUS_READY, STATUS_STARTED, STATUS_UPDATING,
};
use crate::health::Health;
use crate::sync::{GitSource, RevisionCache};

/// Flux's HelmRelease kind, as the workload listing reads it.
const HELM_RELEASE: (&str, &str, &str) = ("helm.fluxcd.io", "v1", "HelmRelease");
/// The annotation naming the HelmRelease a workload came from.
const ANTECEDENT: &str = "helm.fluxcd.io/antecedent";

/// What the listing is restricted to.
#[derive(Clone, Debug, Default)]
pub struct WorkloadsConfig {
    /// `--k8s-allow-namespace` (empty: all).
    pub allowed_namespaces: Vec<String>,
    /// `--git-readonly`: every workload is `ReadOnlyMode`.
    pub readonly: bool,
}

/// The manifests in git at the synced revision, as far as the listing
/// needs them: the policies of each workload (the kinds the listing reads).
/// Built once per revision from the load the sync shared, or, when that is
/// of another revision, loaded into a checkout directory of its own.
pub struct GitView {
    source: GitSource,
    health: Arc<Health>,
    loads: RevisionCache,
    cache: tokio::sync::Mutex<Option<(Revision, Arc<Policies>)>>,
}

type Policies = BTreeMap<String, BTreeMap<String, String>>;

/// The kinds of resource the workload listing reads, as ids spell them
/// (lower case): only theirs are kept from git.
const WORKLOAD_KINDS: [&str; 5] = [
    "deployment",
    "daemonset",
    "statefulset",
    "cronjob",
    "helmrelease",
];

impl std::fmt::Debug for GitView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitView").finish_non_exhaustive()
    }
}

impl GitView {
    /// The manifests of `source` at the revision `health` says was synced.
    /// `source` should check out into a directory the syncer does not use.
    pub fn new(source: GitSource, health: Arc<Health>) -> Self {
        Self {
            source,
            health,
            loads: RevisionCache::new(),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// Reads the synced revision from `loads` (what the sync loaded) when
    /// it is there, loading it only when it is not.
    #[must_use]
    pub(crate) fn sharing_loads(mut self, loads: RevisionCache) -> Self {
        self.loads = loads;
        self
    }

    /// The policies by workload id; `None` before the first sync.
    async fn policies(&self) -> Result<Option<Arc<Policies>>, String> {
        let Some(head) = self.health.synced_head() else {
            return Ok(None);
        };
        let mut cache = self.cache.lock().await;
        if let Some((revision, policies)) = cache.as_ref()
            && *revision == head.revision
        {
            return Ok(Some(policies.clone()));
        }
        let loaded = self
            .loads
            .load_older(&self.source, &head)
            .await
            .map_err(|e| format!("reading git at {}: {e}", head.revision))?;
        let policies = Arc::new(workload_policies(&loaded.set.resources));
        *cache = Some((head.revision, policies.clone()));
        Ok(Some(policies))
    }
}

/// The policies of the workloads among `resources`, by id.
fn workload_policies(resources: &[manifests::Resource]) -> Policies {
    resources
        .iter()
        .filter(|resource| WORKLOAD_KINDS.contains(&resource.id().kind()))
        .map(|resource| {
            (
                resource.id().to_string(),
                manifests::policy::listed(resource.object()),
            )
        })
        .collect()
}

/// The cluster as the API reads it.
pub struct ClusterView {
    client: kube::Client,
    config: WorkloadsConfig,
    git: Option<GitView>,
    cache: Option<WorkloadCache>,
}

/// The watch-backed cache of the five kinds the listing reads.
struct WorkloadCache {
    deployments: Watched<Deployment>,
    daemonsets: Watched<DaemonSet>,
    statefulsets: Watched<StatefulSet>,
    cronjobs: Watched<CronJob>,
    releases: Watched<DynamicObject>,
}

/// The APIs of a typed kind for `namespaces`, each with its namespace
/// (`None`: cluster-wide).
fn typed_apis<K>(
    client: &kube::Client,
    namespaces: Option<&[String]>,
) -> Vec<(Option<String>, Api<K>)>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespaces {
        None => vec![(None, Api::all(client.clone()))],
        Some(list) => list
            .iter()
            .map(|ns| (Some(ns.clone()), Api::namespaced(client.clone(), ns)))
            .collect(),
    }
}

/// The APIs of Flux's HelmRelease for `namespaces`, as [`typed_apis`].
fn helm_release_apis(
    client: &kube::Client,
    namespaces: Option<&[String]>,
    resource: &ApiResource,
) -> Vec<(Option<String>, Api<DynamicObject>)> {
    match namespaces {
        None => vec![(None, Api::all_with(client.clone(), resource))],
        Some(list) => list
            .iter()
            .map(|ns| {
                (
                    Some(ns.clone()),
                    Api::namespaced_with(client.clone(), ns, resource),
                )
            })
            .collect(),
    }
}

fn helm_release_resource() -> ApiResource {
    let (group, version, kind) = HELM_RELEASE;
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

impl std::fmt::Debug for ClusterView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterView")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClusterView {
    /// Reads through `client`, within `config`, with policies from `git`.
    pub fn new(client: kube::Client, config: WorkloadsConfig, git: Option<GitView>) -> Self {
        Self {
            client,
            config,
            git,
            cache: None,
        }
    }

    /// Starts watching the five kinds in the allowed namespaces (one watch
    /// per namespace, or cluster-wide when every namespace is allowed), so
    /// that listings answer from memory. Must be called within a Tokio
    /// runtime; the watches end when the view is dropped.
    pub fn watching(mut self) -> Self {
        let namespaces = self.namespaces("");
        let namespaces = namespaces.as_deref();
        let client = &self.client;
        let resource = helm_release_resource();
        self.cache = Some(WorkloadCache {
            deployments: Watched::start(typed_apis(client, namespaces), "Deployment", &()),
            daemonsets: Watched::start(typed_apis(client, namespaces), "DaemonSet", &()),
            statefulsets: Watched::start(typed_apis(client, namespaces), "StatefulSet", &()),
            cronjobs: Watched::start(typed_apis(client, namespaces), "CronJob", &()),
            releases: Watched::start(
                helm_release_apis(client, namespaces, &resource),
                "HelmRelease",
                &resource,
            ),
        });
        self
    }

    /// The objects of `K` in `namespaces`, from the cache when it can say.
    async fn cached<K>(
        &self,
        watched: Option<&Watched<K>>,
        namespaces: Option<&[String]>,
    ) -> Result<Vec<Arc<K>>, String>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
    {
        if let Some(watched) = watched
            && let Cached::Objects(objects) = watched.get(namespaces).await
        {
            return Ok(objects);
        }
        let listed = self.list::<K>(namespaces).await?;
        Ok(listed.into_iter().map(Arc::new).collect())
    }

    /// The HelmReleases in `namespaces` as JSON, from the cache when it can
    /// say.
    async fn cached_helm_releases(
        &self,
        namespaces: Option<&[String]>,
    ) -> Result<Vec<Value>, String> {
        if let Some(cache) = &self.cache {
            match cache.releases.get(namespaces).await {
                Cached::Objects(objects) => {
                    return Ok(objects
                        .iter()
                        .filter_map(|o| serde_json::to_value(o.as_ref()).ok())
                        .collect());
                }
                // No HelmRelease CRD in this cluster: no HelmReleases.
                Cached::Missing => return Ok(Vec::new()),
                Cached::List => {}
            }
        }
        self.helm_releases(namespaces).await
    }

    /// Whether the API server answers.
    pub async fn ping(&self) -> Result<(), String> {
        self.client
            .apiserver_version()
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// The namespaces to list in for `namespace` (`""`: all allowed);
    /// `None`: cluster-wide.
    fn namespaces(&self, namespace: &str) -> Option<Vec<String>> {
        let allowed = &self.config.allowed_namespaces;
        match (namespace.is_empty(), allowed.is_empty()) {
            (true, true) => None,
            (true, false) => Some(allowed.clone()),
            (false, _) if allowed.is_empty() || allowed.iter().any(|a| a == namespace) => {
                Some(vec![namespace.to_owned()])
            }
            (false, _) => Some(Vec::new()),
        }
    }

    async fn list<K>(&self, namespaces: Option<&[String]>) -> Result<Vec<K>, String>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let apis: Vec<Api<K>> = match namespaces {
            None => vec![Api::all(self.client.clone())],
            Some(list) => list
                .iter()
                .map(|ns| Api::namespaced(self.client.clone(), ns))
                .collect(),
        };
        let mut out = Vec::new();
        for api in apis {
            let listed = api
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("listing {}: {e}", K::kind(&K::DynamicType::default())))?;
            out.extend(listed.items);
        }
        Ok(out)
    }

    async fn helm_releases(&self, namespaces: Option<&[String]>) -> Result<Vec<Value>, String> {
        let resource = helm_release_resource();
        let apis: Vec<Api<DynamicObject>> = match namespaces {
            None => vec![Api::all_with(self.client.clone(), &resource)],
            Some(list) => list
                .iter()
                .map(|ns| Api::namespaced_with(self.client.clone(), ns, &resource))
                .collect(),
        };
        let mut out = Vec::new();
        for api in apis {
            match api.list(&ListParams::default()).await {
                Ok(listed) => out.extend(
                    listed
                        .items
                        .into_iter()
                        .filter_map(|item| serde_json::to_value(item).ok()),
                ),
                // No HelmRelease CRD in this cluster: no HelmReleases.
                Err(kube::Error::Api(status)) if status.code == 404 => return Ok(Vec::new()),
                Err(e) => return Err(format!("listing HelmReleases: {e}")),
            }
        }
        Ok(out)
    }

    /// The workloads in `namespace` (`""`: every allowed one), or those of
    /// `ids`, sorted by id.
    pub async fn workloads(
        &self,
        namespace: &str,
        ids: Option<&BTreeSet<ResourceId>>,
    ) -> Result<Vec<ControllerStatus>, String> {
        let mut namespaces = self.namespaces(namespace);
        // Asked for some workloads: list only in their namespaces.
        if let Some(ids) = ids {
            let wanted: BTreeSet<&str> = ids.iter().map(ResourceId::namespace).collect();
            namespaces = Some(match namespaces {
                None => wanted.into_iter().map(str::to_owned).collect(),
                Some(list) => list
                    .into_iter()
                    .filter(|ns| wanted.contains(ns.as_str()))
                    .collect(),
            });
        }
        let namespaces = namespaces.as_deref();
        if namespaces.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        let cache = self.cache.as_ref();
        let (deployments, daemonsets, statefulsets, cronjobs, releases) = tokio::try_join!(
            self.cached(cache.map(|c| &c.deployments), namespaces),
            self.cached(cache.map(|c| &c.daemonsets), namespaces),
            self.cached(cache.map(|c| &c.statefulsets), namespaces),
            self.cached(cache.map(|c| &c.cronjobs), namespaces),
            self.cached_helm_releases(namespaces),
        )?;
        let mut found: Vec<ControllerStatus> = Vec::new();
        found.extend(deployments.iter().map(|o| deployment_status(o)));
        found.extend(daemonsets.iter().map(|o| daemonset_status(o)));
        found.extend(statefulsets.iter().map(|o| statefulset_status(o)));
        found.extend(cronjobs.iter().map(|o| cronjob_status(o)));
        found.extend(releases.iter().map(helm_release_status));
        if let Some(ids) = ids {
            found.retain(|workload| ids.contains(&workload.id));
        }
        let policies = match &self.git {
            Some(git) => git.policies().await?,
            None => None,
        };
        for workload in &mut found {
            self.apply_git(workload, policies.as_deref());
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    fn apply_git(&self, workload: &mut ControllerStatus, policies: Option<&Policies>) {
        let in_git = policies.and_then(|p| p.get(workload.id.as_str()));
        workload.read_only = match (policies, in_git) {
            _ if self.config.readonly => ReadOnlyReason::ReadOnlyMode,
            (None, _) if self.git.is_none() => ReadOnlyReason::NoRepo,
            (None, _) => ReadOnlyReason::NotReady,
            (Some(_), None) => ReadOnlyReason::NotInRepo,
            (Some(_), Some(_)) => ReadOnlyReason::Ok,
        };
        if let Some(policies) = in_git {
            workload.policies = policies.clone();
            workload.automated = policies.get("automated").is_some_and(|v| v == "true");
            workload.locked = policies.get("locked").is_some_and(|v| v == "true");
            workload.ignore = policies.get("ignore").is_some_and(|v| v == "true");
        }
    }

    /// The cluster's namespaces and workloads (in the allowed namespaces) as
    /// one YAML stream, each object after a `---` line, without status and
    /// server-set metadata.
    pub async fn export(&self) -> Result<String, String> {
        let namespaces = self.namespaces("");
        let namespaces = namespaces.as_deref();
        let mut objects: Vec<Value> = Vec::new();
        let listed_namespaces: Vec<Namespace> = match namespaces {
            None => {
                Api::<Namespace>::all(self.client.clone())
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| format!("listing namespaces: {e}"))?
                    .items
            }
            Some(list) => {
                let api = Api::<Namespace>::all(self.client.clone());
                let mut out = Vec::new();
                for name in list {
                    if let Some(ns) = api
                        .get_opt(name)
                        .await
                        .map_err(|e| format!("reading namespace {name}: {e}"))?
                    {
                        out.push(ns);
                    }
                }
                out
            }
        };
        objects.extend(
            listed_namespaces
                .iter()
                .map(|o| typed(o, "v1", "Namespace")),
        );
        let (deployments, daemonsets, statefulsets, cronjobs, releases) = tokio::try_join!(
            self.list::<Deployment>(namespaces),
            self.list::<DaemonSet>(namespaces),
            self.list::<StatefulSet>(namespaces),
            self.list::<CronJob>(namespaces),
            self.helm_releases(namespaces),
        )?;
        objects.extend(
            deployments
                .iter()
                .map(|o| typed(o, "apps/v1", "Deployment")),
        );
        objects.extend(daemonsets.iter().map(|o| typed(o, "apps/v1", "DaemonSet")));
        objects.extend(
            statefulsets
                .iter()
                .map(|o| typed(o, "apps/v1", "StatefulSet")),
        );
        objects.extend(cronjobs.iter().map(|o| typed(o, "batch/v1", "CronJob")));
        objects.extend(releases);
        let mut out = String::new();
        for mut object in objects {
            clean_for_export(&mut object);
            let yaml = serde_saphyr_to_string(&object)?;
            out.push_str("---\n");
            out.push_str(&yaml);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// An object as JSON with its `apiVersion` and `kind` (lists leave them out).
fn typed<T: serde::Serialize>(object: &T, api_version: &str, kind: &str) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".to_owned(), Value::from(api_version));
        map.insert("kind".to_owned(), Value::from(kind));
    }
    value
}

fn serde_saphyr_to_string(value: &Value) -> Result<String, String> {
    serde_saphyr::to_string(value).map_err(|e| format!("writing YAML: {e}"))
}

/// Drops what the server set: status, uid, resourceVersion, generation,
/// creation time, managed fields, and the annotations fluxctl save drops.
fn clean_for_export(object: &mut Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    map.remove("status");
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(key);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for key in [
                "deployment.kubernetes.io/revision",
                "kubectl.kubernetes.io/last-applied-configuration",
                "kubernetes.io/change-cause",
            ] {
                annotations.remove(key);
            }
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
}

/// The workload's id, containers (init containers first), labels and
/// antecedent, from its JSON.
fn base_status(object: &Value, labels_at: &str) -> ControllerStatus {
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let id = ResourceId::new(namespace, kind, name);
    let mut status = ControllerStatus::new(id);
    let manifest_id = manifests::ResourceId::namespaced(namespace, kind, name);
    if let Ok(mut containers) = manifests::images::container_images(object, &manifest_id) {
        // Flux lists the containers first, then the init containers.
        let init = init_container_names(object, kind);
        containers.sort_by_key(|container| init.contains(&container.name));
        status.containers = containers
            .into_iter()
            .map(|container| crate::api::Container {
                name: container.name,
                current: ImageInfo::of(container.image.parse().unwrap_or_default()),
                ..crate::api::Container::default()
            })
            .collect();
    }
    if let Some(labels) = object.pointer(labels_at).and_then(Value::as_object) {
        status.labels = labels
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
    }
    status.antecedent = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANTECEDENT))
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok());
    status
}

/// The names of the init containers of a workload's pod template.
fn init_container_names(object: &Value, kind: &str) -> Vec<String> {
    let Some(path) = manifests::images::pod_spec_path(kind) else {
        return Vec::new();
    };
    let pointer = format!("/{}/initContainers", path.join("/"));
    object
        .pointer(&pointer)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Flux's rollout status: `started` until the controller saw the latest
/// generation, then `updating` until every replica is updated and
/// available, then `ready`; `error` when progress stalled.
fn rollout_state(
    generation: Option<i64>,
    observed: Option<i64>,
    rollout: &RolloutStatus,
    stalled: Option<String>,
) -> (String, Vec<String>) {
    if generation.unwrap_or(0) > observed.unwrap_or(0) {
        return (STATUS_STARTED.to_owned(), Vec::new());
    }
    if let Some(message) = stalled {
        return (STATUS_ERROR.to_owned(), vec![message]);
    }
    let done = rollout.updated == rollout.desired
        && rollout.available == rollout.desired
        && rollout.outdated == 0;
    let status = if done { STATUS_READY } else { STATUS_UPDATING };
    (status.to_owned(), Vec::new())
}

/// The workload's id, containers (containers first, then init containers,
/// as Flux lists them), template labels and antecedent, read from the typed
/// fields: no serialising of the whole object.
fn template_status(
    meta: &ObjectMeta,
    kind: &str,
    template: Option<&PodTemplateSpec>,
) -> ControllerStatus {
    let namespace = meta.namespace.as_deref().unwrap_or("default");
    let name = meta.name.as_deref().unwrap_or("");
    let mut status = ControllerStatus::new(ResourceId::new(namespace, kind, name));
    if let Some(spec) = template.and_then(|t| t.spec.as_ref()) {
        let init = spec.init_containers.as_deref().unwrap_or_default();
        let all = || init.iter().chain(spec.containers.iter());
        // A container without an image: no containers, as the JSON reading
        // of the same object says.
        if all().all(|c| c.image.is_some()) {
            let mut containers: Vec<(bool, crate::api::Container)> = all()
                .map(|c| {
                    let image = c.image.as_deref().unwrap_or_default();
                    let is_init = init.iter().any(|i| i.name == c.name);
                    let container = crate::api::Container {
                        name: c.name.clone(),
                        current: ImageInfo::of(image.parse().unwrap_or_default()),
                        ..crate::api::Container::default()
                    };
                    (is_init, container)
                })
                .collect();
            containers.sort_by_key(|(is_init, _)| *is_init);
            status.containers = containers.into_iter().map(|(_, c)| c).collect();
        }
    }
    if let Some(labels) = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
    {
        status.labels = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    status.antecedent = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANTECEDENT))
        .and_then(|text| text.parse().ok());
    status
}

/// What the controller of a workload with a pod template reports.
struct Progress {
    generation: Option<i64>,
    observed: Option<i64>,
    rollout: RolloutStatus,
    stalled: Option<String>,
}

/// A workload with a pod template: containers and labels from the
/// template, the status from its controller's progress.
fn rolled_out(mut out: ControllerStatus, progress: Progress) -> ControllerStatus {
    let Progress {
        generation,
        observed,
        mut rollout,
        stalled,
    } = progress;
    let (state, messages) = rollout_state(generation, observed, &rollout, stalled);
    rollout.messages = messages;
    out.status = state;
    out.rollout = rollout;
    out
}

fn deployment_status(deployment: &Deployment) -> ControllerStatus {
    let status = deployment.status.clone().unwrap_or_default();
    let updated = status.updated_replicas.unwrap_or(0);
    let stalled = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find_map(|c| {
            (c.type_.as_deref() == Some("Progressing") && c.status.as_deref() == Some("False"))
                .then(|| c.message.unwrap_or_default())
        });
    let rollout = RolloutStatus {
        desired: deployment.spec.replicas.unwrap_or(1),
        updated,
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        outdated: status.replicas.unwrap_or(0) - updated,
        messages: Vec::new(),
    };
    let progress = Progress {
        generation: deployment.metadata.generation,
        observed: status.observed_generation,
        rollout,
        stalled,
    };
    let base = template_status(
        &deployment.metadata,
        "Deployment",
        Some(&deployment.spec.template),
    );
    rolled_out(base, progress)
}

fn daemonset_status(daemonset: &DaemonSet) -> ControllerStatus {
    let status = daemonset.status.clone().unwrap_or_default();
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let rollout = RolloutStatus {
        desired: status.desired_number_scheduled,
        updated,
        ready: status.number_ready,
        available: status.number_available.unwrap_or(0),
        outdated: status.current_number_scheduled - updated,
        messages: Vec::new(),
    };
    let progress = Progress {
        generation: daemonset.metadata.generation,
        observed: status.observed_generation,
        rollout,
        stalled: None,
    };
    let base = template_status(
        &daemonset.metadata,
        "DaemonSet",
        Some(&daemonset.spec.template),
    );
    rolled_out(base, progress)
}

fn statefulset_status(statefulset: &StatefulSet) -> ControllerStatus {
    let status = statefulset.status.clone().unwrap_or_default();
    let updated = status.updated_replicas.unwrap_or(0);
    let rollout = RolloutStatus {
        desired: statefulset.spec.replicas.unwrap_or(1),
        updated,
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        outdated: status.replicas - updated,
        messages: Vec::new(),
    };
    let progress = Progress {
        generation: statefulset.metadata.generation,
        observed: status.observed_generation,
        rollout,
        stalled: None,
    };
    let base = template_status(
        &statefulset.metadata,
        "StatefulSet",
        Some(&statefulset.spec.template),
    );
    rolled_out(base, progress)
}

fn cronjob_status(cronjob: &CronJob) -> ControllerStatus {
    let template = cronjob.spec.job_template.spec.as_ref().map(|s| &s.template);
    let mut out = template_status(&cronjob.metadata, "CronJob", template);
    out.status = STATUS_READY.to_owned();
    out
}

fn helm_release_status(release: &Value) -> ControllerStatus {
    let mut out = base_status(release, "/metadata/labels");
    out.status = release
        .pointer("/status/releaseStatus")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_reading_matches_the_json_reading() {
        let object = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "namespace": "web", "annotations": {
                "helm.fluxcd.io/antecedent": "web:helmrelease/app",
            }},
            "spec": {"selector": {}, "template": {
                "metadata": {"labels": {"app": "app", "tier": "front"}},
                "spec": {
                    "initContainers": [{"name": "setup", "image": "busybox:1.36"}],
                    "containers": [
                        {"name": "main", "image": "quay.io/org/app:1.2.3"},
                        {"name": "side", "image": "nginx"},
                    ],
                },
            }},
        });
        let deployment: Deployment = serde_json::from_value(object.clone()).unwrap();
        let typed = template_status(
            &deployment.metadata,
            "Deployment",
            Some(&deployment.spec.template),
        );
        let json = base_status(&object, "/spec/template/metadata/labels");
        assert_eq!(typed, json);
        let names: Vec<&str> = typed.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["main", "side", "setup"]);
        assert!(typed.antecedent.is_some());
    }

    #[test]
    fn only_the_policies_of_workloads_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for (kind, api) in [
            ("Deployment", "apps/v1"),
            ("DaemonSet", "apps/v1"),
            ("StatefulSet", "apps/v1"),
            ("CronJob", "batch/v1"),
            ("HelmRelease", "helm.fluxcd.io/v1"),
            ("ConfigMap", "v1"),
            ("Service", "v1"),
        ] {
            text.push_str(&format!(
                "---\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: app\n  namespace: web\n  annotations:\n    fluxcd.io/automated: \"true\"\n"
            ));
        }
        std::fs::write(dir.path().join("all.yaml"), text).unwrap();
        let loaded = manifests::load(dir.path(), &["."], &manifests::LoadOptions::default());
        assert_eq!(loaded.resources.len(), 7, "{:?}", loaded.errors);
        let policies = workload_policies(&loaded.resources);
        let ids: Vec<&str> = policies.keys().map(String::as_str).collect();
        assert_eq!(
            ids,
            [
                "web:cronjob/app",
                "web:daemonset/app",
                "web:deployment/app",
                "web:helmrelease/app",
                "web:statefulset/app",
            ]
        );
        assert!(
            policies
                .values()
                .all(|p| p.get("automated").map(String::as_str) == Some("true"))
        );
    }

    #[test]
    fn rollout_states() {
        let done = RolloutStatus {
            desired: 2,
            updated: 2,
            ready: 2,
            available: 2,
            ..RolloutStatus::default()
        };
        assert_eq!(
            rollout_state(Some(2), Some(1), &done, None).0,
            STATUS_STARTED
        );
        assert_eq!(rollout_state(Some(2), Some(2), &done, None).0, STATUS_READY);
        let partial = RolloutStatus {
            available: 1,
            ..done.clone()
        };
        assert_eq!(
            rollout_state(Some(2), Some(2), &partial, None).0,
            STATUS_UPDATING
        );
        let (state, messages) =
            rollout_state(Some(2), Some(2), &partial, Some("deadline".to_owned()));
        assert_eq!(
            (state.as_str(), messages),
            (STATUS_ERROR, vec!["deadline".to_owned()])
        );
    }
}
