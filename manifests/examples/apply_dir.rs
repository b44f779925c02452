//! Applies a directory of manifests to a cluster the way fluxd syncs a git
//! checkout, with garbage collection in dry-run mode: by default it only
//! plans (server-side dry-runs, nothing changes); with `--apply` it applies,
//! and objects this directory applied before but no longer holds are
//! reported as `would-prune`, never deleted.
//!
//! ```text
//! cargo run -p manifests --features cluster --example apply_dir -- \
//!     DIR [--path SUBDIR]... [--namespace NS] [--kubeconfig FILE] [--apply]
//! ```
//!
//! - `DIR`: the directory to load (as fluxd loads a checkout: YAML files,
//!   Helm chart directories skipped).
//! - `--path SUBDIR`: only these paths under `DIR` (repeatable; default the
//!   whole directory). The paths are part of the garbage-collection mark, as
//!   `--git-path` is for fluxd, so keep them the same between runs.
//! - `--namespace NS`: the namespace of namespaced manifests that name none
//!   (default `default`).
//! - `--kubeconfig FILE`: the cluster; without it `KUBECONFIG`, then
//!   `~/.kube/config`, then the in-cluster ServiceAccount.
//! - `--apply`: apply instead of planning.
//!
//! One line per resource on stdout (`<action> <id> <file:line>`, the action
//! being `create`, `change`, `unchanged`, `skip`, `fail` or `prune` for a
//! plan, and `created`, `configured`, `unchanged`, `skipped`, `failed` or
//! `would-prune` for an apply), then a summary line. Exits 1 when a manifest
//! did not load or a resource failed, 2 on a bad command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use manifests::cluster::{
    Engine, EngineConfig, GarbageCollection, PlanAction, ResourceOutcome, SyncSet, sync_set_name,
};
use manifests::{LoadOptions, load};

/// The command line.
struct Args {
    dir: PathBuf,
    paths: Vec<String>,
    namespace: String,
    kubeconfig: Option<PathBuf>,
    apply: bool,
}

const USAGE: &str =
    "usage: apply_dir DIR [--path SUBDIR]... [--namespace NS] [--kubeconfig FILE] [--apply]";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut paths = Vec::new();
    let mut namespace = "default".to_owned();
    let mut kubeconfig = None;
    let mut apply = false;
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--path" => paths.push(value("--path")?),
            "--namespace" => namespace = value("--namespace")?,
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value("--kubeconfig")?)),
            "--apply" => apply = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let dir = dir.ok_or("the directory to apply is missing")?;
    if paths.is_empty() {
        paths.push(".".to_owned());
    }
    Ok(Args {
        dir,
        paths,
        namespace,
        kubeconfig,
        apply,
    })
}

/// A client for `--kubeconfig`, or kube's usual search when none is given.
async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, String> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| format!("using {}: {e}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("finding a cluster: {e}"))?,
    };
    kube::Client::try_from(config).map_err(|e| format!("connecting to the cluster: {e}"))
}

async fn run(args: Args) -> Result<bool, String> {
    // Load the directory as fluxd loads a checkout.
    let options = LoadOptions::new().with_default_namespace(args.namespace.clone());
    let loaded = load(&args.dir, &args.paths, &options);
    for error in &loaded.errors {
        eprintln!("apply_dir: {error}");
    }
    // The set's name goes into every object's garbage-collection mark: the
    // same directory and paths give the same name, so a later run finds the
    // objects an earlier one applied.
    let dir = args
        .dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let set = SyncSet {
        name: sync_set_name(&format!("file://{}", dir.display()), "", &args.paths),
        complete: loaded.is_complete(),
        resources: loaded.resources,
    };
    let config = EngineConfig::new()
        .with_gc(GarbageCollection::DryRun)
        .with_default_namespace(args.namespace);
    let engine = Engine::new(client(args.kubeconfig.as_deref()).await?, config)
        .map_err(|e| e.to_string())?;
    let mut ok = loaded.errors.is_empty();

    if !args.apply {
        let plan = engine.plan(&set).await.map_err(|e| e.to_string())?;
        for entry in &plan.entries {
            let (action, detail) = match &entry.action {
                PlanAction::Create => ("create", String::new()),
                PlanAction::Change { diff } => {
                    let fields: Vec<&str> = diff.iter().map(|c| c.path.as_str()).collect();
                    ("change", fields.join(","))
                }
                PlanAction::Unchanged => ("unchanged", String::new()),
                PlanAction::Skip { reason } => ("skip", reason.clone()),
                PlanAction::Fail { message } => {
                    ok = false;
                    ("fail", message.clone())
                }
                PlanAction::Prune => ("prune", String::new()),
                // Actions added in later versions.
                _ => ("other", format!("{:?}", entry.action)),
            };
            print_line(action, &entry.id, entry.source.as_ref(), &detail);
        }
        for error in &plan.errors {
            ok = false;
            eprintln!("apply_dir: {error}");
        }
        println!("planned {} resources, changed nothing", plan.entries.len());
        return Ok(ok);
    }

    let report = engine.sync(&set).await;
    for result in &report.results {
        let (action, detail) = match &result.outcome {
            ResourceOutcome::Created => ("created", String::new()),
            ResourceOutcome::Configured => ("configured", String::new()),
            ResourceOutcome::Unchanged => ("unchanged", String::new()),
            ResourceOutcome::Skipped { reason } => ("skipped", reason.clone()),
            ResourceOutcome::Failed { message } => ("failed", message.clone()),
            ResourceOutcome::Pruned => ("pruned", String::new()),
            ResourceOutcome::WouldPrune => ("would-prune", String::new()),
            // Outcomes added in later versions.
            _ => ("other", format!("{:?}", result.outcome)),
        };
        print_line(action, &result.id, result.source.as_ref(), &detail);
    }
    for error in &report.errors {
        eprintln!("apply_dir: {error}");
    }
    if let Some(why) = &report.incomplete {
        eprintln!("apply_dir: the sync did not run to completion: {why}");
    }
    let counts = report.counts();
    println!(
        "applied: created={} configured={} unchanged={} skipped={} failed={} would_prune={}",
        counts.created,
        counts.configured,
        counts.unchanged,
        counts.skipped,
        counts.failed,
        counts.would_prune
    );
    Ok(ok && report.is_success())
}

/// `<action> <id> [<file:line>] [<detail>]`, tab-separated.
fn print_line(
    action: &str,
    id: &manifests::ResourceId,
    source: Option<&manifests::SourceLocation>,
    detail: &str,
) {
    let source = source.map(ToString::to_string).unwrap_or_default();
    println!("{action}\t{id}\t{source}\t{detail}");
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("apply_dir: {error}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("apply_dir: {error}");
            ExitCode::from(1)
        }
    }
}
