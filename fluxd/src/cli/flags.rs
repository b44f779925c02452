//! The command line, with Flux v1's flag names where Flux had them.
//!
//! Every flag of Flux v1.25's fluxd is accepted. What each one does here
//! (honoured, accepted but not acted on yet, ignored with a warning, refused)
//! is the table in [`crate::cli::compat`]; this file only says how each is
//! parsed. Values are read as Flux's Go flag package read them: booleans as
//! `--flag`, `--flag=true` or `--flag=false`, lists as repeated flags or
//! comma-separated values (an empty value is an empty list), durations as Go
//! writes them (`5m`, `10s`, `1h30m`).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::api::parse_go_duration;
use crate::cli::helm_operator::{HelmOperatorFlags, OperatorTuning};

/// Where the sync marker lives (`--sync-state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum SyncState {
    /// An annotated tag in the git repository, force-moved and pushed.
    Git,
    /// An annotation on the deploy-key Secret in the daemon's namespace.
    Secret,
}

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// logfmt, as Flux v1 wrote it: `ts=... level=info key=value ... msg="..."`,
    /// values quoted the way Go's logfmt quotes them. `text` is another name
    /// for it.
    #[value(alias = "text")]
    Fmt,
    /// One JSON object a line.
    Json,
}

/// Help headings of the flags that are here for Flux v1's command lines.
const FLUX_IGNORED: &str = "Flux v1 flags ignored (a warning says so)";
const FLUX_REFUSED: &str = "Flux v1 flags refused when set";

