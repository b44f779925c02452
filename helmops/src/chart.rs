//! Chart sources: where a release's chart comes from, and its content digest.
//!
//! - Git charts come from a [`GitCharts`] provider (the daemon plugs `gitsync`
//!   in), FluxHelmRelease charts from the daemon's own repository through a
//!   [`DaemonRepository`]. Checkouts are read-only: digests are computed from
//!   the files (cached per revision and path), and [`ChartSources::prepare`]
//!   copies the chart and its `file://` dependencies to a private directory
//!   before `helm dependency update` touches anything.
//! - Repository charts come from [`ChartRepositories`] (`http(s)://`) or
//!   `helm pull` (`oci://`), with `chartPullSecret` credentials.
//! - What a HelmRelease may point at is limited by the [`AccessPolicy`]: no
//!   git repositories on the operator's own disk unless allowed, no internal
//!   addresses unless allowed. Credentials read from Secrets are added to the
//!   release's [`Redactor`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use tokio::sync::Mutex;

use crate::Error;
use crate::access::AccessPolicy;
use crate::api_error;
use crate::chartrepo::{ChartRepositories, RepoCredentials};
use crate::checksum::{chart_closure, chart_dir_digest, has_dependencies, sha256_hex};
use crate::helm::Helm;
use crate::model::{ChartRef, GitChart, Release, RepoChart};
use crate::redact::Redactor;

/// A read-only working tree of a git repository at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartCheckout {
    /// Root of the working tree.
    pub root: PathBuf,
    /// The commit checked out.
    pub revision: String,
}

/// Credentials for a git chart source, from its `chart.secretRef`.
#[derive(Clone, PartialEq, Eq)]
pub enum GitCredentials {
    /// `username` and `password` (or token) for an https remote.
    Basic(RepoCredentials),
    /// An ssh private key (key `identity`) for an ssh remote.
    SshKey(String),
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic(basic) => f.debug_tuple("Basic").field(basic).finish(),
            Self::SshKey(_) => f.write_str("SshKey(<redacted>)"),
        }
    }
}

impl GitCredentials {
    /// A digest of the credentials, to tell mirrors made with different ones apart.
    pub fn fingerprint(&self) -> String {
        match self {
            Self::Basic(basic) => {
                sha256_hex(format!("basic\0{}\0{}", basic.username, basic.password).as_bytes())
            }
            Self::SshKey(key) => sha256_hex(format!("ssh\0{key}").as_bytes()),
        }
    }
}

/// Gives checkouts of git repositories for git chart sources.
pub trait GitCharts: Send + Sync {
    /// A checkout of `url` at `git_ref` (branch, tag or commit), fetched at
    /// most as often as the provider's poll interval allows.
    fn checkout<'a>(
        &'a self,
        url: &'a str,
        git_ref: &'a str,
        credentials: Option<&'a GitCredentials>,
    ) -> BoxFuture<'a, Result<ChartCheckout, Error>>;

    /// Makes the next checkouts fetch, whatever the poll interval says
    /// (`POST /api/v1/sync-git`).
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Gives the daemon's own repository, for FluxHelmRelease charts.
pub trait DaemonRepository: Send + Sync {
    /// The checkout the daemon last synced.
    fn checkout(&self) -> BoxFuture<'_, Result<ChartCheckout, Error>>;

    /// Makes the next checkout fetch, when the repository is the operator's own.
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A [`DaemonRepository`] the daemon updates after each sync: the handle
/// fluxd keeps and hands to the operator for FluxHelmRelease charts.
#[derive(Clone, Debug, Default)]
pub struct SyncedCheckout {
    current: Arc<std::sync::RwLock<Option<ChartCheckout>>>,
}

impl SyncedCheckout {
    /// A handle with no checkout yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `checkout` the one FluxHelmRelease charts come from.
    pub fn set(&self, checkout: ChartCheckout) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Some(checkout);
    }
}

impl DaemonRepository for SyncedCheckout {
    fn checkout(&self) -> BoxFuture<'_, Result<ChartCheckout, Error>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Box::pin(async move {
            current.ok_or_else(|| Error::Chart {
                chart: "the daemon's repository".to_owned(),
                reason: "the daemon has not synced its repository yet; FluxHelmReleases wait for the first sync".to_owned(),
            })
        })
    }
}

