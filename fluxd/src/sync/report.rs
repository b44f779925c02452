//! How a sync is logged: one line per failure (with the resource id and the
//! file and line it came from), one per resource outside the allowed scope
//! (once per revision), one per object garbage collection deleted or would
//! delete, one per problem of the whole set, then one summary line.

use manifests::cluster::{ResourceOutcome, SyncReport};

use crate::sync::{SyncRun, millis};

/// Logs each load error, failed resource, garbage-collected object and
/// set-wide problem of a sync. Resources skipped because they are outside
/// the allowed scope are logged (at info) only on the first sync of a
/// revision, `first_of_revision`: every re-sync of it would say the same.
pub(crate) fn log_results(
    report: &SyncReport,
    load_errors: &[manifests::Error],
    first_of_revision: bool,
) {
    for error in load_errors {
        let (source, id) = where_load_failed(error);
        tracing::warn!(source, id, error = %error, "manifest not loaded");
    }
    for result in &report.results {
        let source = result.source.as_ref().map(ToString::to_string);
        match &result.outcome {
            ResourceOutcome::Failed { message } => tracing::warn!(
                id = %result.id,
                source,
                error = %message,
                "resource failed"
            ),
            ResourceOutcome::Skipped { reason }
                if result.outcome.is_outside_scope() && first_of_revision =>
            {
                tracing::info!(id = %result.id, source, reason = %reason, "resource skipped");
            }
            ResourceOutcome::Skipped { reason } => tracing::debug!(
                id = %result.id,
                source,
                reason = %reason,
                "resource skipped"
            ),
            ResourceOutcome::Pruned => {
                tracing::info!(id = %result.id, "garbage collection deleted it");
            }
            ResourceOutcome::WouldPrune => tracing::info!(
                id = %result.id,
                "garbage collection (dry run) would delete it"
            ),
            _ => {}
        }
    }
    for problem in &report.errors {
        tracing::warn!(error = %problem, "sync problem");
    }
}

/// Logs the one summary line of a sync.
pub(crate) fn log_summary(run: &SyncRun) {
    let counts = run.report.counts();
    tracing::info!(
        revision = %run.revision,
        branch = %run.branch,
        resources = run.resources,
        created = counts.created,
        configured = counts.configured,
        unchanged = counts.unchanged,
        skipped = counts.skipped,
        failed = counts.failed,
        pruned = counts.pruned,
        would_prune = counts.would_prune,
        load_errors = run.load_errors.len(),
        sync_errors = run.report.errors.len(),
        marker_error = run.marker_error.as_deref(),
        incomplete = run.incomplete.as_deref(),
        unverified_commit = run.unverified.as_ref().map(|u| u.revision.to_string()),
        unverified_reason = run.unverified.as_ref().map(|u| u.reason.as_str()),
        apply_ms = millis(run.report.duration),
        duration_ms = millis(run.duration),
        "sync finished"
    );
}

/// The file (and line) and the resource id a load error is about, when it says.
pub(crate) fn where_load_failed(error: &manifests::Error) -> (Option<String>, Option<String>) {
    use manifests::Error as E;
    match error {
        E::Yaml { at, .. } | E::YamlLimit { at, .. } | E::InvalidResource { at, .. } => {
            (Some(at.to_string()), None)
        }
        E::DuplicateResource { id, second, .. } => (Some(second.to_string()), Some(id.to_string())),
        E::PathOutsideRoot { path }
        | E::PathNotFound { path }
        | E::Io { path, .. }
        | E::SymlinkOutsideRoot { path, .. }
        | E::SymlinkLoop { path }
        | E::NotAFile { path }
        | E::FileTooLarge { path, .. }
        | E::TooManyFiles { path, .. }
        | E::TreeTooLarge { path, .. } => (Some(path.display().to_string()), None),
        E::NotUtf8 { path, line } => (Some(format!("{}:{line}", path.display())), None),
        E::InvalidPolicyFilter { id, .. }
        | E::InvalidAnnotation { id, .. }
        | E::InvalidContainer { id, .. } => (None, Some(id.to_string())),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use manifests::{LoadOptions, Loader};

    use super::*;

    #[test]
    fn load_errors_say_where() {
        let mut loader = Loader::new(LoadOptions::default());
        loader.add_file(
            "deploy/a.yaml".as_ref(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n data: [\n",
        );
        loader.add_file(
            "deploy/b.yaml".as_ref(),
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        );
        let loaded = loader.finish();
        let places: Vec<_> = loaded.errors.iter().map(where_load_failed).collect();
        assert_eq!(places.len(), 2, "{:?}", loaded.errors);
        assert!(
            places[0]
                .0
                .as_deref()
                .is_some_and(|s| s.starts_with("deploy/a.yaml:")),
            "{places:?}"
        );
        assert_eq!(
            places[1],
            (
                Some("deploy/b.yaml:5 (document 2)".to_owned()),
                Some("default:configmap/b".to_owned())
            )
        );
        let missing = manifests::Error::PathNotFound {
            path: PathBuf::from("nowhere"),
        };
        assert_eq!(
            where_load_failed(&missing),
            (Some("nowhere".to_owned()), None)
        );
    }
}
