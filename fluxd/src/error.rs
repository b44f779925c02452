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
    /// The registry poller could not be set up (other than by a flag's value).
    #[error("the registry poller: {0}")]
    Registry(#[from] registry_poller::Error),
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
    /// The branch's history was rewritten behind the sync marker: its head
    /// does not descend from the revision the marker records (a force push,
    /// a reset). Nothing of that head is applied or pruned unless
    /// `--git-allow-history-rewrite` is given.
    #[error(
        "refusing to sync branch {branch}: its history was rewritten: the head {head} does not descend from {marker_revision}, the sync marker's revision ({marker}); nothing was applied or pruned: restore the branch, move or delete the sync marker, or run fluxd with --git-allow-history-rewrite"
    )]
    HistoryRewritten {
        /// The branch.
        branch: String,
        /// Its new head.
        head: gitsync::Revision,
        /// The revision the sync marker records.
        marker_revision: gitsync::Revision,
        /// Where the marker lives (`tag flux-sync in URL`, a Secret's annotation).
        marker: String,
    },
    /// The sync marker cannot be read, so a rewritten history cannot be told
    /// from a fast-forward: nothing is applied until it can be read.
    #[error(
        "not syncing branch {branch}: cannot read the sync marker ({marker}) to check that the branch's history was not rewritten: {reason}"
    )]
    MarkerUnreadable {
        /// The branch.
        branch: String,
        /// Where the marker lives.
        marker: String,
        /// Why it cannot be read.
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
