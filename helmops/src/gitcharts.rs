//! Git chart sources over `gitsync`: one mirror per repository, branch and
//! credentials, fetched at most once per poll interval, and one checkout per
//! revision (older ones pruned).
//!
//! Refs name branches: a mirror follows one branch, as Flux's chart sync did
//! for `ref: master`. A failed fetch keeps serving the last good revision (and
//! logs why) so a flaky remote does not fail releases that were fine.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use gitsync::{GitUrl, HttpAuth, KnownHosts, Mirror, Remote, SshKey};
use tokio::sync::Mutex;

use crate::Error;
use crate::chart::{Checkout, GitCharts};
use crate::chartrepo::RepoCredentials;
use crate::checksum::sha256_hex;

/// How to reach git remotes.
#[derive(Clone, Default)]
pub struct GitAccess {
    /// The daemon's deploy key, for ssh remotes.
    pub ssh_key: Option<SshKey>,
    /// Host keys ssh remotes are checked against.
    pub known_hosts: Option<KnownHosts>,
    /// Time limit of each network operation.
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for GitAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAccess")
            .field("ssh_key", &self.ssh_key.is_some())
            .field(
                "known_hosts",
                &self.known_hosts.as_ref().map(KnownHosts::len),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

struct MirrorState {
    mirror: Option<Mirror>,
    fetched: Option<(Instant, gitsync::Revision)>,
    /// The revision served before the current one: its checkout is kept
    /// too, since a reconcile may still be reading it.
    previous: Option<gitsync::Revision>,
}

/// [`GitCharts`] over `gitsync` mirrors kept under one directory.
pub struct GitsyncCharts {
    dir: PathBuf,
    poll_interval: Duration,
    access: GitAccess,
    mirrors: Mutex<HashMap<String, Arc<Mutex<MirrorState>>>>,
}

impl std::fmt::Debug for GitsyncCharts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitsyncCharts")
            .field("dir", &self.dir)
            .field("poll_interval", &self.poll_interval)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl GitsyncCharts {
    /// Mirrors and checkouts live under `dir`; each remote is fetched at most
    /// once per `poll_interval` (Flux's `--git-poll-interval`).
    pub fn new(dir: PathBuf, poll_interval: Duration, access: GitAccess) -> Self {
        Self {
            dir,
            poll_interval,
            access,
            mirrors: Mutex::new(HashMap::new()),
        }
    }

    async fn checkout_branch(
        &self,
        url: &str,
        branch: &str,
        credentials: Option<&RepoCredentials>,
    ) -> Result<Checkout, Error> {
        let git_error = |reason: String| Error::Git {
            url: url.to_owned(),
            git_ref: branch.to_owned(),
            reason,
        };
        let key = sha256_hex(
            format!(
                "{url}\0{branch}\0{}",
                credentials.map(|c| c.username.as_str()).unwrap_or_default()
            )
            .as_bytes(),
        );
        let state = {
            let mut mirrors = self.mirrors.lock().await;
            mirrors
                .entry(key.clone())
                .or_insert_with(|| {
                    Arc::new(Mutex::new(MirrorState {
                        mirror: None,
                        fetched: None,
                        previous: None,
                    }))
                })
                .clone()
        };
        let mut state = state.lock().await;
        let mirror = match &state.mirror {
            Some(mirror) => mirror.clone(),
            None => {
                let parsed = GitUrl::parse(url).map_err(|e| git_error(e.to_string()))?;
                let mut remote = Remote::new(parsed);
                if let Some(credentials) = credentials {
                    remote = remote.with_http_auth(HttpAuth::basic(
                        credentials.username.clone(),
                        credentials.password.clone(),
                    ));
                }
                if let Some(key) = &self.access.ssh_key {
                    remote = remote.with_ssh_key(key.clone());
                }
                if let Some(known_hosts) = &self.access.known_hosts {
                    remote = remote.with_known_hosts(known_hosts.clone());
                }
                if let Some(timeout) = self.access.timeout {
                    remote = remote.with_timeout(timeout);
                }
                let mirror = Mirror::open(
                    remote,
                    self.dir.join("mirrors").join(&key),
                    Some(branch.to_owned()),
                )
                .await
                .map_err(|e| git_error(e.to_string()))?;
                state.mirror = Some(mirror.clone());
                mirror
            }
        };
        let revision = match state.fetched {
            Some((at, revision)) if at.elapsed() < self.poll_interval => revision,
            previous => match mirror.fetch().await {
                Ok(head) => {
                    if let Some((_, old)) = previous
                        && old != head.revision
                    {
                        state.previous = Some(old);
                    }
                    state.fetched = Some((Instant::now(), head.revision));
                    head.revision
                }
                Err(e) => match previous {
                    Some((_, revision)) => {
                        tracing::warn!(url, branch, error = %e, "fetch failed; using the last fetched revision");
                        revision
                    }
                    None => return Err(git_error(e.to_string())),
                },
            },
        };
        let root = self.dir.join("checkouts").join(&key);
        let checkout = mirror
            .checkout(revision, &root)
            .await
            .map_err(|e| git_error(e.to_string()))?;
        let keep: Vec<gitsync::Revision> =
            std::iter::once(revision).chain(state.previous).collect();
        if let Err(e) = mirror.prune_checkouts(&root, &keep).await {
            tracing::warn!(url, branch, error = %e, "pruning old checkouts");
        }
        Ok(Checkout {
            root: checkout.path().to_path_buf(),
            revision: revision.to_string(),
        })
    }
}

impl GitCharts for GitsyncCharts {
    fn checkout<'a>(
        &'a self,
        url: &'a str,
        git_ref: &'a str,
        credentials: Option<&'a RepoCredentials>,
    ) -> BoxFuture<'a, Result<Checkout, Error>> {
        self.checkout_branch(url, git_ref, credentials).boxed()
    }
}
