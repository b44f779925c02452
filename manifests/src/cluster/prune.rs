//! Garbage collection: finding the objects a sync set applied once that
//! have left git, and deleting them in reverse apply order.

use std::collections::{HashMap, HashSet};

use futures::FutureExt;

use super::api::{self, ApiError};
use super::discovery::{Kind, Kinds};
use super::live::LiveObject;
use super::marks::{GC_MARK_LABEL, LEGACY_GC_MARK_LABEL, gc_mark_of};
use super::order::rank_of_kind;
use super::run::{MarkedLists, Target, list_marked};
use super::{EngineConfig, NamespaceScope, ResourceOutcome, ResourceResult, bounded};
use crate::ResourceId;
use crate::policy::Ignore;

/// An object garbage collection would delete.
#[derive(Debug, Clone)]
pub(crate) struct Orphan {
    pub(crate) id: ResourceId,
    pub(crate) kind: Kind,
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    pub(crate) uid: Option<String>,
    pub(crate) rank: u8,
}

/// The list calls garbage collection makes: every collectable kind the
/// scope can see (per allowed namespace when restricted), under both mark
/// labels.
pub(crate) fn targets<'k>(kinds: &'k Kinds, config: &EngineConfig) -> Vec<(Target, &'k Kind)> {
    let mut targets = Vec::new();
    for kind in kinds
        .collectable()
        .filter(|kind| !config.excludes_kind(&kind.resource.api_version, &kind.resource.kind))
    {
        let namespaces: Vec<Option<&str>> = match (&config.scope, kind.namespaced) {
            (NamespaceScope::All, _) => vec![None],
            (NamespaceScope::Only(namespaces), true) => {
                namespaces.iter().map(|ns| Some(ns.as_str())).collect()
            }
            (NamespaceScope::Only(_), false) if config.allow_cluster_scoped => vec![None],
            (NamespaceScope::Only(_), false) => vec![],
        };
        for namespace in namespaces {
            for label in [GC_MARK_LABEL, LEGACY_GC_MARK_LABEL] {
                targets.push((Target::new(kind, namespace, label), kind));
            }
        }
    }
    targets
}

/// Finds the objects to prune: those listed with either mark label whose
/// mark is this set's for their id, whose id is not in `keep`, that have no
/// owner and are not ignored. Lists already made (`marked`) are reused, the
/// others made now;
/// kinds the client may not list are skipped, and so are kinds no longer
/// served (a CRD deleted since discovery ran). Returns the orphans in
/// deletion order (reverse apply order), the list calls that failed, and
/// whether discovery turned out stale.
pub(crate) async fn find_orphans(
    client: &kube::Client,
    config: &EngineConfig,
    kinds: &Kinds,
    set_name: &str,
    keep: &HashSet<ResourceId>,
    marked: &mut MarkedLists,
) -> Orphans {
    let wanted = targets(kinds, config);
    list_marked(client, config, wanted.clone(), marked).await;

    let mut errors = Vec::new();
    let mut stale = false;
    let mut orphans: HashMap<String, Orphan> = HashMap::new();
    let mut consider = |kind: &Kind, object: &LiveObject| {
        if let Some(orphan) = orphan(kind, object, set_name, keep) {
            let key = orphan.uid.clone().unwrap_or_else(|| orphan.id.to_string());
            orphans.entry(key).or_insert(orphan);
        }
    };
    for (target, kind) in &wanted {
        let Some(objects) = marked.get(target) else {
            continue;
        };
        match objects {
            Ok(objects) => objects.iter().for_each(|object| consider(kind, object)),
            Err(error) if error.is_forbidden() => {
                tracing::debug!(kind = %kind.resource.plural, namespace = ?target.namespace,
                    "may not list; skipped by garbage collection");
            }
            Err(error) if error.is_not_found() => {
                tracing::debug!(kind = %kind.resource.plural, "no longer served; skipped");
                stale = true;
            }
            Err(error) => errors.push(list_failure(kind, target, error)),
        }
    }
    let mut orphans: Vec<Orphan> = orphans.into_values().collect();
    orphans.sort_by(|a, b| b.rank.cmp(&a.rank).then_with(|| a.id.cmp(&b.id)));
    Orphans {
        orphans,
        errors,
        stale,
    }
}

