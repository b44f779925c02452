//! Applying a set of resources to a cluster: the only module of this crate
//! that talks to the Kubernetes API (feature `cluster`).
//!
//! # A sync, step by step
//! An [`Engine`] takes a [`SyncSet`] (the resources loaded from one git
//! checkout, named by [`sync_set_name`]) and makes the cluster match it:
//!
//! 1. **Discovery** maps each `apiVersion`/`kind` to its API resource and
//!    says whether it is namespaced (correcting the loader's offline guess of
//!    the id). It is cached, and refreshed when the sync creates a
//!    CustomResourceDefinition, so a CRD and its objects can come in one
//!    commit. An unknown kind fails that resource only.
//! 2. **Scope**: with [`NamespaceScope::Only`] a resource aimed at another
//!    namespace fails, and a cluster-scoped one is skipped as outside the
//!    allowed scope ([`ResourceOutcome::is_outside_scope`]); nothing is listed
//!    outside the allowed namespaces.
//! 3. **Live objects** are read with a few list calls per kind and namespace,
//!    selected by the [`GC_MARK_LABEL`] label.
//! 4. **Compare**: an object is applied only when a desired field differs
//!    from the live object, the server's normalisation taken into account
//!    (quantities, Secret `stringData`, defaults, list items matched by
//!    name). Git changes always reach the cluster: every object carries the
//!    checksum of its manifest in [`CHECKSUM_ANNOTATION`]. An object Flux v1
//!    applied (with Flux's checksum) matches when kubectl's record of what
//!    Flux applied ([`LAST_APPLIED_ANNOTATION`]) equals the manifest.
//! 5. **Apply** with server-side apply (field manager `fluxd`, conflicts
//!    forced), rank by rank in Flux's order ([`rank_of_kind`]), objects of
//!    one rank concurrently. `ignore: "true"` in git or on the live object
//!    skips a resource. An object last applied client-side (by Flux v1's
//!    `kubectl apply`) first has its field ownership migrated to the engine,
//!    as `kubectl apply --server-side` does, so that fields removed from git
//!    are removed from the cluster.
//! 6. **Garbage collection** ([`GarbageCollection`]) deletes, in reverse
//!    order, objects that carry this set's mark ([`gc_mark`]) but left git;
//!    never objects without the mark, ignored ones or ones with owners.
//!
//! The [`SyncReport`] has one [`ResourceOutcome`] per resource; one failing resource
//! never stops the others. [`Engine::plan`] computes the same without
//! changing anything (server-side dry-run, field-level diffs), and
//! [`plan_offline`] what can be known with no cluster at all.
//!
//! ```no_run
//! # async fn example() -> Result<(), manifests::Error> {
//! use manifests::cluster::{Engine, EngineConfig, SyncSet, sync_set_name};
//! use manifests::{LoadOptions, load};
//!
//! let loaded = load("/srv/checkout".as_ref(), &["deploy"], &LoadOptions::default());
//! let set = SyncSet {
//!     name: sync_set_name("ssh://git@example.com/team/config", "main", &["deploy"]),
//!     complete: loaded.is_complete(),
//!     resources: loaded.resources,
//! };
//! let client = kube::Client::try_default().await.map_err(|e| manifests::Error::Kube {
//!     context: "connecting".into(),
//!     source: Box::new(e),
//! })?;
//! let engine = Engine::new(client, EngineConfig::default())?;
//! let report = engine.sync(&set).await;
//! for failure in report.failures() {
//!     eprintln!("{}: {:?}", failure.id, failure.outcome);
//! }
//! # Ok(()) }
//! ```

mod api;
mod compare;
mod config;
mod desired;
mod diff;
mod discovery;
mod engine;
mod kube_error;
mod live;
mod marks;
mod order;
mod ownership;
mod plan;
mod prune;
mod quantity;
mod report;
mod run;

pub use config::{
    DEFAULT_EXCLUDED_KINDS, EngineConfig, GarbageCollection, NamespaceScope, OUTSIDE_SCOPE,
};
pub use engine::{Engine, SyncSet};
pub use kube_error::kube_error_message;
pub use marks::{CHECKSUM_ANNOTATION, GC_MARK_LABEL, LEGACY_GC_MARK_LABEL, gc_mark, sync_set_name};
pub use order::rank_of_kind;
pub use ownership::{KUBECTL_CLIENT_SIDE_APPLY, LAST_APPLIED_ANNOTATION};
pub use plan::{FieldChange, OfflineEntry, OfflinePlan, Plan, PlanAction, PlanEntry, plan_offline};
pub use report::{ResourceOutcome, ResourceResult, SyncCounts, SyncReport};

use crate::policy::Ignore;

/// The reason given for a resource skipped by its manifest's `ignore` policy.
pub(crate) const IGNORED_IN_GIT: &str = "ignore policy in git";
/// The reason given for a resource skipped by the live object's `ignore` policy.
pub(crate) const IGNORED_IN_CLUSTER: &str = "ignore policy on the cluster object";

/// Runs `tasks` with at most `limit` in flight; results in completion order.
///
/// The tasks are boxed and collected before the first await: a stream that
/// maps items through a closure, held across an await, makes the caller's
/// future impossible for the compiler to prove `Send`, and a daemon spawns
/// syncs on a multi-threaded runtime.
pub(crate) async fn bounded<T>(
    tasks: Vec<futures::future::BoxFuture<'_, T>>,
    limit: usize,
) -> Vec<T> {
    use futures::StreamExt as _;
    futures::stream::iter(tasks)
        .buffer_unordered(limit)
        .collect()
        .await
}

/// The `ignore` policy of an object.
pub(crate) fn ignore_of(object: &serde_json::Value) -> Ignore {
    Ignore::of_object(object)
}
