//! The kubeconfig fluxctl reads, as kubectl finds it: `KUBECONFIG` (paths
//! separated by `:`, merged) or `~/.kube/config`, from the environment
//! fluxctl was given (so tests need not change the process's).

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::Env;

/// Reads the kubeconfig, merged over `KUBECONFIG`'s paths.
pub(crate) fn read(env: Env<'_>) -> Result<Kubeconfig, String> {
    let paths: Vec<std::path::PathBuf> = match env("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => {
            let home = env("HOME").ok_or("no KUBECONFIG and no HOME to find ~/.kube/config in")?;
            vec![std::path::Path::new(&home).join(".kube").join("config")]
        }
    };
    let mut merged: Option<Kubeconfig> = None;
    for path in &paths {
        if !path.exists() && paths.len() > 1 {
            continue;
        }
        let config =
            Kubeconfig::read_from(path).map_err(|error| format!("{}: {error}", path.display()))?;
        merged = Some(match merged {
            None => config,
            Some(before) => before.merge(config).map_err(|error| error.to_string())?,
        });
    }
    merged.ok_or_else(|| "no kubeconfig found".to_owned())
}

/// The namespace of the kubeconfig context (`context`, else the current
/// one), if it names one: fluxctl's default for `-n`.
pub(crate) fn context_namespace(env: Env<'_>, context: Option<&str>) -> Option<String> {
    let config = read(env).ok()?;
    let name = context
        .map(str::to_owned)
        .or(config.current_context.clone())?;
    config
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.namespace.clone())
        .filter(|ns| !ns.is_empty())
}

/// Flux's namespace for a command: `-n`, else the context's, else `default`.
pub(crate) fn namespace_or_default(
    env: Env<'_>,
    flag: Option<&str>,
    context: Option<&str>,
) -> String {
    match flag.filter(|ns| !ns.is_empty()) {
        Some(ns) => ns.to_owned(),
        None => context_namespace(env, context).unwrap_or_else(|| "default".to_owned()),
    }
}

/// A kube client for the context (`None`: the current one).
pub(crate) async fn client(env: Env<'_>, context: Option<&str>) -> Result<kube::Client, String> {
    let kubeconfig = read(env)?;
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|error| error.to_string())?;
    kube::Client::try_from(config).map_err(|error| error.to_string())
}
