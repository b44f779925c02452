//! The steps a sync and a plan share: sorting the set out against discovery,
//! reading the live objects, deciding what to send.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use futures::FutureExt;

use super::api::{self, ApiError, ListBody};
use super::compare::first_difference;
use super::desired::{CrdKind, Desired, scoped_id};
use super::discovery::{Kind, Kinds};
use super::live::LiveObject;
use super::marks::{CHECKSUM_ANNOTATION, GC_MARK_LABEL};
use super::ownership::{flux_applied_this, is_flux_v1_checksum};
use super::{
    EngineConfig, IGNORED_IN_CLUSTER, IGNORED_IN_GIT, ResourceOutcome, ResourceResult, SyncSet,
    bounded,
};
use crate::policy::Ignore;
use crate::{Checksum, Resource, ResourceId};

/// The set sorted out against discovery.
#[derive(Debug, Default)]
pub(crate) struct Prepared<'s> {
    /// Resources to compare and maybe apply.
    pub(crate) desired: Vec<Desired<'s>>,
    /// Objects of kinds that a CRD of the set defines and the cluster does
    /// not serve yet.
    pub(crate) deferred: Vec<&'s Resource>,
    /// Resources decided already: refused, ignored in git, unknown kinds.
    pub(crate) results: Vec<ResourceResult>,
    /// Every id of the set, under the loader's scope and the cluster's:
    /// garbage collection never deletes these.
    pub(crate) keep: HashSet<ResourceId>,
    /// How many resources are of kinds the cluster does not serve.
    pub(crate) unknown: usize,
}

impl<'s> Prepared<'s> {
    /// Sorts out every resource of `set`.
    pub(crate) fn new(set: &'s SyncSet, kinds: &Kinds, config: &EngineConfig) -> Self {
        let crds: Vec<CrdKind> = set.resources.iter().filter_map(CrdKind::of).collect();
        let mut prepared = Self::default();
        let mut seen: HashMap<ResourceId, &'s Resource> = HashMap::new();
        for resource in &set.resources {
            prepared.keep.insert(resource.id().clone());
            if Ignore::of_object(resource.object()) == Ignore::Yes {
                prepared.decided(
                    resource,
                    resource.id().clone(),
                    ResourceOutcome::Skipped {
                        reason: IGNORED_IN_GIT.to_owned(),
                    },
                );
                continue;
            }
            match kinds.get(resource.api_version(), resource.kind()) {
                Some(kind) => prepared.add(resource, kind, &set.name, config, &mut seen),
                None if crds.iter().any(|crd| crd.defines(resource)) => {
                    prepared.deferred.push(resource);
                }
                None => {
                    prepared.unknown += 1;
                    let outcome = unknown_kind(resource, kinds);
                    prepared.decided(resource, resource.id().clone(), outcome);
                }
            }
        }
        prepared
    }

    /// Adds `resource`, whose kind is now known: refused, a duplicate under
    /// its corrected id, or desired.
    pub(crate) fn add(
        &mut self,
        resource: &'s Resource,
        kind: &Kind,
        set_name: &str,
        config: &EngineConfig,
        seen: &mut HashMap<ResourceId, &'s Resource>,
    ) {
        let id = scoped_id(resource, kind.namespaced, &config.default_namespace);
        self.keep.insert(id.clone());
        if let Some(outcome) = config.out_of_scope(&id) {
            self.decided(resource, id, outcome);
            return;
        }
        if let Some(first) = seen.get(&id).copied() {
            // Neither definition is applied: the first leaves the desired
            // set (if a third did not take it out already).
            let twice = |other: &Resource| ResourceOutcome::Failed {
                message: format!(
                    "defined twice once the cluster's scope of {} is known: also at {}; neither is applied",
                    resource.kind(),
                    other.source()
                ),
            };
            if let Some(index) = self.desired.iter().position(|d| d.id == id) {
                self.desired.remove(index);
                self.decided(first, id.clone(), twice(resource));
            }
            self.decided(resource, id, twice(first));
            return;
        }
        seen.insert(id, resource);
        self.desired
            .push(Desired::new(resource, kind, set_name, config));
    }

    fn decided(&mut self, resource: &Resource, id: ResourceId, outcome: ResourceOutcome) {
        self.results.push(ResourceResult {
            id,
            source: Some(resource.source().clone()),
            outcome,
        });
    }
}

