//! The daemon's configuration: the flags checked and resolved.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use gitsync::{GitUrl, Identity, KeyType, KnownHosts, Remote, SshKey, Transport, VerifyMode};

use crate::cli::compat;
use crate::{Error, Flags, SyncState, VerifySignaturesMode};

/// How often fluxd fetches and syncs by default (`--git-poll-interval`,
/// `--sync-interval`).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// Where known_hosts is looked for when `--git-known-hosts` is not given.
const DEFAULT_KNOWN_HOSTS: &str = "/etc/ssh/ssh_known_hosts";

/// What the process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Poll and sync until stopped.
    Daemon,
    /// One sync, then exit (`--once`).
    Once,
    /// One plan, changing nothing, then exit (`--dry-run`).
    DryRun,
}

/// What garbage collection does with objects that left git.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcMode {
    /// Leave them (the default).
    Off,
    /// Only log them (`--sync-garbage-collection-dry`).
    DryRun,
    /// Delete them (`--sync-garbage-collection`).
    On,
}

/// Where the sync marker lives, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarkerConfig {
    /// An annotated tag in the repository.
    GitTag {
        /// The tag's name.
        tag: String,
        /// Who tags.
        tagger: Identity,
    },
    /// An annotation on Secret `secret_name` in the daemon's namespace.
    Secret {
        /// The Secret's name.
        secret_name: String,
    },
}

/// How commits and tags are signed (`--git-signing-key`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningKey {
    /// A GPG key of gpg's keyring.
    Gpg(String),
    /// The ssh private key in this file (`ssh:FILE`).
    SshFile(PathBuf),
}

/// Where and how the HTTP API is served (`--listen`, `--listen-metrics`,
/// `--api-token-file`). The default is fluxd's: every address, port 3030,
/// /metrics beside the API, no token.
#[derive(Clone)]
#[non_exhaustive]
pub struct ApiConfig {
    /// The API's address (with /metrics unless `metrics` is set).
    pub listen: std::net::SocketAddr,
    /// /metrics alone on another address.
    pub metrics: Option<std::net::SocketAddr>,
    /// The token every route but the probes wants; `None`: open, as Flux v1.
    pub token: Option<String>,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("listen", &self.listen)
            .field("metrics", &self.metrics)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self::new(std::net::SocketAddr::from(([0, 0, 0, 0], DEFAULT_API_PORT)))
    }
}

/// The port of the HTTP API by default (`--listen :3030`).
const DEFAULT_API_PORT: u16 = 3030;

impl ApiConfig {
    /// The API on `listen`, with /metrics beside it and no token.
    pub fn new(listen: std::net::SocketAddr) -> Self {
        Self {
            listen,
            metrics: None,
            token: None,
        }
    }

    /// Sets [`listen`](Self::listen).
    #[must_use]
    pub fn with_listen(mut self, listen: std::net::SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// Sets [`metrics`](Self::metrics).
    #[must_use]
    pub fn with_metrics(mut self, metrics: impl Into<Option<std::net::SocketAddr>>) -> Self {
        self.metrics = metrics.into();
        self
    }

    /// Sets [`token`](Self::token).
    #[must_use]
    pub fn with_token(mut self, token: impl Into<Option<String>>) -> Self {
        self.token = token.into();
        self
    }

    /// From the flags: addresses as Go writes them, the token read from its
    /// file (trimmed; an empty or unreadable file is an error).
    pub fn from_flags(flags: &Flags) -> Result<Self, Error> {
        let listen = crate::cli::helm_operator::parse_listen(&flags.listen)?;
        let metrics = if flags.listen_metrics.is_empty() {
            None
        } else {
            Some(
                crate::cli::helm_operator::parse_listen(&flags.listen_metrics).map_err(
                    |e| match e {
                        Error::Flag { reason, .. } => Error::flag("--listen-metrics", reason),
                        other => other,
                    },
                )?,
            )
        };
        let token = match &flags.api_token_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::flag("--api-token-file", format!("{}: {e}", path.display()))
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(Error::flag(
                        "--api-token-file",
                        format!("{} is empty", path.display()),
                    ));
                }
                Some(token.to_owned())
            }
        };
        Ok(Self {
            listen,
            metrics,
            token,
        })
    }
}

/// How fluxd writes to git. The default is fluxd's without write flags:
/// commits by `Weave Flux <support@weave.works>`, notes in
/// `refs/notes/flux`, nothing signed or verified.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GitWriteConfig {
    /// `--git-readonly`: no write check, no commits, no tag.
    pub readonly: bool,
    /// The committer (`--git-user`, `--git-email`).
    pub committer: Identity,
    /// `--git-set-author`: the job's user is the author.
    pub set_author: bool,
    /// Appended to every commit message (`--git-ci-skip`, `--git-ci-skip-message`).
    pub message_suffix: String,
    /// The notes ref (`refs/notes/flux`).
    pub notes_ref: String,
    /// Who signs commits and the sync tag.
    pub signing_key: Option<SigningKey>,
    /// GPG keys to import at start.
    pub gpg_key_import: Vec<PathBuf>,
    /// Which commits must be signed to be applied.
    pub verify_mode: VerifyMode,
    /// ssh keys allowed to sign, when verifying ssh signatures.
    pub ssh_allowed_signers: Option<PathBuf>,
}

impl Default for GitWriteConfig {
    fn default() -> Self {
        Self {
            readonly: false,
            committer: flux_identity(),
            set_author: false,
            message_suffix: String::new(),
            notes_ref: DEFAULT_NOTES_REF.to_owned(),
            signing_key: None,
            gpg_key_import: Vec::new(),
            verify_mode: VerifyMode::None,
            ssh_allowed_signers: None,
        }
    }
}

impl GitWriteConfig {
    /// Sets [`readonly`](Self::readonly).
    #[must_use]
    pub fn with_readonly(mut self, readonly: bool) -> Self {
        self.readonly = readonly;
        self
    }

    /// Sets [`committer`](Self::committer).
    #[must_use]
    pub fn with_committer(mut self, committer: Identity) -> Self {
        self.committer = committer;
        self
    }

