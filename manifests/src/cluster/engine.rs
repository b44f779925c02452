//! The engine: one per cluster connection, shared by every sync.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value;
use tracing::Instrument;

use super::api::{self, ApiError};
use super::desired::{CrdKind, Desired};
use super::diff::diff;
use super::discovery::Kinds;
use super::live::LiveObject;
use super::order::{LAST_RANK, apply_order};
use super::ownership::{after_take_over, applied_client_side, upgrade_managed_fields};
use super::prune::{self, Orphan, delete_orphans, find_orphans};
use super::run::{Action, Live, MarkedLists, Memo, Prepared, decide, read_live, unknown_kind};
use super::{
    EngineConfig, GarbageCollection, Plan, PlanAction, PlanEntry, ResourceOutcome, ResourceResult,
    SyncReport, bounded,
};
use crate::{Error, Resource, ResourceId};

/// How long a sync waits for a CustomResourceDefinition it applied to be
/// established before applying objects of its kind.
const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(30);
/// How often it asks meanwhile.
const CRD_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How many times the migration of an object's field ownership is tried
/// when the object changes under it.
const TAKE_OVER_ATTEMPTS: usize = 3;

/// The resources of one git checkout to make the cluster match.
#[derive(Debug, Clone)]
pub struct SyncSet {
    /// The set's name, from [`sync_set_name`](super::sync_set_name): part of
    /// every object's garbage-collection mark, so two sets never prune each
    /// other's objects.
    pub name: String,
    /// The resources, as loaded.
    pub resources: Vec<Resource>,
    /// True when every file loaded without error. Garbage collection runs
    /// only for a complete set: an object defined in a file that failed to
    /// load would otherwise look removed from git and be deleted.
    pub complete: bool,
}

