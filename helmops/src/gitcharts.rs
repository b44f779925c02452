//! Git chart sources over `gitsync`: one mirror per repository, branch and
//! credentials, fetched at most once per poll interval, and one checkout per
//! revision (older ones pruned).
//!
//! Refs name branches: a mirror follows one branch, as Flux's chart sync did
//! for `ref: master`. A failed fetch keeps serving the last good revision (and
//! logs why) so a flaky remote does not fail releases that were fine.
//!
//! The daemon's deploy key is only offered to the daemon's own repository
//! ([`GitAccess::deploy_key_urls`]) and to hosts an admin listed
//! ([`GitAccess::deploy_key_hosts`], `--git-ssh-allowed-hosts`): any other
//! ssh remote needs its own key in `chart.secretRef`, so a HelmRelease in one
//! namespace cannot read, with the operator's key, repositories meant for
//! another. Mirrors made with a Secret's credentials are keyed by those
//! credentials, so nobody borrows another's authenticated mirror.
//!
//! [`DaemonMirror`] serves FluxHelmRelease charts from the daemon's own
//! mirror at the revision the daemon last synced (fluxd shares its mirror
//! with the operator it runs beside), or from a mirror of its own for
//! `fluxd helm-operator --git-url`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use gitsync::{GitUrl, HttpAuth, KnownHosts, Mirror, Remote, SshKey};
use tokio::sync::Mutex;

use crate::Error;
use crate::access::AccessPolicy;
use crate::chart::{ChartCheckout, DaemonRepository, GitCharts, GitCredentials};
use crate::checksum::sha256_hex;

/// How to reach git remotes. The default (also [`GitAccess::new`]): no
/// deploy key, no known hosts (ssh remotes refused), no time limit of its
/// own, the default [`AccessPolicy`].
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct GitAccess {
    /// The daemon's deploy key, for ssh remotes it is allowed for.
    pub ssh_key: Option<SshKey>,
    /// Repositories the deploy key is for (the daemon's `--git-url`), in any
    /// spelling [`gitsync::GitUrl`] parses.
    pub deploy_key_urls: Vec<String>,
    /// More ssh hosts (`host` or `host:port`) the deploy key may be offered to.
    pub deploy_key_hosts: Vec<String>,
    /// Host keys ssh remotes are checked against.
    pub known_hosts: Option<KnownHosts>,
    /// Time limit of each network operation.
    pub timeout: Option<Duration>,
    /// What HelmReleases may point at.
    pub policy: AccessPolicy,
}

impl GitAccess {
    /// No deploy key, no known hosts, the default [`AccessPolicy`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ssh_key`](Self::ssh_key).
    #[must_use]
    pub fn with_ssh_key(mut self, ssh_key: impl Into<Option<SshKey>>) -> Self {
        self.ssh_key = ssh_key.into();
        self
    }

    /// Sets [`deploy_key_urls`](Self::deploy_key_urls).
    #[must_use]
    pub fn with_deploy_key_urls(
        mut self,
        deploy_key_urls: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.deploy_key_urls = deploy_key_urls.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`deploy_key_hosts`](Self::deploy_key_hosts).
    #[must_use]
    pub fn with_deploy_key_hosts(
        mut self,
        deploy_key_hosts: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.deploy_key_hosts = deploy_key_hosts.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`known_hosts`](Self::known_hosts).
    #[must_use]
    pub fn with_known_hosts(mut self, known_hosts: impl Into<Option<KnownHosts>>) -> Self {
        self.known_hosts = known_hosts.into();
        self
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Sets [`policy`](Self::policy).
    #[must_use]
    pub fn with_policy(mut self, policy: AccessPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether the deploy key may be offered to `url`.
    pub fn deploy_key_allowed(&self, url: &GitUrl) -> bool {
        let safe = url.flux_safe_url();
        if self
            .deploy_key_urls
            .iter()
            .filter_map(|u| GitUrl::parse(u).ok())
            .any(|u| u.flux_safe_url() == safe)
        {
            return true;
        }
        let Some((host, port)) = url.ssh_host_port() else {
            return false;
        };
        self.deploy_key_hosts.iter().any(|allowed| {
            allowed.eq_ignore_ascii_case(host)
                || allowed.eq_ignore_ascii_case(&format!("{host}:{port}"))
        })
    }

    /// Whether `url` is one of the daemon's own repositories (an admin
    /// configured it: internal addresses are fine).
    fn is_daemon_url(&self, url: &GitUrl) -> bool {
        let safe = url.flux_safe_url();
        self.deploy_key_urls
            .iter()
            .filter_map(|u| GitUrl::parse(u).ok())
            .any(|u| u.flux_safe_url() == safe)
    }
}

impl std::fmt::Debug for GitAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAccess")
            .field("ssh_key", &self.ssh_key.is_some())
            .field("deploy_key_urls", &self.deploy_key_urls.len())
            .field("deploy_key_hosts", &self.deploy_key_hosts)
            .field(
                "known_hosts",
                &self.known_hosts.as_ref().map(KnownHosts::len),
            )
            .field("timeout", &self.timeout)
            .field("policy", &self.policy)
            .finish()
    }
}