/// The failure of a resource whose kind the cluster does not serve, naming
/// the versions it does serve the kind in (`rbac.authorization.k8s.io/v1beta1`
/// manifests of old guides: the cluster serves `v1`).
pub(crate) fn unknown_kind(resource: &Resource, kinds: &Kinds) -> ResourceOutcome {
    let mut message = format!(
        "the cluster does not serve kind {} in {}",
        resource.kind(),
        resource.api_version()
    );
    let served = kinds.api_versions_of(resource.api_group(), resource.kind());
    if !served.is_empty() {
        message.push_str(&format!(" (it serves it in {})", served.join(", ")));
    }
    ResourceOutcome::Failed { message }
}

/// What is known of a desired object's live counterpart.
#[derive(Debug, Clone)]
pub(crate) enum Live {
    /// No such object.
    Absent,
    /// The object as read.
    Present(LiveObject),
    /// It could not be read (why): apply anyway.
    Unknown(String),
}

/// A list call: the objects of a kind that carry a label, in one namespace
/// or cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) group: String,
    pub(crate) plural: String,
    pub(crate) namespace: Option<String>,
    pub(crate) label: &'static str,
}

impl Target {
    pub(crate) fn new(kind: &Kind, namespace: Option<&str>, label: &'static str) -> Self {
        Self {
            group: kind.resource.group.clone(),
            plural: kind.resource.plural.clone(),
            namespace: namespace.map(str::to_owned),
            label,
        }
    }
}

/// The objects carrying a mark label, by list call: read for the comparison
/// and for garbage collection, each once per sync.
pub(crate) type MarkedLists = HashMap<Target, Result<Vec<LiveObject>, ApiError>>;

/// Decides what to do with a desired object given what is known of its
/// live counterpart (see [`decide`]).
pub(crate) type Judge<'j> = dyn Fn(&Desired<'_>, Live) -> Action + Sync + 'j;

/// Makes the list calls of `wanted` that are not in `marked` yet,
/// concurrently, keeping only the metadata of the objects listed (all
/// garbage collection reads).
pub(crate) async fn list_marked(
    client: &kube::Client,
    config: &EngineConfig,
    wanted: Vec<(Target, &Kind)>,
    marked: &mut MarkedLists,
) {
    list_and_judge(client, config, wanted, &[], &HashMap::new(), None, marked).await;
}

/// Desired objects by the list call that reads them, namespace and name.
type IndexOf<'t> = HashMap<(&'t Target, Option<&'t str>, &'t str), usize>;

