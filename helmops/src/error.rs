//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong while reconciling Helm releases.
///
/// Most variants end up as a status condition of the HelmRelease concerned
/// (see [`Error::reason`]); none stops the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HelmRelease's spec cannot be acted on.
    #[error("{resource}: invalid spec: {reason}")]
    InvalidSpec {
        /// The resource id (`namespace:kind/name`).
        resource: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A call to the Kubernetes API failed; shown as kubectl shows it.
    #[error("{context}: {}", crate::api_error::describe(source))]
    Kube {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The `helm` binary could not be run or identified.
    #[error("helm binary {binary}: {reason}")]
    HelmBinary {
        /// The binary.
        binary: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A `helm` command failed.
    #[error("`helm {command}` failed ({status}): {stderr}")]
    HelmCommand {
        /// The subcommand and its non-secret arguments.
        command: String,
        /// Exit status.
        status: String,
        /// What helm printed on stderr (trimmed).
        stderr: String,
    },
    /// A `helm` command printed something this crate cannot read.
    #[error("`helm {command}` printed unexpected output: {reason}")]
    HelmOutput {
        /// The subcommand.
        command: String,
        /// What could not be parsed.
        reason: String,
    },
    /// A chart could not be found or read.
    #[error("chart {chart}: {reason}")]
    Chart {
        /// The chart (path, or repository and name).
        chart: String,
        /// What went wrong and what to check.
        reason: String,
    },
    /// A Helm chart repository answered badly or not at all.
    #[error("chart repository {url}: {reason}")]
    ChartRepository {
        /// The repository's URL (without credentials).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A downloaded chart does not match the digest in the repository index.
    #[error("chart {url}: digest mismatch: index says {expected}, download is {actual}")]
    DigestMismatch {
        /// The chart archive's URL.
        url: String,
        /// Digest from `index.yaml`.
        expected: String,
        /// Digest of what was downloaded.
        actual: String,
    },
    /// A source of values is missing or unreadable.
    #[error("values from {source_ref}: {reason}")]
    ValuesSource {
        /// The source (`Secret ns/name key values.yaml`, URL, chart file).
        source_ref: String,
        /// What went wrong and what to check.
        reason: String,
    },
    /// A git chart source could not be checked out.
    #[error("git repository {url} at {git_ref}: {reason}")]
    Git {
        /// The repository's URL.
        url: String,
        /// The ref asked for.
        git_ref: String,
        /// What went wrong.
        reason: String,
    },
    /// The release belongs to Helm 2 (Tiller), or the HelmRelease asks for it.
    #[error(
        "{resource}: release {release} in {namespace} is a Helm 2 (Tiller) release ({reason}); this operator runs Helm 3 and will not install a second release beside it: migrate it with the helm-2to3 plugin (`helm 2to3 convert {release}`), then remove spec.helmVersion or set it to v3"
    )]
    Helm2 {
        /// The resource id.
        resource: String,
        /// The release name.
        release: String,
        /// Its target namespace.
        namespace: String,
        /// What shows it is Helm 2's.
        reason: String,
    },
    /// The operator cannot start.
    #[error("helm operator cannot start: {reason}")]
    Startup {
        /// What is missing or wrong.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// An [`Error::Kube`] with context.
    pub fn kube(context: impl Into<String>, source: kube::Error) -> Self {
        Self::Kube {
            context: context.into(),
            source,
        }
    }

    /// A short PascalCase reason for status conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidSpec { .. } => "InvalidSpec",
            Self::Kube { .. } => "KubernetesApiError",
            Self::Io { .. } => "IoError",
            Self::HelmBinary { .. } => "HelmUnavailable",
            Self::HelmCommand { .. } | Self::HelmOutput { .. } => "HelmFailed",
            Self::Chart { .. } => "ChartUnavailable",
            Self::ChartRepository { .. } => "ChartRepositoryError",
            Self::DigestMismatch { .. } => "ChartDigestMismatch",
            Self::ValuesSource { .. } => "ValuesUnavailable",
            Self::Git { .. } => "GitError",
            Self::Helm2 { .. } => "Helm2Release",
            Self::Startup { .. } => "StartupFailed",
        }
    }
}
