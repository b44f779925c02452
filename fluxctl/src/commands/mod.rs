//! One function per command, each validating its flags (with Flux's
//! messages) before it reaches fluxd.

mod identity;
mod list;
mod policy;
mod release;
mod save;
mod sync;

use std::time::Duration;

use crate::cli::{Cli, Command, GlobalFlags};
use crate::client::Client;
use crate::error::Error;
use crate::portforward::{self, PortForward};
use crate::{Env, Io, kubeconfig};

/// The default of `--timeout`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The global flags with the environment applied (only to flags not given,
/// as Flux's `setFromEnvIfNotSet`).
#[derive(Debug, Clone)]
pub(crate) struct Globals {
    pub(crate) context: Option<String>,
    pub(crate) forward_namespace: String,
    pub(crate) forward_labels: String,
    pub(crate) url: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) timeout: Duration,
}

impl Globals {
    pub(crate) fn resolve(flags: &GlobalFlags, env: Env<'_>) -> Result<Self, Error> {
        let from_env = |flag: &Option<String>, names: &[&str]| -> Option<String> {
            flag.clone().or_else(|| {
                // Flux sets the flag from each variable in turn: the last set wins.
                names
                    .iter()
                    .filter_map(|name| env(name).filter(|v| !v.is_empty()))
                    .last()
            })
        };
        let timeout = match from_env(&flags.timeout, &["FLUX_TIMEOUT"]) {
            None => DEFAULT_TIMEOUT,
            Some(text) => fluxd::api::GoDuration::parse(&text)
                .map(|d| d.0)
                .map_err(|error| {
                    let error = error.go_message();
                    let source = if flags.timeout.is_some() {
                        "--timeout flag"
                    } else {
                        "FLUX_TIMEOUT"
                    };
                    Error::Usage(format!("invalid argument {text:?} for {source}: {error}"))
                })?,
        };
        Ok(Self {
            context: flags.context.clone().filter(|c| !c.is_empty()),
            forward_namespace: from_env(&flags.k8s_fwd_ns, &["FLUX_FORWARD_NAMESPACE"])
                .unwrap_or_else(|| "default".to_owned()),
            forward_labels: from_env(&flags.k8s_fwd_labels, &["FLUX_FORWARD_LABELS"])
                .unwrap_or_else(|| "app=flux".to_owned()),
            url: from_env(&flags.url, &["FLUX_URL"]).filter(|u| !u.is_empty()),
            token: from_env(&flags.token, &["FLUX_SERVICE_TOKEN", "WEAVE_CLOUD_TOKEN"]),
            timeout,
        })
    }
}

