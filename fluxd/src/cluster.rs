//! Which cluster to talk to, found as kubectl and kube find it, but telling
//! "no cluster configured" (a dry run checks the manifests offline then) apart
//! from "a cluster configured badly" (an error); and the namespace of
//! resources whose manifests name none, as Flux v1 chose it.
//!
//! Flux v1's Helm chart mounts a kubeconfig (`KUBECONFIG=/root/.kubectl/config`)
//! that names no cluster at all, only a context with a namespace: Flux talked
//! to the API through the pod's ServiceAccount and read that kubeconfig for
//! the namespace of namespace-less manifests alone. fluxd does the same.

mod retry;

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::Error;

/// How many requests of one client may wait for the retry layer's buffer.
const CLIENT_BUFFER: usize = 1024;

/// Where the in-cluster ServiceAccount mount keeps the pod's namespace.
pub const IN_CLUSTER_NAMESPACE_FILE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// How the cluster configuration was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterSource {
    /// A kubeconfig file given with `--kubeconfig`.
    Flag(PathBuf),
    /// The files listed in `KUBECONFIG`.
    Env,
    /// `~/.kube/config`.
    Home(PathBuf),
    /// The pod's ServiceAccount (`KUBERNETES_SERVICE_HOST` and the token mount).
    InCluster,
}

impl std::fmt::Display for ClusterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flag(path) => write!(f, "--kubeconfig {}", path.display()),
            Self::Env => f.write_str("KUBECONFIG"),
            Self::Home(path) => write!(f, "{}", path.display()),
            Self::InCluster => f.write_str("in-cluster ServiceAccount"),
        }
    }
}

/// A cluster configuration and where it came from.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The client configuration.
    pub config: kube::Config,
    /// Where it came from.
    pub source: ClusterSource,
    /// The namespace the current context of a kubeconfig names, if a
    /// kubeconfig was read (even one naming no cluster, as Flux's chart
    /// mounts) and its context names one.
    pub context_namespace: Option<String>,
}

impl ClusterConfig {
    /// Finds the cluster: `--kubeconfig`, else `KUBECONFIG`, else
    /// `~/.kube/config`, else the in-cluster ServiceAccount. `Ok(None)` when
    /// none of them is there; an error when one is there but cannot be used.
    pub async fn locate(kubeconfig_flag: Option<&Path>) -> Result<Option<Self>, Error> {
        if let Some(path) = kubeconfig_flag {
            let source = ClusterSource::Flag(path.to_owned());
            let file = Kubeconfig::read_from(path).map_err(|e| Error::Flag {
                flag: "--kubeconfig",
                reason: e.to_string(),
            })?;
            return from_kubeconfig(file, source).await.map(Some);
        }
        let from_env = Kubeconfig::from_env().map_err(|e| Error::ClusterConfig {
            source_name: "KUBECONFIG".to_owned(),
            reason: e.to_string(),
        })?;
        if let Some(file) = from_env {
            return from_kubeconfig(file, ClusterSource::Env).await.map(Some);
        }
        if let Some(path) = std::env::home_dir().map(|home| home.join(".kube").join("config"))
            && path.is_file()
        {
            let file = Kubeconfig::read_from(&path).map_err(|e| Error::ClusterConfig {
                source_name: path.display().to_string(),
                reason: e.to_string(),
            })?;
            return from_kubeconfig(file, ClusterSource::Home(path))
                .await
                .map(Some);
        }
        if in_a_pod() {
            return in_cluster(None).map(Some);
        }
        Ok(None)
    }

    /// A client on the current tokio runtime. Answers that say "later"
    /// (429, 503) are retried a few times with a bounded backoff, honouring
    /// `Retry-After` (at most 4 retries, 250 ms doubling to 4 s, `Retry-After`
    /// up to 10 s); kube's own, far longer, retries are off.
    pub fn client(&self) -> Result<kube::Client, Error> {
        let mut config = self.config.clone();
        config.default_retry = false;
        let builder =
            kube::client::ClientBuilder::try_from(config).map_err(|e| Error::ClusterConfig {
                source_name: self.source.to_string(),
                reason: e.to_string(),
            })?;
        Ok(builder
            .with_layer(&tower::buffer::BufferLayer::new(CLIENT_BUFFER))
            .with_layer(&tower::retry::RetryLayer::new(retry::ApiRetry::default()))
            .build())
    }

