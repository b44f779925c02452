//! The GitOps daemon as a library.
//!
//! `fluxd` keeps a cluster in step with a git repository, as Weave Flux v1's
//! daemon did, by composing the project's library crates: [`gitsync`] polls
//! the branch and checks revisions out, [`manifests`] loads them and its
//! `cluster` engine applies them with server-side apply, and the sync marker
//! records how far it got. The `fluxd` binary is one line over [`run_cli`].
//!
//! # Public surface
//! - [`Config`]: the daemon's configuration. An embedder builds it in code
//!   with [`Config::new`] (the repository as a [`gitsync::Remote`], fluxd's
//!   defaults for the rest) and the `with_*` setters, down to its parts
//!   ([`GitWriteConfig`], [`DeployKeyConfig`], [`ApiConfig`],
//!   [`AutomationConfig`], [`MarkerConfig`], [`helm_operator::HelmOperatorConfig`]).
//! - [`Flags`]: the command line (every flag of Flux v1's fluxd, with its
//!   name; Go durations such as `5m`), checked and resolved into a [`Config`]
//!   by [`Config::from_flags`]; every bad value is an error naming its flag.
//!   [`compat`] says what fluxd does with the Flux v1 flags it does not
//!   simply honour (not acted on yet, ignored with a warning, refused).
//! - [`run`] and [`run_with`]: all of it as the binary runs it, including
//!   `--once` and `--dry-run` (offline when no cluster is configured);
//!   [`run_with`] hands over the [`Daemon`] handle of the running daemon
//!   (submit jobs, read their status, what is still to sync; the queue runs
//!   one job at a time between syncs) and tells a [`contract::Observer`]
//!   what happens. [`RunOutcome`] says how a run ended.
//! - [`ClusterConfig::locate`]: the cluster from `--kubeconfig`, `KUBECONFIG`,
//!   `~/.kube/config` or the in-cluster ServiceAccount, telling "none
//!   configured" apart from "configured badly"; [`daemon_namespace`].
//! - [`GitSource`] and [`Syncer`]: one sync pass (checkout, load, apply, report,
//!   sync marker), and [`SyncLoop`]: poll, sync each new head and again every
//!   sync interval, never stopping on a failed fetch, load or apply.
//! - [`SecretMarker`]: the sync marker as an annotation on the deploy-key
//!   Secret (`--sync-state secret`), next to gitsync's git tag. The marker
//!   moves only after a sync that ran to completion against the cluster.
//! - [`api`]: the HTTP API's request and response types, Flux v1's JSON
//!   shapes. Feature `api-types` builds that module alone (what fluxctl
//!   uses); the default feature `daemon` adds everything else.
//! - The Helm operator (in `helmops`) started alone with
//!   [`helm_operator::run_standalone`] (`fluxd helm-operator`, helm-operator
//!   1.4's flags: [`HelmOperatorFlags`]) or beside the daemon
//!   (`fluxd --helm-operator`), one code path for both.
//!
//! Inside, not public: the deploy key in its Secret (logged as
//! `identity.pub`, regenerated on demand), the jobs and the one commit path
//! every job that changes git goes through (Flux's commit messages as
//! handlebars templates), image automation (the images in use, the registry
//! poller's wiring, choosing updates by Flux's rules), the HTTP server,
//! health and metrics.
//!
//! # Logs
//! One line per event on stderr, logfmt as Flux v1 wrote it or JSON
//! (`--log-format fmt|json`). Each sync logs
//! one summary line (revision, counts per outcome, duration) after one line
//! per failure (resource id, file and line, message). Credentials never
//! appear: URLs are logged without them.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use fluxd::gitsync::{GitUrl, Remote};
//!
//! let remote = Remote::new(GitUrl::parse("file:///srv/config")?);
//! let config = fluxd::Config::new(remote).with_mode(fluxd::Mode::Once);
//! let outcome = fluxd::run(config, std::future::pending()).await?;
//! println!("{outcome:?}");
//! # Ok(()) }
//! ```