/// What [`find_orphans`] found.
pub(crate) struct Orphans {
    /// The objects to prune, in deletion order.
    pub(crate) orphans: Vec<Orphan>,
    /// List calls that failed.
    pub(crate) errors: Vec<String>,
    /// A listed kind is no longer served: discovery should be refreshed.
    pub(crate) stale: bool,
}

fn list_failure(kind: &Kind, target: &Target, error: &ApiError) -> String {
    let place = match &target.namespace {
        Some(namespace) => format!(" in namespace {namespace}"),
        None => String::new(),
    };
    format!(
        "garbage collection could not list {}{place}: {error}",
        kind.resource.plural
    )
}

/// `object` as an orphan of this set, if it is one.
fn orphan(
    kind: &Kind,
    object: &LiveObject,
    set_name: &str,
    keep: &HashSet<ResourceId>,
) -> Option<Orphan> {
    let name = object.name()?;
    let namespace = if kind.namespaced {
        Some(object.namespace()?.to_owned())
    } else {
        None
    };
    let id = match &namespace {
        Some(namespace) => ResourceId::namespaced(namespace, &kind.resource.kind, name),
        None => ResourceId::cluster_scoped(&kind.resource.kind, name),
    };
    if keep.contains(&id) || object.has_owners() || object.ignore() != Ignore::No {
        return None;
    }
    let mark = gc_mark_of(set_name, &id.to_string());
    if !object.gc_marks().any(|found| found == mark) {
        return None;
    }
    Some(Orphan {
        rank: rank_of_kind(&kind.resource.kind),
        id,
        kind: kind.clone(),
        namespace,
        name: name.to_owned(),
        uid: object.uid().map(str::to_owned),
    })
}

