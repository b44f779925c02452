//! What a sync would do, with a cluster to ask ([`Plan`]) or without one
//! ([`OfflinePlan`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::order::{apply_order, rank_of_kind};
use super::{EngineConfig, ResourceOutcome, ResourceResult, SyncSet};
use crate::policy::Ignore;
use crate::{ResourceId, SourceLocation};

/// What a sync would do to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanAction {
    /// The object does not exist yet.
    Create,
    /// The object exists and the server's dry-run of the apply changes these
    /// fields.
    Change {
        /// Field by field, live value against the dry-run result.
        diff: Vec<FieldChange>,
    },
    /// The object matches git.
    Unchanged,
    /// Not applied (the `ignore` policy).
    Skip {
        /// Why.
        reason: String,
    },
    /// Would fail: refused by the namespace scope, an unknown kind, or the
    /// server's dry-run refused it (its message kept).
    Fail {
        /// What went wrong.
        message: String,
    },
    /// Carries this sync set's mark but left git: garbage collection would
    /// delete it (planned when garbage collection is on or in dry-run).
    Prune,
}

/// One field that an apply would change. Secret values are never shown:
/// they read `<redacted>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldChange {
    /// Dotted path, list items by index or merge key: `spec.replicas`,
    /// `spec.template.spec.containers[name=web].image`.
    pub path: String,
    /// The live value (`None`: absent).
    pub live: Option<Value>,
    /// The value after the apply (`None`: removed).
    pub desired: Option<Value>,
}

/// What a sync would do to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanEntry {
    /// The resource, with its scope as the cluster has it.
    pub id: ResourceId,
    /// Where it is defined in git; `None` for objects found only in the
    /// cluster (prunes).
    pub source: Option<SourceLocation>,
    /// What would happen.
    pub action: PlanAction,
}

/// What a sync would do, computed against a cluster with server-side
/// dry-runs: nothing is changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// One entry per resource in apply order, then the prunes.
    pub entries: Vec<PlanEntry>,
    /// Problems not tied to one resource.
    pub errors: Vec<String>,
}

/// One resource of an [`OfflinePlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OfflineEntry {
    /// The resource's id (scope as the loader guessed it without a cluster).
    pub id: ResourceId,
    /// Where it is defined.
    pub source: SourceLocation,
    /// Its rank in the apply order ([`rank_of_kind`]).
    pub rank: u8,
}

/// What a sync would do, as far as can be known without a cluster: the
/// resources in apply order, and those that would not be applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OfflinePlan {
    /// The resources that would be applied, in apply order.
    pub resources: Vec<OfflineEntry>,
    /// The resources that would not be: aimed at a namespace outside the
    /// scope ([`ResourceOutcome::Failed`]), cluster-scoped outside it or ignored
    /// ([`ResourceOutcome::Skipped`]), in apply order.
    pub refused: Vec<ResourceResult>,
}

/// Plans a sync without a cluster: orders `set` as a sync would apply it and
/// reports every resource `config`'s namespace scope refuses and every one
/// ignored by policy. Kinds are scoped by the loader's offline knowledge
/// (built-in kinds and the CRDs in the set); a cluster's discovery may
/// correct that.
///
/// ```
/// use manifests::cluster::{EngineConfig, NamespaceScope, SyncSet, plan_offline};
/// use manifests::{LoadOptions, Loader};
///
/// let mut loader = Loader::new(LoadOptions::default());
/// loader.add_file("app.yaml".as_ref(), b"\
/// apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: demo}\n---
/// apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---
/// apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: elsewhere}\n");
/// let loaded = loader.finish();
/// let set = SyncSet { name: "set".into(), complete: loaded.is_complete(), resources: loaded.resources };
/// let config = EngineConfig::new()
///     .with_scope(NamespaceScope::Only(vec!["demo".into()]))
///     .with_allow_cluster_scoped(true);
/// let plan = plan_offline(&set, &config);
/// let order: Vec<String> = plan.resources.iter().map(|r| r.id.to_string()).collect();
/// assert_eq!(order, ["<cluster>:namespace/demo", "demo:deployment/web"]);
/// assert_eq!(plan.refused[0].id.to_string(), "elsewhere:configmap/cfg");
/// ```
pub fn plan_offline(set: &SyncSet, config: &EngineConfig) -> OfflinePlan {
    let mut order: Vec<&crate::Resource> = set.resources.iter().collect();
    order.sort_by(|a, b| apply_order(a.id(), b.id()));
    let mut plan = OfflinePlan::default();
    for resource in order {
        let outcome = config.out_of_scope(resource.id()).or_else(|| {
            (super::ignore_of(resource.object()) == Ignore::Yes).then(|| ResourceOutcome::Skipped {
                reason: super::IGNORED_IN_GIT.to_owned(),
            })
        });
        match outcome {
            Some(outcome) => plan.refused.push(ResourceResult {
                id: resource.id().clone(),
                source: Some(resource.source().clone()),
                outcome,
            }),
            None => plan.resources.push(OfflineEntry {
                id: resource.id().clone(),
                source: resource.source().clone(),
                rank: rank_of_kind(resource.kind()),
            }),
        }
    }
    plan
}
