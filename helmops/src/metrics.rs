//! The operator's metrics, named as Flux's helm-operator 1.4 named them
//! (`flux_helm_operator_*`), so dashboards and alerts keep working.
//!
//! [`OperatorMetrics`] holds the handles and a prometheus-client [`Registry`] they
//! are registered in; whoever serves HTTP encodes it ([`OperatorMetrics::encode`],
//! or [`prometheus_client::encoding::text::encode_registry`] to put it beside
//! other registries in one answer).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::{ConditionStatus, HelmReleaseStatus};

/// helm-operator's buckets, in seconds.
const BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1800.0,
];

/// What a reconcile or a step of it did, for
/// `flux_helm_operator_release_action_duration_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A whole reconcile.
    Sync,
    /// `helm upgrade --install` of a new release.
    Install,
    /// `helm upgrade`.
    Upgrade,
    /// `helm rollback`.
    Rollback,
    /// `helm uninstall`.
    Uninstall,
    /// `helm test`.
    Test,
    /// Nothing to do.
    Skip,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Install => "install",
            Self::Upgrade => "upgrade",
            Self::Rollback => "rollback",
            Self::Uninstall => "uninstall",
            Self::Test => "test",
            Self::Skip => "skip",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReleaseLabels {
    success: String,
    namespace: String,
    release_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    action: String,
    success: String,
    namespace: String,
    release_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
    success: String,
    target_namespace: String,
    release_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    target_namespace: String,
    release_name: String,
    condition: String,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The operator's metric handles and their registry. Cloning shares them.
#[derive(Clone)]
pub struct OperatorMetrics {
    registry: Arc<Registry>,
    queue_length: Gauge,
    release_count: Gauge,
    release_duration: Family<ReleaseLabels, Histogram, fn() -> Histogram>,
    phase_duration: Family<PhaseLabels, Histogram, fn() -> Histogram>,
    action_duration: Family<ActionLabels, Histogram, fn() -> Histogram>,
    condition: Family<ConditionLabels, Gauge>,
}

impl std::fmt::Debug for OperatorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorMetrics")
            .field("queue_length", &self.queue_length.get())
            .field("release_count", &self.release_count.get())
            .finish_non_exhaustive()
    }
}