struct MirrorState {
    mirror: Option<Mirror>,
    fetched: Option<(Instant, gitsync::Revision)>,
    /// The revision served before the current one: its checkout is kept
    /// too, since a reconcile may still be reading it.
    previous: Option<gitsync::Revision>,
    /// Fetch at the next checkout, whatever the poll interval says.
    stale: bool,
}

/// [`GitCharts`] over `gitsync` mirrors kept under one directory.
pub struct GitsyncCharts {
    dir: PathBuf,
    poll_interval: Duration,
    access: GitAccess,
    mirrors: Mutex<HashMap<String, Arc<Mutex<MirrorState>>>>,
    /// Mirrors handed in by the daemon, used for their URL and branch.
    shared: Vec<Mirror>,
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
            shared: Vec::new(),
        }
    }

    /// Uses `mirror` (the daemon's own) for charts from its URL and branch,
    /// instead of a second clone.
    #[must_use]
    pub fn with_shared_mirror(mut self, mirror: Mirror) -> Self {
        self.shared.push(mirror);
        self
    }

    /// The daemon's mirror of `url` at `branch`, if one was shared.
    fn shared_mirror(&self, url: &GitUrl, branch: &str) -> Option<Mirror> {
        let safe = url.flux_safe_url();
        self.shared
            .iter()
            .find(|m| m.remote().url().flux_safe_url() == safe && m.branch() == Some(branch))
            .cloned()
    }

    async fn checkout_branch(
        &self,
        url: &str,
        branch: &str,
        credentials: Option<&GitCredentials>,
    ) -> Result<ChartCheckout, Error> {
        let git_error = |reason: String| Error::Git {
            url: crate::chartrepo::redact_url(url),
            git_ref: branch.to_owned(),
            reason,
        };
        let parsed = GitUrl::parse(url).map_err(|e| git_error(e.to_string()))?;
        let shared = self.shared_mirror(&parsed, branch);
        if shared.is_none() && !self.access.is_daemon_url(&parsed) {
            let host_port = match parsed.transport() {
                gitsync::Transport::Ssh => parsed.ssh_host_port().map(|(h, p)| (h.to_owned(), p)),
                gitsync::Transport::Http => reqwest::Url::parse(&parsed.without_credentials())
                    .ok()
                    .and_then(|u| Some((u.host_str()?.to_owned(), u.port_or_known_default()?))),
                _ => None,
            };
            let allowed_host = host_port.as_ref().is_some_and(|(host, port)| {
                self.access.deploy_key_hosts.iter().any(|a| {
                    a.eq_ignore_ascii_case(host)
                        || a.eq_ignore_ascii_case(&format!("{host}:{port}"))
                })
            });
            if let Some((host, port)) = &host_port
                && !allowed_host
            {
                self.access
                    .policy
                    .check_host(host, *port)
                    .await
                    .map_err(git_error)?;
            }
        }
        let use_deploy_key = match credentials {
            Some(_) => false,
            None => {
                let ssh = parsed.transport() == gitsync::Transport::Ssh;
                if ssh && !self.access.deploy_key_allowed(&parsed) {
                    return Err(git_error(
                        "the operator's deploy key is only used for the daemon's own repository and the hosts in --git-ssh-allowed-hosts; give this chart its own key: chart.secretRef naming a Secret with an `identity` key (an ssh private key)".to_owned(),
                    ));
                }
                ssh
            }
        };
        let key = sha256_hex(
            format!(
                "{}\0{branch}\0{}",
                parsed.flux_safe_url(),
                credentials
                    .map(GitCredentials::fingerprint)
                    .unwrap_or_default()
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
                        stale: false,
                    }))
                })
                .clone()
        };
        let mut state = state.lock().await;
        let mirror = match (&state.mirror, shared) {
            (Some(mirror), _) => mirror.clone(),
            (None, Some(shared)) => {
                state.mirror = Some(shared.clone());
                shared
            }
            (None, None) => {
                let mut remote = Remote::new(parsed);
                match credentials {
                    Some(GitCredentials::Basic(basic)) => {
                        remote = remote.with_http_auth(HttpAuth::basic(
                            basic.username.clone(),
                            basic.password.clone(),
                        ));
                    }
                    Some(GitCredentials::SshKey(private_key)) => {
                        remote = remote.with_ssh_key(SshKey::from_memory(private_key.clone()));
                    }
                    None => {}
                }
                if use_deploy_key && let Some(key) = &self.access.ssh_key {
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
            Some((at, revision)) if at.elapsed() < self.poll_interval && !state.stale => revision,
            previous => match mirror.fetch().await {
                Ok(head) => {
                    state.stale = false;
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
                        tracing::warn!(url = %crate::chartrepo::redact_url(url), branch, error = %e, "fetch failed; using the last fetched revision");
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
            tracing::warn!(url = %crate::chartrepo::redact_url(url), branch, error = %e, "pruning old checkouts");
        }
        Ok(ChartCheckout {
            root: checkout.path().to_path_buf(),
            revision: revision.to_string(),
        })
    }

    /// Forces the next checkout of every mirror to fetch (`POST /api/v1/sync-git`).
    pub async fn refresh(&self) {
        let states: Vec<Arc<Mutex<MirrorState>>> =
            self.mirrors.lock().await.values().cloned().collect();
        for state in states {
            state.lock().await.stale = true;
        }
    }
}

impl GitCharts for GitsyncCharts {
    fn checkout<'a>(
        &'a self,
        url: &'a str,
        git_ref: &'a str,
        credentials: Option<&'a GitCredentials>,
    ) -> BoxFuture<'a, Result<ChartCheckout, Error>> {
        self.checkout_branch(url, git_ref, credentials).boxed()
    }

    fn refresh(&self) -> BoxFuture<'_, ()> {
        GitsyncCharts::refresh(self).boxed()
    }
}