    /// Sets [`set_author`](Self::set_author).
    #[must_use]
    pub fn with_set_author(mut self, set_author: bool) -> Self {
        self.set_author = set_author;
        self
    }

    /// Sets [`message_suffix`](Self::message_suffix).
    #[must_use]
    pub fn with_message_suffix(mut self, message_suffix: impl Into<String>) -> Self {
        self.message_suffix = message_suffix.into();
        self
    }

    /// Sets [`notes_ref`](Self::notes_ref).
    #[must_use]
    pub fn with_notes_ref(mut self, notes_ref: impl Into<String>) -> Self {
        self.notes_ref = notes_ref.into();
        self
    }

    /// Sets [`signing_key`](Self::signing_key).
    #[must_use]
    pub fn with_signing_key(mut self, signing_key: impl Into<Option<SigningKey>>) -> Self {
        self.signing_key = signing_key.into();
        self
    }

    /// Sets [`gpg_key_import`](Self::gpg_key_import).
    #[must_use]
    pub fn with_gpg_key_import(
        mut self,
        gpg_key_import: impl IntoIterator<Item = impl Into<PathBuf>>,
    ) -> Self {
        self.gpg_key_import = gpg_key_import.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`verify_mode`](Self::verify_mode).
    #[must_use]
    pub fn with_verify_mode(mut self, verify_mode: VerifyMode) -> Self {
        self.verify_mode = verify_mode;
        self
    }

    /// Sets [`ssh_allowed_signers`](Self::ssh_allowed_signers).
    #[must_use]
    pub fn with_ssh_allowed_signers(
        mut self,
        ssh_allowed_signers: impl Into<Option<PathBuf>>,
    ) -> Self {
        self.ssh_allowed_signers = ssh_allowed_signers.into();
        self
    }
}

/// Where fluxd keeps its git notes by default (`--git-notes-ref flux`).
const DEFAULT_NOTES_REF: &str = "refs/notes/flux";
/// The name of the deploy-key Secret by default (`--k8s-secret-name`).
const DEFAULT_SECRET_NAME: &str = "flux-git-deploy";

/// Flux's committer and tagger by default (`--git-user`, `--git-email`).
fn flux_identity() -> Identity {
    Identity::new("Weave Flux", "support@weave.works")
}

/// Where the deploy key comes from. The default: no key file, the Secret
/// `flux-git-deploy`, an ed25519 key generated when it holds none.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeployKeyConfig {
    /// The key file given or mounted (`--git-ssh-key`, or the mounted Secret).
    pub file: Option<PathBuf>,
    /// The Secret to read a key from, or to generate one into, when no file is given.
    pub secret_name: String,
    /// What to generate.
    pub key_type: KeyType,
    /// `--ssh-keygen-dir`.
    pub keygen_dir: Option<PathBuf>,
}

impl Default for DeployKeyConfig {
    fn default() -> Self {
        Self {
            file: None,
            secret_name: DEFAULT_SECRET_NAME.to_owned(),
            key_type: KeyType::Ed25519,
            keygen_dir: None,
        }
    }
}

impl DeployKeyConfig {
    /// Sets [`file`](Self::file).
    #[must_use]
    pub fn with_file(mut self, file: impl Into<Option<PathBuf>>) -> Self {
        self.file = file.into();
        self
    }

    /// Sets [`secret_name`](Self::secret_name).
    #[must_use]
    pub fn with_secret_name(mut self, secret_name: impl Into<String>) -> Self {
        self.secret_name = secret_name.into();
        self
    }

    /// Sets [`key_type`](Self::key_type).
    #[must_use]
    pub fn with_key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = key_type;
        self
    }

    /// Sets [`keygen_dir`](Self::keygen_dir).
    #[must_use]
    pub fn with_keygen_dir(mut self, keygen_dir: impl Into<Option<PathBuf>>) -> Self {
        self.keygen_dir = keygen_dir.into();
        self
    }
}

/// The daemon's configuration.
///
/// The `fluxd` binary builds it from its command line with
/// [`Config::from_flags`], which checks every flag. An embedder builds it in
/// code: [`Config::new`] takes the repository and gives fluxd's defaults for
/// everything else (the same as the flags' defaults), and the `with_*`
/// setters change what differs. New settings come with defaults, so code
/// written this way keeps compiling as the daemon grows.
///
/// ```
/// use std::time::Duration;
/// use gitsync::{GitUrl, Remote};
///
/// let remote = Remote::new(GitUrl::parse("file:///srv/config")?);
/// let config = fluxd::Config::new(remote)
///     .with_branch("main".to_owned())
///     .with_paths(["clusters/prod"])
///     .with_sync_interval(Duration::from_secs(60))
///     .with_mode(fluxd::Mode::Once);
/// assert_eq!(config.poll_interval, Duration::from_secs(300));
/// # Ok::<(), gitsync::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The repository, with its credentials, keys, known hosts and timeout.
    pub remote: Remote,
    /// The branch; `None` follows the remote's default branch.
    pub branch: Option<String>,
    /// Paths in the repository to load, as given (empty: the whole tree).
    pub paths: Vec<String>,
    /// How often to fetch.
    pub poll_interval: Duration,
    /// How often to re-apply without a new commit.
    pub sync_interval: Duration,
    /// Where the sync marker lives.
    pub marker: MarkerConfig,
    /// `--k8s-namespace`: the daemon's namespace outside a cluster.
    pub namespace: Option<String>,
    /// Namespaces the daemon is restricted to (empty: all).
    pub allowed_namespaces: Vec<String>,
    /// Whether cluster-scoped kinds are applied when restricted to namespaces.
    pub allow_cluster_scoped: bool,
    /// `--k8s-default-namespace`.
    pub default_namespace: Option<String>,
    /// Garbage collection.
    pub gc: GcMode,
    /// `--k8s-unsafe-exclude-resource`: kinds garbage collection never lists.
    pub exclude_resources: Vec<String>,
    /// Daemon, once or dry run.
    pub mode: Mode,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// Where the mirror and checkouts live; `None`: a temporary directory.
    pub mirror_dir: Option<PathBuf>,
    /// The Helm operator to run beside the daemon (`--helm-operator`).
    pub helm_operator: Option<crate::helm_operator::HelmOperatorConfig>,
    /// Timeout of each network operation on the repository (`--git-timeout`).
    pub git_timeout: Duration,
    /// `--git-allow-history-rewrite`: follow a branch whose history was
    /// rewritten behind the sync marker instead of refusing it.
    pub allow_history_rewrite: bool,
    /// The deploy key (ssh URLs only).
    pub deploy_key: DeployKeyConfig,
    /// Commits, notes, signatures.
    pub git_write: GitWriteConfig,
    /// Registry scanning and image automation.
    pub automation: crate::automation::AutomationConfig,
    /// `--daemon-state-dir`: the job queue and the digest cache; `None`: `state`
    /// under the working directory.
    pub state_dir: Option<PathBuf>,
    /// The HTTP API.
    pub api: ApiConfig,
}

