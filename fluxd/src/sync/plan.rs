//! `--dry-run`: what a sync would do, printed on stdout, with nothing changed.
//!
//! With a cluster, the engine's plan from server-side dry-runs (create,
//! change with a field-level diff, unchanged, prune); without one, the
//! offline plan: the resources in apply order and every load, policy and
//! scope error, so a repository can be checked before it is ever pointed at
//! a cluster.

use std::fmt::Write as _;

use manifests::cluster::{self, EngineConfig, PlanAction, ResourceOutcome};
use serde_json::Value;

use crate::Error;
use crate::cluster::ClusterConfig;
use crate::daemon::RunOutcome;
use crate::sync::{GitSource, LoadedRevision};

/// Fetches the branch, loads its manifests and prints the plan.
pub(crate) async fn dry_run(
    source: &GitSource,
    cluster: Option<&ClusterConfig>,
    engine_config: EngineConfig,
) -> Result<RunOutcome, Error> {
    let head = source.fetch().await?;
    let loaded = source.load(&head).await?;
    let heading = heading(source, &loaded);
    let (text, clean) = match cluster {
        None => {
            let plan = cluster::plan_offline(&loaded.set, &engine_config);
            render_offline(&heading, &plan, &loaded.errors)
        }
        Some(cluster) => {
            let engine = cluster::Engine::new(cluster.client()?, engine_config)?;
            let plan = engine.plan(&loaded.set).await?;
            render_plan(&heading, &plan, &loaded.errors)
        }
    };
    print!("{text}");
    Ok(if clean {
        RunOutcome::Clean
    } else {
        RunOutcome::Errors
    })
}

fn heading(source: &GitSource, loaded: &LoadedRevision) -> String {
    let paths = if source.paths.is_empty() {
        "the whole repository".to_owned()
    } else {
        source.paths.join(", ")
    };
    format!(
        "Plan for {} branch {} at {}\nPaths: {paths}\n",
        source.mirror.remote().url(),
        loaded.branch,
        loaded.revision
    )
}

/// The offline plan as text, and whether it is free of errors.
pub(crate) fn render_offline(
    heading: &str,
    plan: &cluster::OfflinePlan,
    load_errors: &[manifests::Error],
) -> (String, bool) {
    let mut out = String::from(heading);
    out.push_str(
        "No cluster configured: checked offline (kinds are scoped as built in, or by the CRDs in the tree).\n",
    );
    let width = plan
        .resources
        .iter()
        .map(|entry| entry.id.to_string().len())
        .chain(
            plan.refused
                .iter()
                .map(|result| result.id.to_string().len()),
        )
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "\nWould apply, in order ({}):", plan.resources.len());
    for entry in &plan.resources {
        let _ = writeln!(out, "  {:<width$}  {}", entry.id.to_string(), entry.source);
    }
    let mut failed = 0;
    let mut skipped = 0;
    if !plan.refused.is_empty() {
        let _ = writeln!(out, "\nWould not apply ({}):", plan.refused.len());
        for result in &plan.refused {
            let source = result
                .source
                .as_ref()
                .map_or_else(String::new, ToString::to_string);
            let (word, why) = match &result.outcome {
                ResourceOutcome::Failed { message } => {
                    failed += 1;
                    ("refused", message.as_str())
                }
                ResourceOutcome::Skipped { reason } => {
                    skipped += 1;
                    ("skipped", reason.as_str())
                }
                _ => ("", ""),
            };
            let _ = writeln!(
                out,
                "  {word:<7}  {:<width$}  {source}: {why}",
                result.id.to_string()
            );
        }
    }
    write_load_errors(&mut out, load_errors);
    let _ = writeln!(
        out,
        "\n{} to apply, {failed} refused, {skipped} skipped, {} manifest errors",
        plan.resources.len(),
        load_errors.len()
    );
    (out, failed == 0 && load_errors.is_empty())
}

