//! fluxctl's command line: Flux v1's commands, flags, short flags,
//! defaults and help texts (`cmd/fluxctl/*_cmd.go`).

use clap::{Args, Parser, Subcommand, ValueEnum};

const ROOT_LONG_HELP: &str = "fluxctl helps you deploy your code.

Connecting:

  # To a fluxd running in namespace \"default\" in your current kubectl context
  fluxctl list-workloads

  # To a fluxd running in namespace \"weave\" in your current kubectl context
  fluxctl --k8s-fwd-ns=weave list-workloads

  # To a fluxd listening on a URL (no port forward)
  fluxctl --url http://127.0.0.1:3030/api/flux list-workloads

Workflow:
  fluxctl list-workloads                                                   # Which workloads are running?
  fluxctl list-images --workload=default:deployment/foo                    # Which images are running/available?
  fluxctl release --workload=default:deployment/foo --update-image=bar:v2  # Release new version.";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "fluxctl",
    about = "fluxctl helps you deploy your code.",
    long_about = ROOT_LONG_HELP,
    disable_version_flag = true,
    arg_required_else_help = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalFlags,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every command takes (Flux's persistent flags). Those left
/// unset come from the environment: FLUX_FORWARD_NAMESPACE,
/// FLUX_FORWARD_LABELS, FLUX_URL, FLUX_TIMEOUT, FLUX_SERVICE_TOKEN.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global Flags")]
pub(crate) struct GlobalFlags {
    /// The kubeconfig context to use, will use your current selected if not specified
    #[arg(long, global = true, value_name = "string")]
    pub context: Option<String>,
    /// Namespace in which fluxd is running, for creating a port forward to access the API. No port forward will be created if a URL is given. You can also set the environment variable FLUX_FORWARD_NAMESPACE [default: default]
    #[arg(long = "k8s-fwd-ns", global = true, value_name = "string")]
    pub k8s_fwd_ns: Option<String>,
    /// Labels used to select the fluxd pod a port forward should be created for. You can also set the environment variable FLUX_FORWARD_LABELS [default: app=flux]
    #[arg(long = "k8s-fwd-labels", global = true, value_name = "key=value,...")]
    pub k8s_fwd_labels: Option<String>,
    /// Base URL of the Flux API, e.g. http://127.0.0.1:3030/api/flux (no port forward then); you can also set the environment variable FLUX_URL
    #[arg(short = 'u', long, global = true, value_name = "string")]
    pub url: Option<String>,
    /// API token, sent as Flux sent it (Authorization: Scope-Probe token=...), for a fluxd that requires one; you can also set the environment variable FLUX_SERVICE_TOKEN
    #[arg(short = 't', long, global = true, value_name = "string")]
    pub token: Option<String>,
    /// Global command timeout (how long to wait for a job or a sync, and for each request); you can also set the environment variable FLUX_TIMEOUT [default: 60s]
    #[arg(long, global = true, value_name = "duration")]
    pub timeout: Option<String>,
}

/// fluxctl's commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Output the version of fluxctl
    Version(NoArgs),
    /// Show deployed and available images.
    #[command(
        after_help = "Examples:\n  fluxctl list-images --namespace default --workload=deployment/foo"
    )]
    ListImages(ListImages),
    /// List workloads currently running in the cluster.
    #[command(
        visible_alias = "list-controllers",
        after_help = "Examples:\n  fluxctl list-workloads"
    )]
    ListWorkloads(ListWorkloads),
    /// Release a new version of a workload.
    #[command(after_help = "Examples:
  fluxctl release -n default --workload=deployment/foo --update-image=library/hello:v2
  fluxctl release --all --update-image=library/hello:v2
  fluxctl release --workload=default:deployment/foo --update-all-images")]
    Release(Release),
    /// Turn on automatic deployment for a workload.
    #[command(
        after_help = "Examples:\n  fluxctl automate --workload=default:deployment/helloworld",
        mut_arg("workload", |a| a.help("Workload to automate"))
    )]
    Automate(WorkloadPolicyShortcut),
    /// Turn off automatic deployment for a workload.
    #[command(
        after_help = "Examples:\n  fluxctl deautomate --workload=default:deployment/helloworld",
        mut_arg("workload", |a| a.help("Workload to deautomate"))
    )]
    Deautomate(WorkloadPolicyShortcut),
    /// Lock a workload, so it cannot be deployed.
    #[command(
        after_help = "Examples:\n  fluxctl lock --workload=default:deployment/helloworld",
        mut_arg("workload", |a| a.help("Workload to lock"))
    )]
    Lock(WorkloadPolicyShortcut),
    /// Unlock a workload, so it can be deployed.
    #[command(
        after_help = "Examples:\n  fluxctl unlock --workload=default:deployment/helloworld",
        mut_arg("workload", |a| a.help("Workload to unlock"))
    )]
    Unlock(WorkloadPolicyShortcut),
    /// Manage policies for a workload.
    #[command(
        long_about = "Manage policies for a workload.