impl Config {
    /// The configuration of a daemon syncing `remote` (its URL, credentials,
    /// known hosts and timeout), with fluxd's defaults for the rest: the
    /// remote's default branch, the whole tree, fetches and syncs every 5
    /// minutes, the `flux-sync` tag as sync marker, every namespace, no
    /// garbage collection, the API on port 3030, image automation with the
    /// registry flags' defaults.
    ///
    /// The deploy key: a key file set on `remote` ([`gitsync::SshKey::File`])
    /// is used and shown as it is; otherwise, for an ssh URL, the key of the
    /// deploy-key Secret ([`DeployKeyConfig`]) is used, generated when the
    /// Secret holds none.
    pub fn new(remote: Remote) -> Self {
        let key_file = match remote.ssh_key_handle().get() {
            Some(SshKey::File { path, .. }) => Some(path),
            _ => None,
        };
        Self {
            branch: None,
            paths: Vec::new(),
            poll_interval: DEFAULT_INTERVAL,
            sync_interval: DEFAULT_INTERVAL,
            marker: MarkerConfig::GitTag {
                tag: gitsync::DEFAULT_SYNC_TAG.to_owned(),
                tagger: flux_identity(),
            },
            namespace: None,
            allowed_namespaces: Vec::new(),
            allow_cluster_scoped: false,
            default_namespace: None,
            gc: GcMode::Off,
            allow_history_rewrite: false,
            exclude_resources: manifests::cluster::DEFAULT_EXCLUDED_KINDS
                .map(str::to_owned)
                .to_vec(),
            mode: Mode::Daemon,
            kubeconfig: None,
            mirror_dir: None,
            helm_operator: None,
            git_timeout: remote.timeout(),
            deploy_key: DeployKeyConfig::default().with_file(key_file),
            git_write: GitWriteConfig::default(),
            automation: crate::automation::AutomationConfig::default(),
            state_dir: None,
            api: ApiConfig::default(),
            remote,
        }
    }

    /// Sets [`branch`](Self::branch).
    #[must_use]
    pub fn with_branch(mut self, branch: impl Into<Option<String>>) -> Self {
        self.branch = branch.into();
        self
    }

    /// Sets [`allow_history_rewrite`](Self::allow_history_rewrite).
    #[must_use]
    pub fn with_allow_history_rewrite(mut self, allow: bool) -> Self {
        self.allow_history_rewrite = allow;
        self
    }

    /// Sets [`paths`](Self::paths).
    #[must_use]
    pub fn with_paths(mut self, paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`poll_interval`](Self::poll_interval).
    #[must_use]
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets [`sync_interval`](Self::sync_interval).
    #[must_use]
    pub fn with_sync_interval(mut self, sync_interval: Duration) -> Self {
        self.sync_interval = sync_interval;
        self
    }

    /// Sets [`marker`](Self::marker).
    #[must_use]
    pub fn with_marker(mut self, marker: MarkerConfig) -> Self {
        self.marker = marker;
        self
    }

    /// Sets [`namespace`](Self::namespace).
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<Option<String>>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets [`allowed_namespaces`](Self::allowed_namespaces).
    #[must_use]
    pub fn with_allowed_namespaces(
        mut self,
        allowed_namespaces: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.allowed_namespaces = allowed_namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`allow_cluster_scoped`](Self::allow_cluster_scoped).
    #[must_use]
    pub fn with_allow_cluster_scoped(mut self, allow_cluster_scoped: bool) -> Self {
        self.allow_cluster_scoped = allow_cluster_scoped;
        self
    }

    /// Sets [`default_namespace`](Self::default_namespace).
    #[must_use]
    pub fn with_default_namespace(mut self, default_namespace: impl Into<Option<String>>) -> Self {
        self.default_namespace = default_namespace.into();
        self
    }

    /// Sets [`gc`](Self::gc).
    #[must_use]
    pub fn with_gc(mut self, gc: GcMode) -> Self {
        self.gc = gc;
        self
    }

    /// Sets [`exclude_resources`](Self::exclude_resources).
    #[must_use]
    pub fn with_exclude_resources(
        mut self,
        exclude_resources: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.exclude_resources = exclude_resources.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`mode`](Self::mode).
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets [`kubeconfig`](Self::kubeconfig).
    #[must_use]
    pub fn with_kubeconfig(mut self, kubeconfig: impl Into<Option<PathBuf>>) -> Self {
        self.kubeconfig = kubeconfig.into();
        self
    }

    /// Sets [`mirror_dir`](Self::mirror_dir).
    #[must_use]
    pub fn with_mirror_dir(mut self, mirror_dir: impl Into<Option<PathBuf>>) -> Self {
        self.mirror_dir = mirror_dir.into();
        self
    }

    /// Sets [`helm_operator`](Self::helm_operator).
    #[must_use]
    pub fn with_helm_operator(
        mut self,
        helm_operator: impl Into<Option<crate::helm_operator::HelmOperatorConfig>>,
    ) -> Self {
        self.helm_operator = helm_operator.into();
        self
    }

