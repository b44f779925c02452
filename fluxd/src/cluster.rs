//! Which cluster to talk to, found as kubectl and kube find it, but telling
//! "no cluster configured" (a dry run checks the manifests offline then) apart
//! from "a cluster configured badly" (an error).

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::Error;

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
}

impl ClusterConfig {
    /// Finds the cluster: `--kubeconfig`, else `KUBECONFIG`, else
    /// `~/.kube/config`, else the in-cluster ServiceAccount. `Ok(None)` when
    /// none of them is there; an error when one is there but cannot be used.
    pub async fn locate(kubeconfig_flag: Option<&Path>) -> Result<Option<Self>, Error> {
        let options = KubeConfigOptions::default();
        if let Some(path) = kubeconfig_flag {
            let source = ClusterSource::Flag(path.to_owned());
            let file = Kubeconfig::read_from(path).map_err(|e| Error::Flag {
                flag: "--kubeconfig",
                reason: e.to_string(),
            })?;
            return from_kubeconfig(file, &options, source).await.map(Some);
        }
        let from_env = Kubeconfig::from_env().map_err(|e| Error::ClusterConfig {
            source_name: "KUBECONFIG".to_owned(),
            reason: e.to_string(),
        })?;
        if let Some(file) = from_env {
            return from_kubeconfig(file, &options, ClusterSource::Env)
                .await
                .map(Some);
        }
        if let Some(path) = std::env::home_dir().map(|home| home.join(".kube").join("config"))
            && path.is_file()
        {
            let file = Kubeconfig::read_from(&path).map_err(|e| Error::ClusterConfig {
                source_name: path.display().to_string(),
                reason: e.to_string(),
            })?;
            return from_kubeconfig(file, &options, ClusterSource::Home(path))
                .await
                .map(Some);
        }
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            let config = kube::Config::incluster().map_err(|e| Error::ClusterConfig {
                source_name: ClusterSource::InCluster.to_string(),
                reason: e.to_string(),
            })?;
            return Ok(Some(Self {
                config,
                source: ClusterSource::InCluster,
            }));
        }
        Ok(None)
    }

    /// A client on the current tokio runtime.
    pub fn client(&self) -> Result<kube::Client, Error> {
        kube::Client::try_from(self.config.clone()).map_err(|e| Error::ClusterConfig {
            source_name: self.source.to_string(),
            reason: e.to_string(),
        })
    }

    /// The namespace of the kubeconfig's current context (or the pod's, in a cluster).
    pub fn default_namespace(&self) -> &str {
        &self.config.default_namespace
    }
}

async fn from_kubeconfig(
    file: Kubeconfig,
    options: &KubeConfigOptions,
    source: ClusterSource,
) -> Result<ClusterConfig, Error> {
    let config = kube::Config::from_custom_kubeconfig(file, options)
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
    Ok(ClusterConfig { config, source })
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
        };
        let from_file = ClusterConfig {
            config,
            source: ClusterSource::Env,
        };
        assert_eq!(daemon_namespace(Some(&in_cluster), Some("other")), "flux");
        assert_eq!(daemon_namespace(Some(&from_file), Some("other")), "other");
        // The kubeconfig context's namespace, as the seed's `flux` context says.
        assert_eq!(daemon_namespace(Some(&from_file), None), "flux");
        assert_eq!(daemon_namespace(None, Some("other")), "other");
        assert_eq!(daemon_namespace(None, None), "default");
    }
}