/// A chart ready to be checksummed and released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResolvedChart {
    /// Where it is.
    pub location: ChartLocation,
    /// Git commit or chart version.
    pub revision: String,
    /// Digest of the chart's content.
    pub digest: String,
}

impl ResolvedChart {
    /// The unpacked chart directory, for `chartFileRef` values.
    pub(crate) fn dir(&self) -> Option<PathBuf> {
        match &self.location {
            ChartLocation::Tree { root, path } => Some(root.join(path)),
            ChartLocation::Archive(_) => None,
        }
    }
}

/// Where a resolved chart is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChartLocation {
    /// A directory `path` inside a checkout `root`.
    Tree {
        /// The checkout.
        root: PathBuf,
        /// The chart, relative to `root`.
        path: PathBuf,
    },
    /// A chart archive.
    Archive(PathBuf),
}

/// Settings of [`ChartSources`].
#[derive(Clone, Debug)]
pub(crate) struct ChartSourcesSettings {
    /// Ref used for git charts that name none.
    pub git_default_ref: String,
    /// Run `helm dependency update` for charts with dependencies.
    pub update_dependencies: bool,
    /// How long a resolved OCI chart version is reused.
    pub refresh: Duration,
    /// Directory for downloads and prepared charts.
    pub work_dir: PathBuf,
    /// What HelmReleases may point at.
    pub policy: AccessPolicy,
}

type DigestKey = (PathBuf, String, String);
/// OCI reference, version and namespace (credentials are per namespace).
type OciKey = (String, String, String);

/// Resolves chart references to charts on disk.
pub(crate) struct ChartSources {
    client: kube::Client,
    repositories: ChartRepositories,
    git: Option<Arc<dyn GitCharts>>,
    daemon: Option<Arc<dyn DaemonRepository>>,
    settings: ChartSourcesSettings,
    digests: Mutex<HashMap<DigestKey, String>>,
    oci: Mutex<HashMap<OciKey, (Instant, ResolvedChart)>>,
}

impl std::fmt::Debug for ChartSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartSources")
            .field("settings", &self.settings)
            .field("git", &self.git.is_some())
            .field("daemon", &self.daemon.is_some())
            .finish_non_exhaustive()
    }
}

impl ChartSources {
    /// Chart sources reading Secrets with `client`.
    pub(crate) fn new(
        client: kube::Client,
        repositories: ChartRepositories,
        git: Option<Arc<dyn GitCharts>>,
        daemon: Option<Arc<dyn DaemonRepository>>,
        settings: ChartSourcesSettings,
    ) -> Self {
        Self {
            client,
            repositories,
            git,
            daemon,
            settings,
            digests: Mutex::new(HashMap::new()),
            oci: Mutex::new(HashMap::new()),
        }
    }

    /// The chart of `release`, fetched or checked out, with its digest.
    /// Credentials read for it are added to `redactor`.
    pub(crate) async fn resolve(
        &self,
        release: &Release,
        helm: &Helm,
        redactor: &mut Redactor,
    ) -> Result<ResolvedChart, Error> {
        match &release.chart {
            ChartRef::Git(git) => self.resolve_git(release, git, redactor).await,
            ChartRef::DaemonRepository { path, .. } => {
                let Some(daemon) = &self.daemon else {
                    return Err(Error::Chart {
                        chart: path.clone(),
                        reason: "FluxHelmRelease charts come from the daemon's repository, and none was given to the operator".to_owned(),
                    });
                };
                let checkout = daemon.checkout().await?;
                self.tree(checkout, path).await
            }
            ChartRef::Repository(repo) if repo.url.starts_with("oci://") => {
                self.resolve_oci(release, repo, helm, redactor).await
            }
            ChartRef::Repository(repo) => {
                let credentials = self.pull_credentials(release, repo, redactor).await?;
                let fetched = self
                    .repositories
                    .fetch(&repo.url, &repo.name, &repo.version, credentials.as_ref())
                    .await?;
                Ok(ResolvedChart {
                    location: ChartLocation::Archive(fetched.archive),
                    revision: fetched.version,
                    digest: fetched.digest,
                })
            }
        }
    }