    /// Sets [`git_timeout`](Self::git_timeout).
    #[must_use]
    pub fn with_git_timeout(mut self, git_timeout: Duration) -> Self {
        self.git_timeout = git_timeout;
        self
    }

    /// Sets [`deploy_key`](Self::deploy_key).
    #[must_use]
    pub fn with_deploy_key(mut self, deploy_key: DeployKeyConfig) -> Self {
        self.deploy_key = deploy_key;
        self
    }

    /// Sets [`git_write`](Self::git_write).
    #[must_use]
    pub fn with_git_write(mut self, git_write: GitWriteConfig) -> Self {
        self.git_write = git_write;
        self
    }

    /// Sets [`automation`](Self::automation).
    #[must_use]
    pub fn with_automation(mut self, automation: crate::automation::AutomationConfig) -> Self {
        self.automation = automation;
        self
    }

    /// Sets [`state_dir`](Self::state_dir).
    #[must_use]
    pub fn with_state_dir(mut self, state_dir: impl Into<Option<PathBuf>>) -> Self {
        self.state_dir = state_dir.into();
        self
    }

    /// Sets [`api`](Self::api).
    #[must_use]
    pub fn with_api(mut self, api: ApiConfig) -> Self {
        self.api = api;
        self
    }

    /// Checks the flags and resolves their defaults. Errors name the flag.
    pub fn from_flags(flags: &Flags) -> Result<Self, Error> {
        compat::check(flags)?;
        let git_url = flags
            .git_url
            .as_deref()
            .ok_or_else(|| Error::flag("--git-url", "required (the repository to sync)"))?;
        let url = GitUrl::parse(git_url).map_err(|e| Error::flag("--git-url", e.to_string()))?;
        let is_ssh = url.transport() == Transport::Ssh;
        let mut remote = Remote::new(url).with_timeout(flags.git_timeout);
        let key_file = deploy_key(
            flags.git_ssh_key.as_deref(),
            &flags.k8s_secret_volume_mount_path,
            &flags.k8s_secret_data_key,
        )?;
        if let Some(key) = &key_file {
            remote = remote.with_ssh_key(SshKey::file(key));
        }
        let deploy_key = DeployKeyConfig {
            file: key_file.filter(|_| is_ssh),
            secret_name: flags.k8s_secret_name.clone(),
            key_type: KeyType::parse(&flags.ssh_keygen_type, flags.ssh_keygen_bits)
                .map_err(|e| Error::flag("--ssh-keygen-type", e.to_string()))?,
            keygen_dir: flags.ssh_keygen_dir.clone(),
        };
        if let Some(format) = &flags.ssh_keygen_format
            && !format.eq_ignore_ascii_case("RFC4716")
        {
            tracing::warn!(
                format = %format,
                "--ssh-keygen-format: fluxd writes generated keys in OpenSSH's own format (RFC4716)"
            );
        }
        let git_write = git_write(flags)?;
        if let Some(known_hosts) = known_hosts(flags.git_known_hosts.as_deref())? {
            remote = remote.with_known_hosts(known_hosts);
        }

        if let Some(branch) = &flags.git_branch {
            check_branch(branch)?;
        }
        let paths = git_paths(&flags.git_paths)?;

        // An empty value is an empty list, as Flux's flags read it.
        let allowed_namespaces = non_empty(&flags.k8s_allow_namespaces);
        for namespace in &allowed_namespaces {
            check_namespace("--k8s-allow-namespace", namespace)?;
        }
        if let Some(namespace) = &flags.k8s_namespace {
            check_namespace("--k8s-namespace", namespace)?;
        }
        if let Some(namespace) = &flags.k8s_default_namespace {
            check_namespace("--k8s-default-namespace", namespace)?;
        }
        check_object_name("--k8s-secret-name", &flags.k8s_secret_name)?;

        let state = match (flags.sync_state, flags.git_readonly) {
            (Some(SyncState::Git), true) => {
                tracing::warn!(
                    "--git-readonly prevents --sync-state git: keeping the sync marker in the Secret"
                );
                SyncState::Secret
            }
            (Some(state), _) => state,
            (None, true) => SyncState::Secret,
            (None, false) => SyncState::Git,
        };
        let marker = match state {
            SyncState::Secret => MarkerConfig::Secret {
                secret_name: flags.k8s_secret_name.clone(),
            },
            _ => {
                let (flag, tag) = match &flags.git_label {
                    Some(label) => ("--git-label", label),
                    None => ("--git-sync-tag", &flags.git_sync_tag),
                };
                check_tag(flag, tag)?;
                MarkerConfig::GitTag {
                    tag: tag.clone(),
                    tagger: Identity::new(flags.git_user.clone(), flags.git_email.clone()),
                }
            }
        };

        let gc = if flags.sync_garbage_collection_dry {
            GcMode::DryRun
        } else if flags.sync_garbage_collection {
            GcMode::On
        } else {
            GcMode::Off
        };
        let mode = if flags.dry_run {
            Mode::DryRun
        } else if flags.once {
            Mode::Once
        } else {
            Mode::Daemon
        };
        Ok(Self {
            remote,
            branch: flags.git_branch.clone(),
            paths,
            poll_interval: flags.git_poll_interval,
            sync_interval: flags.sync_interval,
            marker,
            namespace: flags.k8s_namespace.clone(),
            allowed_namespaces: dedup(&allowed_namespaces),
            allow_cluster_scoped: flags.k8s_allow_cluster_scoped,
            default_namespace: flags.k8s_default_namespace.clone(),
            gc,
            exclude_resources: non_empty(&flags.k8s_unsafe_exclude_resources),
            mode,
            kubeconfig: flags.kubeconfig.clone(),
            mirror_dir: flags.git_mirror_dir.clone(),
            // The Helm operator beside the daemon (`--helm-operator`).
            helm_operator: if flags.helm_operator {
                Some(crate::helm_operator::HelmOperatorConfig::embedded(flags)?)
            } else {
                None
            },
            git_timeout: flags.git_timeout,
            allow_history_rewrite: flags.git_allow_history_rewrite,
            deploy_key,
            git_write,
            automation: automation(flags)?,
            state_dir: flags.daemon_state_dir.clone(),
            api: ApiConfig::from_flags(flags)?,
        })
    }