/// FluxHelmRelease charts from the daemon's repository: checkouts of one
/// mirror at the revision last [`set`](DaemonMirror::set) (fluxd's last
/// synced one), or, when the mirror is the operator's own, at the head it
/// fetches at most every poll interval. Charts are looked for under
/// `charts_path` (`--git-charts-path`).
#[derive(Clone)]
pub struct DaemonMirror {
    inner: Arc<DaemonMirrorInner>,
}

struct DaemonMirrorInner {
    mirror: Mirror,
    dir: PathBuf,
    charts_path: PathBuf,
    /// `None`: the operator fetches the mirror itself, at most this often.
    own_poll: Option<Duration>,
    state: Mutex<DaemonMirrorState>,
}

#[derive(Default)]
struct DaemonMirrorState {
    synced: Option<gitsync::Revision>,
    fetched: Option<Instant>,
    previous: Option<gitsync::Revision>,
}

impl std::fmt::Debug for DaemonMirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonMirror")
            .field("url", &self.inner.mirror.remote().url().to_string())
            .field("dir", &self.inner.dir)
            .field("charts_path", &self.inner.charts_path)
            .finish_non_exhaustive()
    }
}

impl DaemonMirror {
    /// Charts from `mirror` (the daemon's), at the revision the daemon sets.
    pub fn synced(mirror: Mirror, dir: PathBuf, charts_path: PathBuf) -> Self {
        Self::new(mirror, dir, charts_path, None)
    }