    async fn resolve_git(
        &self,
        release: &Release,
        git: &GitChart,
        redactor: &mut Redactor,
    ) -> Result<ResolvedChart, Error> {
        let git_ref = git
            .git_ref
            .clone()
            .unwrap_or_else(|| self.settings.git_default_ref.clone());
        let refused = |reason: String| Error::Git {
            url: crate::chartrepo::redact_url(&git.url),
            git_ref: git_ref.clone(),
            reason,
        };
        let Some(provider) = &self.git else {
            return Err(refused(
                "the operator was started without git chart support".to_owned(),
            ));
        };
        let parsed = gitsync::GitUrl::parse(&git.url).map_err(|e| refused(e.to_string()))?;
        if parsed.transport() == gitsync::Transport::Local && !self.settings.policy.allow_local_git
        {
            return Err(refused(
                "a path on the operator's machine (or a file:// URL) is not a chart source a HelmRelease may use: it could read any repository the operator can; start the operator with --git-allow-local to allow it".to_owned(),
            ));
        }
        let credentials = match &git.secret_ref {
            Some(secret) => Some(
                read_git_credentials(
                    &self.client,
                    secret.namespace.as_deref().unwrap_or(&release.namespace),
                    &secret.name,
                    redactor,
                )
                .await?,
            ),
            None => None,
        };
        let checkout = provider
            .checkout(&git.url, &git_ref, credentials.as_ref())
            .await?;
        self.tree(checkout, &git.path).await
    }

    async fn tree(&self, checkout: ChartCheckout, path: &str) -> Result<ResolvedChart, Error> {
        let key = (
            checkout.root.clone(),
            checkout.revision.clone(),
            path.to_owned(),
        );
        if let Some(digest) = self.digests.lock().await.get(&key) {
            return Ok(ResolvedChart {
                location: ChartLocation::Tree {
                    root: checkout.root,
                    path: PathBuf::from(path),
                },
                revision: checkout.revision,
                digest: digest.clone(),
            });
        }
        let root = checkout.root.clone();
        let chart_path = PathBuf::from(path);
        let digest = tokio::task::spawn_blocking(move || chart_dir_digest(&root, &chart_path))
            .await
            .map_err(|e| Error::Chart {
                chart: path.to_owned(),
                reason: format!("hashing was interrupted: {e}"),
            })?
            .map_err(|e| match e {
                Error::Chart { chart, reason } => Error::Chart {
                    chart: format!("{chart} at revision {}", checkout.revision),
                    reason,
                },
                other => other,
            })?;
        let mut digests = self.digests.lock().await;
        if digests.len() > 4096 {
            digests.clear();
        }
        digests.insert(key, digest.clone());
        Ok(ResolvedChart {
            location: ChartLocation::Tree {
                root: checkout.root,
                path: PathBuf::from(path),
            },
            revision: checkout.revision,
            digest,
        })
    }