    /// Checks what [`Config::from_flags`] checks of the flags, for a
    /// configuration built in code with [`Config::new`] and the `with_*`
    /// setters: the branch, the paths, the namespaces, the marker's tag or
    /// Secret name, the deploy-key Secret's name, the intervals. Each error
    /// names the flag the value stands for (`--git-path: "../x" is not a
    /// path inside the repository`). [`run`](crate::run) calls it before
    /// anything starts; an embedder may call it earlier.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(branch) = &self.branch {
            check_branch(branch)?;
        }
        git_paths(&self.paths)?;
        for namespace in &self.allowed_namespaces {
            check_namespace("--k8s-allow-namespace", namespace)?;
        }
        if let Some(namespace) = &self.namespace {
            check_namespace("--k8s-namespace", namespace)?;
        }
        if let Some(namespace) = &self.default_namespace {
            check_namespace("--k8s-default-namespace", namespace)?;
        }
        match &self.marker {
            MarkerConfig::GitTag { tag, .. } => check_tag("--git-sync-tag", tag)?,
            MarkerConfig::Secret { secret_name } => {
                check_object_name("--k8s-secret-name", secret_name)?;
            }
        }
        check_object_name("--k8s-secret-name", &self.deploy_key.secret_name)?;
        for (flag, interval) in [
            ("--git-poll-interval", self.poll_interval),
            ("--sync-interval", self.sync_interval),
            ("--git-timeout", self.git_timeout),
        ] {
            if interval.is_zero() {
                return Err(Error::flag(flag, "must be longer than zero"));
            }
        }
        Ok(())
    }

    /// The paths to load: those given, or `.` (the whole tree).
    pub fn load_paths(&self) -> Vec<String> {
        if self.paths.is_empty() {
            vec![".".to_owned()]
        } else {
            self.paths.clone()
        }
    }
}

/// The registry and automation flags. An exclude glob `*` (the chart's
/// `registry.excludeImage: "*"`) turns scanning off, as does
/// `--registry-disable-scanning`.
fn automation(flags: &Flags) -> Result<crate::automation::AutomationConfig, Error> {
    if !(flags.registry_rps > 0.0 && flags.registry_rps.is_finite()) {
        return Err(Error::flag("--registry-rps", "must be a number above zero"));
    }
    if flags.registry_burst == 0 {
        return Err(Error::flag("--registry-burst", "must be at least 1"));
    }
    let exclude = non_empty(&flags.registry_exclude_image);
    let include = non_empty(&flags.registry_include_image);
    for (flag, globs) in [
        ("--registry-exclude-image", &exclude),
        ("--registry-include-image", &include),
    ] {
        for glob in globs {
            globset::Glob::new(glob).map_err(|e| Error::flag(flag, format!("{glob:?}: {e}")))?;
        }
    }
    let disabled = flags.registry_disable_scanning || exclude.iter().any(|g| g == "*");
    let docker_config = match flags.docker_config.trim() {
        "" => None,
        path => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(Error::flag(
                    "--docker-config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            Some(path)
        }
    };
    Ok(crate::automation::AutomationConfig {
        interval: flags.effective_automation_interval(),
        disabled,
        rps: flags.registry_rps,
        burst: flags.registry_burst,
        insecure_hosts: non_empty(&flags.registry_insecure_host),
        include,
        exclude,
        use_labels: non_empty(&flags.registry_use_labels),
        docker_config,
    })
}

/// The write side of the flags.
fn git_write(flags: &Flags) -> Result<GitWriteConfig, Error> {
    let notes_ref = flags.git_label.as_deref().unwrap_or(&flags.git_notes_ref);
    let notes_flag = if flags.git_label.is_some() {
        "--git-label"
    } else {
        "--git-notes-ref"
    };
    let notes_ref = gitsync::Note::new(notes_ref, "")
        .map_err(|e| Error::flag(notes_flag, e.to_string()))?
        .refname;
    let signing_key = match flags.git_signing_key.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(key) => match key.strip_prefix("ssh:") {
            Some(path) if Path::new(path).is_file() => Some(SigningKey::SshFile(path.into())),
            Some(path) => {
                return Err(Error::flag(
                    "--git-signing-key",
                    format!("{path} is not a readable ssh private key file"),
                ));
            }
            None => Some(SigningKey::Gpg(key.to_owned())),
        },
    };
    let verify_mode = match (
        flags.git_verify_signatures_mode,
        flags.git_verify_signatures,
    ) {
        (Some(VerifySignaturesMode::All), _) | (None, true) => VerifyMode::All,
        (Some(VerifySignaturesMode::FirstParent), _) => VerifyMode::FirstParent,
        _ => VerifyMode::None,
    };
    if let Some(path) = &flags.git_ssh_allowed_signers
        && !path.is_file()
    {
        return Err(Error::flag(
            "--git-ssh-allowed-signers",
            format!("{} is not a readable file", path.display()),
        ));
    }
    let message_suffix = match (&flags.git_ci_skip_message, flags.git_ci_skip) {
        (Some(message), _) if !message.is_empty() => message.clone(),
        (_, true) => "\n\n[ci skip]".to_owned(),
        _ => String::new(),
    };
    Ok(GitWriteConfig {
        readonly: flags.git_readonly,
        committer: Identity::new(flags.git_user.clone(), flags.git_email.clone()),
        set_author: flags.git_set_author,
        message_suffix,
        notes_ref,
        signing_key,
        gpg_key_import: flags.git_gpg_key_import.clone(),
        verify_mode,
        ssh_allowed_signers: flags.git_ssh_allowed_signers.clone(),
    })
}

/// `--git-ssh-key` (which must exist), else the mounted deploy key
/// (`mount`/`data_key`) if there is one.
pub(crate) fn deploy_key(
    explicit: Option<&Path>,
    mount: &Path,
    data_key: &str,
) -> Result<Option<PathBuf>, Error> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(Some(path.to_owned()))
        } else {
            Err(Error::flag(
                "--git-ssh-key",
                format!("{} is not a readable file", path.display()),
            ))
        };
    }
    let key = data_key;
    if key.is_empty() || key.contains('/') || key == "." || key == ".." {
        return Err(Error::flag(
            "--k8s-secret-data-key",
            format!("{key:?} is not a file name"),
        ));
    }
    let mounted = mount.join(key);
    Ok(mounted.is_file().then_some(mounted))
}