/// The server-side plan as text, and whether it is free of errors.
pub(crate) fn render_plan(
    heading: &str,
    plan: &cluster::Plan,
    load_errors: &[manifests::Error],
) -> (String, bool) {
    let mut out = String::from(heading);
    let width = plan
        .entries
        .iter()
        .map(|entry| entry.id.to_string().len())
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "\nPlanned against the cluster ({}):",
        plan.entries.len()
    );
    let mut counts = [0usize; 6];
    for entry in &plan.entries {
        let source = entry
            .source
            .as_ref()
            .map_or_else(|| "(only in the cluster)".to_owned(), ToString::to_string);
        let (index, word, detail) = match &entry.action {
            PlanAction::Create => (0, "create", None),
            PlanAction::Change { .. } => (1, "change", None),
            PlanAction::Unchanged => (2, "same", None),
            PlanAction::Skip { reason } => (3, "skip", Some(reason.as_str())),
            PlanAction::Fail { message } => (4, "fail", Some(message.as_str())),
            PlanAction::Prune => (5, "prune", None),
            // An action of a newer engine: shown, and the plan not clean.
            _ => (4, "other", Some("an action this fluxd does not know")),
        };
        counts[index] += 1;
        let _ = write!(
            out,
            "  {word:<6}  {:<width$}  {source}",
            entry.id.to_string()
        );
        if let Some(detail) = detail {
            let _ = write!(out, ": {detail}");
        }
        out.push('\n');
        if let PlanAction::Change { diff } = &entry.action {
            for change in diff {
                let _ = writeln!(
                    out,
                    "            {}: {} -> {}",
                    change.path,
                    show(change.live.as_ref()),
                    show(change.desired.as_ref())
                );
            }
        }
    }
    if !plan.errors.is_empty() {
        let _ = writeln!(out, "\nProblems ({}):", plan.errors.len());
        for problem in &plan.errors {
            let _ = writeln!(out, "  {problem}");
        }
    }
    write_load_errors(&mut out, load_errors);
    let [create, change, same, skip, fail, prune] = counts;
    let _ = writeln!(
        out,
        "\n{create} to create, {change} to change, {same} unchanged, {skip} skipped, {fail} failing, {prune} to prune, {} manifest errors",
        load_errors.len()
    );
    (
        out,
        fail == 0 && plan.errors.is_empty() && load_errors.is_empty(),
    )
}

fn write_load_errors(out: &mut String, load_errors: &[manifests::Error]) {
    if load_errors.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nManifest errors ({}):", load_errors.len());
    for error in load_errors {
        let _ = writeln!(out, "  {error}");
    }
}

/// A value of a diff, compact: `(absent)`, a string as is, JSON otherwise.
fn show(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use manifests::cluster::{NamespaceScope, Plan, SyncSet, plan_offline};
    use manifests::{LoadOptions, Loader, ResourceId};

    use super::*;

    fn set(files: &[(&str, &str)]) -> (SyncSet, Vec<manifests::Error>) {
        let mut loader = Loader::new(LoadOptions::default());
        for (path, text) in files {
            loader.add_file(path.as_ref(), text.as_bytes());
        }
        let loaded = loader.finish();
        (
            SyncSet {
                name: "set".into(),
                complete: loaded.is_complete(),
                resources: loaded.resources,
            },
            loaded.errors,
        )
    }

    #[test]
    fn offline_plan_lists_apply_order_refusals_and_errors() {
        let (set, errors) = set(&[
            (
                "apps.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: elsewhere}\n",
            ),
            ("broken.yaml", "kind: [\n"),
        ]);
        let config = EngineConfig::new()
            .with_scope(NamespaceScope::Only(vec!["demo".into()]))
            .with_allow_cluster_scoped(true);
        let (text, clean) = render_offline("Plan\n", &plan_offline(&set, &config), &errors);
        assert!(!clean);
        let namespace = text.find("<cluster>:namespace/demo").unwrap();
        let deployment = text.find("demo:deployment/web").unwrap();
        assert!(namespace < deployment, "{text}");
        assert!(text.contains("refused  elsewhere:configmap/cfg"), "{text}");
        assert!(text.contains("broken.yaml:1"), "{text}");
        assert!(
            text.contains("2 to apply, 1 refused, 0 skipped, 1 manifest errors"),
            "{text}"
        );

        let (set, errors) = set_clean();
        let (_, clean) = render_offline("", &plan_offline(&set, &EngineConfig::default()), &errors);
        assert!(clean);
    }

    fn set_clean() -> (SyncSet, Vec<manifests::Error>) {
        set(&[(
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )])
    }

    #[test]
    fn server_plan_shows_diffs_and_failures() {
        // The engine makes plans; here one comes from its serialised form.
        let id = |kind, name| serde_json::to_value(ResourceId::namespaced("demo", kind, name));
        let plan: Plan = serde_json::from_value(serde_json::json!({
            "entries": [
                {
                    "id": id("Deployment", "web").unwrap(),
                    "source": null,
                    "action": {
                        "type": "change",
                        "diff": [{"path": "spec.replicas", "live": 1, "desired": 3}],
                    },
                },
                {
                    "id": id("ConfigMap", "x").unwrap(),
                    "source": null,
                    "action": {"type": "fail", "message": "forbidden"},
                },
            ],
            "errors": [],
        }))
        .unwrap();
        let (text, clean) = render_plan("", &plan, &[]);
        assert!(!clean);
        assert!(text.contains("spec.replicas: 1 -> 3"), "{text}");
        assert!(text.contains("fail    demo:configmap/x"), "{text}");
        assert!(text.contains("(only in the cluster): forbidden"), "{text}");
        assert!(text.contains("0 to create, 1 to change"), "{text}");
    }
}