    async fn resolve_oci(
        &self,
        release: &Release,
        repo: &RepoChart,
        helm: &Helm,
        redactor: &mut Redactor,
    ) -> Result<ResolvedChart, Error> {
        let reference = format!("{}/{}", repo.url.trim_end_matches('/'), repo.name);
        let host = reference
            .trim_start_matches("oci://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let (hostname, port) = split_host_port(&host);
        self.settings
            .policy
            .check_host(hostname, port)
            .await
            .map_err(|reason| Error::Chart {
                chart: format!("{reference} {}", repo.version),
                reason,
            })?;
        let plain_http = self.settings.policy.oci_plain_http(&host);
        let key = (
            reference.clone(),
            repo.version.clone(),
            release.namespace.clone(),
        );
        let cached = self.oci.lock().await.get(&key).cloned();
        if let Some((at, chart)) = cached
            && at.elapsed() < self.settings.refresh
            && let ChartLocation::Archive(path) = &chart.location
            && archive_matches(path, &chart.digest).await
        {
            return Ok(chart);
        }
        let credentials = self.pull_credentials(release, repo, redactor).await?;
        let scratch = tempfile::tempdir_in(&self.settings.work_dir).map_err(|e| {
            Error::io(
                format!(
                    "creating a directory in {}",
                    self.settings.work_dir.display()
                ),
                e,
            )
        })?;
        let registry_config = match &credentials {
            Some(credentials) => {
                let config = scratch.path().join("registry.json");
                helm.registry_login(
                    &host,
                    &credentials.username,
                    &credentials.password,
                    &config,
                    plain_http,
                )
                .await?;
                Some(config)
            }
            None => None,
        };
        let pulled = helm
            .pull_oci(
                &reference,
                &repo.version,
                scratch.path(),
                registry_config.as_deref(),
                plain_http,
            )
            .await
            .map_err(|e| Error::Chart {
                chart: format!("{reference} {}", repo.version),
                reason: e.to_string(),
            })?;
        let bytes = tokio::fs::read(&pulled)
            .await
            .map_err(|e| Error::io(format!("reading {}", pulled.display()), e))?;
        let digest = sha256_hex(&bytes);
        let dir = self.settings.work_dir.join("oci");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let archive = dir.join(format!("{digest}.tgz"));
        tokio::fs::write(&archive, &bytes)
            .await
            .map_err(|e| Error::io(format!("writing {}", archive.display()), e))?;
        let version = pulled
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.strip_prefix(&format!("{}-", repo.name)))
            .unwrap_or(&repo.version)
            .to_owned();
        let chart = ResolvedChart {
            location: ChartLocation::Archive(archive),
            revision: version,
            digest,
        };
        self.oci
            .lock()
            .await
            .insert(key, (Instant::now(), chart.clone()));
        Ok(chart)
    }

    async fn pull_credentials(
        &self,
        release: &Release,
        repo: &RepoChart,
        redactor: &mut Redactor,
    ) -> Result<Option<RepoCredentials>, Error> {
        match &repo.pull_secret {
            Some(name) => {
                let origin = format!("chartPullSecret Secret {}/{name}", release.namespace);
                let data = read_secret(&self.client, &release.namespace, name, &origin).await?;
                let credentials = basic_credentials(&data, &origin)?;
                redactor.add(&credentials.password);
                Ok(Some(credentials))
            }
            None => Ok(None),
        }
    }

    /// A directory or archive helm can install: tree charts are copied (with
    /// their `file://` dependencies) under `scratch` and their dependencies
    /// updated unless the release or the settings skip it.
    pub(crate) async fn prepare(
        &self,
        chart: &ResolvedChart,
        release: &Release,
        helm: &Helm,
        scratch: &Path,
    ) -> Result<PathBuf, Error> {
        let (root, path) = match &chart.location {
            ChartLocation::Archive(archive) => return Ok(archive.clone()),
            ChartLocation::Tree { root, path } => (root.clone(), path.clone()),
        };
        let target = scratch.to_path_buf();
        let (root_c, path_c) = (root.clone(), path.clone());
        tokio::task::spawn_blocking(move || -> Result<(), Error> {
            for dir in chart_closure(&root_c, &path_c)? {
                copy_tree(&root_c.join(&dir), &target.join(&dir))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::Chart {
            chart: path.display().to_string(),
            reason: format!("copying was interrupted: {e}"),
        })??;
        let chart_dir = scratch.join(&path);
        if self.settings.update_dependencies
            && !release.chart.skip_dep_update()
            && has_dependencies(&chart_dir)
        {
            helm.dependency_update(&chart_dir)
                .await
                .map_err(|e| Error::Chart {
                    chart: path.display().to_string(),
                    reason: format!("building its dependencies failed: {e}"),
                })?;
        }
        Ok(chart_dir)
    }
}

/// The data of a Secret; an error naming `origin` when it cannot be read.
async fn read_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    origin: &str,
) -> Result<std::collections::BTreeMap<String, k8s_openapi::ByteString>, Error> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| Error::ValuesSource {
            source_ref: origin.to_owned(),
            reason: format!("cannot read it: {}", api_error::describe(&e)),
        })?
        .ok_or_else(|| Error::ValuesSource {
            source_ref: origin.to_owned(),
            reason: "the Secret does not exist".to_owned(),
        })?;
    Ok(secret.data.unwrap_or_default())
}

