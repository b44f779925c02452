//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can stop the daemon from starting, or fail one step of it.
///
/// A failing fetch, load or apply inside the sync loop is logged and retried,
/// never returned: only what makes the daemon unable to run at all (a bad flag,
/// a broken kubeconfig) ends it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag has a value the daemon cannot use.
    #[error("{flag}: {reason}")]
    Flag {
        /// The flag, as written on the command line (`--git-url`).
        flag: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A kubeconfig could not be read, or an in-cluster configuration is incomplete.
    #[error("cannot load the cluster configuration from {source_name}: {reason}")]
    ClusterConfig {
        /// Where it was read from (a path, `KUBECONFIG`, `in-cluster`).
        source_name: String,
        /// What went wrong.
        reason: String,
    },
    /// No cluster is configured, and the mode needs one.
    #[error(
        "no cluster configured: give --kubeconfig, set KUBECONFIG, write ~/.kube/config, or run in a cluster (or use --dry-run to check the manifests offline)"
    )]
    NoCluster,
    /// A Kubernetes API call failed (written as kubectl writes it).
    #[error("{action}: {}", manifests::cluster::kube_error_message(source))]
    Kube {
        /// What was being done, naming the object.
        action: String,
        /// The client's error.
        source: kube::Error,
    },
    /// The apply engine refused its configuration, or could not plan.
    #[error(transparent)]
    Manifests(#[from] manifests::Error),
    /// A git operation failed.
    #[error(transparent)]
    Git(#[from] gitsync::Error),
    /// The Helm operator could not start or run.
    #[error(transparent)]
    HelmOperator(#[from] helmops::Error),
    /// The deploy key in its Secret cannot be read, generated or written.
    #[error("the deploy key in {secret}: {reason}")]
    DeployKey {
        /// `namespace:secret/name`.
        secret: String,
        /// What went wrong.
        reason: String,
    },
    /// No revision of the branch verifies (`--git-verify-signatures-mode`).
    #[error(
        "nothing to apply: commit {revision} is not verified ({reason}) and no revision before it was synced"
    )]
    Unverified {
        /// The oldest commit that did not verify.
        revision: gitsync::Revision,
        /// Why.
        reason: String,
    },
    /// A commit message template does not compile or render.
    #[error("commit message template `{kind}`: {reason}")]
    Template {
        /// The kind of job.
        kind: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{context} {path}: {source}", path = path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn flag(flag: &'static str, reason: impl Into<String>) -> Self {
        Self::Flag {
            flag,
            reason: reason.into(),
        }
    }

    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            action: action.into(),
            source,
        }
    }
}
