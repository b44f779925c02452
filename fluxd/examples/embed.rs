//! Embeds the fluxd daemon in another program: a [`fluxd::Config`] built in
//! code ([`fluxd::Config::new`] and its `with_*` setters), then
//! [`fluxd::run`] until Ctrl-C (or one sync with `--once`).
//!
//! ```text
//! cargo run -p fluxd --example embed -- GIT_URL [--path P]... [--branch B]
//!     [--namespace NS]... [--kubeconfig FILE] [--state-dir DIR] [--once | --dry-run]
//! ```
//!
//! - `GIT_URL`: the repository to sync (`file://`, `https://`, `ssh://`).
//! - `--path P`: paths in the repository to apply (repeatable; default all).
//! - `--branch B`: the branch (default: the remote's default branch).
//! - `--namespace NS`: restrict the daemon to these namespaces (repeatable;
//!   default every namespace).
//! - `--kubeconfig FILE`: the cluster; without it `KUBECONFIG`, then
//!   `~/.kube/config`, then the in-cluster ServiceAccount.
//! - `--state-dir DIR`: where the daemon keeps its job queue and caches
//!   (default `./state`).
//! - `--once`: one sync, then exit; `--dry-run`: one plan, changing nothing.
//!
//! The daemon logs as fluxd does (logfmt on stderr); when it ends, this
//! prints `outcome clean`, `outcome errors` or `outcome interrupted` on
//! stdout and exits 0, 1 or 1. Its HTTP API listens on 127.0.0.1:3030, and
//! registry scanning (image automation) is off.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fluxd::gitsync::{GitUrl, Remote};
use fluxd::{ApiConfig, AutomationConfig, Config, LogFormat, Mode, RunOutcome};

/// The command line.
struct Args {
    url: String,
    paths: Vec<String>,
    branch: Option<String>,
    namespaces: Vec<String>,
    kubeconfig: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    mode: Mode,
}

const USAGE: &str = "usage: embed GIT_URL [--path P]... [--branch B] [--namespace NS]... [--kubeconfig FILE] [--state-dir DIR] [--once | --dry-run]";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut paths = Vec::new();
    let mut branch = None;
    let mut namespaces = Vec::new();
    let mut kubeconfig = None;
    let mut state_dir = None;
    let mut mode = Mode::Daemon;
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--path" => paths.push(value("--path")?),
            "--branch" => branch = Some(value("--branch")?),
            "--namespace" => namespaces.push(value("--namespace")?),
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value("--kubeconfig")?)),
            "--state-dir" => state_dir = Some(PathBuf::from(value("--state-dir")?)),
            "--once" => mode = Mode::Once,
            "--dry-run" => mode = Mode::DryRun,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
            _ if url.is_none() => url = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Args {
        url: url.ok_or("the git URL is missing")?,
        paths,
        branch,
        namespaces,
        kubeconfig,
        state_dir,
        mode,
    })
}

/// The daemon's configuration, made in code: fluxd's defaults (those of
/// its flags), changed where this program differs.
fn config(args: Args) -> Result<Config, String> {
    let url = GitUrl::parse(&args.url).map_err(|e| e.to_string())?;
    let remote = Remote::new(url).with_timeout(Duration::from_secs(20));
    Ok(Config::new(remote)
        .with_branch(args.branch)
        .with_paths(args.paths)
        .with_allowed_namespaces(args.namespaces)
        .with_kubeconfig(args.kubeconfig)
        .with_state_dir(args.state_dir)
        .with_mode(args.mode)
        // The API on loopback only, and no registry scanning.
        .with_api(ApiConfig::new(SocketAddr::from(([127, 0, 0, 1], 3030))))
        .with_automation(AutomationConfig::default().with_disabled(true)))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("embed: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = fluxd::init_logging(LogFormat::Fmt, "info") {
        eprintln!("embed: {error}");
        return ExitCode::from(2);
    }
    let config = match config(args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("embed: {error}");
            return ExitCode::from(2);
        }
    };
    // Once per process, before libgit2 is used.
    if let Err(error) = fluxd::gitsync::set_io_timeout(config.git_timeout) {
        eprintln!("embed: {error}");
        return ExitCode::from(1);
    }
    match fluxd::run(config, fluxd::shutdown_signal()).await {
        Ok(RunOutcome::Clean) => {
            println!("outcome clean");
            ExitCode::SUCCESS
        }
        Ok(RunOutcome::Errors) => {
            println!("outcome errors");
            ExitCode::from(1)
        }
        Ok(_) => {
            println!("outcome interrupted");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("embed: {error}");
            ExitCode::from(1)
        }
    }
}