#[cfg(feature = "api-types")]
pub mod api;
#[cfg(feature = "daemon")]
mod automation;
#[cfg(feature = "daemon")]
mod cli;
#[cfg(feature = "daemon")]
mod cluster;
#[cfg(feature = "daemon")]
mod daemon;
#[cfg(feature = "daemon")]
mod error;
#[cfg(feature = "daemon")]
mod health;
#[cfg(feature = "daemon")]
pub mod helm_operator;
#[cfg(feature = "daemon")]
mod http;
#[cfg(feature = "daemon")]
mod identity;
#[cfg(feature = "daemon")]
mod jobs;
#[cfg(feature = "daemon")]
mod logging;
#[cfg(feature = "daemon")]
mod metrics;
#[cfg(feature = "daemon")]
mod sync;

#[cfg(feature = "daemon")]
#[doc(hidden)]
pub mod internals;

#[cfg(feature = "daemon")]
use std::process::ExitCode;

#[cfg(feature = "daemon")]
pub use automation::AutomationConfig;
#[cfg(feature = "daemon")]
pub use cli::compat;
#[cfg(feature = "daemon")]
pub use cli::{
    ApiConfig, Config, DeployKeyConfig, Flags, GcMode, GitWriteConfig, GoDuration, LogFormat,
    MAX_FLAG_DURATION, MarkerConfig, Mode, SigningKey, SyncState, VerifySignaturesMode,
    parse_go_duration,
};
// The Helm operator's command line.
#[cfg(feature = "daemon")]
pub use cli::{Command, HelmOperatorFlags, OperatorTuning, TillerFlags};
#[cfg(feature = "daemon")]
pub use cluster::{
    ClusterConfig, ClusterSource, IN_CLUSTER_NAMESPACE_FILE, daemon_namespace, resource_namespace,
};
#[cfg(feature = "daemon")]
pub use daemon::{
    Daemon, JOBS_FILE, JOBS_KEPT, Jobs, RunOutcome, SHUTDOWN_GRACE, SyncLoop, contract, run,
    run_with,
};
#[cfg(feature = "daemon")]
pub use error::Error;
/// The git crate fluxd is built on (published as `fluxd-gitsync`), re-exported
/// so that an embedder names [`gitsync::Remote`] and [`gitsync::GitUrl`] from
/// the version fluxd uses, without a dependency of its own to keep in step.
#[cfg(feature = "daemon")]
pub use gitsync;
#[cfg(feature = "daemon")]
pub use logging::{Logfmt, LogfmtFields, init_logging};
#[cfg(feature = "daemon")]
pub use sync::{
    FIELD_MANAGER, GitSource, LoadedRevision, SYNC_MARKER_ANNOTATION, SecretMarker, SyncRun, Syncer,
};

/// Exit code of a run whose sync or plan found errors, or that could not run.
pub const EXIT_ERRORS: u8 = 1;
/// Exit code of a bad command line or configuration.
pub const EXIT_USAGE: u8 = 2;

#[cfg(feature = "daemon")]
/// The `fluxd` program: parses the process's arguments, runs, and maps the
/// result to an exit code (0 clean, [`EXIT_ERRORS`], [`EXIT_USAGE`]).
pub fn run_cli() -> ExitCode {
    run_cli_from(std::env::args_os())
}

