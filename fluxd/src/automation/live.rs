//! The workloads running in the cluster, in the allowed namespaces: which
//! workloads of git are there (releases skip the others as `not accessible
//! in cluster`), which the cluster's own `fluxcd.io/ignore` excludes, the
//! images they run, and the pull secrets they (and their ServiceAccounts)
//! name.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use registry_poller::Credentials;
use serde_json::Value;

/// The workload kinds Flux v1 lists: `(group, version, kind, plural)`.
const WORKLOAD_KINDS: [(&str, &str, &str, &str); 5] = [
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("batch", "v1", "CronJob", "cronjobs"),
    ("helm.fluxcd.io", "v1", "HelmRelease", "helmreleases"),
];

/// The workloads of the cluster, by resource id (`ns:kind/name`).
#[derive(Debug, Clone, Default)]
pub struct LiveWorkloads {
    objects: BTreeMap<String, Value>,
    /// Whether the cluster was read; `false` when there is no cluster or a
    /// listing failed, and then nothing is known to be missing.
    pub complete: bool,
}

impl LiveWorkloads {
    /// Lists the workloads in `namespaces` (empty: all). A kind the cluster
    /// does not serve (no HelmRelease CRD) is simply empty; other failures
    /// are logged and leave the listing incomplete.
    pub async fn list(client: &kube::Client, namespaces: &[String]) -> Self {
        let mut live = Self {
            objects: BTreeMap::new(),
            complete: true,
        };
        for (group, version, kind, plural) in WORKLOAD_KINDS {
            let resource = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(group, version, kind),
                plural,
            );
            let apis: Vec<Api<DynamicObject>> = if namespaces.is_empty() {
                vec![Api::all_with(client.clone(), &resource)]
            } else {
                namespaces
                    .iter()
                    .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
                    .collect()
            };
            for api in apis {
                match api.list(&ListParams::default()).await {
                    Ok(list) => {
                        for object in list.items {
                            let namespace = object.metadata.namespace.clone().unwrap_or_default();
                            let name = object.metadata.name.clone().unwrap_or_default();
                            let id = format!("{namespace}:{}/{name}", kind.to_ascii_lowercase());
                            match serde_json::to_value(&object) {
                                Ok(mut value) => {
                                    if let Some(map) = value.as_object_mut() {
                                        map.insert("kind".into(), Value::String(kind.into()));
                                    }
                                    live.objects.insert(id, value);
                                }
                                Err(error) => tracing::warn!(id, %error, "cannot read a workload"),
                            }
                        }
                    }
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => {
                        tracing::warn!(kind, %error, "cannot list workloads in the cluster");
                        live.complete = false;
                    }
                }
            }
        }
        live
    }

    /// Whether the workload `id` runs in the cluster (always true when the
    /// cluster could not be read completely: nothing is skipped on a guess).
    pub fn contains(&self, id: &str) -> bool {
        !self.complete || self.objects.contains_key(id)
    }

    /// Whether the cluster's object carries `fluxcd.io/ignore: "true"`
    /// (Flux reads only this prefix on cluster objects).
    pub fn ignored(&self, id: &str) -> bool {
        self.objects
            .get(id)
            .and_then(|o| o.pointer("/metadata/annotations/fluxcd.io~1ignore"))
            .and_then(Value::as_str)
            == Some("true")
    }

    /// The live objects.
    pub fn objects(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.objects.iter().map(|(id, o)| (id.as_str(), o))
    }
}

/// The pod spec of a workload object, if its kind has one.
pub(crate) fn pod_spec(object: &Value) -> Option<&Value> {
    let kind = object.get("kind").and_then(Value::as_str)?;
    let path = manifests::images::pod_spec_path(kind)?;
    path.iter().try_fold(object, |value, key| value.get(key))
}

/// The pull secrets a pod spec names, itself and through its
/// ServiceAccount: `(secret names, service account name)`.
pub(crate) fn pull_secret_names(pod_spec: &Value) -> (Vec<String>, String) {
    let secrets = pod_spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let account = pod_spec
        .get("serviceAccountName")
        .or_else(|| pod_spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_owned();
    (secrets, account)
}

/// Reads pull secrets from the cluster, each once per refresh.
pub(crate) struct PullSecrets<'a> {
    client: &'a kube::Client,
    allowed: &'a [String],
    secrets: BTreeMap<(String, String), Credentials>,
    accounts: BTreeMap<(String, String), Vec<String>>,
    /// Secrets that could not be read, logged once each.
    failed: BTreeSet<(String, String)>,
}

impl std::fmt::Debug for PullSecrets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSecrets")
            .field("read", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

impl<'a> PullSecrets<'a> {
    /// A reader of secrets in `allowed` namespaces (empty: all).
    pub(crate) fn new(client: &'a kube::Client, allowed: &'a [String]) -> Self {
        Self {
            client,
            allowed,
            secrets: BTreeMap::new(),
            accounts: BTreeMap::new(),
            failed: BTreeSet::new(),
        }
    }

    fn allows(&self, namespace: &str) -> bool {
        self.allowed.is_empty() || self.allowed.iter().any(|n| n == namespace)
    }

    /// The credentials a pod spec in `namespace` may pull with: its
    /// `imagePullSecrets` and those of its ServiceAccount.
    pub(crate) async fn for_pod(&mut self, namespace: &str, pod_spec: &Value) -> Credentials {
        if !self.allows(namespace) {
            return Credentials::none();
        }
        let (mut names, account) = pull_secret_names(pod_spec);
        names.extend(self.account_secrets(namespace, &account).await);
        let mut credentials = Credentials::none();
        for name in names {
            credentials = credentials.merged(&self.secret(namespace, &name).await);
        }
        credentials
    }

    async fn account_secrets(&mut self, namespace: &str, account: &str) -> Vec<String> {
        let key = (namespace.to_owned(), account.to_owned());
        if let Some(found) = self.accounts.get(&key) {
            return found.clone();
        }
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let found = match api.get_opt(account).await {
            Ok(Some(sa)) => sa
                .image_pull_secrets
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.name)
                .collect(),
            Ok(None) => Vec::new(),
            Err(error) => {
                tracing::debug!(namespace, account, %error, "cannot read the ServiceAccount");
                Vec::new()
            }
        };
        self.accounts.insert(key, found.clone());
        found
    }

    async fn secret(&mut self, namespace: &str, name: &str) -> Credentials {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(found) = self.secrets.get(&key) {
            return found.clone();
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let source = format!("{namespace}/{name}");
        let found = match api.get_opt(name).await {
            Ok(Some(secret)) => {
                let data: BTreeMap<String, Vec<u8>> = secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                let kind = secret.type_.unwrap_or_default();
                match Credentials::from_pull_secret(&source, &kind, &data) {
                    Ok(credentials) => credentials,
                    Err(error) => {
                        if self.failed.insert(key.clone()) {
                            tracing::warn!(secret = %source, %error, "ignoring an image pull secret");
                        }
                        Credentials::none()
                    }
                }
            }
            Ok(None) => {
                if self.failed.insert(key.clone()) {
                    tracing::warn!(secret = %source, "an image pull secret named by a workload does not exist");
                }
                Credentials::none()
            }
            Err(error) => {
                if self.failed.insert(key.clone()) {
                    tracing::warn!(secret = %source, %error, "cannot read an image pull secret");
                }
                Credentials::none()
            }
        };
        self.secrets.insert(key, found.clone());
        found
    }
}