/// The list calls of `wanted` not made yet; a listed object that is one of
/// `desired` (by `index_of`) is judged as its page arrives and dropped, the
/// others keep their metadata in `marked`. Returns the actions decided.
async fn list_and_judge(
    client: &kube::Client,
    config: &EngineConfig,
    wanted: Vec<(Target, &Kind)>,
    desired: &[Desired<'_>],
    index_of: &IndexOf<'_>,
    judge: Option<&Judge<'_>>,
    marked: &mut MarkedLists,
) -> Vec<(usize, Action)> {
    // Calls that read a desired object's live counterpart need whole
    // objects (to compare); the others only feed garbage collection, which
    // reads metadata alone.
    let whole: HashSet<&Target> = index_of.keys().map(|(target, _, _)| *target).collect();
    let mut calls: HashMap<Target, &Kind> = HashMap::new();
    for (target, kind) in wanted {
        if !marked.contains_key(&target) {
            calls.entry(target).or_insert(kind);
        }
    }
    let tasks = calls
        .into_iter()
        .map(|(target, kind)| {
            let whole = &whole;
            async move {
                let mut kept = Vec::new();
                let mut decided = Vec::new();
                let namespace = target.namespace.as_deref();
                let body = if judge.is_some() && whole.contains(&target) {
                    ListBody::Whole
                } else {
                    ListBody::Metadata
                };
                let listed =
                    api::list_each(client, kind, namespace, Some(target.label), body, |page| {
                        for object in page {
                            let index = object
                                .name()
                                .and_then(|name| index_of.get(&(&target, object.namespace(), name)))
                                .copied();
                            match (index, judge) {
                                (Some(index), Some(judge)) => {
                                    decided.push((
                                        index,
                                        judge(&desired[index], Live::Present(object)),
                                    ));
                                }
                                _ => kept.push(object.metadata_only()),
                            }
                        }
                    })
                    .await;
                (target, listed.map(|()| kept), decided)
            }
            .boxed()
        })
        .collect();
    let mut decided = Vec::new();
    for (target, kept, judged) in bounded(tasks, config.concurrency).await {
        marked.insert(target, kept);
        decided.extend(judged);
    }
    decided
}

/// The list call that reads `desired`'s marked live counterpart: per kind
/// cluster-wide when the scope allows, else per kind and namespace.
fn marked_target(desired: &Desired<'_>, config: &EngineConfig) -> Target {
    let namespace = match (&desired.namespace, config.scope.is_restricted()) {
        (Some(namespace), true) => Some(namespace.as_str()),
        _ => None,
    };
    Target::new(&desired.kind, namespace, GC_MARK_LABEL)
}

/// Reads the live counterpart of every desired object and `judge`s it: one
/// list per kind (and namespace when restricted) of the objects that carry
/// the mark label; then, for those not found, the unmarked objects of their
/// kind and namespace (a sync adopts them, unless they are ignored). Objects
/// are judged as their page arrives, so the live objects are never all in
/// memory at once. The list calls of `also` (garbage collection's) go out
/// with the first ones. Returns one action per desired object, in order.
pub(crate) async fn read_live(
    client: &kube::Client,
    config: &EngineConfig,
    desired: &[Desired<'_>],
    also: Vec<(Target, &Kind)>,
    judge: &Judge<'_>,
    marked: &mut MarkedLists,
) -> Vec<Action> {
    let targets: Vec<Target> = desired
        .iter()
        .map(|item| marked_target(item, config))
        .collect();
    let mut index_of: IndexOf<'_> = HashMap::new();
    for (index, (item, target)) in desired.iter().zip(&targets).enumerate() {
        index_of.insert((target, item.namespace.as_deref(), item.name()), index);
    }
    let mut wanted = also;
    wanted.extend(
        targets
            .iter()
            .cloned()
            .zip(desired.iter().map(|item| &item.kind)),
    );
    let decided = list_and_judge(
        client,
        config,
        wanted,
        desired,
        &index_of,
        Some(judge),
        marked,
    )
    .await;
    let mut actions: Vec<Option<Action>> = vec![None; desired.len()];
    for (index, action) in decided {
        actions[index] = Some(action);
    }
    let mut missing = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        if actions[index].is_some() {
            continue;
        }
        match marked.get(target) {
            Some(Err(error)) => {
                let live = Live::Unknown(error.to_string());
                actions[index] = Some(judge(&desired[index], live));
            }
            _ => missing.push(index),
        }
    }
    if !missing.is_empty() {
        for (index, live) in read_unmarked(client, config, desired, &missing).await {
            actions[index] = Some(judge(&desired[index], live));
        }
    }
    actions
        .into_iter()
        .map(|action| action.unwrap_or(Action::Apply(Live::Absent)))
        .collect()
}

/// Looks up objects the marked lists did not have: per kind and namespace
/// without a selector (namespaced kinds), one by one (cluster-scoped kinds,
/// whose unmarked objects can be many and large, like CRDs).
async fn read_unmarked(
    client: &kube::Client,
    config: &EngineConfig,
    desired: &[Desired<'_>],
    missing: &[usize],
) -> Vec<(usize, Live)> {
    let mut by_target: HashMap<Target, (&Kind, Vec<usize>)> = HashMap::new();
    let mut singles = Vec::new();
    for &index in missing {
        let item = &desired[index];
        match &item.namespace {
            Some(namespace) => {
                by_target
                    .entry(Target::new(&item.kind, Some(namespace), ""))
                    .or_insert_with(|| (&item.kind, Vec::new()))
                    .1
                    .push(index);
            }
            None => singles.push(index),
        }
    }
    let tasks = by_target
        .into_iter()
        .map(|(target, (kind, indices))| {
            async move {
                // Only the objects asked for are kept, page by page: the
                // others of the namespace (a namespace full of Helm release
                // Secrets) are dropped as their page is read.
                let wanted: HashSet<&str> =
                    indices.iter().map(|&index| desired[index].name()).collect();
                let mut by_name: HashMap<String, LiveObject> = HashMap::new();
                let listed = api::list_each(
                    client,
                    kind,
                    target.namespace.as_deref(),
                    None,
                    api::ListBody::Whole,
                    |page| {
                        for object in page {
                            if let Some(name) = object.name()
                                && wanted.contains(name)
                            {
                                by_name.insert(name.to_owned(), object);
                            }
                        }
                    },
                )
                .await;
                (listed.map(|()| by_name), indices)
            }
            .boxed()
        })
        .collect();
    let mut found = Vec::with_capacity(missing.len());
    for (objects, indices) in bounded(tasks, config.concurrency).await {
        match objects {
            Ok(mut by_name) => {
                for index in indices {
                    let live = by_name
                        .remove(desired[index].name())
                        .map_or(Live::Absent, Live::Present);
                    found.push((index, live));
                }
            }
            Err(error) => {
                for index in indices {
                    found.push((index, Live::Unknown(error.to_string())));
                }
            }
        }
    }
    let tasks = singles
        .into_iter()
        .map(|index| {
            async move {
                let item = &desired[index];
                (index, api::get(client, &item.kind, None, item.name()).await)
            }
            .boxed()
        })
        .collect();
    for (index, object) in bounded(tasks, config.concurrency).await {
        let live = match object {
            Ok(Some(object)) => Live::Present(object),
            Ok(None) => Live::Absent,
            Err(error) => Live::Unknown(error.to_string()),
        };
        found.push((index, live));
    }
    found
}

/// What to do with one desired object.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Leave it (why).
    Skip(String),
    /// It matches git already.
    Unchanged,
    /// Apply it; the live object if it exists (or may: `Unknown`).
    Apply(Live),
}

/// Where `desired` first differs from `live`: its mark, its checksum, then
/// the manifest's fields.
///
/// An object Flux v1 applied carries Flux's checksum, which never equals
/// this engine's; it counts as matching when kubectl's record of what Flux
/// applied equals what this engine would apply (see [`flux_applied_this`]),
/// so the first sync after a swap from Flux v1 writes only what differs.
fn difference(desired: &Desired<'_>, live: &LiveObject) -> Option<String> {
    let metadata = &live.0["metadata"];
    if metadata["labels"][GC_MARK_LABEL] != desired.mark.as_str() {
        return Some(format!("metadata.labels.{GC_MARK_LABEL}"));
    }
    let checksum = &metadata["annotations"][CHECKSUM_ANNOTATION];
    if checksum != desired.checksum_hex.as_str() {
        let applied_by_flux = checksum.as_str().is_some_and(is_flux_v1_checksum)
            && flux_applied_this(&desired.applied(), &live.0, desired.namespace.is_none());
        if !applied_by_flux {
            return Some(format!("metadata.annotations.{CHECKSUM_ANNOTATION}"));
        }
    }
    first_difference(desired.compared(), &live.0)
}

/// What earlier syncs learnt: this manifest checksum against this live
/// resourceVersion needs no apply.
pub(crate) type Memo = HashMap<(String, ResourceId), (Checksum, String)>;

/// Decides what to do with `desired` given its live counterpart; records
/// matches in `memo` so the next sync skips the comparison.
pub(crate) fn decide(
    set_name: &str,
    desired: &Desired<'_>,
    live: Live,
    memo: &Mutex<Memo>,
) -> Action {
    let object = match live {
        Live::Present(object) => object,
        Live::Unknown(why) => {
            tracing::debug!(id = %desired.id, %why, "live object unreadable; applying");
            return Action::Apply(Live::Unknown(why));
        }
        Live::Absent => return Action::Apply(Live::Absent),
    };
    if object.ignore() == Ignore::Yes {
        return Action::Skip(IGNORED_IN_CLUSTER.to_owned());
    }
    let key = (set_name.to_owned(), desired.id.clone());
    let version = object.resource_version().unwrap_or_default();
    let lock = || memo.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((checksum, known_version)) = lock().get(&key)
        && *checksum == desired.checksum
        && known_version == version
    {
        return Action::Unchanged;
    }
    match difference(desired, &object) {
        None => {
            lock().insert(key, (desired.checksum, version.to_owned()));
            Action::Unchanged
        }
        Some(path) => {
            tracing::debug!(id = %desired.id, field = %path, "differs from the live object");
            Action::Apply(Live::Present(object))
        }
    }
}