/// Deletes `orphans` (in the order given, which is reverse apply order),
/// those of one rank concurrently.
pub(crate) async fn delete_orphans(
    client: &kube::Client,
    config: &EngineConfig,
    orphans: Vec<Orphan>,
) -> Vec<ResourceResult> {
    let mut results = Vec::with_capacity(orphans.len());
    let mut rest = orphans.as_slice();
    while let Some(first) = rest.first() {
        let end = rest
            .iter()
            .position(|orphan| orphan.rank != first.rank)
            .unwrap_or(rest.len());
        let (batch, after) = rest.split_at(end);
        rest = after;
        let tasks = batch
            .iter()
            .map(|orphan| {
                async move {
                    let result = api::delete(
                        client,
                        &orphan.kind,
                        orphan.namespace.as_deref(),
                        &orphan.name,
                        orphan.uid.as_deref(),
                    )
                    .await;
                    let outcome = match result {
                        Ok(()) => ResourceOutcome::Pruned,
                        Err(error) => ResourceOutcome::Failed {
                            message: format!("garbage collection could not delete it: {error}"),
                        },
                    };
                    ResourceResult {
                        id: orphan.id.clone(),
                        source: None,
                        outcome,
                    }
                }
                .boxed()
            })
            .collect();
        let mut deleted = bounded(tasks, config.concurrency).await;
        // Completion order varies: report a rank's deletions by id.
        deleted.sort_by(|a, b| a.id.cmp(&b.id));
        results.extend(deleted);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::gc_mark;
    use kube::discovery::ApiResource;
    use serde_json::json;

    fn configmaps() -> Kind {
        Kind {
            resource: ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
            },
            namespaced: true,
            verbs: vec!["list".into(), "delete".into()],
        }
    }

    fn live(name: &str, labels: &serde_json::Value, extra: &serde_json::Value) -> LiveObject {
        let mut object =
            json!({"metadata": {"name": name, "namespace": "demo", "uid": name, "labels": labels}});
        if let (Some(metadata), Some(extra)) =
            (object["metadata"].as_object_mut(), extra.as_object())
        {
            metadata.extend(extra.clone());
        }
        LiveObject(object)
    }

    #[test]
    fn only_this_sets_marked_objects_out_of_git() {
        let kind = configmaps();
        let id = |name: &str| ResourceId::namespaced("demo", "ConfigMap", name);
        let keep: HashSet<ResourceId> = [id("kept")].into();
        let mark = |name: &str| gc_mark("set", &id(name));
        let cases = [
            (
                live("gone", &json!({GC_MARK_LABEL: mark("gone")}), &json!({})),
                true,
            ),
            (
                live(
                    "legacy",
                    &json!({LEGACY_GC_MARK_LABEL: mark("legacy")}),
                    &json!({}),
                ),
                true,
            ),
            (
                live("kept", &json!({GC_MARK_LABEL: mark("kept")}), &json!({})),
                false,
            ),
            // Another set's object, and a label copied from another object.
            (
                live(
                    "other",
                    &json!({GC_MARK_LABEL: gc_mark("other-set", &id("other"))}),
                    &json!({}),
                ),
                false,
            ),
            (
                live("copied", &json!({GC_MARK_LABEL: mark("gone")}), &json!({})),
                false,
            ),
            (
                live(
                    "owned",
                    &json!({GC_MARK_LABEL: mark("owned")}),
                    &json!({"ownerReferences": [{"uid": "x"}]}),
                ),
                false,
            ),
            (
                live(
                    "ignored",
                    &json!({GC_MARK_LABEL: mark("ignored")}),
                    &json!({"annotations": {"fluxcd.io/ignore": "true"}}),
                ),
                false,
            ),
            (
                live(
                    "sync-only",
                    &json!({GC_MARK_LABEL: mark("sync-only")}),
                    &json!({"annotations": {"flux.weave.works/ignore": "sync_only"}}),
                ),
                false,
            ),
            (live("unmarked", &json!({}), &json!({})), false),
        ];
        for (object, prunable) in cases {
            let found = orphan(&kind, &object, "set", &keep);
            assert_eq!(found.is_some(), prunable, "{:?}", object.name());
            if let Some(found) = found {
                assert_eq!(found.id, id(object.name().unwrap()));
                assert_eq!(found.rank, 2);
            }
        }
    }

    #[test]
    fn restricted_scope_lists_per_allowed_namespace() {
        let mut kinds = Kinds::default();
        kinds.insert(configmaps(), true);
        let mut namespaces = configmaps();
        namespaces.namespaced = false;
        namespaces.resource.kind = "Namespace".into();
        namespaces.resource.plural = "namespaces".into();
        kinds.insert(namespaces, true);
        let mut config = EngineConfig {
            scope: NamespaceScope::Only(vec!["a".into(), "b".into()]),
            ..EngineConfig::default()
        };
        let listed: Vec<(Option<String>, &str)> = targets(&kinds, &config)
            .into_iter()
            .map(|(target, _)| (target.namespace, target.label))
            .collect();
        let a = || Some("a".to_owned());
        let b = || Some("b".to_owned());
        assert_eq!(
            listed,
            [
                (a(), GC_MARK_LABEL),
                (a(), LEGACY_GC_MARK_LABEL),
                (b(), GC_MARK_LABEL),
                (b(), LEGACY_GC_MARK_LABEL)
            ]
        );
        config.allow_cluster_scoped = true;
        assert_eq!(targets(&kinds, &config).len(), 6);
        config.scope = NamespaceScope::All;
        assert!(
            targets(&kinds, &config)
                .iter()
                .all(|(target, _)| target.namespace.is_none())
        );
    }
}