    /// The namespace of the kubeconfig's current context (or the pod's, in a cluster).
    pub fn default_namespace(&self) -> &str {
        &self.config.default_namespace
    }
}

/// True in a pod: the API server's address is in the environment, as the
/// kubelet puts it there.
fn in_a_pod() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// The pod's ServiceAccount configuration; `context_namespace` from a
/// kubeconfig that named no cluster, if one was read.
fn in_cluster(context_namespace: Option<String>) -> Result<ClusterConfig, Error> {
    let config = kube::Config::incluster().map_err(|e| Error::ClusterConfig {
        source_name: ClusterSource::InCluster.to_string(),
        reason: e.to_string(),
    })?;
    Ok(ClusterConfig {
        config,
        source: ClusterSource::InCluster,
        context_namespace,
    })
}

async fn from_kubeconfig(file: Kubeconfig, source: ClusterSource) -> Result<ClusterConfig, Error> {
    let context_namespace = context_namespace(&file);
    if in_a_pod() && names_no_cluster(&file) {
        tracing::debug!(
            kubeconfig = %source,
            namespace = context_namespace.as_deref(),
            "the kubeconfig names no cluster: using the pod's ServiceAccount"
        );
        return in_cluster(context_namespace);
    }
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .map_err(|e| match &source {
            ClusterSource::Flag(_) => Error::Flag {
                flag: "--kubeconfig",
                reason: e.to_string(),
            },
            other => Error::ClusterConfig {
                source_name: other.to_string(),
                reason: e.to_string(),
            },
        })?;
    Ok(ClusterConfig {
        config,
        source,
        context_namespace,
    })
}

/// The namespace the current context names, if any.
fn context_namespace(file: &Kubeconfig) -> Option<String> {
    let current = file.current_context.as_deref()?;
    file.contexts
        .iter()
        .find(|named| named.name == current)?
        .context
        .as_ref()?
        .namespace
        .clone()
        .filter(|namespace| !namespace.is_empty())
}

/// True when the current context leads to no cluster with a server: what
/// client-go calls an empty configuration, and falls back to the pod's
/// ServiceAccount for.
fn names_no_cluster(file: &Kubeconfig) -> bool {
    let Some(current) = file.current_context.as_deref().filter(|c| !c.is_empty()) else {
        return file.clusters.is_empty();
    };
    let cluster_name = file
        .contexts
        .iter()
        .find(|named| named.name == current)
        .and_then(|named| named.context.as_ref())
        .map(|context| context.cluster.as_str());
    let server = cluster_name.and_then(|name| {
        file.clusters
            .iter()
            .find(|named| named.name == name)
            .and_then(|named| named.cluster.as_ref())
            .and_then(|cluster| cluster.server.as_deref())
    });
    server.is_none_or(str::is_empty)
}

/// The namespace of namespaced resources whose manifests name none, as Flux
/// v1 chose it: `--k8s-default-namespace`, else the namespace of the
/// kubeconfig's current context, else `default`. In a pod without a
/// kubeconfig that is `default`, not the pod's own namespace: Flux's
/// resource ids and garbage-collection marks depend on it.
pub fn resource_namespace(flag: Option<&str>, cluster: Option<&ClusterConfig>) -> String {
    flag.map(str::to_owned)
        .or_else(|| cluster.and_then(|cluster| cluster.context_namespace.clone()))
        .unwrap_or_else(|| "default".to_owned())
}