/// Applies [`SyncSet`]s to one cluster. Keeps the API discovery and what it
/// learnt of earlier syncs (which objects already matched) between syncs;
/// share one engine (it is `Send + Sync`) rather than making one per sync.
pub struct Engine {
    client: kube::Client,
    config: EngineConfig,
    kinds: tokio::sync::Mutex<Option<Arc<Kinds>>>,
    memo: Mutex<Memo>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The phases of one sync or plan, after discovery.
struct Run<'e, 's> {
    engine: &'e Engine,
    set: &'s SyncSet,
    kinds: Arc<Kinds>,
    prepared: Prepared<'s>,
    marked: MarkedLists,
    errors: Vec<String>,
    /// Applies the API server did not answer (no HTTP status: it could not
    /// be reached, or the connection broke).
    unanswered: std::sync::atomic::AtomicUsize,
    /// Applies the API server failed on its side: 429 (too many requests,
    /// after the client's own retries) or 5xx (restarting, overloaded, etcd
    /// unavailable). Not the manifest's fault: the sync did not run to
    /// completion.
    server_failed: std::sync::atomic::AtomicUsize,
}

impl Engine {
    /// An engine over `client`; checks `config` ([`EngineConfig::validate`]).
    /// Sends nothing yet: discovery runs on the first sync or plan.
    pub fn new(client: kube::Client, config: EngineConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            client,
            config,
            kinds: tokio::sync::Mutex::new(None),
            memo: Mutex::new(Memo::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Makes the cluster match `set` and reports what happened to each
    /// resource. Never fails as a whole: problems are in the report.
    pub async fn sync(&self, set: &SyncSet) -> SyncReport {
        let span =
            tracing::info_span!("sync", set = %short(&set.name), resources = set.resources.len());
        async {
            let started = Instant::now();
            let mut report = match self.start(set).await {
                Ok(run) => run.sync().await,
                Err(error) => everything_failed(set, &error),
            };
            report.duration = started.elapsed();
            let counts = report.counts();
            // Debug: an embedder logs the report as its own summary (fluxd
            // writes one `sync finished` line per sync).
            tracing::debug!(
                created = counts.created,
                configured = counts.configured,
                unchanged = counts.unchanged,
                skipped = counts.skipped,
                failed = counts.failed,
                pruned = counts.pruned,
                would_prune = counts.would_prune,
                errors = report.errors.len(),
                duration_ms = report.duration.as_millis(),
                "sync done"
            );
            report
        }
        .instrument(span)
        .await
    }

    /// What [`Engine::sync`] would do, computed with server-side dry-runs:
    /// nothing changes. Fails only when discovery does.
    pub async fn plan(&self, set: &SyncSet) -> Result<Plan, Error> {
        let span =
            tracing::info_span!("plan", set = %short(&set.name), resources = set.resources.len());
        async {
            let run = self.start(set).await?;
            Ok(run.plan().await)
        }
        .instrument(span)
        .await
    }

    /// Discovery (cached), sorting the set out, and one refresh of
    /// discovery if a kind is unknown (someone may have added a CRD).
    async fn start<'s>(&self, set: &'s SyncSet) -> Result<Run<'_, 's>, Error> {
        let started = Instant::now();
        let (mut kinds, mut fresh) = self.kinds(false).await?;
        let mut prepared = Prepared::new(set, &kinds, &self.config);
        if !fresh && (prepared.unknown > 0 || !prepared.deferred.is_empty()) {
            (kinds, fresh) = self.kinds(true).await?;
            prepared = Prepared::new(set, &kinds, &self.config);
        }
        tracing::info!(
            kinds = kinds.len(),
            refreshed = fresh,
            desired = prepared.desired.len(),
            deferred = prepared.deferred.len(),
            decided = prepared.results.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "discovery"
        );
        Ok(Run {
            engine: self,
            set,
            kinds,
            prepared,
            marked: MarkedLists::new(),
            errors: Vec::new(),
            unanswered: std::sync::atomic::AtomicUsize::new(0),
            server_failed: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The cached discovery, or a fresh one (then true) when none is cached
    /// or `refresh` is asked.
    async fn kinds(&self, refresh: bool) -> Result<(Arc<Kinds>, bool), Error> {
        let mut cached = self.kinds.lock().await;
        if let Some(kinds) = cached.as_ref().filter(|_| !refresh) {
            return Ok((Arc::clone(kinds), false));
        }
        let kinds = Arc::new(Kinds::discover(&self.client).await?);
        *cached = Some(Arc::clone(&kinds));
        Ok((kinds, true))
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<'s> Run<'_, 's> {
    fn client(&self) -> &kube::Client {
        &self.engine.client
    }

    fn config(&self) -> &EngineConfig {
        &self.engine.config
    }

    /// Reads the live objects of `desired` and decides what to do with each.
    /// With `slim`, live objects to apply over keep only their metadata (a
    /// sync needs no more; a plan diffs them).
    async fn decide_all(
        &mut self,
        desired: Vec<Desired<'s>>,
        slim: bool,
    ) -> Vec<(Desired<'s>, Action)> {
        let started = Instant::now();
        let engine = self.engine;
        // Garbage collection's lists go out with the first ones.
        let kinds = Arc::clone(&self.kinds);
        let also = if self.marked.is_empty() && self.collects_garbage() {
            prune::targets(&kinds, &engine.config)
        } else {
            Vec::new()
        };
        let set_name = &self.set.name;
        let judge = move |item: &Desired<'_>, live: Live| match decide(
            set_name,
            item,
            live,
            &engine.memo,
        ) {
            Action::Apply(Live::Present(object)) if slim => {
                Action::Apply(Live::Present(object.metadata_only()))
            }
            action => action,
        };
        let actions = read_live(
            &engine.client,
            &engine.config,
            &desired,
            also,
            &judge,
            &mut self.marked,
        )
        .await;
        let kinds_read: HashSet<(&str, &str)> = desired
            .iter()
            .map(|item| {
                (
                    item.kind.resource.group.as_str(),
                    item.kind.resource.plural.as_str(),
                )
            })
            .collect();
        let mut stale = false;
        for (target, listed) in &self.marked {
            match listed {
                // A kind discovery knew is gone (its CRD deleted): ask again
                // next time.
                Err(error) if error.is_not_found() => stale = true,
                Err(error)
                    if kinds_read.contains(&(target.group.as_str(), target.plural.as_str())) =>
                {
                    tracing::warn!(
                        kind = %target.plural,
                        namespace = target.namespace.as_deref().unwrap_or("(all)"),
                        %error,
                        "cannot read live objects: every one of them is applied on each sync \
                         (restrict the engine to the namespaces it may list)"
                    );
                }
                _ => {}
            }
        }
        if stale {
            *engine.kinds.lock().await = None;
        }
        let decided: Vec<(Desired<'s>, Action)> = desired.into_iter().zip(actions).collect();
        let to_apply = decided
            .iter()
            .filter(|(_, action)| matches!(action, Action::Apply(_)))
            .count();
        tracing::info!(
            objects = decided.len(),
            lists = self.marked.len(),
            to_apply,
            elapsed_ms = started.elapsed().as_millis(),
            "live objects read and compared"
        );
        decided
    }

    async fn sync(mut self) -> SyncReport {
        let desired = std::mem::take(&mut self.prepared.desired);
        let mut by_rank: Vec<Vec<(Desired<'s>, Action)>> =
            vec![Vec::new(); usize::from(LAST_RANK) + 1];
        for (item, action) in self.decide_all(desired, true).await {
            by_rank[usize::from(item.rank)].push((item, action));
        }
        let mut results = std::mem::take(&mut self.prepared.results);
        for rank in 0..by_rank.len() {
            let batch = std::mem::take(&mut by_rank[rank]);
            results.extend(self.apply_batch(rank, batch).await);
            if rank == 1 && !self.prepared.deferred.is_empty() {
                for (item, action) in self.resolve_deferred(&results).await {
                    by_rank[usize::from(item.rank).max(rank + 1)].push((item, action));
                }
            }
        }
        // Deferred objects decided while resolving (their CRD failed, a
        // refusal, still unknown).
        results.append(&mut self.prepared.results);
        results.sort_by(|a, b| apply_order(&a.id, &b.id));
        let incomplete = incomplete_because(
            self.unanswered.load(std::sync::atomic::Ordering::Relaxed),
            self.server_failed
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        match &incomplete {
            // Pruning after a half-done apply could remove an object before
            // its replacement exists: the next complete sync prunes.
            Some(why) if self.config().gc != GarbageCollection::Off => {
                self.errors.push(format!(
                    "garbage collection skipped: {why}, so the apply did not run to completion"
                ));
            }
            Some(_) => {}
            None => results.extend(self.collect_garbage().await),
        }
        self.forget_others();
        SyncReport {
            results,
            errors: self.errors,
            duration: Duration::ZERO,
            incomplete,
        }
    }

    /// Applies one rank's objects concurrently.
    async fn apply_batch(
        &self,
        rank: usize,
        batch: Vec<(Desired<'s>, Action)>,
    ) -> Vec<ResourceResult> {
        if batch.is_empty() {
            return Vec::new();
        }
        let started = Instant::now();
        let total = batch.len();
        let tasks = batch
            .into_iter()
            .map(|(item, action)| self.apply_one(item, action).boxed())
            .collect();
        let results = bounded(tasks, self.config().concurrency).await;
        let written = results
            .iter()
            .filter(|r| {
                matches!(
                    r.outcome,
                    ResourceOutcome::Created | ResourceOutcome::Configured
                )
            })
            .count();
        tracing::info!(
            rank,
            objects = total,
            written,
            elapsed_ms = started.elapsed().as_millis(),
            "applied rank"
        );
        results
    }

    /// Server-side applies `item` (only a dry-run with `dry_run`).
    async fn send(&self, item: &Desired<'s>, dry_run: bool) -> Result<LiveObject, ApiError> {
        api::apply(
            self.client(),
            &item.kind,
            item.namespace.as_deref(),
            item.name(),
            &item.applied(),
            &self.config().field_manager,
            dry_run,
        )
        .await
    }

    async fn apply_one(&self, item: Desired<'s>, action: Action) -> ResourceResult {
        let outcome = match action {
            Action::Skip(reason) => ResourceOutcome::Skipped { reason },
            Action::Unchanged => ResourceOutcome::Unchanged,
            Action::Apply(live) => {
                if let Live::Present(before) = &live
                    && applied_client_side(&before.0)
                {
                    self.take_over(&item).await;
                }
                match self.send(&item, false).await {
                    Ok(object) => {
                        let version = object.resource_version().unwrap_or_default().to_owned();
                        let outcome = match &live {
                            Live::Absent => ResourceOutcome::Created,
                            Live::Present(before)
                                if before.resource_version() == Some(&version) =>
                            {
                                // The comparison saw a difference the server
                                // normalises away; remembered below.
                                ResourceOutcome::Unchanged
                            }
                            _ => ResourceOutcome::Configured,
                        };
                        self.engine.memo().insert(
                            (self.set.name.clone(), item.id.clone()),
                            (item.checksum, version),
                        );
                        outcome
                    }
                    Err(error) => {
                        tracing::debug!(id = %item.id, %error, "apply failed");
                        match error.code {
                            None => {
                                self.unanswered
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Some(code) if code == 429 || code >= 500 => {
                                self.server_failed
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Some(_) => {}
                        }
                        ResourceOutcome::Failed {
                            message: error.to_string(),
                        }
                    }
                }
            }
        };
        ResourceResult {
            id: item.id,
            source: Some(item.resource.source().clone()),
            outcome,
        }
    }

    /// Moves the field ownership of client-side `kubectl apply` (Flux v1's)
    /// on `item`'s live object to the engine's manager, retrying on a
    /// conflict. A failure is logged and the apply goes on: it still writes
    /// every field in git, and the next apply tries again.
    async fn take_over(&self, item: &Desired<'s>) {
        let manager = &self.config().field_manager;
        let namespace = item.namespace.as_deref();
        let mut last_error = None;
        for _ in 0..TAKE_OVER_ATTEMPTS {
            let metadata =
                match api::get_metadata(self.client(), &item.kind, namespace, item.name()).await {
                    Ok(Some(metadata)) => metadata,
                    Ok(None) => return,
                    Err(error) => {
                        last_error = Some(error);
                        break;
                    }
                };
            let entries = metadata["managedFields"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let Some(upgraded) = upgrade_managed_fields(entries, manager) else {
                return;
            };
            let version = metadata["resourceVersion"].as_str().unwrap_or_default();
            match api::replace_managed_fields(
                self.client(),
                &item.kind,
                namespace,
                item.name(),
                &upgraded,
                version,
            )
            .await
            {
                Ok(()) => {
                    tracing::debug!(id = %item.id, "took over the fields kubectl applied");
                    return;
                }
                Err(error) if error.is_conflict() => last_error = Some(error),
                Err(error) => {
                    last_error = Some(error);
                    break;
                }
            }
        }
        if let Some(error) = last_error {
            tracing::warn!(
                id = %item.id,
                %error,
                "cannot take over the fields kubectl applied: fields removed from git stay \
                 until a later apply succeeds in it"
            );
        }
    }

    /// After the CRDs of the set are applied: waits until those defining
    /// deferred kinds are established, refreshes discovery and prepares the
    /// deferred objects. Those that still cannot be resolved are failed.
    async fn resolve_deferred(&mut self, results: &[ResourceResult]) -> Vec<(Desired<'s>, Action)> {
        let deferred = std::mem::take(&mut self.prepared.deferred);
        let crds: Vec<CrdKind> = self.set.resources.iter().filter_map(CrdKind::of).collect();
        let mut waiting: HashMap<&str, Result<(), String>> = HashMap::new();
        for resource in &deferred {
            for crd in crds.iter().filter(|crd| crd.defines(resource)) {
                let id = ResourceId::cluster_scoped("CustomResourceDefinition", &crd.crd);
                let state = match results.iter().find(|r| r.id == id).map(|r| &r.outcome) {
                    Some(ResourceOutcome::Failed { message }) => Err(message.clone()),
                    Some(ResourceOutcome::Skipped { reason }) => Err(reason.clone()),
                    _ => Ok(()),
                };
                waiting.entry(crd.crd.as_str()).or_insert(state);
            }
        }
        let started = Instant::now();
        for (name, state) in &mut waiting {
            if state.is_ok() {
                *state = self.wait_established(name).await;
            }
        }
        let mut ready = Vec::new();
        for resource in deferred {
            let blocked = crds
                .iter()
                .filter(|crd| crd.defines(resource))
                .find_map(|crd| match waiting.get(crd.crd.as_str()) {
                    Some(Err(why)) => Some(format!(
                        "its CustomResourceDefinition {} is not ready: {why}",
                        crd.crd
                    )),
                    _ => None,
                });
            match blocked {
                Some(message) => self.prepared.results.push(ResourceResult {
                    id: resource.id().clone(),
                    source: Some(resource.source().clone()),
                    outcome: ResourceOutcome::Failed { message },
                }),
                None => ready.push(resource),
            }
        }
        if ready.is_empty() {
            return Vec::new();
        }
        let kinds = self.refreshed_until_served(&ready).await;
        let mut seen: HashMap<ResourceId, &'s Resource> = HashMap::new();
        let mut now_known = Prepared::default();
        for resource in ready {
            match kinds.get(resource.api_version(), resource.kind()) {
                Some(kind) => {
                    now_known.add(resource, kind, &self.set.name, self.config(), &mut seen);
                }
                None => now_known.results.push(ResourceResult {
                    id: resource.id().clone(),
                    source: Some(resource.source().clone()),
                    outcome: unknown_kind(resource, &kinds),
                }),
            }
        }
        self.prepared.keep.extend(now_known.keep);
        self.prepared.results.extend(now_known.results);
        tracing::info!(
            objects = now_known.desired.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "kinds of the set's CRDs resolved"
        );
        self.kinds = kinds;
        self.decide_all(now_known.desired, true).await
    }

    /// Waits until CustomResourceDefinition `name` says Established.
    async fn wait_established(&self, name: &str) -> Result<(), String> {
        let Some(crds) = self
            .kinds
            .get("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            .cloned()
        else {
            return Err("the cluster does not serve apiextensions.k8s.io/v1".to_owned());
        };
        let deadline = Instant::now() + CRD_ESTABLISHED_TIMEOUT;
        loop {
            match api::get(self.client(), &crds, None, name).await {
                Ok(Some(object)) if is_established(&object.0) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(error.to_string()),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not established after {}s",
                    CRD_ESTABLISHED_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(CRD_POLL_INTERVAL).await;
        }
    }

    /// Refreshes discovery until it serves every kind of `resources` (a new
    /// CRD's kind can reach discovery a moment after it is established), a
    /// few times at most.
    async fn refreshed_until_served(&self, resources: &[&Resource]) -> Arc<Kinds> {
        let mut kinds = Arc::clone(&self.kinds);
        for attempt in 0..10 {
            match self.engine.kinds(true).await {
                Ok((fresh, _)) => kinds = fresh,
                Err(error) => tracing::warn!(%error, "refreshing discovery failed"),
            }
            if resources
                .iter()
                .all(|r| kinds.get(r.api_version(), r.kind()).is_some())
            {
                break;
            }
            tracing::debug!(attempt, "new kinds not yet served; asking again");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        kinds
    }

    /// Garbage collection as configured; its results, in deletion order.
    async fn collect_garbage(&mut self) -> Vec<ResourceResult> {
        let mode = self.config().gc;
        if mode == GarbageCollection::Off {
            return Vec::new();
        }
        if !self.collects_garbage() {
            self.errors.push(
                "garbage collection skipped: some files of the set failed to load, \
                 so objects defined there would look removed from git"
                    .to_owned(),
            );
            return Vec::new();
        }
        let started = Instant::now();
        tracing::debug!(
            dry_run = mode == GarbageCollection::DryRun,
            "garbage collection started"
        );
        let orphans = self.find_orphans().await;
        let found = orphans.len();
        let results = if mode == GarbageCollection::DryRun {
            orphans
                .into_iter()
                .map(|orphan| ResourceResult {
                    id: orphan.id,
                    source: None,
                    outcome: ResourceOutcome::WouldPrune,
                })
                .collect()
        } else {
            if found > 0 {
                tracing::debug!(orphans = found, "deleting orphans");
            }
            delete_orphans(self.client(), self.config(), orphans).await
        };
        tracing::info!(
            orphans = found,
            dry_run = mode == GarbageCollection::DryRun,
            elapsed_ms = started.elapsed().as_millis(),
            "garbage collection"
        );
        results
    }

    /// True when garbage collection runs: on (or in dry-run) and the set
    /// complete.
    fn collects_garbage(&self) -> bool {
        self.config().gc != GarbageCollection::Off && self.set.complete
    }

    /// The orphans of this set; forgets discovery if it proved stale.
    async fn find_orphans(&mut self) -> Vec<Orphan> {
        let engine = self.engine;
        let found = find_orphans(
            &engine.client,
            &engine.config,
            &self.kinds,
            &self.set.name,
            &self.prepared.keep,
            &mut self.marked,
        )
        .await;
        self.errors.extend(found.errors);
        if found.stale {
            *self.engine.kinds.lock().await = None;
        }
        found.orphans
    }

    /// Drops remembered matches of this set's objects that left it.
    fn forget_others(&self) {
        let ids: HashSet<&ResourceId> = self.prepared.keep.iter().collect();
        self.engine
            .memo()
            .retain(|(set, id), _| set != &self.set.name || ids.contains(id));
    }

    async fn plan(mut self) -> Plan {
        let desired = std::mem::take(&mut self.prepared.desired);
        let decided = self.decide_all(desired, false).await;
        // Namespaces the plan would create: their objects cannot be dry-run.
        let new_namespaces: HashSet<&str> = decided
            .iter()
            .filter(|(item, action)| {
                item.kind.resource.kind == "Namespace"
                    && item.kind.resource.group.is_empty()
                    && matches!(action, Action::Apply(Live::Absent))
            })
            .map(|(item, _)| item.name())
            .collect();
        let new_namespaces = &new_namespaces;
        let this = &self;
        let tasks = decided
            .iter()
            .map(|(item, action)| {
                async move {
                    let action = this.plan_one(item, action, new_namespaces).await;
                    PlanEntry {
                        id: item.id.clone(),
                        source: Some(item.resource.source().clone()),
                        action,
                    }
                }
                .boxed()
            })
            .collect();
        let mut entries = bounded(tasks, this.config().concurrency).await;
        let results = std::mem::take(&mut self.prepared.results);
        entries.extend(results.into_iter().map(plan_entry_of_result));
        entries.extend(self.prepared.deferred.iter().map(|resource| PlanEntry {
            id: resource.id().clone(),
            source: Some(resource.source().clone()),
            action: PlanAction::Create,
        }));
        entries.sort_by(|a, b| apply_order(&a.id, &b.id));
        if self.collects_garbage() {
            let orphans = self.find_orphans().await;
            entries.extend(orphans.into_iter().map(|orphan| PlanEntry {
                id: orphan.id,
                source: None,
                action: PlanAction::Prune,
            }));
        }
        Plan {
            entries,
            errors: self.errors,
        }
    }

    async fn plan_one(
        &self,
        item: &Desired<'s>,
        action: &Action,
        new_namespaces: &HashSet<&str>,
    ) -> PlanAction {
        let live = match action {
            Action::Skip(reason) => {
                return PlanAction::Skip {
                    reason: reason.clone(),
                };
            }
            Action::Unchanged => return PlanAction::Unchanged,
            Action::Apply(live) => live,
        };
        if let (Live::Absent, Some(namespace)) = (live, &item.namespace)
            && new_namespaces.contains(namespace.as_str())
        {
            return PlanAction::Create;
        }
        match (self.send(item, true).await, live) {
            (Err(error), _) => PlanAction::Fail {
                message: error.to_string(),
            },
            (Ok(_), Live::Absent) => PlanAction::Create,
            (Ok(after), Live::Present(before)) => {
                let after = if applied_client_side(&before.0) {
                    after_take_over(after.0, &before.0, &item.applied())
                } else {
                    after.0
                };
                let diff = diff(&before.0, &after);
                if diff.is_empty() {
                    PlanAction::Unchanged
                } else {
                    PlanAction::Change { diff }
                }
            }
            // The live object could not be read: no diff to show.
            (Ok(_), Live::Unknown(_)) => PlanAction::Change { diff: Vec::new() },
        }
    }
}

/// A decided result as a plan entry.
fn plan_entry_of_result(result: ResourceResult) -> PlanEntry {
    let action = match result.outcome {
        ResourceOutcome::Skipped { reason } => PlanAction::Skip { reason },
        ResourceOutcome::Failed { message } => PlanAction::Fail { message },
        ResourceOutcome::Unchanged => PlanAction::Unchanged,
        ResourceOutcome::Created => PlanAction::Create,
        ResourceOutcome::Configured => PlanAction::Change { diff: Vec::new() },
        ResourceOutcome::Pruned | ResourceOutcome::WouldPrune => PlanAction::Prune,
    };
    PlanEntry {
        id: result.id,
        source: result.source,
        action,
    }
}

/// True when a CRD's `status.conditions` say `Established: True`.
fn is_established(crd: &Value) -> bool {
    crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|condition| condition["type"] == "Established" && condition["status"] == "True")
}

/// The report when discovery itself failed: every resource failed with it.
fn everything_failed(set: &SyncSet, error: &Error) -> SyncReport {
    let message = format!("not applied: {error}");
    SyncReport {
        results: set
            .resources
            .iter()
            .map(|resource| ResourceResult {
                id: resource.id().clone(),
                source: Some(resource.source().clone()),
                outcome: ResourceOutcome::Failed {
                    message: message.clone(),
                },
            })
            .collect(),
        errors: vec![error.to_string()],
        duration: Duration::ZERO,
        incomplete: Some(format!("nothing was applied: {error}")),
    }
}

/// Why a sync did not run to completion against the cluster: `unanswered`
/// applies got no answer, `failed` got 429 or 5xx; `None` when neither.
fn incomplete_because(unanswered: usize, failed: usize) -> Option<String> {
    let no_answer = format!("{unanswered} apply request(s) got no answer from the API server");
    let server = format!("{failed} apply request(s) failed in the API server (429 or 5xx)");
    match (unanswered, failed) {
        (0, 0) => None,
        (_, 0) => Some(no_answer),
        (0, _) => Some(server),
        _ => Some(format!("{no_answer}, {server}")),
    }
}

/// The first characters of a sync set name, enough to tell sets apart in logs.
fn short(name: &str) -> &str {
    name.get(..8).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Compiles only if the engine can be shared across tasks and its
    /// futures spawned.
    #[allow(dead_code)]
    fn futures_are_send<'a>(
        engine: &'a Engine,
        set: &'a SyncSet,
    ) -> (impl Send + 'a, impl Send + 'a) {
        fn shared<T: Send + Sync>() {}
        shared::<Engine>();
        (engine.sync(set), engine.plan(set))
    }

    #[test]
    fn incomplete_names_unanswered_and_server_failures() {
        assert_eq!(incomplete_because(0, 0), None);
        assert_eq!(
            incomplete_because(2, 0).as_deref(),
            Some("2 apply request(s) got no answer from the API server")
        );
        assert_eq!(
            incomplete_because(0, 1).as_deref(),
            Some("1 apply request(s) failed in the API server (429 or 5xx)")
        );
        assert!(
            incomplete_because(1, 3)
                .is_some_and(|why| why.contains("1 apply") && why.contains("3 apply"))
        );
    }

    #[test]
    fn established_condition() {
        let crd = json!({"status": {"conditions": [
            {"type": "NamesAccepted", "status": "True"},
            {"type": "Established", "status": "True"}
        ]}});
        assert!(is_established(&crd));
        let pending =
            json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}});
        assert!(!is_established(&pending));
        assert!(!is_established(&json!({})));
    }

    #[test]
    fn short_names() {
        assert_eq!(short("47DEQpj8HBSa-_TImW"), "47DEQpj8");
        assert_eq!(short("abc"), "abc");
    }
}
