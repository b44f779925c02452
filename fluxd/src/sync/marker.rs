//! The sync marker in secret mode (`--sync-state secret`, implied by
//! `--git-readonly`): an annotation on a Secret in the daemon's namespace, as
//! Flux v1 kept it.
//!
//! Flux's deploy key lives in the data of that same Secret, so the marker only
//! ever reads the Secret's metadata and writes its annotation with a merge
//! patch of `metadata` alone: the data is never read, sent or replaced.

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
        let meta = self
            .api
            .get_metadata_opt(&self.name)
            .await
            .map_err(|e| Error::kube(format!("reading the sync marker on {}", self.id()), e))?;
        let value = meta.and_then(|meta| {
            meta.metadata
                .annotations
                .and_then(|mut annotations| annotations.remove(SYNC_MARKER_ANNOTATION))
        });
        let Some(value) = value.filter(|value| !value.is_empty()) else {
            return Ok(None);
        };
        match value.parse::<Revision>() {
            Ok(revision) => Ok(Some(revision)),
            Err(error) => {
                tracing::warn!(
                    secret = %self.id(),
                    annotation = SYNC_MARKER_ANNOTATION,
                    %error,
                    "the sync marker is not a commit id; treating it as absent"
                );
                Ok(None)
            }
        }
    }

    /// Sets the annotation to `revision`, creating the Secret if needed.
    pub async fn write_revision(&self, revision: Revision) -> Result<(), Error> {
        let patch = serde_json::json!({
            "metadata": { "annotations": { SYNC_MARKER_ANNOTATION: revision.to_string() } }
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let action = || format!("moving the sync marker on {}", self.id());
        match self
            .api
            .patch_metadata(&self.name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(error) => return Err(Error::kube(action(), error)),
        }
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
            // Created by someone else meanwhile: annotate theirs.
            Err(kube::Error::Api(status)) if status.is_already_exists() => self
                .api
                .patch_metadata(&self.name, &params, &Patch::Merge(&patch))
                .await
                .map(drop)
                .map_err(|e| Error::kube(action(), e)),
            Err(error) => Err(Error::kube(action(), error)),
        }
    }
}

impl SyncMarker for SecretMarker {
    fn read(&self) -> BoxFuture<'_, Result<Option<Revision>, gitsync::Error>> {
        Box::pin(async move {
            self.read_revision()
                .await
                .map_err(|e| gitsync::Error::Marker(Box::new(e)))
        })
    }

    fn write(&self, revision: Revision) -> BoxFuture<'_, Result<(), gitsync::Error>> {
        Box::pin(async move {
            self.write_revision(revision)
                .await
                .map_err(|e| gitsync::Error::Marker(Box::new(e)))
        })
    }

    fn describe(&self) -> String {
        format!("annotation {SYNC_MARKER_ANNOTATION} on {}", self.id())
    }
}