fn text_key(
    data: &std::collections::BTreeMap<String, k8s_openapi::ByteString>,
    key: &str,
) -> Option<String> {
    data.get(key)
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
}

/// `username` and `password` of a Secret's data.
fn basic_credentials(
    data: &std::collections::BTreeMap<String, k8s_openapi::ByteString>,
    origin: &str,
) -> Result<RepoCredentials, Error> {
    match (text_key(data, "username"), text_key(data, "password")) {
        (Some(username), Some(password)) => Ok(RepoCredentials { username, password }),
        _ => Err(Error::ValuesSource {
            source_ref: origin.to_owned(),
            reason: "the Secret needs text keys \"username\" and \"password\"".to_owned(),
        }),
    }
}

/// `chart.secretRef`: `username` and `password` for https remotes, or
/// `identity` (an ssh private key) for ssh remotes.
async fn read_git_credentials(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    redactor: &mut Redactor,
) -> Result<GitCredentials, Error> {
    let origin = format!("chart.secretRef Secret {namespace}/{name}");
    let data = read_secret(client, namespace, name, &origin).await?;
    if let Some(key) = text_key(&data, "identity") {
        redactor.add(&key);
        return Ok(GitCredentials::SshKey(key));
    }
    match basic_credentials(&data, &origin) {
        Ok(basic) => {
            redactor.add(&basic.password);
            Ok(GitCredentials::Basic(basic))
        }
        Err(_) => Err(Error::ValuesSource {
            source_ref: origin,
            reason: "the Secret needs text keys \"username\" and \"password\" (https), or \"identity\" holding an ssh private key".to_owned(),
        }),
    }
}

/// Whether the archive at `path` (not a symlink) still has sha256 `digest`.
async fn archive_matches(path: &Path, digest: &str) -> bool {
    match tokio::fs::symlink_metadata(path).await {
        Ok(meta) if meta.is_file() => match tokio::fs::read(path).await {
            Ok(bytes) => sha256_hex(&bytes) == digest,
            Err(_) => false,
        },
        _ => false,
    }
}

/// `host:port` (port 443 when absent); IPv6 literals keep their brackets off.
fn split_host_port(host: &str) -> (&str, u16) {
    if let Some(rest) = host.strip_prefix('[')
        && let Some((ip, after)) = rest.split_once(']')
    {
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(443);
        return (ip, port);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            (name, port.parse().unwrap_or(443))
        }
        _ => (host, 443),
    }
}

/// Copies a directory tree (regular files and directories; `.git` and
/// symlinks skipped).
fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| Error::io(format!("listing {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", from.display()), e))?;
        if entry.file_name() == ".git" {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(format!("inspecting {}", entry.path().display()), e))?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dest)
                .map_err(|e| Error::io(format!("copying {}", entry.path().display()), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn synced_checkout_serves_the_latest_sync() {
        let handle = SyncedCheckout::new();
        let err = handle.checkout().await.unwrap_err().to_string();
        assert!(err.contains("not synced"), "{err}");
        let checkout = ChartCheckout {
            root: PathBuf::from("/var/lib/fluxd/checkouts/abc"),
            revision: "abc".to_owned(),
        };
        handle.clone().set(checkout.clone());
        assert_eq!(handle.checkout().await.unwrap(), checkout);
    }

    #[test]
    fn copies_skip_git_metadata() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join(".git")).unwrap();
        std::fs::write(from.path().join(".git/HEAD"), "ref").unwrap();
        std::fs::create_dir_all(from.path().join("templates")).unwrap();
        std::fs::write(from.path().join("templates/a.yaml"), "a").unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_tree(from.path(), &to.path().join("chart")).unwrap();
        assert!(to.path().join("chart/templates/a.yaml").is_file());
        assert!(!to.path().join("chart/.git").exists());
    }
}
