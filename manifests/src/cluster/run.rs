//! The steps a sync and a plan share: sorting the set out against discovery,
//! reading the live objects, deciding what to send.

use std::collections::{HashMap, HashSet};

use futures::FutureExt;

use super::api::{self, ApiError};
use super::compare::first_difference;
use super::desired::{CrdKind, Desired, scoped_id};
use super::discovery::{Kind, Kinds};
use super::live::LiveObject;
use super::marks::GC_MARK_LABEL;
use super::{
    EngineConfig, IGNORED_IN_CLUSTER, IGNORED_IN_GIT, Outcome, ResourceResult, SyncSet, bounded,
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
                    Outcome::Skipped {
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
                    prepared.decided(resource, resource.id().clone(), unknown_kind(resource));
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
        if let Some(message) = config.refusal(&id) {
            self.decided(resource, id, Outcome::Failed { message });
            return;
        }
        if let Some(first) = seen.get(&id) {
            let message = format!(
                "defined twice once the cluster's scope of {} is known: also at {}",
                resource.kind(),
                first.source()
            );
            self.decided(resource, id, Outcome::Failed { message });
            return;
        }
        seen.insert(id, resource);
        self.desired
            .push(Desired::new(resource, kind, set_name, config));
    }

    fn decided(&mut self, resource: &Resource, id: ResourceId, outcome: Outcome) {
        self.results.push(ResourceResult {
            id,
            source: Some(resource.source().clone()),
            outcome,
        });
    }
}

/// The failure of a resource whose kind the cluster does not serve.
pub(crate) fn unknown_kind(resource: &Resource) -> Outcome {
    Outcome::Failed {
        message: format!(
            "the cluster does not serve kind {} in {}",
            resource.kind(),
            resource.api_version()
        ),
    }
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

/// A list call: a kind, in one namespace or cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) group: String,
    pub(crate) plural: String,
    pub(crate) namespace: Option<String>,
}

impl Target {
    pub(crate) fn new(kind: &Kind, namespace: Option<&str>) -> Self {
        Self {
            group: kind.resource.group.clone(),
            plural: kind.resource.plural.clone(),
            namespace: namespace.map(str::to_owned),
        }
    }
}

/// The objects carrying the mark label, by list call: read for the
/// comparison, reused by garbage collection.
pub(crate) type MarkedLists = HashMap<Target, Result<Vec<LiveObject>, ApiError>>;

/// The list call that reads `desired`'s marked live counterpart: per kind
/// cluster-wide when the scope allows, else per kind and namespace.
fn marked_target(desired: &Desired<'_>, config: &EngineConfig) -> Target {
    let namespace = match (&desired.namespace, config.scope.is_restricted()) {
        (Some(namespace), true) => Some(namespace.as_str()),
        _ => None,
    };
    Target::new(&desired.kind, namespace)
}

/// Reads the live counterpart of every desired object: one list per kind
/// (and namespace when restricted) of the objects that carry the mark
/// label; then, for those not found, the unmarked objects of their kind and
/// namespace (a sync adopts them, unless they are ignored).
pub(crate) async fn read_live(
    client: &kube::Client,
    config: &EngineConfig,
    desired: &[Desired<'_>],
    marked: &mut MarkedLists,
) -> Vec<Live> {
    let mut targets: HashMap<Target, &Kind> = HashMap::new();
    for item in desired {
        let target = marked_target(item, config);
        if !marked.contains_key(&target) {
            targets.entry(target).or_insert(&item.kind);
        }
    }
    let selector = GC_MARK_LABEL;
    let tasks = targets
        .into_iter()
        .map(|(target, kind)| {
            async move {
                let objects =
                    api::list(client, kind, target.namespace.as_deref(), Some(selector)).await;
                (target, objects)
            }
            .boxed()
        })
        .collect();
    let lists = bounded(tasks, config.concurrency).await;
    marked.extend(lists);

    let mut found: HashMap<(&Target, Option<&str>, &str), &LiveObject> = HashMap::new();
    for (target, objects) in marked.iter() {
        for object in objects.iter().flatten() {
            if let Some(name) = object.name() {
                found.insert((target, object.namespace(), name), object);
            }
        }
    }
    let mut live: Vec<Live> = Vec::with_capacity(desired.len());
    let mut missing = Vec::new();
    for (index, item) in desired.iter().enumerate() {
        let target = marked_target(item, config);
        match marked.get(&target) {
            Some(Err(error)) => live.push(Live::Unknown(error.to_string())),
            _ => match found.get(&(&target, item.namespace.as_deref(), item.name())) {
                Some(object) => live.push(Live::Present((*object).clone())),
                None => {
                    live.push(Live::Absent);
                    missing.push(index);
                }
            },
        }
    }
    if !missing.is_empty() {
        read_unmarked(client, config, desired, &missing, &mut live).await;
    }
    live
}

/// Looks up objects the marked lists did not have: per kind and namespace
/// without a selector (namespaced kinds), one by one (cluster-scoped kinds,
/// whose unmarked objects can be many and large, like CRDs).
async fn read_unmarked(
    client: &kube::Client,
    config: &EngineConfig,
    desired: &[Desired<'_>],
    missing: &[usize],
    live: &mut [Live],
) {
    let mut by_target: HashMap<Target, (&Kind, Vec<usize>)> = HashMap::new();
    let mut singles = Vec::new();
    for &index in missing {
        let item = &desired[index];
        match &item.namespace {
            Some(namespace) => {
                by_target
                    .entry(Target::new(&item.kind, Some(namespace)))
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
                let objects = api::list(client, kind, target.namespace.as_deref(), None).await;
                (objects, indices)
            }
            .boxed()
        })
        .collect();
    let listed = bounded(tasks, config.concurrency).await;
    for (objects, indices) in listed {
        match objects {
            Ok(objects) => {
                let by_name: HashMap<&str, &LiveObject> = objects
                    .iter()
                    .filter_map(|object| Some((object.name()?, object)))
                    .collect();
                for index in indices {
                    if let Some(object) = by_name.get(desired[index].name()) {
                        live[index] = Live::Present((*object).clone());
                    }
                }
            }
            Err(error) => {
                for index in indices {
                    live[index] = Live::Unknown(error.to_string());
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
    let fetched = bounded(tasks, config.concurrency).await;
    for (index, object) in fetched {
        live[index] = match object {
            Ok(Some(object)) => Live::Present(object),
            Ok(None) => Live::Absent,
            Err(error) => Live::Unknown(error.to_string()),
        };
    }
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

/// What earlier syncs learnt: this manifest checksum against this live
/// resourceVersion needs no apply.
pub(crate) type Memo = HashMap<(String, ResourceId), (Checksum, String)>;

/// Decides what to do with `desired` given its live counterpart; records
/// matches in `memo` so the next sync skips the comparison.
pub(crate) fn decide(set_name: &str, desired: &Desired<'_>, live: Live, memo: &mut Memo) -> Action {
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
    if let Some((checksum, known_version)) = memo.get(&key)
        && *checksum == desired.checksum
        && known_version == version
    {
        return Action::Unchanged;
    }
    match first_difference(&desired.compared, &object.0) {
        None => {
            memo.insert(key, (desired.checksum, version.to_owned()));
            Action::Unchanged
        }
        Some(path) => {
            tracing::debug!(id = %desired.id, field = %path, "differs from the live object");
            Action::Apply(Live::Present(object))
        }
    }
}
