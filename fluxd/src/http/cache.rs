//! A watch-backed cache of the kinds the workload listing reads, so that
//! `v6/services`, `v11/services`, `v6/images` and `v10/images` answer from
//! memory instead of listing five kinds from the API server per request.
//!
//! One reflector per kind and scope: per allowed namespace when
//! `--k8s-allow-namespace` is given, cluster-wide otherwise. A scope that
//! is not ready yet (bounded wait), or whose watch is failing (RBAC, a
//! missing CRD, the API server away), is answered by a list call as before;
//! a failing scope is logged once and leaves the other kinds alone.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;

/// How long a request waits for a scope's first list before listing itself.
const READY_WAIT: Duration = Duration::from_secs(2);
/// How often a waiting request looks again.
const READY_POLL: Duration = Duration::from_millis(10);

/// What a scope's watch last did.
const STARTING: u8 = 0;
const SYNCED: u8 = 1;
const FAILING: u8 = 2;
/// Failing with a 404: the kind does not exist in this cluster (no CRD).
const MISSING: u8 = 3;

/// One watched scope of one kind.
struct Scope<K: Resource + Clone + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    /// `None`: cluster-wide.
    namespace: Option<String>,
    store: Store<K>,
    state: Arc<AtomicU8>,
    ready: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// What the cache holds of one kind for a request.
pub(crate) enum Cached<K> {
    /// The objects, from the cache.
    Objects(Vec<Arc<K>>),
    /// The kind does not exist in the cluster (its watch answers 404).
    Missing,
    /// The cache cannot answer: list instead.
    List,
}

/// The watched scopes of one kind.
pub(crate) struct Watched<K: Resource + Clone + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    scopes: Vec<Scope<K>>,
}

impl<K> Watched<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    /// Starts watching `K` (of type `dyntype`) through each of `apis`, each
    /// with the namespace it covers (`None`: cluster-wide).
    pub(crate) fn start(
        apis: Vec<(Option<String>, Api<K>)>,
        what: &'static str,
        dyntype: &K::DynamicType,
    ) -> Self {
        let scopes = apis
            .into_iter()
            .map(|(namespace, api)| {
                let writer = reflector::store::Writer::new(dyntype.clone());
                let store = writer.as_reader();
                let state = Arc::new(AtomicU8::new(STARTING));
                let ready = Arc::new(AtomicBool::new(false));
                let task = tokio::spawn(run(
                    api,
                    writer,
                    what,
                    namespace.clone(),
                    state.clone(),
                    ready.clone(),
                ));
                Scope {
                    namespace,
                    store,
                    state,
                    ready,
                    task,
                }
            })
            .collect();
        Self { scopes }
    }

    /// The objects in `namespaces` (`None`: every watched one), or why the
    /// cache cannot say. Waits (bounded) for scopes still starting.
    pub(crate) async fn get(&self, namespaces: Option<&[String]>) -> Cached<K> {
        let cluster_wide = self.scopes.iter().any(|s| s.namespace.is_none());
        // A namespace asked for that no scope watches: list it.
        if !cluster_wide
            && let Some(list) = namespaces
            && list
                .iter()
                .any(|ns| !self.scopes.iter().any(|s| s.namespace.as_ref() == Some(ns)))
        {
            return Cached::List;
        }
        let wanted = |ns: Option<&String>| match (namespaces, ns) {
            (None, _) | (Some(_), None) => true,
            (Some(list), Some(ns)) => list.contains(ns),
        };
        let mut out = Vec::new();
        let mut missing = false;
        for scope in self.scopes.iter().filter(|s| wanted(s.namespace.as_ref())) {
            match scope.wait().await {
                SYNCED => {}
                MISSING => {
                    missing = true;
                    continue;
                }
                _ => return Cached::List,
            }
            match (&scope.namespace, namespaces) {
                (None, Some(list)) => out.extend(scope.store.state_filter(|o| {
                    o.meta()
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| list.contains(ns))
                })),
                _ => out.extend(scope.store.state()),
            }
        }
        if missing && out.is_empty() {
            return Cached::Missing;
        }
        Cached::Objects(out)
    }
}

impl<K: Resource + Clone + 'static> Scope<K>
where
    K::DynamicType: Eq + Hash + Clone,
{
    /// The scope's state once it is synced or failing, or after
    /// [`READY_WAIT`].
    async fn wait(&self) -> u8 {
        let deadline = tokio::time::Instant::now() + READY_WAIT;
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state == FAILING || state == MISSING {
                return state;
            }
            if self.ready.load(Ordering::Acquire) {
                return SYNCED;
            }
            if tokio::time::Instant::now() >= deadline {
                return STARTING;
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }
}

impl<K: Resource + Clone + 'static> Drop for Watched<K>
where
    K::DynamicType: Eq + Hash + Clone,
{
    fn drop(&mut self) {
        for scope in &self.scopes {
            scope.task.abort();
        }
    }
}

/// Feeds `writer` from a watch of `api`, forever (backing off on errors).
async fn run<K>(
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    what: &'static str,
    namespace: Option<String>,
    state: Arc<AtomicU8>,
    ready: Arc<AtomicBool>,
) where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    let scope = namespace.as_deref().unwrap_or("*");
    let stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        // The listing never reads managed fields: do not keep them.
        .modify(|object: &mut K| object.meta_mut().managed_fields = None)
        .reflect(writer);
    futures::pin_mut!(stream);
    let mut logged = false;
    while let Some(event) = stream.next().await {
        match event {
            // A (re)list starting says nothing yet about whether it works.
            Ok(Event::Init) => {}
            Ok(event) => {
                if matches!(event, Event::InitDone) {
                    ready.store(true, Ordering::Release);
                }
                if state.swap(SYNCED, Ordering::AcqRel) >= FAILING && logged {
                    tracing::info!(
                        kind = what,
                        namespace = scope,
                        "watch of the workload cache recovered"
                    );
                    logged = false;
                }
            }
            Err(error) => {
                let code = match &error {
                    watcher::Error::InitialListFailed(kube::Error::Api(status))
                    | watcher::Error::WatchStartFailed(kube::Error::Api(status))
                    | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.code),
                    watcher::Error::WatchError(status) => Some(status.code),
                    _ => None,
                };
                let next = if code == Some(404) { MISSING } else { FAILING };
                state.store(next, Ordering::Release);
                if !logged {
                    if next == MISSING {
                        tracing::info!(
                            kind = what,
                            namespace = scope,
                            "kind not served by the API server (no CRD): listing none of it until it appears"
                        );
                    } else {
                        tracing::warn!(
                            kind = what,
                            namespace = scope,
                            error = %error,
                            "watch of the workload cache failed; listing this kind per request until it recovers"
                        );
                    }
                    logged = true;
                } else {
                    tracing::debug!(kind = what, namespace = scope, error = %error, "workload cache watch still failing");
                }
            }
        }
    }
}