/// fluxd's flags. Every flag of Flux v1 kept here means what it meant there;
/// durations are written as Go writes them (`5m`, `10s`, `1h30m`).
///
/// Parse with [`Flags::from_command_line`] (which also records which flags
/// were given, for the Flux v1 compatibility warnings), then check and
/// resolve with [`crate::Config::from_flags`].
#[derive(Clone, Debug, Parser)]
#[command(
    name = "fluxd",
    version,
    about = "Keeps a Kubernetes cluster in step with a git repository.",
    long_about = "Keeps a Kubernetes cluster in step with a git repository: polls a branch, \
        applies the manifests under --git-path with server-side apply, and records how far \
        it got in a sync marker. Every flag of Flux v1's fluxd is accepted, with its name \
        and meaning; those fluxd does not act on say so when given.",
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true
)]
#[non_exhaustive]
pub struct Flags {
    /// URL of the git repository: ssh://, scp-like user@host:path, https://, file:// or a path.
    #[arg(
        long,
        env = "FLUXD_GIT_URL",
        hide_env_values = true,
        value_name = "URL",
        required = true
    )]
    pub git_url: Option<String>,

    /// Branch to sync (default: the remote's default branch; Flux v1 used `master`).
    #[arg(
        long,
        env = "FLUXD_GIT_BRANCH",
        hide_env_values = true,
        value_name = "BRANCH"
    )]
    pub git_branch: Option<String>,

    /// Path in the repository to read manifests from; repeat the flag or separate
    /// paths with commas (default, or `--git-path=`: the whole repository).
    #[arg(
        long = "git-path",
        env = "FLUXD_GIT_PATH",
        hide_env_values = true,
        value_name = "PATH",
        value_delimiter = ','
    )]
    pub git_paths: Vec<String>,

    /// How often to fetch the branch.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
    pub git_poll_interval: Duration,

    /// Timeout of each network operation on the repository.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = positive_duration)]
    pub git_timeout: Duration,

    /// Follow the branch when its history was rewritten behind the sync marker (a force
    /// push or a reset: the new head does not descend from the marker's revision),
    /// applying the new tree and pruning what left it. Without it such a head is refused,
    /// with an error each sync, until the branch is restored or the marker moved or
    /// deleted. fluxd's own flag: Flux v1 had no such check
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub git_allow_history_rewrite: bool,

    /// Name of the tag that marks the last synced revision (--sync-state git).
    #[arg(long, value_name = "TAG", default_value = gitsync::DEFAULT_SYNC_TAG)]
    pub git_sync_tag: String,

    /// Overrides --git-sync-tag (Flux's older name for the same tag).
    #[arg(long, value_name = "TAG")]
    pub git_label: Option<String>,

    /// Never write to the repository; implies --sync-state secret.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub git_readonly: bool,

    /// Where to record the last synced revision (default: git, or secret with --git-readonly).
    #[arg(long, value_enum, value_name = "STATE")]
    pub sync_state: Option<SyncState>,

    /// Name of the Secret that holds the deploy key and, in secret mode, the sync marker.
    #[arg(long, value_name = "NAME", default_value = "flux-git-deploy")]
    pub k8s_secret_name: String,

    /// The daemon's own namespace when not running in a cluster (in a cluster it is the
    /// ServiceAccount's namespace); default `default`.
    #[arg(long, value_name = "NAMESPACE")]
    pub k8s_namespace: Option<String>,

    /// Name of the committer of fluxd's commits and of the tagger of the sync tag.
    #[arg(long, value_name = "NAME", default_value = "Weave Flux")]
    pub git_user: String,

    /// Email of the committer of fluxd's commits and of the tagger of the sync tag.
    #[arg(long, value_name = "EMAIL", default_value = "support@weave.works")]
    pub git_email: String,

    /// How often to apply the manifests even without a new commit (corrects drift).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
    pub sync_interval: Duration,

    /// Delete objects this daemon applied before that are no longer in git.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub sync_garbage_collection: bool,

    /// Only log what garbage collection would delete (implies --sync-garbage-collection).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub sync_garbage_collection_dry: bool,

    /// Restrict the daemon to these namespaces; repeat the flag or separate names with
    /// commas. Also accepted as --k8s-namespace-whitelist.
    #[arg(
        long = "k8s-allow-namespace",
        alias = "k8s-namespace-whitelist",
        value_name = "NAMESPACE",
        value_delimiter = ','
    )]
    pub k8s_allow_namespaces: Vec<String>,

    /// With --k8s-allow-namespace, still apply cluster-scoped kinds (Namespaces, CRDs, ...).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub k8s_allow_cluster_scoped: bool,

    /// Namespace of namespaced resources that name none (default: the kubeconfig
    /// context's namespace, else `default`; in a pod without a kubeconfig, `default`).
    #[arg(long, value_name = "NAMESPACE")]
    pub k8s_default_namespace: Option<String>,

    /// Kinds garbage collection never lists, as globs over `<group/version>/<Kind>`
    /// (`v1/Event`, `*metrics.k8s.io/*`); repeat or separate with commas.
    #[arg(
        long = "k8s-unsafe-exclude-resource",
        value_name = "GLOB",
        value_delimiter = ',',
        default_values = ["*metrics.k8s.io/*", "webhook.certmanager.k8s.io/*", "v1/Event"]
    )]
    pub k8s_unsafe_exclude_resources: Vec<String>,

    /// Sync once and exit: non-zero when a resource failed or a manifest had errors.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub once: bool,

    /// Change nothing: print what a sync would do, then exit (implies --once). Without
    /// a cluster configured, checks the manifests offline.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub dry_run: bool,

    /// Kubeconfig file (default: KUBECONFIG, ~/.kube/config, then the in-cluster
    /// ServiceAccount).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Directory the deploy-key Secret is mounted at.
    #[arg(long, value_name = "DIR", default_value = "/etc/fluxd/ssh")]
    pub k8s_secret_volume_mount_path: PathBuf,

    /// File in --k8s-secret-volume-mount-path holding the ssh private key.
    #[arg(long, value_name = "KEY", default_value = "identity")]
    pub k8s_secret_data_key: String,

    /// ssh private key file (default: the mounted deploy key, when it exists).
    #[arg(long, value_name = "FILE")]
    pub git_ssh_key: Option<PathBuf>,

    /// known_hosts file the ssh host key is checked against (default:
    /// /etc/ssh/ssh_known_hosts and ~/.ssh/known_hosts, those that exist).
    #[arg(long, value_name = "FILE")]
    pub git_known_hosts: Option<PathBuf>,

    /// Where the repository's mirror and checkouts live (default: a temporary
    /// directory, removed at exit).
    #[arg(long, value_name = "DIR")]
    pub git_mirror_dir: Option<PathBuf>,

    /// Where fluxd keeps what must outlive a restart: the job queue and the
    /// registry's digest cache (default: `state` under --git-mirror-dir, or
    /// the temporary working directory). The Helm operator beside the
    /// daemon keeps its own (--state-dir).
    #[arg(long, value_name = "DIR")]
    pub daemon_state_dir: Option<PathBuf>,

    /// Log format: `fmt` (logfmt, Flux v1's default; also `text`) or `json`.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "fmt")]
    pub log_format: LogFormat,

    /// Log level or filter (`info`, `debug`, `fluxd=debug,kube=info`); RUST_LOG overrides it.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,

    /// Address the HTTP API (Flux v1's, under /api/flux), /healthz, /readyz
    /// and, unless --listen-metrics is given, /metrics are served on
    /// (`:3030` is every interface).
    #[arg(short = 'l', long, value_name = "ADDR", default_value = ":3030")]
    pub listen: String,

    /// Address /metrics is served on alone (default: with the API on --listen).
    #[arg(long, value_name = "ADDR", default_value = "")]
    pub listen_metrics: String,

    /// File holding a token the API requires on every route but the probes
    /// (`Authorization: Bearer <token>`, or fluxctl's `--token`). Without it
    /// the API is open to whoever reaches the port, as Flux v1's was: keep
    /// the port behind a port-forward or a network policy.
    #[arg(long, value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,

    // --- Flux v1 flags of later work: accepted with Flux's defaults, not acted on yet.
    /// Do not scan image registries.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub registry_disable_scanning: bool,

    /// How often to look for image updates of automated workloads.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
    pub automation_interval: Duration,

    /// Flux's older name for --automation-interval, used when that is not given.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub registry_poll_interval: Option<Duration>,

    /// Most registry requests per second, per host.
    #[arg(long, value_name = "RPS", default_value_t = 50.0)]
    pub registry_rps: f64,

    /// Most registry requests in a burst.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub registry_burst: u32,

    /// Registry hosts reached over plain HTTP or without checking TLS.
    #[arg(long, value_name = "HOST", value_delimiter = ',')]
    pub registry_insecure_host: Vec<String>,

    /// Images never scanned (globs).
    #[arg(long, value_name = "GLOB", value_delimiter = ',', default_values = ["k8s.gcr.io/*"])]
    pub registry_exclude_image: Vec<String>,

    /// Only these images are scanned (globs; default: all not excluded).
    #[arg(long, value_name = "GLOB", value_delimiter = ',')]
    pub registry_include_image: Vec<String>,

    /// Images whose creation time is read from their labels (globs):
    /// `org.opencontainers.image.created`, else `org.label-schema.build-date`,
    /// else the image config's `created`.
    #[arg(long, value_name = "GLOB", value_delimiter = ',',
        default_values = ["index.docker.io/weaveworks/*", "index.docker.io/fluxcd/*"])]
    pub registry_use_labels: Vec<String>,

    /// Docker config file with registry credentials.
    #[arg(long, value_name = "FILE", default_value = "")]
    pub docker_config: String,

    // --- Flux v1 flags that mean nothing here: a warning when given, then ignored.
    /// Flux's image cache; fluxd keeps none.
    #[arg(long, value_name = "HOST", help_heading = FLUX_IGNORED)]
    pub memcached_hostname: Option<String>,

    /// Flux's image cache; fluxd keeps none.
    #[arg(long, value_name = "PORT", help_heading = FLUX_IGNORED)]
    pub memcached_port: Option<String>,

    /// Flux's image cache; fluxd keeps none.
    #[arg(long, value_name = "DURATION", help_heading = FLUX_IGNORED)]
    pub memcached_timeout: Option<String>,

    /// Flux's image cache; fluxd keeps none.
    #[arg(long, value_name = "SERVICE", help_heading = FLUX_IGNORED)]
    pub memcached_service: Option<String>,

    /// No longer used by Flux v1 either.
    #[arg(long, value_name = "DURATION", help_heading = FLUX_IGNORED)]
    pub registry_cache_expiry: Option<String>,

    /// No longer used by Flux v1 either; fluxd finds the cluster by itself.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
        value_parser = go_bool, value_name = "BOOL", help_heading = FLUX_IGNORED)]
    pub k8s_in_cluster: Option<bool>,

    /// Flux's deprecated kubeconfig flag; use --kubeconfig or KUBECONFIG.
    #[arg(long, value_name = "FILE", help_heading = FLUX_IGNORED)]
    pub kube_config: Option<String>,

    /// Verbosity of Flux's Kubernetes client; use --log-level.
    #[arg(long, value_name = "LEVEL", help_heading = FLUX_IGNORED)]
    pub k8s_verbosity: Option<String>,

    /// fluxd applies through the API, without kubectl.
    #[arg(long, value_name = "FILE", help_heading = FLUX_IGNORED)]
    pub kubernetes_kubectl: Option<String>,

    /// Tracing of registry requests; use --log-level.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
        value_parser = go_bool, value_name = "BOOL", help_heading = FLUX_IGNORED)]
    pub registry_trace: Option<bool>,

    /// fluxd has no ECR support.
    #[arg(long, value_name = "REGION", help_heading = FLUX_IGNORED)]
    pub registry_ecr_region: Option<String>,

    /// fluxd has no ECR support.
    #[arg(long, value_name = "ID", help_heading = FLUX_IGNORED)]
    pub registry_ecr_include_id: Option<String>,

    /// fluxd has no ECR support.
    #[arg(long, value_name = "ID", help_heading = FLUX_IGNORED)]
    pub registry_ecr_exclude_id: Option<String>,

    /// Flux's deadline for a whole sync; fluxd bounds each request instead.
    #[arg(long, value_name = "DURATION", help_heading = FLUX_IGNORED)]
    pub sync_timeout: Option<String>,

    /// Weave Cloud's deadline; fluxd does not connect to it.
    #[arg(long, value_name = "DURATION", help_heading = FLUX_IGNORED)]
    pub rpc_timeout: Option<String>,

    /// Weave Cloud's token; fluxd does not connect to it.
    #[arg(long, value_name = "TOKEN", help_heading = FLUX_IGNORED)]
    pub token: Option<String>,

    // --- Flux v1 flags that ask for something fluxd does not do: refused when set.
    /// Weave Cloud, which shut down.
    #[arg(long, value_name = "URL", help_heading = FLUX_REFUSED)]
    pub connect: Option<String>,

    /// git-secret decryption of checkouts.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL", help_heading = FLUX_REFUSED)]
    pub git_secret: bool,

    /// SOPS decryption of manifests.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL", help_heading = FLUX_REFUSED)]
    pub sops: bool,

    /// `.flux.yaml` manifest generators.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL", help_heading = FLUX_REFUSED)]
    pub manifest_generation: bool,

    /// Registries whose automatic authentication must work (`ecr`).
    #[arg(long, value_name = "REGISTRY", value_delimiter = ',', help_heading = FLUX_REFUSED)]
    pub registry_require: Vec<String>,

    // The Helm operator: `fluxd helm-operator`, or beside the daemon.
    /// Run the Helm operator in this process too, beside the sync, sharing
    /// its git mirror (FluxHelmRelease charts come from the synced revision).
    #[arg(long)]
    pub helm_operator: bool,

    /// With --helm-operator: where the operator's /metrics, /healthz and
    /// POST /api/v1/sync-git are served (default: not served).
    #[arg(long, value_name = "ADDR", requires = "helm_operator")]
    pub helm_operator_listen: Option<String>,

    #[command(flatten, next_help_heading = "Helm operator (with --helm-operator)")]
    #[allow(missing_docs)]
    pub helm_operator_tuning: OperatorTuning,

    /// A program other than the daemon.
    #[command(subcommand)]
    pub command: Option<Command>,

    // --- Writing to git: the deploy key, commits, notes, signatures (issue 9) ---
    /// Type of the deploy key fluxd generates into --k8s-secret-name when none
    /// is mounted: ed25519, rsa or ecdsa (as ssh-keygen -t).
    #[arg(long, value_name = "TYPE", default_value = "ed25519")]
    pub ssh_keygen_type: String,

    /// Size of a generated RSA (default 3072) or ECDSA (256, 384, 521) key, as ssh-keygen -b.
    #[arg(long, value_name = "BITS")]
    pub ssh_keygen_bits: Option<u32>,

    /// Private key format of a generated key, as ssh-keygen -m; fluxd always
    /// writes OpenSSH's own format (RFC4716, the chart's value).
    #[arg(long, value_name = "FORMAT")]
    pub ssh_keygen_format: Option<String>,

    /// Directory to also write a generated deploy key to, as `identity` (Flux's chart
    /// mounts an in-memory volume at /var/fluxd/keygen).
    #[arg(long, value_name = "DIR")]
    pub ssh_keygen_dir: Option<PathBuf>,

    /// Sign commits and the sync tag. A GPG key id, fingerprint or user id signs with
    /// the gpg binary (keys from --git-gpg-key-import); `ssh:FILE` signs with the ssh
    /// private key in FILE in git's ssh signature format (git 2.34+ verifies it with
    /// gpg.format=ssh).
    #[arg(long, value_name = "KEY")]
    pub git_signing_key: Option<String>,

    /// Files or directories of GPG keys to import into gpg's keyring at start
    /// (repeat, or separate with commas).
    #[arg(long, value_name = "PATH", value_delimiter = ',')]
    pub git_gpg_key_import: Vec<PathBuf>,

    /// Deprecated: the same as --git-verify-signatures-mode=all.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub git_verify_signatures: bool,

    /// Apply only commits whose signatures verify: none, all (every commit since the
    /// last synced one), or first-parent (the first-parent line only).
    #[arg(long, value_enum, value_name = "MODE")]
    pub git_verify_signatures_mode: Option<VerifySignaturesMode>,

    /// With verification: the ssh public keys allowed to sign (one a line, git's
    /// allowed-signers format); without it, signatures are checked with gpg.
    #[arg(long, value_name = "FILE")]
    pub git_ssh_allowed_signers: Option<PathBuf>,

    /// Append `[ci skip]` to fluxd's commit messages.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub git_ci_skip: bool,

    /// Text appended verbatim to fluxd's commit messages (overrides --git-ci-skip).
    #[arg(long, value_name = "TEXT")]
    pub git_ci_skip_message: Option<String>,

    /// Make the user who asked for a change the author of its commit
    /// (the committer stays --git-user).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
        default_missing_value = "true", default_value = "false", value_parser = go_bool,
        value_name = "BOOL")]
    pub git_set_author: bool,

    /// Notes ref fluxd records its jobs in (refs/notes/NAME); --git-label overrides it.
    #[arg(long, value_name = "NAME", default_value = "flux")]
    pub git_notes_ref: String,

    /// The long names of the flags given on the command line or through their
    /// environment variable; filled by [`Flags::from_command_line`].
    #[arg(skip)]
    pub given: BTreeSet<String>,
}

