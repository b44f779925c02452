//! The crate's error type.

use std::path::PathBuf;
use std::time::Duration;

/// A boxed error from code outside this crate (an edit closure, another marker).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in `gitsync`.
///
/// URLs in these errors are always shown without credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A repository URL could not be parsed.
    #[error("invalid git URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given, with any password or token redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A known_hosts file has a line that cannot be read.
    #[error("{path}:{line}: invalid known_hosts entry: {reason}", path = path.display())]
    KnownHostsSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The ssh server's host key is not in known_hosts.
    #[error(
        "host key verification failed: no {key_type} key for {host} in known_hosts ({known_hosts}); the server offered {fingerprint}. If that is the server's key, add its line, printed by `{keyscan}`, to the known_hosts file",
        keyscan = crate::known_hosts::keyscan_command(host, key_type)
    )]
    HostKeyUnknown {
        /// The host, `[host]:port` when not on port 22.
        host: String,
        /// The key type the server offered (`ssh-ed25519`, ...).
        key_type: String,
        /// SHA256 fingerprint of the offered key, as `ssh-keygen -l` prints it.
        fingerprint: String,
        /// Where the known hosts came from.
        known_hosts: String,
    },
    /// The ssh server's host key differs from the one in known_hosts.
    #[error(
        "HOST KEY CHANGED: host key verification failed: the {key_type} key of {host} does not match known_hosts ({known_hosts}), while the server offered {fingerprint}; someone may be intercepting the connection, or the server's key was replaced: check with its administrator before changing known_hosts"
    )]
    HostKeyMismatch {
        /// The host, `[host]:port` when not on port 22.
        host: String,
        /// The key type the server offered.
        key_type: String,
        /// SHA256 fingerprint of the offered key.
        fingerprint: String,
        /// Where the known hosts came from, and the fingerprint they have.
        known_hosts: String,
    },
    /// The ssh server's host key is marked `@revoked` in known_hosts.
    #[error(
        "host key verification failed: the {key_type} key of {host} is revoked in known_hosts ({known_hosts})"
    )]
    HostKeyRevoked {
        /// The host.
        host: String,
        /// The key type.
        key_type: String,
        /// Where the known hosts came from.
        known_hosts: String,
    },
    /// No credentials fit what the server asked for, or the server refused them.
    #[error("authentication to {url} failed: {reason}")]
    Auth {
        /// The remote, without credentials.
        url: String,
        /// What happened.
        reason: String,
    },
    /// A network operation took longer than its timeout.
    #[error("{operation} {url} timed out after {after:?}")]
    Timeout {
        /// The remote, without credentials.
        url: String,
        /// What was being done (`fetch from`, `push to`, ...).
        operation: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// A fetch or clone received more than the remote's bound
    /// ([`crate::Remote::with_max_fetch_bytes`]) and was aborted.
    #[error("{operation} {url}: aborted after receiving more than {limit} bytes (max fetch size)")]
    FetchTooLarge {
        /// The remote, without credentials.
        url: String,
        /// What was being done.
        operation: &'static str,
        /// The bound, in bytes.
        limit: u64,
    },
    /// An earlier operation on this repository is still blocked in the network.
    #[error(
        "{operation} {url}: an earlier operation that timed out is still blocked on the network"
    )]
    StillBlocked {
        /// The remote, without credentials.
        url: String,
        /// What was being attempted.
        operation: &'static str,
    },
    /// libgit2 reported an error.
    #[error("{operation} {url}: {source}")]
    Git {
        /// The remote or local repository, without credentials.
        url: String,
        /// What was being done.
        operation: &'static str,
        /// libgit2's error.
        source: git2::Error,
    },
    /// There is no repository at the URL.
    #[error("no git repository at {url}: {detail}")]
    RepositoryNotFound {
        /// The remote, without credentials.
        url: String,
        /// What the transport said.
        detail: String,
    },
    /// The remote has no such branch.
    #[error("branch `{branch}` not found in {url}")]
    BranchNotFound {
        /// The remote, without credentials.
        url: String,
        /// The branch asked for.
        branch: String,
    },
    /// The remote's HEAD does not name a branch (empty repository, or a detached HEAD).
    #[error("{url} has no default branch (is the repository empty?); name a branch explicitly")]
    NoDefaultBranch {
        /// The remote, without credentials.
        url: String,
    },
    /// A branch or tag name that git would not accept.
    #[error("invalid {kind} name `{name}`")]
    InvalidRefName {
        /// `branch` or `tag`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A string that is not a full hexadecimal object id.
    #[error("invalid revision `{0}`: expected a full hexadecimal commit id")]
    InvalidRevision(String),
    /// The local mirror does not have this commit (it was never fetched).
    #[error("revision {revision} is not in the local mirror of {url}")]
    RevisionNotFound {
        /// The remote, without credentials.
        url: String,
        /// The revision.
        revision: String,
    },
    /// The server refused to update a reference.
    #[error("push to {url} rejected for {refname}: {reason}")]
    PushRejected {
        /// The remote, without credentials.
        url: String,
        /// The reference.
        refname: String,
        /// The server's reason.
        reason: String,
    },
    /// The remote branch kept moving; every attempt to push on top of it was rejected.
    #[error(
        "push to {url} branch {branch} gave up after {attempts} attempts: the remote kept moving"
    )]
    RemoteKeptMoving {
        /// The remote, without credentials.
        url: String,
        /// The branch.
        branch: String,
        /// How many times a commit was built and pushed.
        attempts: u32,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The edit given to [`crate::Mirror::commit_and_push`] failed.
    #[error("editing the checkout of {url} failed: {source}")]
    Edit {
        /// The remote, without credentials.
        url: String,
        /// The edit's error.
        source: BoxError,
    },
    /// A conditional write of the sync marker found it elsewhere than
    /// expected: another writer moved (or created, or deleted) it since it
    /// was read. Nothing was written; read it again to decide.
    #[error("sync marker {marker} was moved by another writer: expected {expected}, found {found}")]
    MarkerConflict {
        /// Where the marker lives ([`crate::SyncMarker::describe`]).
        marker: String,
        /// The revision the write expected (`none`: no marker).
        expected: String,
        /// What was found instead (`none`, a revision, or what the remote said).
        found: String,
    },
    /// A sync marker implemented outside this crate failed.
    #[error("sync marker: {0}")]
    Marker(BoxError),
    /// [`crate::set_io_timeout`] was called after the timeout was set.
    #[error(
        "libgit2's network timeout is already {current:?} for this process; set it once, before the first repository is opened"
    )]
    IoTimeoutAlreadySet {
        /// The timeout in force.
        current: Duration,
    },
    /// A key could not be generated, read or used.
    #[error("ssh key: {reason}")]
    Key {
        /// What went wrong.
        reason: String,
    },
    /// The remote accepts no pushes with these credentials.
    #[error("no write access to {url}: {reason}")]
    NoWriteAccess {
        /// The remote, without credentials.
        url: String,
        /// What the server or transport said.
        reason: String,
    },
    /// A commit or tag could not be signed.
    #[error("signing with {signer} failed: {reason}")]
    Signing {
        /// The key (GPG key id or ssh key fingerprint).
        signer: String,
        /// What went wrong.
        reason: String,
    },
    /// A push failed in a way that leaves unknown whether it landed, and the
    /// remote could not be asked.
    #[error(
        "push to {url} failed ({push_error}) and whether it landed could not be checked: {check_error}"
    )]
    PushUnconfirmed {
        /// The remote, without credentials.
        url: String,
        /// Why the push failed.
        push_error: String,
        /// Why the check failed.
        check_error: String,
    },
    /// A blocking git task panicked or was cancelled.
    #[error("{operation} {url}: the git task failed: {reason}")]
    Task {
        /// The remote, without credentials.
        url: String,
        /// What was being done.
        operation: &'static str,
        /// Why.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether retrying the same operation later might succeed (network trouble,
    /// a timeout, a rejected push), as opposed to a configuration error.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. }
            | Self::StillBlocked { .. }
            | Self::PushRejected { .. }
            | Self::PushUnconfirmed { .. } => true,
            Self::Git { source, .. } => matches!(
                source.class(),
                git2::ErrorClass::Net | git2::ErrorClass::Http | git2::ErrorClass::Ssh
            ),
            _ => false,
        }
    }
}
