//! Prints the values a HelmRelease (read from a file) gives its chart, merged
//! as the operator merges them before `helm upgrade`: each
//! `valueFileSecrets` Secret, then each `valuesFrom` source in order, then
//! the inline `values`, maps merged key by key, everything else (lists
//! included) replaced by the later source.
//!
//! ```text
//! cargo run -p helmops --example merged_values -- FILE \
//!     [--namespace NS] [--kubeconfig FILE] [--chart-dir DIR] [--show-secrets]
//! ```
//!
//! - `FILE`: one HelmRelease of any Flux v1 era (`helm.fluxcd.io/v1`,
//!   `flux.weave.works/v1beta1`, or the legacy
//!   `helm.integrations.flux.weave.works/v1alpha2` FluxHelmRelease).
//! - `--namespace NS`: its namespace when the file names none (default
//!   `default`); Secrets and ConfigMaps are read from there.
//! - `--kubeconfig FILE`: the cluster holding the Secrets and ConfigMaps
//!   that `valuesFrom` names; without it `KUBECONFIG`, then
//!   `~/.kube/config`, then the in-cluster ServiceAccount. A release with
//!   inline values only needs no cluster.
//! - `--chart-dir DIR`: the chart's directory, for `chartFileRef` sources.
//! - `--show-secrets`: print values read from Secrets as they are; by
//!   default every string and number that came from a Secret reads
//!   `<redacted>`, as in the operator's messages.
//!
//! Prints the merged values as YAML on stdout. Exits 1 when a source cannot
//! be read (the message names it), 2 on a bad command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use helmops::api::{v1, v1alpha2, v1beta1};
use helmops::model::{HelmReleaseResource, Release};
use helmops::values::ValuesResolver;
use helmops::{AccessPolicy, Redactor};
use serde_json::{Map, Value};

/// The command line.
struct Args {
    file: PathBuf,
    namespace: String,
    kubeconfig: Option<PathBuf>,
    chart_dir: Option<PathBuf>,
    show_secrets: bool,
}

const USAGE: &str = "usage: merged_values FILE [--namespace NS] [--kubeconfig FILE] [--chart-dir DIR] [--show-secrets]";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut namespace = "default".to_owned();
    let mut kubeconfig = None;
    let mut chart_dir = None;
    let mut show_secrets = false;
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--namespace" => namespace = value("--namespace")?,
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value("--kubeconfig")?)),
            "--chart-dir" => chart_dir = Some(PathBuf::from(value("--chart-dir")?)),
            "--show-secrets" => show_secrets = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}")),
            _ if file.is_none() => file = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Args {
        file: file.ok_or("the HelmRelease file is missing")?,
        namespace,
        kubeconfig,
        chart_dir,
        show_secrets,
    })
}

/// The release model of the HelmRelease in `text`, whichever its era.
fn release_of(text: &str, namespace: &str, origin: &str) -> Result<Release, String> {
    let mut object: Value =
        serde_saphyr::from_str(text).map_err(|e| format!("{origin}: not valid YAML: {e}"))?;
    let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata
            .entry("namespace")
            .or_insert_with(|| Value::String(namespace.to_owned()));
    }
    /// The typed resource of `object`, as its model.
    fn convert<K: HelmReleaseResource>(object: Value, origin: &str) -> Result<Release, String> {
        let resource: K = serde_json::from_value(object).map_err(|e| format!("{origin}: {e}"))?;
        resource.to_release().map_err(|e| e.to_string())
    }
    match (api_version.as_str(), kind.as_str()) {
        ("helm.fluxcd.io/v1", "HelmRelease") => convert::<v1::HelmRelease>(object, origin),
        ("flux.weave.works/v1beta1", "HelmRelease") => {
            convert::<v1beta1::HelmRelease>(object, origin)
        }
        ("helm.integrations.flux.weave.works/v1alpha2", "FluxHelmRelease") => {
            convert::<v1alpha2::FluxHelmRelease>(object, origin)
        }
        _ => Err(format!(
            "{origin}: {api_version:?} {kind:?} is not a HelmRelease of helm.fluxcd.io/v1, flux.weave.works/v1beta1 or a v1alpha2 FluxHelmRelease"
        )),
    }
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
        None => kube::Config::infer().await.map_err(|e| {
            format!("the release reads values from the cluster, and none is configured: {e}")
        })?,
    };
    kube::Client::try_from(config).map_err(|e| format!("connecting to the cluster: {e}"))
}

async fn run(args: Args) -> Result<(), String> {
    let origin = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("reading {origin}: {e}"))?;
    let release = release_of(&text, &args.namespace, &origin)?;

    let mut redactor = Redactor::new();
    let merged: Map<String, Value> = if release.values_from.is_empty() {
        // Inline values only: nothing to read, no cluster needed.
        release.values.clone()
    } else {
        let policy = AccessPolicy::new();
        let http = helmops::http_client(&policy).map_err(|e| e.to_string())?;
        let resolver = ValuesResolver::new(client(args.kubeconfig.as_deref()).await?, http, policy);
        resolver
            .assemble(&release, args.chart_dir.as_deref(), &mut redactor)
            .await
            .map_err(|e| format!("{}: {e}", release.resource_id()))?
    };
    let yaml = serde_saphyr::to_string(&Value::Object(merged))
        .map_err(|e| format!("writing YAML: {e}"))?;
    if args.show_secrets {
        print!("{yaml}");
    } else {
        print!("{}", redactor.redact(&yaml));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("merged_values: {error}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("merged_values: {error}");
            ExitCode::from(1)
        }
    }
}