impl Default for OperatorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl OperatorMetrics {
    /// Fresh metrics in a registry of their own.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("flux_helm_operator");
        let queue_length = Gauge::default();
        registry.register(
            "release_queue_length_count",
            "Count of release jobs waiting in the queue to be processed",
            queue_length.clone(),
        );
        let release_count = Gauge::default();
        registry.register(
            "release_count",
            "Count of releases managed by the operator",
            release_count.clone(),
        );
        let release_duration = Family::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "release_duration_seconds",
            "Release synchronization duration in seconds (deprecated: see release_action_duration_seconds)",
            release_duration.clone(),
        );
        let phase_duration = Family::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "release_phase_duration_seconds",
            "Release synchronization phase duration in seconds (deprecated: see release_action_duration_seconds)",
            phase_duration.clone(),
        );
        let action_duration = Family::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "release_action_duration_seconds",
            "Release synchronization action duration in seconds",
            action_duration.clone(),
        );
        let condition = Family::default();
        registry.register(
            "release_condition_info",
            "Current HelmRelease condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)",
            condition.clone(),
        );
        Self {
            registry: Arc::new(registry),
            queue_length,
            release_count,
            release_duration,
            phase_duration,
            action_duration,
            condition,
        }
    }

    /// The registry, to encode beside others.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The metrics in the OpenMetrics text format (with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Releases waiting for a worker.
    pub fn set_queue_length(&self, waiting: usize) {
        self.queue_length
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    /// HelmReleases the operator watches.
    pub fn set_release_count(&self, count: usize) {
        self.release_count
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Records how long `action` took for a release.
    pub fn observe(
        &self,
        action: Action,
        success: bool,
        target_namespace: &str,
        release_name: &str,
        took: Duration,
    ) {
        let seconds = took.as_secs_f64();
        let success = success.to_string();
        if action == Action::Sync {
            self.release_duration
                .get_or_create(&ReleaseLabels {
                    success: success.clone(),
                    namespace: target_namespace.to_owned(),
                    release_name: release_name.to_owned(),
                })
                .observe(seconds);
        } else {
            self.phase_duration
                .get_or_create(&PhaseLabels {
                    action: action.as_str().to_owned(),
                    success: success.clone(),
                    namespace: target_namespace.to_owned(),
                    release_name: release_name.to_owned(),
                })
                .observe(seconds);
        }
        self.action_duration
            .get_or_create(&ActionLabels {
                action: action.as_str().to_owned(),
                success,
                target_namespace: target_namespace.to_owned(),
                release_name: release_name.to_owned(),
            })
            .observe(seconds);
    }

    /// Sets the condition gauges of one release from its status: every
    /// condition it has, and 0 for the types it had in `before` only.
    pub fn observe_conditions(
        &self,
        target_namespace: &str,
        release_name: &str,
        before: Option<&HelmReleaseStatus>,
        after: &HelmReleaseStatus,
    ) {
        let labels = |condition: &str| ConditionLabels {
            target_namespace: target_namespace.to_owned(),
            release_name: release_name.to_owned(),
            condition: condition.to_owned(),
        };
        for gone in before
            .into_iter()
            .flat_map(|b| b.conditions.iter())
            .filter(|old| !after.conditions.iter().any(|c| c.type_ == old.type_))
        {
            self.condition.remove(&labels(&gone.type_));
        }
        for condition in &after.conditions {
            self.condition
                .get_or_create(&labels(&condition.type_))
                .set(ConditionStatus::gauge(&condition.status));
        }
    }

    /// Forgets the condition gauges of a release (its HelmRelease is gone).
    pub fn forget_release(&self, target_namespace: &str, release_name: &str) {
        for type_ in crate::api::ConditionType::ALL {
            self.condition.remove(&ConditionLabels {
                target_namespace: target_namespace.to_owned(),
                release_name: release_name.to_owned(),
                condition: type_.as_str().to_owned(),
            });
        }
    }

    /// Replaces every condition gauge with those of `statuses` (target
    /// namespace, release name, status): the periodic refresh, which also
    /// drops releases that are gone.
    pub fn reset_conditions<'a>(
        &self,
        statuses: impl IntoIterator<Item = (&'a str, &'a str, &'a HelmReleaseStatus)>,
    ) {
        self.condition.clear();
        for (namespace, release, status) in statuses {
            self.observe_conditions(namespace, release, None, status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Phase, PhaseChange};

    #[test]
    fn metrics_have_helm_operators_names() {
        let metrics = OperatorMetrics::new();
        metrics.set_queue_length(3);
        metrics.set_release_count(2);
        metrics.observe(
            Action::Install,
            true,
            "demo",
            "demo-app",
            Duration::from_secs(2),
        );
        metrics.observe(
            Action::Sync,
            true,
            "demo",
            "demo-app",
            Duration::from_secs(3),
        );
        let mut status = HelmReleaseStatus::default();
        status.apply_phase(
            Phase::DeployFailed,
            &PhaseChange {
                release: "demo-app",
                namespace: "demo",
                ignore_test_failures: false,
                detail: None,
                now: "t",
            },
        );
        metrics.observe_conditions("demo", "demo-app", None, &status);
        let text = metrics.encode();
        for expected in [
            "flux_helm_operator_release_queue_length_count 3",
            "flux_helm_operator_release_count 2",
            "flux_helm_operator_release_action_duration_seconds_count{action=\"install\",success=\"true\",target_namespace=\"demo\",release_name=\"demo-app\"} 1",
            "flux_helm_operator_release_duration_seconds_count{success=\"true\",namespace=\"demo\",release_name=\"demo-app\"} 1",
            "flux_helm_operator_release_phase_duration_seconds_bucket{le=\"5.0\",action=\"install\"",
            "flux_helm_operator_release_condition_info{target_namespace=\"demo\",release_name=\"demo-app\",condition=\"Deployed\"} -1",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        metrics.forget_release("demo", "demo-app");
        assert!(!metrics.encode().contains("condition=\"Deployed\""));
    }
}