#[cfg(feature = "daemon")]
/// [`run_cli`] over the given arguments (the first is the program name).
pub fn run_cli_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let flags = match Flags::from_command_line(args) {
        Ok(flags) => flags,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE));
        }
    };
    if let Some(Command::HelmOperator(operator)) = &flags.command {
        return run_helm_operator(operator);
    }
    if let Err(error) = init_logging(flags.log_format, &flags.log_level) {
        eprintln!("fluxd: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    let config = match Config::from_flags(&flags) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    // Before any thread uses libgit2 (see gitsync's `set_io_timeout`).
    if let Err(error) = gitsync::set_io_timeout(config.git_timeout) {
        eprintln!("fluxd: {error}");
        return ExitCode::from(EXIT_ERRORS);
    }
    let result = match until_signal(|shutdown| run(config, shutdown)) {
        Ok(result) => result,
        Err(code) => return code,
    };
    match result {
        Ok(RunOutcome::Clean) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(EXIT_ERRORS),
        Err(error) => fail(&error),
    }
}

#[cfg(feature = "daemon")]
/// `fluxd helm-operator`: the Helm operator alone, until SIGTERM.
fn run_helm_operator(flags: &HelmOperatorFlags) -> ExitCode {
    if let Err(error) = init_logging(flags.log_format, &flags.log_level) {
        eprintln!("fluxd: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    let config = match helm_operator::HelmOperatorConfig::from_flags(flags) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    // Before any thread uses libgit2 (see gitsync's `set_io_timeout`).
    if let Err(error) = gitsync::set_io_timeout(flags.git_timeout) {
        eprintln!("fluxd: {error}");
        return ExitCode::from(EXIT_ERRORS);
    }
    let result = match until_signal(|shutdown| helm_operator::run_standalone(config, shutdown)) {
        Ok(result) => result,
        Err(code) => return code,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

#[cfg(feature = "daemon")]
/// Runs `work` on a fresh runtime, with a shutdown signal listened for from
/// the start; the runtime's threads are not waited for past a second (a git
/// operation abandoned after its grace may still block one in libgit2).
fn until_signal<F, T>(
    work: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>) -> F,
) -> Result<T, ExitCode>
where
    F: Future<Output = T>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fluxd: cannot start the async runtime: {error}");
            return Err(ExitCode::from(EXIT_ERRORS));
        }
    };
    let shutdown = {
        let _runtime = runtime.enter();
        Box::pin(shutdown_signal())
    };
    let result = runtime.block_on(work(shutdown));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(result)
}

#[cfg(feature = "daemon")]
fn fail(error: &Error) -> ExitCode {
    eprintln!("fluxd: {error}");
    if let Error::Git(git) = error
        && let Some(hint) = daemon::git_hint(git)
    {
        eprintln!("fluxd: {hint}");
    }
    match error {
        Error::Flag { .. } | Error::NoCluster | Error::ClusterConfig { .. } => {
            ExitCode::from(EXIT_USAGE)
        }
        _ => ExitCode::from(EXIT_ERRORS),
    }
}

/// Listens for SIGTERM and Ctrl-C (SIGINT) from the moment it is called,
/// which must be inside a tokio runtime; the future completes at the first.
/// Listening from the start means a signal during start-up or a `--once`
/// sync gets the same grace as one during the loop, rather than the default
/// action of the signal (death).
#[cfg(all(unix, feature = "daemon"))]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "stopping"),
                    _ = interrupt.recv() => tracing::info!(signal = "SIGINT", "stopping"),
                }
            }
            (Ok(mut terminate), Err(error)) => {
                tracing::warn!(%error, "cannot listen for SIGINT; only SIGTERM stops fluxd");
                terminate.recv().await;
                tracing::info!(signal = "SIGTERM", "stopping");
            }
            (Err(error), Ok(mut interrupt)) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops fluxd");
                interrupt.recv().await;
                tracing::info!(signal = "SIGINT", "stopping");
            }
            // No way to be told to stop: run until killed.
            (Err(error), Err(_)) => {
                tracing::warn!(%error, "cannot listen for SIGTERM or SIGINT");
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Completes at the first Ctrl-C.
#[cfg(all(not(unix), feature = "daemon"))]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!(signal = "SIGINT", "stopping"),
            // No way to be told to stop: run until killed.
            Err(error) => {
                tracing::warn!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    }
}

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
