//! What Helm has stored about releases, read from the Kubernetes API.
//!
//! Helm keeps each revision of a release as a Secret labelled `owner=helm`,
//! `name=<release>`, `version=<revision>`, `status=<status>`. Watching only the
//! metadata of those Secrets (one watch per namespace, never their data)
//! tells the reconciler whether a release exists and whether someone changed
//! it behind the operator's back, without running helm. That is what lets a
//! resync of unchanged releases run helm zero times.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, PartialObjectMeta};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use crate::Error;

const HELM_OWNER: &str = "owner=helm";

/// A release as Helm's storage shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StoredRelease {
    /// The newest revision.
    pub latest_revision: i64,
    /// Status of the newest revision.
    pub latest_status: String,
    /// The revision currently `deployed`, if any.
    pub deployed_revision: Option<i64>,
}

impl StoredRelease {
    /// From the labels of a release's storage Secrets; `None` when there are none.
    pub(crate) fn from_labels<'a>(
        labels: impl IntoIterator<Item = &'a std::collections::BTreeMap<String, String>>,
    ) -> Option<Self> {
        let mut found: Option<Self> = None;
        for labels in labels {
            let Some(revision) = labels.get("version").and_then(|v| v.parse::<i64>().ok()) else {
                continue;
            };
            let status = labels.get("status").cloned().unwrap_or_default();
            let entry = found.get_or_insert_with(Self::default);
            if revision > entry.latest_revision {
                entry.latest_revision = revision;
                entry.latest_status.clone_from(&status);
            }
            if status == "deployed" {
                entry.deployed_revision = Some(
                    entry
                        .deployed_revision
                        .map_or(revision, |r| r.max(revision)),
                );
            }
        }
        found
    }
}

/// Helm storage of the watched namespaces, kept current by metadata watches.
#[derive(Clone)]
pub(crate) struct ReleaseStorage {
    client: kube::Client,
    /// Watched namespace (`""` for all) to its store.
    stores: Arc<HashMap<String, Store<PartialObjectMeta<Secret>>>>,
}

impl std::fmt::Debug for ReleaseStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseStorage")
            .field("namespaces", &self.stores.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The futures that keep a [`ReleaseStorage`] current; run them until shutdown.
pub(crate) type StorageWatches = Vec<futures::future::BoxFuture<'static, ()>>;

impl ReleaseStorage {
    /// Storage for `namespaces` (all namespaces when empty), and the watch
    /// futures to drive.
    pub(crate) fn watch(client: kube::Client, namespaces: &[String]) -> (Self, StorageWatches) {
        let scopes: Vec<String> = if namespaces.is_empty() {
            vec![String::new()]
        } else {
            namespaces.to_vec()
        };
        let mut stores = HashMap::new();
        let mut watches: StorageWatches = Vec::new();
        for namespace in scopes {
            // `Api<PartialObjectMeta<_>>` watches metadata only: no Secret data.
            let api: Api<PartialObjectMeta<Secret>> = if namespace.is_empty() {
                Api::all(client.clone())
            } else {
                Api::namespaced(client.clone(), &namespace)
            };
            let (store, writer) = reflector::store();
            let stream = watcher(api, watcher::Config::default().labels(HELM_OWNER))
                .default_backoff()
                .reflect(writer)
                .applied_objects();
            let scope = namespace.clone();
            watches.push(Box::pin(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    if let Err(error) = event {
                        tracing::warn!(
                            namespace = %scope,
                            error = %crate::api_error::describe_watch(&error),
                            "watching helm release storage"
                        );
                    }
                }
            }));
            stores.insert(namespace, store);
        }
        (
            Self {
                client,
                stores: Arc::new(stores),
            },
            watches,
        )
    }

    /// Waits until every store has its first list.
    pub(crate) async fn ready(&self) {
        for store in self.stores.values() {
            let _ = store.wait_until_ready().await;
        }
    }

    /// The release from the watch cache; `None` inside means not there, an
    /// outer `None` that the namespace is not watched.
    pub(crate) fn cached(
        &self,
        namespace: &str,
        release_name: &str,
    ) -> Option<Option<StoredRelease>> {
        let store = self.stores.get(namespace).or_else(|| self.stores.get(""))?;
        let state = store.state();
        let labels = state
            .iter()
            .filter(|secret| secret.namespace().as_deref() == Some(namespace))
            .map(|secret| secret.labels())
            .filter(|labels| labels.get("name").map(String::as_str) == Some(release_name));
        Some(StoredRelease::from_labels(labels))
    }

    /// The release read now from the API (one metadata list).
    pub(crate) async fn fetch(
        &self,
        namespace: &str,
        release_name: &str,
    ) -> Result<Option<StoredRelease>, Error> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list_metadata(
                &ListParams::default().labels(&format!("{HELM_OWNER},name={release_name}")),
            )
            .await
            .map_err(|e| {
                Error::kube(
                    format!("listing helm storage of {namespace}/{release_name}"),
                    e,
                )
            })?;
        Ok(StoredRelease::from_labels(
            list.items.iter().map(ResourceExt::labels),
        ))
    }

    /// The release as stored: from the cache when it agrees with what the
    /// operator recorded (`known_revision`), otherwise read again, since a
    /// watch may lag behind the operator's own last change.
    pub(crate) async fn observe(
        &self,
        namespace: &str,
        release_name: &str,
        known_revision: Option<i64>,
    ) -> Result<Option<StoredRelease>, Error> {
        match self.cached(namespace, release_name) {
            Some(Some(stored))
                if known_revision.is_none_or(|known| stored.latest_revision >= known) =>
            {
                Ok(Some(stored))
            }
            Some(None) if known_revision.is_none() => Ok(None),
            _ => self.fetch(namespace, release_name).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn labels(version: &str, status: &str) -> BTreeMap<String, String> {
        [
            ("name", "r"),
            ("owner", "helm"),
            ("version", version),
            ("status", status),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn latest_and_deployed_revisions() {
        let all = [
            labels("1", "superseded"),
            labels("3", "failed"),
            labels("2", "deployed"),
        ];
        let stored = StoredRelease::from_labels(all.iter()).unwrap();
        assert_eq!(stored.latest_revision, 3);
        assert_eq!(stored.latest_status, "failed");
        assert_eq!(stored.deployed_revision, Some(2));
        assert_eq!(StoredRelease::from_labels([].iter()), None);
        let broken = [labels("x", "deployed")];
        assert_eq!(StoredRelease::from_labels(broken.iter()), None);
    }
}