/// What `fluxd` runs instead of the daemon.
#[derive(Clone, Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Run the Helm operator alone, with helm-operator 1.4's flags.
    HelmOperator(Box<HelmOperatorFlags>),
}

impl Flags {
    /// Parses a command line (the first item is the program name) and
    /// records which flags it gave, so that flags ignored or not acted on yet
    /// are warned about only when a user set them.
    pub fn from_command_line<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let command = Self::command();
        let matches = command.clone().try_get_matches_from(args)?;
        let mut flags = Self::from_arg_matches(&matches)?;
        for argument in command.get_arguments() {
            let id = argument.get_id().as_str();
            let given = matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            if let (true, Some(long)) = (given, argument.get_long()) {
                flags.given.insert(long.to_owned());
            }
        }
        Ok(flags)
    }

    /// True when `long` (a flag's long name without the dashes) was given.
    pub fn was_given(&self, long: &str) -> bool {
        self.given.contains(long)
    }

    /// `--automation-interval`, or Flux's older `--registry-poll-interval`
    /// when only that was given (as Flux resolved the two).
    pub fn effective_automation_interval(&self) -> Duration {
        match self.registry_poll_interval {
            Some(interval) if !self.was_given("automation-interval") => interval,
            _ => self.automation_interval,
        }
    }
}