Tag filter patterns must be specified as 'container=pattern', such as 'foo=1.*'
where an asterisk means 'match anything'.
Surrounding these with single-quotes are recommended to avoid shell expansion.

If both --tag-all and --tag are specified, --tag-all will apply to all
containers which aren't explicitly named.",
        after_help = "Examples:
  fluxctl policy --workload=default:deployment/foo --automate
  fluxctl policy --workload=default:deployment/foo --lock
  fluxctl policy --workload=default:deployment/foo --tag='bar=1.*' --tag='baz=2.*'
  fluxctl policy --workload=default:deployment/foo --tag-all='master-*' --tag='bar=1.*'"
    )]
    Policy(Policy),
    /// Save workload definitions to local files in cluster-native format
    #[command(after_help = "Examples:\n  fluxctl save")]
    Save(Save),
    /// Display SSH public key
    Identity(Identity),
    /// Synchronize the cluster with the git repository, now
    Sync(NoArgs),
    /// Output shell completion code for the specified shell (bash, zsh, or fish)
    Completion(Completion),
}

impl Command {
    /// The command's name as Flux prints it in `Run 'fluxctl <name> --help'`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Version(_) => "version",
            Self::ListImages(_) => "list-images",
            Self::ListWorkloads(_) => "list-workloads",
            Self::Release(_) => "release",
            Self::Automate(_) => "automate",
            Self::Deautomate(_) => "deautomate",
            Self::Lock(_) => "lock",
            Self::Unlock(_) => "unlock",
            Self::Policy(_) => "policy",
            Self::Save(_) => "save",
            Self::Identity(_) => "identity",
            Self::Sync(_) => "sync",
            Self::Completion(_) => "completion",
        }
    }
}

/// A command without flags of its own; positional arguments are refused
/// with Flux's message.
#[derive(Debug, Args)]
pub(crate) struct NoArgs {
    /// Positional arguments (refused).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `-o/--output-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Tables.
    Tab,
    /// JSON, one line.
    Json,
}

/// `list-images`.
#[derive(Debug, Args)]
pub(crate) struct ListImages {
    /// Namespace
    #[arg(short = 'n', long, value_name = "string")]
    pub namespace: Option<String>,
    /// Show images for this workload
    #[arg(short = 'w', long, value_name = "string")]
    pub workload: Option<String>,
    /// Number of images to show (0 for all)
    #[arg(short = 'l', long, default_value_t = 10, value_name = "int")]
    pub limit: i64,
    /// Don't print headers (default print headers)
    #[arg(long)]
    pub no_headers: bool,
    /// Output format (tab or json)
    #[arg(short = 'o', long, default_value = "tab", value_name = "string")]
    pub output_format: String,
    /// Show images for this controller (deprecated: changed to --workload, use that instead)
    #[arg(short = 'c', long, hide = true, value_name = "string")]
    pub controller: Option<String>,
    /// Positional arguments (refused).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `list-workloads`.
#[derive(Debug, Args)]
pub(crate) struct ListWorkloads {
    /// Confine query to namespace
    #[arg(short = 'n', long, value_name = "string")]
    pub namespace: Option<String>,
    /// Query across all namespaces
    #[arg(short = 'a', long)]
    pub all_namespaces: bool,
    /// Filter workloads by container name
    #[arg(short = 'c', long, value_name = "string")]
    pub container: Option<String>,
    /// Don't print headers (default print headers)
    #[arg(long)]
    pub no_headers: bool,
    /// Output format (tab or json)
    #[arg(short = 'o', long, default_value = "tab", value_name = "string")]
    pub output_format: String,
    /// Positional arguments (refused).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `-m/--message` and `--user`.
#[derive(Debug, Args)]
pub(crate) struct CauseFlags {
    /// attach a message to the update
    #[arg(
        short = 'm',
        long,
        value_name = "string",
        default_value = "",
        hide_default_value = true
    )]
    pub message: String,
    /// override the user reported as initiating the update [default: from git config user.name and user.email]
    #[arg(long, value_name = "string")]
    pub user: Option<String>,
}