/// What a command runs with: its flags, the environment, and (once it asks)
/// the connection to fluxd.
pub(crate) struct Context<'a> {
    pub(crate) env: Env<'a>,
    pub(crate) globals: Globals,
    client: Option<Client>,
    forward: Option<PortForward>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(env: Env<'a>, globals: Globals) -> Self {
        Self {
            env,
            globals,
            client: None,
            forward: None,
        }
    }

    /// `-n`, else the kubeconfig context's namespace, else `default`.
    pub(crate) fn namespace(&self, flag: Option<&str>) -> String {
        kubeconfig::namespace_or_default(self.env, flag, self.globals.context.as_deref())
    }

    /// The client of fluxd: `--url`, else a port-forward to its pod.
    pub(crate) async fn client(&mut self) -> Result<Client, Error> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let url = match &self.globals.url {
            Some(url) => url.clone(),
            None => {
                let labels = portforward::parse_labels(&self.globals.forward_labels)?;
                let kube = kubeconfig::client(self.env, self.globals.context.as_deref())
                    .await
                    .map_err(|error| {
                        Error::PortForward(format!(
                            "Could not load kubernetes configuration file: {error}"
                        ))
                    })?;
                let namespace = &self.globals.forward_namespace;
                let selectors = [
                    portforward::labels_selector(&labels),
                    portforward::FALLBACK_SELECTOR.to_owned(),
                ];
                let pod = portforward::find_pod(&kube, namespace, &selectors).await?;
                let forward =
                    portforward::start(&kube, namespace, &pod, portforward::FLUXD_PORT).await?;
                let url = format!("http://127.0.0.1:{}/api/flux", forward.local_port);
                self.forward = Some(forward);
                url
            }
        };
        let client = Client::new(&url, self.globals.token.clone(), self.globals.timeout)?;
        self.client = Some(client.clone());
        Ok(client)
    }
}

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli, env: Env<'_>, io: &mut Io<'_>) -> Result<(), Error> {
    if let Command::Version(args) = &cli.command {
        crate::error::no_args(&args.args)?;
        let _ = writeln!(io.out, "{}", crate::VERSION);
        return Ok(());
    }
    if let Command::Completion(args) = &cli.command {
        return completion(&args.shells, io);
    }
    let globals = Globals::resolve(&cli.global, env)?;
    let mut context = Context::new(env, globals);
    match cli.command {
        Command::Version(_) | Command::Completion(_) => Ok(()),
        Command::ListWorkloads(args) => list::workloads(&mut context, io, args).await,
        Command::ListImages(args) => list::images(&mut context, io, args).await,
        Command::Release(args) => release::run(&mut context, io, args).await,
        Command::Automate(args) => {
            policy::shortcut(&mut context, io, args, policy::Shortcut::Automate).await
        }
        Command::Deautomate(args) => {
            policy::shortcut(&mut context, io, args, policy::Shortcut::Deautomate).await
        }
        Command::Lock(args) => {
            policy::shortcut(&mut context, io, args, policy::Shortcut::Lock).await
        }
        Command::Unlock(args) => {
            policy::shortcut(&mut context, io, args, policy::Shortcut::Unlock).await
        }
        Command::Policy(args) => policy::run(&mut context, io, args).await,
        Command::Save(args) => save::run(&mut context, io, args).await,
        Command::Identity(args) => identity::run(&mut context, io, args).await,
        Command::Sync(args) => sync::run(&mut context, io, args).await,
    }
}

/// `completion SHELL` (Flux's messages for no shell, several, an unknown one).
fn completion(shells: &[String], io: &mut Io<'_>) -> Result<(), Error> {
    use clap::CommandFactory as _;
    use clap_complete::Shell;
    let shell = match shells {
        [] => return Err(Error::Usage("please specify a shell".to_owned())),
        [shell] => shell,
        _ => {
            return Err(Error::Usage(
                "please specify one of the following shells: bash fish zsh".to_owned(),
            ));
        }
    };
    let shell = match shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => return Err(Error::Usage(format!("unsupported shell type {other:?}"))),
    };
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "fluxctl", &mut io.out);
    Ok(())
}

/// Flux's `getCommitAuthor`: `Name <email>` from `git config`, or whichever
/// of the two is set, or empty.
pub(crate) fn commit_author() -> String {
    let get = |key: &str| -> String {
        std::process::Command::new("git")
            .args(["config", "--get", "--null", key])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .trim_matches('\0')
                    .to_owned()
            })
            .unwrap_or_default()
    };
    let (name, email) = (get("user.name"), get("user.email"));
    match (name.is_empty(), email.is_empty()) {
        (false, false) => format!("{name} <{email}>"),
        (true, false) => email,
        (false, true) => name,
        (true, true) => String::new(),
    }
}

/// The `Cause` of an update from `-m` and `--user`.
pub(crate) fn cause(flags: &crate::cli::CauseFlags) -> fluxd::api::Cause {
    fluxd::api::Cause {
        message: flags.message.clone(),
        user: flags.user.clone().unwrap_or_else(commit_author),
    }
}

/// cobra's notice for a deprecated flag that was used.
pub(crate) fn deprecated_flag(io: &mut Io<'_>, flag: &str) {
    let _ = writeln!(
        io.err,
        "Flag --{flag} has been deprecated, changed to --workload, use that instead"
    );
}
