//! The command line, with Flux v1's flag names where Flux had them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::cli::duration::parse_go_duration;

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
    /// `time level message key=value ...`, one event a line.
    Text,
    /// One JSON object a line.
    Json,
}

/// fluxd's flags. Every flag of Flux v1 kept here means what it meant there;
/// durations are written as Go writes them (`5m`, `10s`, `1h30m`).
///
/// Parse with [`clap::Parser::try_parse_from`], then check and resolve with
/// [`crate::Config::from_flags`].
#[derive(Clone, Debug, Parser)]
#[command(
    name = "fluxd",
    version,
    about = "Keeps a Kubernetes cluster in step with a git repository.",
    long_about = "Keeps a Kubernetes cluster in step with a git repository: polls a branch, \
        applies the manifests under --git-path with server-side apply, and records how far \
        it got in a sync marker. Flags keep Flux v1's names."
)]
#[non_exhaustive]
pub struct Flags {
    /// URL of the git repository: ssh://, scp-like user@host:path, https://, file:// or a path.
    #[arg(long, env = "FLUXD_GIT_URL", value_name = "URL")]
    pub git_url: String,

    /// Branch to sync (default: the remote's default branch).
    #[arg(long, env = "FLUXD_GIT_BRANCH", value_name = "BRANCH")]
    pub git_branch: Option<String>,

    /// Path in the repository to read manifests from; repeat the flag or separate
    /// paths with commas (default: the whole repository).
    #[arg(
        long = "git-path",
        env = "FLUXD_GIT_PATH",
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

    /// Name of the tag that marks the last synced revision (--sync-state git).
    #[arg(long, value_name = "TAG", default_value = gitsync::DEFAULT_SYNC_TAG)]
    pub git_sync_tag: String,

    /// Overrides --git-sync-tag (Flux's older name for the same tag).
    #[arg(long, value_name = "TAG")]
    pub git_label: Option<String>,

    /// Never write to the repository; implies --sync-state secret.
    #[arg(long)]
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
    #[arg(long)]
    pub sync_garbage_collection: bool,

    /// Only log what garbage collection would delete.
    #[arg(long)]
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
    #[arg(long)]
    pub k8s_allow_cluster_scoped: bool,

    /// Namespace of namespaced resources that name none (default: the kubeconfig
    /// context's namespace, else `default`).
    #[arg(long, value_name = "NAMESPACE")]
    pub k8s_default_namespace: Option<String>,

    /// Sync once and exit: non-zero when a resource failed or a manifest had errors.
    #[arg(long)]
    pub once: bool,

    /// Change nothing: print what a sync would do, then exit (implies --once). Without
    /// a cluster configured, checks the manifests offline.
    #[arg(long)]
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

    /// Log format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Log level or filter (`info`, `debug`, `fluxd=debug,kube=info`); RUST_LOG overrides it.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,

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
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set)]
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
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set)]
    pub git_ci_skip: bool,

    /// Text appended verbatim to fluxd's commit messages (overrides --git-ci-skip).
    #[arg(long, value_name = "TEXT")]
    pub git_ci_skip_message: Option<String>,

    /// Make the user who asked for a change the author of its commit
    /// (the committer stays --git-user).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value = "false", action = clap::ArgAction::Set)]
    pub git_set_author: bool,

    /// Notes ref fluxd records its jobs in (refs/notes/NAME); --git-label overrides it.
    #[arg(long, value_name = "NAME", default_value = "flux")]
    pub git_notes_ref: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::try_parse_from(std::iter::once("fluxd").chain(args.iter().copied()))
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
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["--git-poll-interval=5"][..], "--git-poll-interval"),
            (&["--sync-interval=0"][..], "--sync-interval"),
            (&["--git-timeout=-1s"][..], "--git-timeout"),
            (&["--sync-interval=8761h"][..], "--sync-interval"),
            (&["--sync-state=etcd"][..], "--sync-state"),
            (&["--log-format=xml"][..], "--log-format"),
        ] {
            let mut all = vec!["--git-url=/srv/repo"];
            all.extend_from_slice(args);
            let error = parse(&all).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
        let error = parse(&["--git-path=a"]).unwrap_err().to_string();
        assert!(error.contains("--git-url"), "{error}");
    }
}