/// `--git-known-hosts` (which must parse), else the system file and the
/// user's (`~/.ssh/known_hosts`, where Flux v1's chart mounts its
/// `ssh.known_hosts`), those that exist, as OpenSSH reads both.
pub(crate) fn known_hosts(flag: Option<&Path>) -> Result<Option<KnownHosts>, Error> {
    if let Some(path) = flag {
        return KnownHosts::from_file(path)
            .map(Some)
            .map_err(|e| Error::flag("--git-known-hosts", e.to_string()));
    }
    let home = std::env::home_dir().map(|home| home.join(".ssh").join("known_hosts"));
    Ok(default_known_hosts(
        Path::new(DEFAULT_KNOWN_HOSTS),
        home.as_deref(),
    ))
}

/// The known hosts of the files `system` and `user` that exist and parse;
/// one that does not parse is warned about and left out.
fn default_known_hosts(system: &Path, user: Option<&Path>) -> Option<KnownHosts> {
    let mut text = String::new();
    let mut origins = Vec::new();
    for path in std::iter::once(system).chain(user) {
        if !path.is_file() {
            continue;
        }
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|content| {
                KnownHosts::parse(&content, path)
                    .map(|_| content)
                    .map_err(|e| e.to_string())
            });
        match read {
            Ok(content) => {
                text.push_str(&content);
                text.push('\n');
                origins.push(path.display().to_string());
            }
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "ignoring a known_hosts file");
            }
        }
    }
    if origins.is_empty() {
        tracing::debug!(
            system = %system.display(),
            user = user.map(|path| path.display().to_string()),
            "no known_hosts file: ssh hosts will be refused"
        );
        return None;
    }
    let files = origins.join(" and ");
    match KnownHosts::parse(&text, Path::new(&files)) {
        Ok(known_hosts) => {
            tracing::debug!(%files, hosts = known_hosts.len(), "ssh known hosts");
            Some(known_hosts)
        }
        Err(error) => {
            tracing::warn!(%files, %error, "ignoring the known_hosts files");
            None
        }
    }
}

/// Checks that each path is relative and stays inside the repository. The
/// list is kept as given, but for empty entries (`--git-path=`, as Flux's
/// chart writes it, is no path at all): Flux hashed the paths, concatenated,
/// into the sync set's name, where an empty one adds nothing.
fn git_paths(given: &[String]) -> Result<Vec<String>, Error> {
    let given = non_empty(given);
    for path in &given {
        if path.trim().is_empty() {
            return Err(Error::flag("--git-path", "empty path"));
        }
        let as_path = Path::new(path);
        if as_path.is_absolute()
            || as_path
                .components()
                .any(|component| matches!(component, Component::ParentDir))
        {
            return Err(Error::flag(
                "--git-path",
                format!("{path:?} is not a path inside the repository"),
            ));
        }
    }
    Ok(given)
}

/// `values` without the empty ones.
fn non_empty(values: &[String]) -> Vec<String> {
    values
        .iter()
        .filter(|value| !value.is_empty())
        .cloned()
        .collect()
}

