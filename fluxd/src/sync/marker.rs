//! The sync marker in secret mode (`--sync-state secret`, implied by
//! `--git-readonly`): an annotation on a Secret in the daemon's namespace, as
//! Flux v1 kept it.
//!
//! Flux's deploy key lives in the data of that same Secret, so the marker only
//! ever reads the Secret's metadata and writes its annotation with a merge
//! patch of `metadata` alone: the data is never read, sent or replaced.
//!
//! Each write is conditional: it names the revision it expects and carries
//! the resourceVersion it read, so two daemons (or an operator editing the
//! Secret) never overwrite each other blindly.

use futures::future::BoxFuture;
use gitsync::{Revision, SyncMarker};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};

use crate::Error;

/// The annotation Flux v1 kept the synced revision in (empty: no marker).
pub const SYNC_MARKER_ANNOTATION: &str = "flux.weave.works/sync-hwm";

/// The field manager of the daemon's writes.
pub const FIELD_MANAGER: &str = "fluxd";

/// The sync marker as the [`SYNC_MARKER_ANNOTATION`] of a Secret. The Secret
/// is created (with no data) if it does not exist.
#[derive(Clone)]
pub struct SecretMarker {
    api: Api<Secret>,
    namespace: String,
    name: String,
}

impl std::fmt::Debug for SecretMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretMarker")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SecretMarker {
    /// The marker on Secret `namespace/name`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// `namespace:secret/name`, as Flux named it.
    fn id(&self) -> String {
        format!("{}:secret/{}", self.namespace, self.name)
    }

    /// The revision in the annotation; `None` when the Secret, the annotation
    /// or its value is missing. A value that is not a commit id is reported
    /// and treated as no marker, so the next sync overwrites it.
    pub async fn read_revision(&self) -> Result<Option<Revision>, Error> {
        Ok(self.read_state().await?.and_then(|(_, revision)| revision))
    }

    /// The Secret's resourceVersion and the revision in its annotation;
    /// `None` when there is no Secret.
    async fn read_state(&self) -> Result<Option<(String, Option<Revision>)>, Error> {
        let meta = self
            .api
            .get_metadata_opt(&self.name)
            .await
            .map_err(|e| Error::kube(format!("reading the sync marker on {}", self.id()), e))?;
        let Some(meta) = meta else {
            return Ok(None);
        };
        let version = meta.metadata.resource_version.unwrap_or_default();
        let value = meta
            .metadata
            .annotations
            .and_then(|mut annotations| annotations.remove(SYNC_MARKER_ANNOTATION))
            .filter(|value| !value.is_empty());
        let Some(value) = value else {
            return Ok(Some((version, None)));
        };
        match value.parse::<Revision>() {
            Ok(revision) => Ok(Some((version, Some(revision)))),
            Err(error) => {
                tracing::warn!(
                    secret = %self.id(),
                    annotation = SYNC_MARKER_ANNOTATION,
                    %error,
                    "the sync marker is not a commit id; treating it as absent"
                );
                Ok(Some((version, None)))
            }
        }
    }

    fn conflict(&self, expected: Option<Revision>, found: String) -> Error {
        Error::Git(gitsync::Error::MarkerConflict {
            marker: self.describe(),
            expected: expected.map_or_else(|| "none".to_owned(), |r| r.to_string()),
            found,
        })
    }

    /// Sets the annotation to `revision` if it is at `expected` (`None`: no
    /// marker), creating the Secret if there is none. The patch carries the
    /// resourceVersion read, so a Secret changed since (by another daemon)
    /// is a conflict, never overwritten: [`gitsync::Error::MarkerConflict`].
    pub async fn write_revision(
        &self,
        expected: Option<Revision>,
        revision: Revision,
    ) -> Result<(), Error> {
        let action = || format!("moving the sync marker on {}", self.id());
        let state = self.read_state().await?;
        let found = state.as_ref().and_then(|(_, found)| *found);
        if found != expected {
            let found = found.map_or_else(|| "none".to_owned(), |r| r.to_string());
            return Err(self.conflict(expected, found));
        }
        let Some((version, _)) = state else {
            return self.create(expected, revision).await;
        };
        let patch = serde_json::json!({
            "metadata": {
                "resourceVersion": version,
                "annotations": { SYNC_MARKER_ANNOTATION: revision.to_string() },
            }
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        match self
            .api
            .patch_metadata(&self.name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Err(self.conflict(
                expected,
                format!("the Secret changed since it was read (resourceVersion {version})"),
            )),
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                Err(self.conflict(expected, "the Secret was deleted".to_owned()))
            }
            Err(error) => Err(Error::kube(action(), error)),
        }
    }

    /// Creates the Secret (with no data) holding the marker.
    async fn create(&self, expected: Option<Revision>, revision: Revision) -> Result<(), Error> {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                annotations: Some(
                    [(SYNC_MARKER_ANNOTATION.to_owned(), revision.to_string())].into(),
                ),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".to_owned()),
            ..Secret::default()
        };
        let post = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        match self.api.create(&post, &secret).await {
            Ok(_) => {
                tracing::info!(secret = %self.id(), "created the sync-marker Secret");
                Ok(())
            }
            // Created by someone else meanwhile: theirs is read again.
            Err(kube::Error::Api(status)) if status.is_already_exists() => Err(self.conflict(
                expected,
                "the Secret was created by another writer".to_owned(),
            )),
            Err(error) => Err(Error::kube(
                format!("moving the sync marker on {}", self.id()),
                error,
            )),
        }
    }
}

/// A marker error as gitsync reports it: a conflict as itself (so the
/// tracker reads again), anything else wrapped.
fn to_marker_error(error: Error) -> gitsync::Error {
    match error {
        Error::Git(conflict @ gitsync::Error::MarkerConflict { .. }) => conflict,
        other => gitsync::Error::Marker(Box::new(other)),
    }
}

impl SyncMarker for SecretMarker {
    fn read(&self) -> BoxFuture<'_, Result<Option<Revision>, gitsync::Error>> {
        Box::pin(async move { self.read_revision().await.map_err(to_marker_error) })
    }

    fn write(
        &self,
        expected: Option<Revision>,
        revision: Revision,
    ) -> BoxFuture<'_, Result<(), gitsync::Error>> {
        Box::pin(async move {
            self.write_revision(expected, revision)
                .await
                .map_err(to_marker_error)
        })
    }

    fn describe(&self) -> String {
        format!("annotation {SYNC_MARKER_ANNOTATION} on {}", self.id())
    }
}
