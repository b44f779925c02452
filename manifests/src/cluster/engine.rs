//! The engine: one per cluster connection, shared by every sync.

use std::time::Instant;

use super::{EngineConfig, Outcome, Plan, ResourceResult, SyncReport};
use crate::{Error, Resource};

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
/// learnt of earlier syncs (which applies were no-ops) between syncs; share
/// one engine (it is `Send + Sync`) rather than making one per sync.
pub struct Engine {
    client: kube::Client,
    config: EngineConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `client`; checks `config` ([`EngineConfig::validate`]).
    /// Sends nothing yet: discovery runs on the first sync or plan.
    pub fn new(client: kube::Client, config: EngineConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self { client, config })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Makes the cluster match `set` and reports what happened to each
    /// resource. Never fails as a whole: problems are in the report.
    pub async fn sync(&self, set: &SyncSet) -> SyncReport {
        let started = Instant::now();
        let _ = &self.client;
        let results = set
            .resources
            .iter()
            .map(|resource| ResourceResult {
                id: resource.id().clone(),
                source: Some(resource.source().clone()),
                outcome: Outcome::Failed {
                    message: "not implemented yet".to_owned(),
                },
            })
            .collect();
        SyncReport {
            results,
            errors: Vec::new(),
            duration: started.elapsed(),
        }
    }

    /// What [`Engine::sync`] would do, computed with server-side dry-runs:
    /// nothing changes. Fails only when discovery does.
    pub async fn plan(&self, set: &SyncSet) -> Result<Plan, Error> {
        let _ = set;
        Ok(Plan::default())
    }
}
