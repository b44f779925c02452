//! What a sync did, resource by resource.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ResourceId, SourceLocation};

/// What happened to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceOutcome {
    /// The object did not exist and was created.
    Created,
    /// The object existed and differed; the differences were applied.
    Configured,
    /// The object already matched git; nothing was sent.
    Unchanged,
    /// Deliberately not applied: the `ignore` policy, or a cluster-scoped
    /// resource outside a namespace-restricted scope
    /// ([`ResourceOutcome::is_outside_scope`]).
    Skipped {
        /// Why.
        reason: String,
    },
    /// Not applied: aimed at a namespace outside the scope, an unknown kind,
    /// or an error from the API (its message kept).
    Failed {
        /// What went wrong.
        message: String,
    },
    /// No longer in git: deleted by garbage collection.
    Pruned,
    /// No longer in git: garbage collection in dry-run mode would delete it.
    WouldPrune,
}

impl ResourceOutcome {
    /// True for [`ResourceOutcome::Failed`].
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }

    /// True for a resource skipped because it is outside the allowed scope
    /// (cluster-scoped, while the engine is restricted to namespaces).
    pub fn is_outside_scope(&self) -> bool {
        matches!(self, Self::Skipped { reason } if reason.starts_with(super::OUTSIDE_SCOPE))
    }
}

/// The outcome for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceResult {
    /// The resource, with its scope as the cluster has it.
    pub id: ResourceId,
    /// Where it is defined in git; `None` for objects found only in the
    /// cluster (pruned ones).
    pub source: Option<SourceLocation>,
    /// What happened.
    pub outcome: ResourceOutcome,
}

/// How many resources ended in each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncCounts {
    /// [`ResourceOutcome::Created`]
    pub created: usize,
    /// [`ResourceOutcome::Configured`]
    pub configured: usize,
    /// [`ResourceOutcome::Unchanged`]
    pub unchanged: usize,
    /// [`ResourceOutcome::Skipped`]
    pub skipped: usize,
    /// [`ResourceOutcome::Failed`]
    pub failed: usize,
    /// [`ResourceOutcome::Pruned`]
    pub pruned: usize,
    /// [`ResourceOutcome::WouldPrune`]
    pub would_prune: usize,
}

/// What a sync did: one result per resource of the set (and per object
/// pruned), and problems that concern the whole set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// One result per resource, in apply order, then the pruned objects.
    pub results: Vec<ResourceResult>,
    /// Problems not tied to one resource: discovery failing, garbage
    /// collection skipped or unable to list a kind.
    pub errors: Vec<String>,
    /// How long the sync took.
    #[serde(rename = "duration_seconds", with = "seconds")]
    pub duration: Duration,
    /// Why the sync did not run to completion against the cluster (discovery
    /// failed, or the API server did not answer); `None` when it did, even
    /// if single resources failed. A sync marker moves only when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

impl SyncReport {
    /// Whether the sync ran to completion against the cluster (per-resource
    /// failures are reported and do not count).
    pub fn ran_to_completion(&self) -> bool {
        self.incomplete.is_none()
    }

    /// How many resources ended in each outcome.
    pub fn counts(&self) -> SyncCounts {
        let mut counts = SyncCounts::default();
        for result in &self.results {
            let count = match result.outcome {
                ResourceOutcome::Created => &mut counts.created,
                ResourceOutcome::Configured => &mut counts.configured,
                ResourceOutcome::Unchanged => &mut counts.unchanged,
                ResourceOutcome::Skipped { .. } => &mut counts.skipped,
                ResourceOutcome::Failed { .. } => &mut counts.failed,
                ResourceOutcome::Pruned => &mut counts.pruned,
                ResourceOutcome::WouldPrune => &mut counts.would_prune,
            };
            *count += 1;
        }
        counts
    }

    /// The results that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ResourceResult> {
        self.results
            .iter()
            .filter(|result| result.outcome.is_failure())
    }

    /// The result for `id`, if any.
    pub fn get(&self, id: &ResourceId) -> Option<&ResourceResult> {
        self.results.iter().find(|result| &result.id == id)
    }

    /// True when every resource synced (none failed) and no set-wide
    /// problem was met.
    pub fn is_success(&self) -> bool {
        self.errors.is_empty() && self.failures().next().is_none()
    }
}

/// A [`Duration`] as fractional seconds in JSON.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn result(name: &str, outcome: ResourceOutcome) -> ResourceResult {
        ResourceResult {
            id: ResourceId::namespaced("demo", "ConfigMap", name),
            source: Some(SourceLocation {
                path: PathBuf::from("a.yaml"),
                document: 0,
                line: 1,
            }),
            outcome,
        }
    }

    #[test]
    fn counts_and_failures() {
        let report = SyncReport {
            results: vec![
                result("a", ResourceOutcome::Created),
                result("b", ResourceOutcome::Unchanged),
                result("c", ResourceOutcome::Unchanged),
                result(
                    "d",
                    ResourceOutcome::Failed {
                        message: "boom".into(),
                    },
                ),
                result("e", ResourceOutcome::WouldPrune),
            ],
            errors: vec![],
            duration: Duration::from_millis(1500),
            incomplete: None,
        };
        let counts = report.counts();
        assert_eq!(counts.created, 1);
        assert_eq!(counts.unchanged, 2);
        assert_eq!(counts.failed, 1);
        assert_eq!(counts.would_prune, 1);
        assert_eq!(report.failures().count(), 1);
        assert!(!report.is_success());
        assert!(
            report
                .get(&ResourceId::namespaced("demo", "ConfigMap", "b"))
                .is_some()
        );
    }

    #[test]
    fn serde_round_trip() {
        let report = SyncReport {
            results: vec![
                result("a", ResourceOutcome::Configured),
                result(
                    "b",
                    ResourceOutcome::Skipped {
                        reason: "ignore".into(),
                    },
                ),
            ],
            errors: vec!["gc skipped".into()],
            duration: Duration::from_millis(250),
            incomplete: None,
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["duration_seconds"], 0.25);
        assert_eq!(json["results"][0]["id"], "demo:configmap/a");
        assert_eq!(json["results"][0]["outcome"]["type"], "configured");
        assert_eq!(json["results"][1]["outcome"]["reason"], "ignore");
        let back: SyncReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }
}