/// The daemon's own namespace (where the deploy-key and sync-marker Secret
/// lives): in a cluster, the pod's (its ServiceAccount's); out of one,
/// `--k8s-namespace` when given, else the kubeconfig context's namespace,
/// else `default`.
pub fn daemon_namespace(cluster: Option<&ClusterConfig>, flag: Option<&str>) -> String {
    if let Some(cluster) = cluster
        && cluster.source == ClusterSource::InCluster
    {
        let namespace = cluster.default_namespace().to_owned();
        if let Some(flag) = flag
            && flag != namespace
        {
            tracing::warn!(
                flag,
                namespace,
                "--k8s-namespace is ignored in a cluster: using the ServiceAccount's namespace"
            );
        }
        return namespace;
    }
    match (flag, cluster) {
        (Some(flag), _) => flag.to_owned(),
        (None, Some(cluster)) if !cluster.default_namespace().is_empty() => {
            cluster.default_namespace().to_owned()
        }
        _ => "default".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"{
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
        "current-context": "x"
    }"#;

    #[tokio::test]
    async fn the_kubeconfig_flag_is_read_and_its_errors_name_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, KUBECONFIG).unwrap();
        let found = ClusterConfig::locate(Some(&path)).await.unwrap().unwrap();
        assert_eq!(found.source, ClusterSource::Flag(path.clone()));
        assert_eq!(found.default_namespace(), "team");
        assert_eq!(found.context_namespace.as_deref(), Some("team"));
        assert_eq!(
            found.config.cluster_url.to_string(),
            "https://127.0.0.1:6443/"
        );

        std::fs::write(&path, "current-context: [").unwrap();
        match ClusterConfig::locate(Some(&path)).await {
            Err(Error::Flag { flag, .. }) => assert_eq!(flag, "--kubeconfig"),
            other => panic!("{other:?}"),
        }
        let missing = dir.path().join("missing");
        match ClusterConfig::locate(Some(&missing)).await {
            Err(Error::Flag { flag, .. }) => assert_eq!(flag, "--kubeconfig"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_daemon_namespace_is_the_pods_in_a_cluster_else_the_flag_else_the_context() {
        let mut config = kube::Config::new("https://10.0.0.1".parse().unwrap());
        config.default_namespace = "flux".to_owned();
        let in_cluster = ClusterConfig {
            config: config.clone(),
            source: ClusterSource::InCluster,
            context_namespace: None,
        };
        let from_file = ClusterConfig {
            config,
            source: ClusterSource::Env,
            context_namespace: None,
        };
        assert_eq!(daemon_namespace(Some(&in_cluster), Some("other")), "flux");
        assert_eq!(daemon_namespace(Some(&from_file), Some("other")), "other");
        // The kubeconfig context's namespace, as the seed's `flux` context says.
        assert_eq!(daemon_namespace(Some(&from_file), None), "flux");
        assert_eq!(daemon_namespace(None, Some("other")), "other");
        assert_eq!(daemon_namespace(None, None), "default");
    }

    /// The kubeconfig of Flux v1's Helm chart (values `kube.config`): a
    /// context with a namespace and no cluster.
    const CHART_KUBECONFIG: &str = "apiVersion: v1
clusters: []
contexts:
- context:
    cluster: \"\"
    namespace: flux
    user: \"\"
  name: default
current-context: default
kind: Config
preferences: {}
users: []
";

    #[test]
    fn the_charts_kubeconfig_names_a_namespace_and_no_cluster() {
        let file = Kubeconfig::from_yaml(CHART_KUBECONFIG).unwrap();
        assert!(names_no_cluster(&file));
        assert_eq!(context_namespace(&file).as_deref(), Some("flux"));
        let full: Kubeconfig = serde_json::from_str(KUBECONFIG).unwrap();
        assert!(!names_no_cluster(&full));
        assert_eq!(context_namespace(&full).as_deref(), Some("team"));
        let mut no_namespace = full.clone();
        no_namespace.contexts[0].context.as_mut().unwrap().namespace = None;
        assert_eq!(context_namespace(&no_namespace), None);
    }

    #[test]
    fn resources_get_the_flag_else_the_context_else_default() {
        let mut config = kube::Config::new("https://10.0.0.1".parse().unwrap());
        // In a pod, kube's own default namespace is the pod's: never used here.
        config.default_namespace = "flux".to_owned();
        let pod = ClusterConfig {
            config: config.clone(),
            source: ClusterSource::InCluster,
            context_namespace: None,
        };
        let pod_with_chart_kubeconfig = ClusterConfig {
            context_namespace: Some("apps".to_owned()),
            ..pod.clone()
        };
        assert_eq!(resource_namespace(None, Some(&pod)), "default");
        assert_eq!(
            resource_namespace(None, Some(&pod_with_chart_kubeconfig)),
            "apps"
        );
        assert_eq!(
            resource_namespace(Some("given"), Some(&pod_with_chart_kubeconfig)),
            "given"
        );
        assert_eq!(resource_namespace(None, None), "default");
    }
}