/// `release`.
#[derive(Debug, Args)]
pub(crate) struct Release {
    /// Workload namespace
    #[arg(short = 'n', long, value_name = "string")]
    pub namespace: Option<String>,
    /// List of workloads to release, `<namespace>:<kind>/<name>` (the help
    /// text is Flux's, word for word).
    #[arg(
        long = "workload",
        value_delimiter = ',',
        value_name = "strings",
        help = "List of workloads to release <namespace>:<kind>/<name>"
    )]
    pub workloads: Vec<String>,
    /// Release all workloads
    #[arg(long)]
    pub all: bool,
    /// Update a specific image
    #[arg(short = 'i', long, value_name = "string")]
    pub update_image: Option<String>,
    /// Update all images to latest versions
    #[arg(long)]
    pub update_all_images: bool,
    /// List of workloads to exclude
    #[arg(long, value_delimiter = ',', value_name = "strings")]
    pub exclude: Vec<String>,
    /// Do not release anything; just report back what would have been done
    #[arg(long)]
    pub dry_run: bool,
    /// Select interactively which containers to update
    #[arg(long)]
    pub interactive: bool,
    /// Disregard locks and container image filters (has no effect when used with --all or --update-all-images)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Watch rollout progress during release
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// include skipped (and ignored, with -vv) workloads in output
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Who and why.
    #[command(flatten)]
    pub cause: CauseFlags,
    /// List of controllers to release, `<namespace>:<kind>/<name>`
    /// (deprecated: changed to --workload, use that instead).
    #[arg(
        short = 'c',
        long = "controller",
        hide = true,
        value_delimiter = ',',
        value_name = "strings",
        help = "List of controllers to release <namespace>:<kind>/<name> (deprecated: changed to --workload, use that instead)"
    )]
    pub controllers: Vec<String>,
    /// Positional arguments (refused).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `automate`, `deautomate`, `lock`, `unlock`.
#[derive(Debug, Args)]
pub(crate) struct WorkloadPolicyShortcut {
    /// Workload namespace
    #[arg(short = 'n', long, value_name = "string")]
    pub namespace: Option<String>,
    /// Workload to change
    #[arg(short = 'w', long, value_name = "string")]
    pub workload: Option<String>,
    /// include skipped (and ignored, with -vv) workloads in output
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Who and why.
    #[command(flatten)]
    pub cause: CauseFlags,
    /// Controller to change (deprecated: changed to --workload, use that instead)
    #[arg(short = 'c', long, hide = true, value_name = "string")]
    pub controller: Option<String>,
    /// Positional arguments (refused).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `policy`.
#[derive(Debug, Args)]
pub(crate) struct Policy {
    /// Workload namespace
    #[arg(short = 'n', long, value_name = "string")]
    pub namespace: Option<String>,
    /// Workload to modify
    #[arg(short = 'w', long, value_name = "string")]
    pub workload: Option<String>,
    /// Tag filter pattern to apply to all containers
    #[arg(long, value_name = "string")]
    pub tag_all: Option<String>,
    /// Tag filter container/pattern pairs
    #[arg(long = "tag", value_delimiter = ',', value_name = "strings")]
    pub tags: Vec<String>,
    /// Automate workload
    #[arg(long)]
    pub automate: bool,
    /// Deautomate workload
    #[arg(long)]
    pub deautomate: bool,
    /// Lock workload
    #[arg(long)]
    pub lock: bool,
    /// Unlock workload
    #[arg(long)]
    pub unlock: bool,
    /// include skipped (and ignored, with -vv) workloads in output
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Who and why.
    #[command(flatten)]
    pub cause: CauseFlags,
    /// Controller to modify (deprecated: changed to --workload, use that instead)
    #[arg(short = 'c', long, hide = true, value_name = "string")]
    pub controller: Option<String>,
    /// Positional arguments (refused).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `save`.
#[derive(Debug, Args)]
pub(crate) struct Save {
    /// Output path for exported config; the default. '-' indicates stdout; if a directory is given, each item will be saved in a file under the directory
    #[arg(short = 'o', long, default_value = "-", value_name = "string")]
    pub out: String,
    /// Positional arguments (refused).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `identity`.
#[derive(Debug, Args)]
pub(crate) struct Identity {
    /// Generate a new identity
    #[arg(short = 'r', long)]
    pub regenerate: bool,
    /// Show fingerprint of public key
    #[arg(short = 'l', long)]
    pub fingerprint: bool,
    /// Show ASCII art representation with fingerprint (implies -l)
    #[arg(short = 'v', long)]
    pub visual: bool,
    /// Positional arguments (refused).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `completion SHELL`.
#[derive(Debug, Args)]
pub(crate) struct Completion {
    /// bash, zsh or fish
    #[arg(value_name = "SHELL")]
    pub shells: Vec<String>,
}