pub(crate) fn dedup(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

/// A branch name git would take as one, not as an option.
fn check_branch(branch: &str) -> Result<(), Error> {
    if branch.is_empty() || branch.starts_with('-') {
        return Err(Error::flag(
            "--git-branch",
            format!("invalid branch name {branch:?}"),
        ));
    }
    Ok(())
}

/// A tag name git would take as one, not as an option.
fn check_tag(flag: &'static str, tag: &str) -> Result<(), Error> {
    if tag.is_empty() || tag.starts_with('-') {
        return Err(Error::flag(flag, format!("invalid tag name {tag:?}")));
    }
    Ok(())
}

/// A namespace name is a DNS-1123 label.
pub(crate) fn check_namespace(flag: &'static str, name: &str) -> Result<(), Error> {
    if manifests::names::is_dns_label(name) {
        Ok(())
    } else {
        Err(Error::flag(
            flag,
            format!(
                "{name:?} is not a namespace name (lower-case letters, digits and '-', at most 63)"
            ),
        ))
    }
}

/// An object name is a DNS-1123 subdomain.
fn check_object_name(flag: &'static str, name: &str) -> Result<(), Error> {
    if manifests::names::is_dns_subdomain(name) {
        Ok(())
    } else {
        Err(Error::flag(
            flag,
            format!("{name:?} is not a valid object name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote() -> Remote {
        Remote::new(GitUrl::parse("/srv/repo").unwrap())
    }

    /// What `Config::new` and its setters build passes the checks the flags
    /// get, and each bad value is refused naming the flag it stands for.
    #[test]
    fn validate_checks_a_configuration_built_in_code() {
        assert!(Config::new(remote()).validate().is_ok());
        let from_flags = config(&["--git-path=deploy", "--k8s-allow-namespace=demo"]).unwrap();
        assert!(from_flags.validate().is_ok());
        let refused = [
            (Config::new(remote()).with_paths(["../up"]), "--git-path"),
            (Config::new(remote()).with_paths(["/abs"]), "--git-path"),
            (
                Config::new(remote()).with_branch(Some("-x".to_owned())),
                "--git-branch",
            ),
            (
                Config::new(remote()).with_allowed_namespaces(["Not_A_Label"]),
                "--k8s-allow-namespace",
            ),
            (
                Config::new(remote()).with_namespace(Some("x".repeat(64))),
                "--k8s-namespace",
            ),
            (
                Config::new(remote()).with_default_namespace(Some(String::new())),
                "--k8s-default-namespace",
            ),
            (
                Config::new(remote()).with_marker(MarkerConfig::GitTag {
                    tag: "--force".to_owned(),
                    tagger: flux_identity(),
                }),
                "--git-sync-tag",
            ),
            (
                Config::new(remote()).with_marker(MarkerConfig::Secret {
                    secret_name: "No Spaces".to_owned(),
                }),
                "--k8s-secret-name",
            ),
            (
                Config::new(remote()).with_poll_interval(Duration::ZERO),
                "--git-poll-interval",
            ),
            (
                Config::new(remote()).with_sync_interval(Duration::ZERO),
                "--sync-interval",
            ),
        ];
        for (config, flag) in refused {
            match config.validate() {
                Err(Error::Flag { flag: named, .. }) => assert_eq!(named, flag),
                other => panic!("{flag}: expected a refusal, got {other:?}"),
            }
        }
    }

    fn config(args: &[&str]) -> Result<Config, Error> {
        let flags = Flags::from_command_line(
            ["fluxd", "--git-url=/srv/repo"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .unwrap();
        Config::from_flags(&flags)
    }

    #[test]
    fn history_rewrites_are_refused_unless_allowed() {
        assert!(!config(&[]).unwrap().allow_history_rewrite);
        assert!(
            config(&["--git-allow-history-rewrite"])
                .unwrap()
                .allow_history_rewrite
        );
        assert!(
            !config(&["--git-allow-history-rewrite=false"])
                .unwrap()
                .allow_history_rewrite
        );
    }

    fn flag_of(error: Error) -> &'static str {
        match error {
            Error::Flag { flag, .. } => flag,
            other => panic!("not a flag error: {other}"),
        }
    }

    #[test]
    fn registry_flags_and_the_chart_s_exclude_everything() {
        let defaults = config(&[]).unwrap().automation;
        assert!(!defaults.disabled);
        assert_eq!(defaults.exclude, ["k8s.gcr.io/*"]);
        assert_eq!(defaults.interval, Duration::from_secs(300));
        assert_eq!((defaults.rps, defaults.burst), (50.0, 10));
        // The chart's `registry.excludeImage: "*"`, and the explicit flag.
        assert!(
            config(&["--registry-exclude-image=*"])
                .unwrap()
                .automation
                .disabled
        );
        assert!(
            config(&["--registry-disable-scanning"])
                .unwrap()
                .automation
                .disabled
        );
        let tuned = config(&[
            "--registry-poll-interval=1m",
            "--registry-insecure-host=127.0.0.1:5000,reg.local",
            "--registry-include-image=reg.local/*",
        ])
        .unwrap()
        .automation;
        assert_eq!(tuned.interval, Duration::from_secs(60));
        assert_eq!(tuned.insecure_hosts, ["127.0.0.1:5000", "reg.local"]);
        assert_eq!(tuned.include, ["reg.local/*"]);
        for (args, flag) in [
            (&["--registry-rps=0"][..], "--registry-rps"),
            (&["--registry-burst=0"][..], "--registry-burst"),
            (
                &["--registry-exclude-image=a[b"][..],
                "--registry-exclude-image",
            ),
            (
                &["--docker-config=/no/such/config.json"][..],
                "--docker-config",
            ),
        ] {
            assert_eq!(flag_of(config(args).unwrap_err()), flag, "{args:?}");
        }
    }

    #[test]
    fn defaults() {
        let config = config(&[]).unwrap();
        assert!(config.paths.is_empty());
        assert_eq!(config.load_paths(), ["."]);
        assert_eq!(config.mode, Mode::Daemon);
        assert_eq!(config.gc, GcMode::Off);
        assert_eq!(
            config.marker,
            MarkerConfig::GitTag {
                tag: "flux-sync".into(),
                tagger: Identity::new("Weave Flux", "support@weave.works"),
            }
        );
    }

    /// `Config::new` gives what the flags give by default, so an embedder
    /// and the binary start from the same daemon.
    #[test]
    fn new_has_the_defaults_of_the_flags() {
        let flags = config(&[]).unwrap();
        let remote = Remote::new(GitUrl::parse("/srv/repo").unwrap());
        let built = Config::new(remote);
        let fields = |c: &Config| {
            [
                format!("{:?}", c.branch),
                format!("{:?}", c.paths),
                format!("{:?}", c.poll_interval),
                format!("{:?}", c.sync_interval),
                format!("{:?}", c.marker),
                format!("{:?}", c.namespace),
                format!("{:?}", c.allowed_namespaces),
                format!("{:?}", c.allow_cluster_scoped),
                format!("{:?}", c.default_namespace),
                format!("{:?}", c.gc),
                format!("{:?}", c.exclude_resources),
                format!("{:?}", c.mode),
                format!("{:?}", c.kubeconfig),
                format!("{:?}", c.mirror_dir),
                format!("{:?}", c.helm_operator.is_some()),
                format!("{:?}", c.git_timeout),
                format!("{:?}", c.deploy_key),
                format!("{:?}", c.git_write),
                format!("{:?}", c.automation),
                format!("{:?}", c.state_dir),
                format!("{:?}", c.api),
            ]
        };
        assert_eq!(fields(&built), fields(&flags));
        // A key file on the remote is the deploy key.
        let remote = Remote::new(GitUrl::parse("ssh://git@example.com/repo").unwrap())
            .with_ssh_key(SshKey::file("/keys/identity"));
        assert_eq!(
            Config::new(remote).deploy_key.file,
            Some(PathBuf::from("/keys/identity"))
        );
    }

    #[test]
    fn readonly_implies_secret_state_and_label_overrides_the_tag() {
        let secret = MarkerConfig::Secret {
            secret_name: "flux-git-deploy".into(),
        };
        assert_eq!(config(&["--git-readonly"]).unwrap().marker, secret);
        assert_eq!(
            config(&["--git-readonly", "--sync-state=git"])
                .unwrap()
                .marker,
            secret
        );
        assert_eq!(config(&["--sync-state=secret"]).unwrap().marker, secret);
        match config(&["--git-label=cluster-a", "--git-sync-tag=x"])
            .unwrap()
            .marker
        {
            MarkerConfig::GitTag { tag, .. } => assert_eq!(tag, "cluster-a"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn modes_and_garbage_collection() {
        assert_eq!(config(&["--once"]).unwrap().mode, Mode::Once);
        assert_eq!(config(&["--dry-run"]).unwrap().mode, Mode::DryRun);
        assert_eq!(config(&["--dry-run", "--once"]).unwrap().mode, Mode::DryRun);
        assert_eq!(
            config(&["--sync-garbage-collection"]).unwrap().gc,
            GcMode::On
        );
        assert_eq!(
            config(&["--sync-garbage-collection", "--sync-garbage-collection-dry"])
                .unwrap()
                .gc,
            GcMode::DryRun
        );
    }

    #[test]
    fn bad_values_name_their_flag() {
        let cases: [(&[&str], &str); 9] = [
            (&["--git-path=../elsewhere"], "--git-path"),
            (&["--git-path=/etc"], "--git-path"),
            (&["--k8s-allow-namespace=Demo"], "--k8s-allow-namespace"),
            (&["--k8s-namespace-whitelist=a_b"], "--k8s-allow-namespace"),
            (&["--k8s-namespace=-x"], "--k8s-namespace"),
            (&["--k8s-default-namespace="], "--k8s-default-namespace"),
            (&["--k8s-secret-name=Not Valid"], "--k8s-secret-name"),
            (&["--git-ssh-key=/nonexistent/key"], "--git-ssh-key"),
            (&["--git-known-hosts=/nonexistent/kh"], "--git-known-hosts"),
        ];
        for (args, flag) in cases {
            assert_eq!(flag_of(config(args).unwrap_err()), flag, "{args:?}");
        }
        let flags = Flags::from_command_line(["fluxd", "--git-url=ftp://x/y"]).unwrap();
        assert_eq!(
            flag_of(Config::from_flags(&flags).unwrap_err()),
            "--git-url"
        );
    }

    #[test]
    fn the_write_flags() {
        let write = config(&[]).unwrap().git_write;
        assert_eq!(write.notes_ref, "refs/notes/flux");
        assert_eq!(write.message_suffix, "");
        assert_eq!(write.verify_mode, VerifyMode::None);
        assert!(!write.set_author && !write.readonly && write.signing_key.is_none());
        let write = config(&[
            "--git-ci-skip",
            "--git-set-author=true",
            "--git-label=cluster-a",
            "--git-verify-signatures",
            "--git-signing-key=ABCDEF01",
        ])
        .unwrap()
        .git_write;
        assert_eq!(write.message_suffix, "\n\n[ci skip]");
        assert!(write.set_author);
        assert_eq!(write.notes_ref, "refs/notes/cluster-a");
        assert_eq!(write.verify_mode, VerifyMode::All);
        assert_eq!(write.signing_key, Some(SigningKey::Gpg("ABCDEF01".into())));
        let write = config(&[
            "--git-ci-skip=false",
            "--git-ci-skip-message= [skip ci]",
            "--git-verify-signatures-mode=first-parent",
        ])
        .unwrap()
        .git_write;
        assert_eq!(write.message_suffix, " [skip ci]");
        assert_eq!(write.verify_mode, VerifyMode::FirstParent);
        let key = config(&["--ssh-keygen-type=ecdsa", "--ssh-keygen-bits=384"])
            .unwrap()
            .deploy_key
            .key_type;
        assert_eq!(key, KeyType::Ecdsa { bits: 384 });
        for (args, flag) in [
            (&["--ssh-keygen-type=dsa"][..], "--ssh-keygen-type"),
            (
                &["--ssh-keygen-type=rsa", "--ssh-keygen-bits=512"][..],
                "--ssh-keygen-type",
            ),
            (
                &["--git-signing-key=ssh:/nonexistent/key"][..],
                "--git-signing-key",
            ),
            (&["--git-notes-ref=bad..name"][..], "--git-notes-ref"),
            (
                &["--git-ssh-allowed-signers=/nonexistent"][..],
                "--git-ssh-allowed-signers",
            ),
        ] {
            assert_eq!(flag_of(config(args).unwrap_err()), flag, "{args:?}");
        }
    }

    #[test]
    fn paths_are_kept_as_given() {
        let config = config(&["--git-path=a,b", "--git-path=a"]).unwrap();
        assert_eq!(config.paths, ["a", "b", "a"]);
        assert_eq!(config.load_paths(), ["a", "b", "a"]);
    }

    #[test]
    fn empty_values_are_no_paths_and_no_namespaces() {
        // As Flux's chart writes them when the values are empty.
        let config = config(&["--git-path=", "--k8s-allow-namespace="]).unwrap();
        assert!(config.paths.is_empty());
        assert_eq!(config.load_paths(), ["."]);
        assert!(config.allowed_namespaces.is_empty());
        assert_eq!(
            config.exclude_resources,
            [
                "*metrics.k8s.io/*",
                "webhook.certmanager.k8s.io/*",
                "v1/Event"
            ]
        );
    }

    #[test]
    fn known_hosts_default_to_the_system_and_the_users_files() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("ssh_known_hosts");
        let user = dir.path().join("known_hosts");
        let line = |host: &str| {
            format!(
                "{host} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
            )
        };
        assert!(default_known_hosts(&system, Some(&user)).is_none());
        std::fs::write(&user, line("git.example.com")).unwrap();
        let only_user = default_known_hosts(&system, Some(&user)).unwrap();
        assert_eq!(only_user.len(), 1);
        std::fs::write(&system, line("github.com")).unwrap();
        assert_eq!(default_known_hosts(&system, Some(&user)).unwrap().len(), 2);
        // A file that does not parse is left out, the other kept.
        std::fs::write(&user, "not a known_hosts line\n").unwrap();
        assert_eq!(default_known_hosts(&system, Some(&user)).unwrap().len(), 1);
        assert_eq!(default_known_hosts(&system, None).unwrap().len(), 1);
    }

    #[test]
    fn refused_flux_flags_stop_the_configuration() {
        assert_eq!(flag_of(config(&["--sops"]).unwrap_err()), "--sops");
        config(&["--sops=false", "--memcached-hostname=flux-memcached"]).unwrap();
    }
}