/// `--git-verify-signatures-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum VerifySignaturesMode {
    /// Apply every head.
    None,
    /// Every commit since the last synced one must verify.
    All,
    /// The commits of the first-parent line since the last synced one must verify.
    FirstParent,
}

/// The longest interval or timeout a flag takes: a year (8760h). Longer ones
/// are surely typing errors, and clocks overflow somewhere past them.
pub const MAX_FLAG_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a Go duration for a flag: positive (an interval of zero would
/// spin) and at most [`MAX_FLAG_DURATION`].
fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_go_duration(text)?;
    if duration.is_zero() {
        return Err(format!("{text:?} is zero; give a positive duration"));
    }
    if duration > MAX_FLAG_DURATION {
        return Err(format!("{text:?} is longer than a year (8760h)"));
    }
    Ok(duration)
}

/// A boolean as Go's `strconv.ParseBool` reads one, which is what Flux's
/// flags took (`--git-readonly=false` in Flux's Helm chart).
fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean (true or false)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::from_command_line(std::iter::once("fluxd").chain(args.iter().copied()))
    }

    #[test]
    fn flux_defaults() {
        let flags = parse(&["--git-url", "git@example.com:team/config"]).unwrap();
        assert_eq!(flags.git_poll_interval, Duration::from_secs(300));
        assert_eq!(flags.sync_interval, Duration::from_secs(300));
        assert_eq!(flags.git_timeout, Duration::from_secs(20));
        assert_eq!(flags.git_sync_tag, "flux-sync");
        assert_eq!(flags.k8s_secret_name, "flux-git-deploy");
        assert_eq!(
            flags.k8s_secret_volume_mount_path,
            PathBuf::from("/etc/fluxd/ssh")
        );
        assert_eq!(flags.k8s_secret_data_key, "identity");
        assert!(flags.git_paths.is_empty());
        assert_eq!(flags.sync_state, None);
        assert!(!flags.once && !flags.dry_run && !flags.git_readonly);
        assert_eq!(flags.log_format, LogFormat::Fmt);
        assert_eq!(
            flags.k8s_unsafe_exclude_resources,
            [
                "*metrics.k8s.io/*",
                "webhook.certmanager.k8s.io/*",
                "v1/Event"
            ]
        );
        // Flux's defaults of the flags later work acts on.
        assert_eq!(flags.listen, ":3030");
        assert_eq!(flags.listen_metrics, "");
        assert_eq!(flags.automation_interval, Duration::from_secs(300));
        assert_eq!(flags.registry_rps, 50.0);
        assert_eq!(flags.registry_burst, 10);
        assert_eq!(flags.registry_exclude_image, ["k8s.gcr.io/*"]);
        assert!(flags.registry_include_image.is_empty());
        assert_eq!(
            flags.registry_use_labels,
            ["index.docker.io/weaveworks/*", "index.docker.io/fluxcd/*"]
        );
        assert!(!flags.registry_disable_scanning);
        assert_eq!(flags.docker_config, "");
        assert_eq!(flags.given, BTreeSet::from(["git-url".to_owned()]));
    }

    #[test]
    fn paths_and_namespaces_repeat_or_split_on_commas() {
        let flags = parse(&[
            "--git-url=/srv/repo",
            "--git-path=a,b",
            "--git-path",
            "c",
            "--k8s-namespace-whitelist=demo",
            "--k8s-allow-namespace",
            "flux,extra",
        ])
        .unwrap();
        assert_eq!(flags.git_paths, ["a", "b", "c"]);
        assert_eq!(flags.k8s_allow_namespaces, ["demo", "flux", "extra"]);
    }

    #[test]
    fn go_durations() {
        let flags = parse(&[
            "--git-url=/srv/repo",
            "--git-poll-interval=10s",
            "--sync-interval=1h30m",
        ])
        .unwrap();
        assert_eq!(flags.git_poll_interval, Duration::from_secs(10));
        assert_eq!(flags.sync_interval, Duration::from_secs(5400));
    }

    #[test]
    fn booleans_are_read_as_go_reads_them() {
        let flags = parse(&[
            "--git-url=/srv/repo",
            "--git-readonly=false",
            "--sync-garbage-collection=true",
            "--once",
            "--registry-trace=false",
            "--k8s-in-cluster",
        ])
        .unwrap();
        assert!(!flags.git_readonly);
        assert!(flags.sync_garbage_collection);
        assert!(flags.once);
        assert_eq!(flags.registry_trace, Some(false));
        assert_eq!(flags.k8s_in_cluster, Some(true));
        for value in ["1", "t", "T", "TRUE", "True"] {
            let flags = parse(&["--git-url=/srv/repo", &format!("--git-readonly={value}")]);
            assert!(flags.unwrap().git_readonly, "{value}");
        }
        let error = parse(&["--git-url=/srv/repo", "--git-readonly=yes"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--git-readonly"), "{error}");
    }

    #[test]
    fn empty_values_are_empty_lists_as_in_flux() {
        let flags = parse(&[
            "--git-url=/srv/repo",
            "--git-path=",
            "--memcached-service=",
            "--registry-insecure-host=",
        ])
        .unwrap();
        // Dropped later, by the configuration: the flag itself keeps what was written.
        assert_eq!(flags.git_paths, [""]);
        assert_eq!(flags.memcached_service.as_deref(), Some(""));
        assert!(flags.was_given("memcached-service"));
        assert!(flags.was_given("git-path"));
        assert!(!flags.was_given("git-branch"));
    }

    #[test]
    fn the_older_registry_poll_interval_counts_only_alone() {
        let alone = parse(&["--git-url=/srv/repo", "--registry-poll-interval=200m"]).unwrap();
        assert_eq!(
            alone.effective_automation_interval(),
            Duration::from_secs(12_000)
        );
        let both = parse(&[
            "--git-url=/srv/repo",
            "--registry-poll-interval=200m",
            "--automation-interval=1m",
        ])
        .unwrap();
        assert_eq!(
            both.effective_automation_interval(),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn log_formats() {
        for (value, format) in [
            ("fmt", LogFormat::Fmt),
            ("text", LogFormat::Fmt),
            ("json", LogFormat::Json),
        ] {
            let flags = parse(&["--git-url=/srv/repo", &format!("--log-format={value}")]);
            assert_eq!(flags.unwrap().log_format, format, "{value}");
        }
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["--git-poll-interval=5"][..], "--git-poll-interval"),
            (&["--sync-interval=0"][..], "--sync-interval"),
            (&["--git-timeout=-1s"][..], "--git-timeout"),
            (&["--sync-interval=8761h"][..], "--sync-interval"),
            (&["--sync-state=etcd"][..], "--sync-state"),
            (&["--log-format=xml"][..], "--log-format"),
            (&["--registry-rps=fast"][..], "--registry-rps"),
        ] {
            let mut all = vec!["--git-url=/srv/repo"];
            all.extend_from_slice(args);
            let error = parse(&all).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
        let error = parse(&["--git-path=a"]).unwrap_err().to_string();
        assert!(error.contains("--git-url"), "{error}");
    }

    #[test]
    fn help_never_shows_a_value_from_the_environment() {
        // The environment is the process's: set nothing, render the help
        // of a command whose env values clap would otherwise print.
        let help = Flags::command().render_long_help().to_string();
        assert!(help.contains("FLUXD_GIT_URL"), "{help}");
        for argument in Flags::command().get_arguments() {
            if argument.get_env().is_some() {
                assert!(
                    argument.is_hide_env_values_set(),
                    "--{:?} would print its environment value in --help",
                    argument.get_long()
                );
            }
        }
    }
}
