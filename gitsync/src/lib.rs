//! Git repositories for a GitOps daemon.
//!
//! `gitsync` (published as `fluxd-gitsync`, so `use fluxd_gitsync::..` from
//! outside this workspace) owns everything the daemon does with git, and
//! knows nothing of Kubernetes:
//!
//! - [`GitUrl`]: `file://` URLs, plain paths, `http(s)://` (credentials in the
//!   URL are taken out and never printed), `ssh://` and scp-like
//!   `user@host:path`; [`GitUrl::flux_safe_url`] is the form Flux v1 hashed into
//!   its garbage-collection mark.
//! - [`Remote`]: a URL plus how to reach it: [`HttpAuth`] (basic or bearer),
//!   an [`SshKey`] from a file or memory, the [`KnownHosts`] ssh host keys are
//!   checked against (plain, hashed and `[host]:port` entries; libgit2 never
//!   falls back to `$HOME/.ssh`), and a timeout for every network operation.
//! - [`Mirror`]: a local bare repository that fetches one branch (or the
//!   remote's default branch). Every git2 call runs in a blocking task with its
//!   own `Repository`, one operation at a time per mirror.
//! - [`Poller`]: fetches on an interval and reports a [`PollEvent::NewHead`]
//!   only when the head changed; errors are reported and polling goes on.
//! - [`Mirror::checkout`]: the files of a revision in a directory that appears
//!   atomically (built beside it, then renamed); [`Mirror::prune_checkouts`]
//!   removes old ones.
//! - [`SyncMarker`]: where the last sync left off; [`GitTagMarker`] is Flux's
//!   annotated `flux-sync` tag, and [`MarkerTracker`] notices a marker moved by
//!   someone else ([`MarkerUpdate::MovedByOther`]).
//! - [`Mirror::commit_and_push`]: commits an edit of the branch and pushes it
//!   with an optional git [`Note`] in the same push, signed by a [`Signer`]
//!   when asked, fetching and re-applying the edit (with backoff) when the
//!   remote moved meanwhile, never force-pushing the branch, and asking the
//!   remote where the branch is before retrying a push that failed in the
//!   network.
//! - [`Mirror::check_write_access`]: Flux's write check (push a uniquely
//!   named tag, delete it); a refusal is [`Error::NoWriteAccess`].
//! - [`KeyPair`]: ssh deploy keys generated as `ssh-keygen -t ed25519|rsa|ecdsa`
//!   would, their one-line public key and SHA256 fingerprint.
//! - [`Signer`] and [`Verifier`]: commit and tag signatures, OpenPGP through
//!   the `gpg` binary or git's ssh signatures; [`Mirror::newest_verified`]
//!   finds the newest revision that may be applied under a [`VerifyMode`].
//!
//! ```no_run
//! use std::time::Duration;
//! use fluxd_gitsync::{GitUrl, KnownHosts, Mirror, PollEvent, Poller, Remote, SshKey};
//!
//! # async fn run() -> Result<(), fluxd_gitsync::Error> {
//! let remote = Remote::new(GitUrl::parse("git@github.com:team/config")?)
//!     .with_ssh_key(SshKey::file("/etc/fluxd/ssh/identity"))
//!     .with_known_hosts(KnownHosts::from_file("/etc/ssh/ssh_known_hosts".as_ref())?)
//!     .with_timeout(Duration::from_secs(20));
//! let mirror = Mirror::open(remote, "/var/lib/fluxd/mirror", Some("main".into())).await?;
//! let mut poller = Poller::start(mirror.clone(), Duration::from_secs(300), None);
//! while let Some(event) = poller.next().await {
//!     match event {
//!         PollEvent::NewHead(head) => {
//!             let checkout = mirror.checkout(head.revision, "/var/lib/fluxd/checkouts".as_ref()).await?;
//!             // ... load manifests from checkout.path(), apply, move the sync marker ...
//!             mirror.prune_checkouts("/var/lib/fluxd/checkouts".as_ref(), &[head.revision]).await?;
//!         }
//!         PollEvent::FetchFailed(error) => tracing::warn!(%error, "fetch failed"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! git never wedges its caller: libgit2 itself times out every connect, read
//! and write after [`io_timeout`] (set once per process with
//! [`set_io_timeout`], e.g. from the daemon's `--git-timeout`), so a server
//! that accepts a connection and then goes silent ends the operation with an
//! error and leaves nothing blocked. On top of that, the transfer callbacks
//! end an operation that goes on past its [`Remote`]'s timeout while data
//! trickles in, and an async watchdog abandons a blocking task that
//! outlives all of that with [`Error::Timeout`]; until such a task ends,
//! further operations on the same mirror fail fast with
//! [`Error::StillBlocked`].

mod auth;
mod checkout;
mod commit;
mod error;
mod keys;
mod known_hosts;
mod marker;
mod mirror;
mod poll;
mod push;
mod remote;
mod revision;
mod signing;
#[allow(unsafe_code)]
mod timeouts;
mod url;
mod verify;
mod write_check;

pub use auth::{HttpAuth, SshKey};
pub use checkout::Checkout;
pub use commit::{CommitOutcome, CommitRequest, DEFAULT_PUSH_ATTEMPTS, Identity, Note};
pub use error::{BoxError, Error};
pub use keys::{KeyPair, KeyType, PublicKeyInfo};
pub use known_hosts::KnownHosts;
pub use marker::{
    DEFAULT_SYNC_TAG, GitTagMarker, MAX_MARKER_ATTEMPTS, MarkerTracker, MarkerUpdate, SyncMarker,
};
pub use mirror::{Head, Mirror};
pub use poll::{PollEvent, Poller};
pub use remote::{DEFAULT_MAX_FETCH_BYTES, DEFAULT_TIMEOUT, Remote, SshKeyHandle};
pub use revision::Revision;
pub use signing::{Signer, Verifier, import_gpg_keys};
pub use timeouts::{DEFAULT_IO_TIMEOUT, io_timeout, set_io_timeout};
pub use url::{GitUrl, Transport, redact as redact_url};
pub use verify::{Unverified, Verification, VerifyMode};
pub use write_check::WRITE_CHECK_TAG_PREFIX;

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
