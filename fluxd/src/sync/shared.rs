//! The newest revision's manifests, loaded once and shared by the sync, the
//! HTTP API's view of git and the jobs (automation runs, plans), so that a
//! revision's documents are in memory once, not once per user.
//!
//! Loading is deterministic for a revision (the same tree, paths and load
//! options give the same resources), so a load is reused for as long as it
//! is of the revision asked for; one load runs at a time, so two users
//! wanting a new revision at once wait for the same load instead of holding
//! two copies side by side.

use std::sync::{Arc, PoisonError};

use gitsync::Head;

use crate::Error;
use crate::sync::{GitSource, LoadedRevision};

/// The newest revision loaded, shared. Cheap to clone: clones share it.
#[derive(Clone, Default)]
pub(crate) struct RevisionCache {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The newest load a publishing user made. Its `errors` are always
    /// empty (they are handed to the one who loaded); `set.complete` says
    /// whether there were any.
    newest: std::sync::Mutex<Option<Arc<LoadedRevision>>>,
    /// Held while loading: one load at a time, in the whole daemon.
    loading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RevisionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevisionCache")
            .field(
                "newest",
                &self.newest().map(|loaded| loaded.revision.to_string()),
            )
            .finish_non_exhaustive()
    }
}

/// What to reuse: any load of the revision, or only one without errors
/// (the sync reports a revision's load errors on each pass, and errors are
/// not shared, so it loads such a revision again).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reuse {
    Any,
    Complete,
}

impl RevisionCache {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The newest load, whatever its revision.
    fn newest(&self) -> Option<Arc<LoadedRevision>> {
        self.inner
            .newest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The shared load of `head`, if the newest is of it (and usable as
    /// `reuse` says).
    fn get(&self, head: &Head, reuse: Reuse) -> Option<Arc<LoadedRevision>> {
        let found = self.newest().filter(|loaded| {
            loaded.revision == head.revision
                && loaded.branch == head.branch
                && (reuse == Reuse::Any || loaded.set.complete)
        });
        if found.is_some() {
            tracing::debug!(revision = %head.revision, "reusing the loaded manifests");
        }
        found
    }

    /// Replaces the newest load with `loaded`.
    fn publish(&self, loaded: Option<Arc<LoadedRevision>>) {
        *self
            .inner
            .newest
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = loaded;
    }

    /// `head`'s resources for the sync: the shared load when it is of
    /// `head` and had no errors, else loaded by `source` and shared from
    /// then on. The errors of a load made here are returned (a reused load
    /// has none).
    pub(crate) async fn load_for_sync(
        &self,
        source: &GitSource,
        head: &Head,
    ) -> Result<(Arc<LoadedRevision>, Vec<manifests::Error>), Error> {
        self.load_published(source, head, Reuse::Complete).await
    }

    /// `head`'s resources for a job (the branch's head, the newest there
    /// is): the shared load when it is of `head`, else loaded by `source`
    /// and shared from then on. Load errors are left out.
    pub(crate) async fn load_newest(
        &self,
        source: &GitSource,
        head: &Head,
    ) -> Result<Arc<LoadedRevision>, Error> {
        Ok(self.load_published(source, head, Reuse::Any).await?.0)
    }

    async fn load_published(
        &self,
        source: &GitSource,
        head: &Head,
        reuse: Reuse,
    ) -> Result<(Arc<LoadedRevision>, Vec<manifests::Error>), Error> {
        if let Some(loaded) = self.get(head, reuse) {
            return Ok((loaded, Vec::new()));
        }
        let _loading = self.inner.loading.lock().await;
        // Loaded by someone else while this waited?
        if let Some(loaded) = self.get(head, reuse) {
            return Ok((loaded, Vec::new()));
        }
        // The older load goes now (unless a user still holds it), not
        // after this one is built beside it.
        self.publish(None);
        let mut loaded = source.load(head).await?;
        let errors = std::mem::take(&mut loaded.errors);
        let loaded = Arc::new(loaded);
        self.publish(Some(loaded.clone()));
        Ok((loaded, errors))
    }

    /// `head`'s resources for a reader of an older revision (the API, at
    /// the revision last synced): the shared load when it is of `head`,
    /// else loaded by `source` (after any load in progress) without
    /// replacing the shared one, which is newer. Load errors are left out.
    pub(crate) async fn load_older(
        &self,
        source: &GitSource,
        head: &Head,
    ) -> Result<Arc<LoadedRevision>, Error> {
        if let Some(loaded) = self.get(head, Reuse::Any) {
            return Ok(loaded);
        }
        let _loading = self.inner.loading.lock().await;
        if let Some(loaded) = self.get(head, Reuse::Any) {
            return Ok(loaded);
        }
        let mut loaded = source.load(head).await?;
        loaded.errors.clear();
        Ok(Arc::new(loaded))
    }
}
