//! `fluxctl`: Flux v1's command-line client, for fluxd.
//!
//! Every command of Flux v1's fluxctl that still has meaning, with its
//! flags, defaults, environment variables, messages, exit codes and
//! output, so that scripts written against Flux v1's fluxctl keep working:
//! `version`, `identity`, `list-workloads` (alias `list-controllers`),
//! `list-images`, `release`, `automate`, `deautomate`, `lock`, `unlock`,
//! `policy`, `sync`, `save` and `completion`. `fluxctl --help` (and
//! `fluxctl <command> --help`) is the reference.
//!
//! # Usage
//!
//! fluxctl talks to fluxd's HTTP API. Give its URL with `--url` (or
//! `FLUX_URL`), e.g. `http://127.0.0.1:3030/api/flux`; without one,
//! fluxctl finds the one Running pod labelled `app=flux` (`--k8s-fwd-labels`,
//! `FLUX_FORWARD_LABELS`; then `name in (flux,fluxd,weave-flux-agent)`) in
//! namespace `default` (`--k8s-fwd-ns`, `FLUX_FORWARD_NAMESPACE`) of the
//! kubeconfig's current context (`--context`) and forwards a local port
//! to its port 3030 through the Kubernetes API.
//!
//! ```text
//! fluxctl --k8s-fwd-ns flux list-workloads -n demo
//! fluxctl list-images --workload demo:deployment/podinfo
//! fluxctl release --workload demo:deployment/podinfo --update-image stefanprodan/podinfo:3.1.5
//! fluxctl automate --workload demo:deployment/podinfo
//! fluxctl lock --workload demo:deployment/podinfo -m "hold for the demo"
//! fluxctl policy --workload demo:deployment/podinfo --tag podinfod='semver:~3.1'
//! fluxctl sync
//! fluxctl identity
//! fluxctl save --out config/
//! ```
//!
//! Workloads are `namespace:kind/name`, or `kind/name` in the namespace of
//! `-n`, else of the kubeconfig context, else `default`. Commands that
//! change git wait for fluxd's job (and `release` and `sync` for the
//! commit to be applied) up to `--timeout` (`FLUX_TIMEOUT`, default
//! `60s`), with a spinner on a terminal. Every error exits 1, as Flux's.
//!
//! # Public surface
//! The library is the program: [`run`] over the process's arguments,
//! environment and output, and [`run_with`] over given ones ([`Env`],
//! [`Io`]), as tests and wrappers call it; `main` only maps its [`Error`]
//! to an exit code. [`VERSION`], [`JOB_TIMEOUT_MESSAGE`] and
//! [`SYNC_TIMEOUT_MESSAGE`] are what scripts match on. Everything else
//! (the command line, the API client over `fluxd::api`, Flux's tables byte
//! for byte, the pod lookup and port-forward, waiting with Flux's backoffs)
//! is inside.

mod cli;
mod client;
mod commands;
mod error;
mod interactive;
mod kubeconfig;
mod portforward;
mod tables;
mod tabwriter;
mod wait;

use std::io::Write;

use clap::Parser as _;

pub use error::Error;
pub use wait::{JOB_TIMEOUT_MESSAGE, SYNC_TIMEOUT_MESSAGE};

/// fluxctl's version, as `fluxctl version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How fluxctl reads its environment (a process's, or a test's).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Where fluxctl writes: tables and data to `out`, progress and messages
/// to `err`, as Flux's did.
pub struct Io<'a> {
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// Whether `err` is a terminal (a spinner while waiting) and the
    /// keyboard can be read (`release --interactive`).
    pub terminal: bool,
}

/// fluxctl over the process's arguments, environment, stdout and stderr.
/// Errors are reported (as Flux's fluxctl does) before they are returned.
pub fn run<I, T>(args: I) -> Result<(), Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use std::io::IsTerminal as _;
    let env = |name: &str| std::env::var(name).ok();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    let terminal = err.is_terminal() && std::io::stdin().is_terminal();
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        terminal,
    };
    run_with(args, &env, &mut io)
}

/// The command a failed command line was about, for Flux's
/// `Run 'fluxctl <command> --help' for usage.` line.
fn command_path(args: &[std::ffi::OsString]) -> String {
    use clap::CommandFactory as _;
    let command = cli::Cli::command();
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(sub) = command
            .get_subcommands()
            .find(|s| s.get_name() == arg || s.get_all_aliases().any(|a| a == arg))
        {
            return format!("fluxctl {}", sub.get_name());
        }
    }
    "fluxctl".to_owned()
}

/// fluxctl over given arguments (the first is the program's name),
/// environment and output. Errors are reported on `io.err` before they are
/// returned.
pub fn run_with<I, T>(args: I, env: Env<'_>, io: &mut Io<'_>) -> Result<(), Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return report_parse_error(&error, &command_path(&args), io),
    };
    let path = format!("fluxctl {}", cli.command.name());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::Failed(format!("cannot start the async runtime: {error}")));
    let result = match runtime {
        Ok(runtime) => runtime.block_on(commands::run(cli, env, io)),
        Err(error) => Err(error),
    };
    if let Err(error) = &result {
        error.report(&path, io.err);
    }
    let _ = io.out.flush();
    result
}

/// clap's help goes to stdout (exit 0); its errors are reported as Flux's
/// usage errors (exit 1).
fn report_parse_error(error: &clap::Error, path: &str, io: &mut Io<'_>) -> Result<(), Error> {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        | ErrorKind::DisplayVersion => {
            let _ = write!(io.out, "{}", error.render());
            Ok(())
        }
        _ => {
            let rendered = error.render().to_string();
            let message = rendered
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned();
            let error = Error::Usage(message);
            error.report(path, io.err);
            Err(error)
        }
    }
}