    /// Charts from `mirror` (the operator's own), fetched at most every `poll`.
    pub fn polled(mirror: Mirror, dir: PathBuf, charts_path: PathBuf, poll: Duration) -> Self {
        Self::new(mirror, dir, charts_path, Some(poll))
    }

    fn new(mirror: Mirror, dir: PathBuf, charts_path: PathBuf, own_poll: Option<Duration>) -> Self {
        Self {
            inner: Arc::new(DaemonMirrorInner {
                mirror,
                dir,
                charts_path,
                own_poll,
                state: Mutex::new(DaemonMirrorState::default()),
            }),
        }
    }

    /// The mirror.
    pub fn mirror(&self) -> &Mirror {
        &self.inner.mirror
    }

    /// Makes `revision` (just synced by the daemon) the one charts come from.
    pub async fn set(&self, revision: gitsync::Revision) {
        let mut state = self.inner.state.lock().await;
        if state.synced != Some(revision) {
            state.previous = state.synced;
            state.synced = Some(revision);
        }
    }

    /// Forces the next checkout to fetch (an own mirror only).
    pub async fn refresh(&self) {
        self.inner.state.lock().await.fetched = None;
    }

    async fn current(&self) -> Result<ChartCheckout, Error> {
        let inner = &self.inner;
        let url = inner.mirror.remote().url().to_string();
        let git_error = |reason: String| Error::Git {
            url: url.clone(),
            git_ref: inner.mirror.branch().unwrap_or("HEAD").to_owned(),
            reason,
        };
        let mut state = inner.state.lock().await;
        if let Some(poll) = inner.own_poll
            && state.fetched.is_none_or(|at| at.elapsed() >= poll)
        {
            match inner.mirror.fetch().await {
                Ok(head) => {
                    state.fetched = Some(Instant::now());
                    if state.synced != Some(head.revision) {
                        state.previous = state.synced;
                        state.synced = Some(head.revision);
                    }
                }
                Err(e) if state.synced.is_some() => {
                    tracing::warn!(url = %url, error = %e, "fetch failed; using the last fetched revision");
                    state.fetched = Some(Instant::now());
                }
                Err(e) => return Err(git_error(e.to_string())),
            }
        }
        let Some(revision) = state.synced else {
            return Err(Error::Chart {
                chart: "the daemon's repository".to_owned(),
                reason: "the daemon has not synced its repository yet; FluxHelmReleases wait for the first sync".to_owned(),
            });
        };
        let checkout = inner
            .mirror
            .checkout(revision, &inner.dir)
            .await
            .map_err(|e| git_error(e.to_string()))?;
        let keep: Vec<gitsync::Revision> =
            std::iter::once(revision).chain(state.previous).collect();
        if let Err(e) = inner.mirror.prune_checkouts(&inner.dir, &keep).await {
            tracing::warn!(url = %url, error = %e, "pruning old checkouts");
        }
        Ok(ChartCheckout {
            root: checkout.path().join(&inner.charts_path),
            revision: revision.to_string(),
        })
    }
}

impl DaemonRepository for DaemonMirror {
    fn checkout(&self) -> BoxFuture<'_, Result<ChartCheckout, Error>> {
        self.current().boxed()
    }

    fn refresh(&self) -> BoxFuture<'_, ()> {
        DaemonMirror::refresh(self).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_key_goes_only_where_allowed() {
        let access = GitAccess {
            deploy_key_urls: vec!["git@github.com:team/config".to_owned()],
            deploy_key_hosts: vec![
                "git.internal:2222".to_owned(),
                "charts.example.com".to_owned(),
            ],
            ..GitAccess::default()
        };
        let allowed = |url: &str| access.deploy_key_allowed(&GitUrl::parse(url).unwrap());
        assert!(allowed("ssh://git@github.com/team/config"));
        assert!(allowed("git@github.com:team/config"));
        assert!(!allowed("git@github.com:other-team/secrets"));
        assert!(allowed("ssh://git@git.internal:2222/any/repo"));
        assert!(!allowed("ssh://git@git.internal/any/repo"));
        assert!(allowed("git@charts.example.com:x/y"));
        assert!(!allowed("ssh://git@evil.example.com/x"));
    }
}
