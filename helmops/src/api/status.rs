//! The status subresource shared by the three HelmRelease kinds.
//!
//! The fields, phases, condition types, reasons and messages are those of
//! Flux's helm-operator 1.4 (`pkg/status`), so `kubectl get hr` and alerts on
//! conditions read as they did. Fields are plain strings in the stored form,
//! so a status left behind by another operator still reads; [`Phase`],
//! [`ConditionType`] and [`ConditionStatus`] name the values this crate
//! writes, and [`Phase::conditions`] what each phase sets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator last observed and did for a HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the release is in its life cycle: ChartFetched, ChartFetchFailed,
    /// Installing, Upgrading, Deployed, DeployFailed, Testing, Tested,
    /// TestFailed, Succeeded, Failed, RollingBack, RolledBack or RollbackFailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The Helm release's name, as given or defaulted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// The release's status as Helm reports it (`deployed`, `failed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_status: Option<String>,
    /// The chart revision deployed: a git commit or a chart version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The chart revision of the last attempt, which may have failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// Helm's revision number of the release the operator last made or saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm_revision: Option<i64>,
    /// Checksum (sha256, hex) of chart content and merged values last attempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_checksum: Option<String>,
    /// Checksum of chart content and merged values last deployed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deployed_checksum: Option<String>,
    /// Rollbacks made since the release last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_count: Option<i64>,
    /// Observations of the release, one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One observation about a HelmRelease.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// What is observed: ChartFetched, Deployed, Released, RolledBack or Tested.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the condition last changed status (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// When the condition was last written (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    /// The phase that set the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened and what a person can do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The condition types this operator writes (helm-operator 1.4's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConditionType {
    /// The chart was fetched (or failed to be).
    ChartFetched,
    /// The last install or upgrade succeeded (or failed, or is running).
    Deployed,
    /// The release as a whole (chart, values, install or upgrade, tests) succeeded or failed.
    Released,
    /// The release was rolled back after a failed upgrade.
    RolledBack,
    /// `helm test` passed (or failed, or is running).
    Tested,
}

impl ConditionType {
    /// Every type, in the order the status lists them.
    pub const ALL: [Self; 5] = [
        Self::ChartFetched,
        Self::Deployed,
        Self::Released,
        Self::RolledBack,
        Self::Tested,
    ];

    /// The name stored in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChartFetched => "ChartFetched",
            Self::Deployed => "Deployed",
            Self::Released => "Released",
            Self::RolledBack => "RolledBack",
            Self::Tested => "Tested",
        }
    }
}

/// The status of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known (yet).
    Unknown,
}

impl ConditionStatus {
    /// The name stored in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }

    /// The value of `flux_helm_operator_release_condition_info`: -1 False,
    /// 0 Unknown, 1 True.
    pub fn gauge(status: &str) -> i64 {
        match status {
            "True" => 1,
            "False" => -1,
            _ => 0,
        }
    }
}

/// The phases of helm-operator 1.4; each sets the conditions of
/// [`Phase::conditions`], with the phase's name as their reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// The chart was fetched; a release follows.
    ChartFetched,
    /// The chart could not be fetched.
    ChartFetchFailed,
    /// `helm upgrade --install` is running for a new release.
    Installing,
    /// `helm upgrade` is running.
    Upgrading,
    /// The install or upgrade succeeded.
    Deployed,
    /// The install or upgrade failed.
    DeployFailed,
    /// `helm test` is running.
    Testing,
    /// `helm test` passed.
    Tested,
    /// `helm test` failed.
    TestFailed,
    /// The release is as specified.
    Succeeded,
    /// The release could not be made (spec, values, Helm's storage).
    Failed,
    /// A rollback is running.
    RollingBack,
    /// The release was rolled back after a failed upgrade or test.
    RolledBack,
    /// The rollback failed too.
    RollbackFailed,
}

impl Phase {
    /// The name stored in the status (and the conditions' reason).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChartFetched => "ChartFetched",
            Self::ChartFetchFailed => "ChartFetchFailed",
            Self::Installing => "Installing",
            Self::Upgrading => "Upgrading",
            Self::Deployed => "Deployed",
            Self::DeployFailed => "DeployFailed",
            Self::Testing => "Testing",
            Self::Tested => "Tested",
            Self::TestFailed => "TestFailed",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::RollingBack => "RollingBack",
            Self::RolledBack => "RolledBack",
            Self::RollbackFailed => "RollbackFailed",
        }
    }

    /// Whether the phase says a helm command of the operator was under way.
    pub fn in_progress(phase: &str) -> bool {
        [
            Self::Installing,
            Self::Upgrading,
            Self::Testing,
            Self::RollingBack,
        ]
        .iter()
        .any(|p| p.as_str() == phase)
    }

    /// The conditions this phase sets, with helm-operator 1.4's messages
    /// (`release` in `namespace`). A failed test fails the release too
    /// unless its failures are ignored.
    pub fn conditions(
        self,
        release: &str,
        namespace: &str,
        ignore_test_failures: bool,
    ) -> Vec<(ConditionType, ConditionStatus, String)> {
        use ConditionStatus::{False, True, Unknown};
        use ConditionType::{ChartFetched, Deployed, Released, RolledBack, Tested};
        let at = |text: &str| format!("{text} Helm release '{release}' in '{namespace}'.");
        match self {
            Self::Installing => vec![(Deployed, Unknown, at("Running installation for"))],
            Self::Upgrading => vec![(Deployed, Unknown, at("Running upgrade for"))],
            Self::Deployed => vec![(Deployed, True, at("Installation or upgrade succeeded for"))],
            Self::DeployFailed => {
                let message = at("Installation or upgrade failed for");
                vec![
                    (Deployed, False, message.clone()),
                    (Released, False, message),
                ]
            }
            Self::Succeeded => vec![(Released, True, at("Release was successful for"))],
            Self::Failed => vec![(Released, False, at("Release failed for"))],
            Self::Testing => vec![(Tested, Unknown, at("Testing"))],
            Self::Tested => vec![(Tested, True, at("Tested"))],
            Self::TestFailed => {
                let message = at("Test failed for");
                let mut conditions = vec![(Tested, False, message.clone())];
                if !ignore_test_failures {
                    conditions.push((Released, False, message));
                }
                conditions
            }
            Self::RollingBack => vec![(RolledBack, Unknown, at("Rolling back"))],
            Self::RolledBack => vec![(RolledBack, True, at("Rolled back"))],
            Self::RollbackFailed => vec![(RolledBack, False, at("Rollback failed for"))],
            Self::ChartFetched => vec![(ChartFetched, True, at("Chart fetch was successful for"))],
            Self::ChartFetchFailed => {
                let message = at("Chart fetch failed for");
                vec![
                    (ChartFetched, False, message.clone()),
                    (Released, False, message),
                ]
            }
        }
    }
}

impl HelmReleaseStatus {
    /// The condition of the given type, if any.
    pub fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_.as_str())
    }

    /// Sets a condition, keeping its transition time when the status is unchanged.
    pub fn set_condition(
        &mut self,
        type_: ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
        now: &str,
    ) {
        let message = message.into();
        match self
            .conditions
            .iter_mut()
            .find(|c| c.type_ == type_.as_str())
        {
            Some(existing) => {
                if existing.status == status.as_str()
                    && existing.reason.as_deref() == Some(reason)
                    && existing.message.as_deref() == Some(message.as_str())
                {
                    return;
                }
                if existing.status != status.as_str() {
                    existing.status = status.as_str().to_owned();
                    existing.last_transition_time = Some(now.to_owned());
                }
                existing.last_update_time = Some(now.to_owned());
                existing.reason = Some(reason.to_owned());
                existing.message = Some(message);
            }
            None => self.conditions.push(Condition {
                type_: type_.as_str().to_owned(),
                status: status.as_str().to_owned(),
                last_transition_time: Some(now.to_owned()),
                last_update_time: Some(now.to_owned()),
                reason: Some(reason.to_owned()),
                message: Some(message),
            }),
        }
    }

    /// Removes the condition of the given type.
    pub fn clear_condition(&mut self, type_: ConditionType) {
        self.conditions.retain(|c| c.type_ != type_.as_str());
    }

    /// Moves to `phase` as helm-operator 1.4 did: the phase's conditions
    /// with the phase as reason; `Released=True` drops `RolledBack` and resets
    /// `rollbackCount`, `RolledBack=True` counts one more rollback. `detail`,
    /// when given, follows the message (what went wrong, for people).
    pub fn apply_phase(&mut self, phase: Phase, change: &PhaseChange<'_>) {
        self.phase = Some(phase.as_str().to_owned());
        self.apply_conditions(phase, change);
    }

    /// The conditions of [`apply_phase`](Self::apply_phase) without moving
    /// the phase (a chart fetched again while the release stays rolled back).
    pub fn apply_conditions(&mut self, phase: Phase, change: &PhaseChange<'_>) {
        for (type_, status, message) in phase.conditions(
            change.release,
            change.namespace,
            change.ignore_test_failures,
        ) {
            let message = match change.detail {
                Some(detail) if status != ConditionStatus::True => {
                    format!("{}: {detail}", message.trim_end_matches('.'))
                }
                _ => message,
            };
            self.set_condition(type_, status, phase.as_str(), message, change.now);
            match (type_, status) {
                (ConditionType::Released, ConditionStatus::True) => {
                    self.clear_condition(ConditionType::RolledBack);
                    self.rollback_count = Some(0);
                }
                (ConditionType::RolledBack, ConditionStatus::True) => {
                    self.rollback_count = Some(self.rollback_count.unwrap_or(0) + 1);
                }
                _ => {}
            }
        }
    }
}

/// What [`HelmReleaseStatus::apply_phase`] needs besides the phase.
#[derive(Clone, Copy, Debug)]
pub struct PhaseChange<'a> {
    /// The Helm release's name.
    pub release: &'a str,
    /// Its target namespace.
    pub namespace: &'a str,
    /// `test.ignoreFailures`.
    pub ignore_test_failures: bool,
    /// What went wrong, appended to failure messages (older kinds only).
    pub detail: Option<&'a str>,
    /// When (RFC 3339).
    pub now: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_condition_keeps_transition_time_while_status_holds() {
        let mut status = HelmReleaseStatus::default();
        status.set_condition(
            ConditionType::Released,
            ConditionStatus::True,
            "Installed",
            "ok",
            "t1",
        );
        status.set_condition(
            ConditionType::Released,
            ConditionStatus::True,
            "Upgraded",
            "ok again",
            "t2",
        );
        let c = status.condition(ConditionType::Released).unwrap().clone();
        assert_eq!(c.last_transition_time.as_deref(), Some("t1"));
        let before = status.clone();
        status.set_condition(
            ConditionType::Released,
            ConditionStatus::True,
            "Upgraded",
            "ok again",
            "t9",
        );
        assert_eq!(status, before, "an unchanged condition is not rewritten");
        assert_eq!(c.last_update_time.as_deref(), Some("t2"));
        assert_eq!(c.reason.as_deref(), Some("Upgraded"));
        status.set_condition(
            ConditionType::Released,
            ConditionStatus::False,
            "UpgradeFailed",
            "boom",
            "t3",
        );
        let c = status.condition(ConditionType::Released).unwrap();
        assert_eq!(c.last_transition_time.as_deref(), Some("t3"));
        assert_eq!(status.conditions.len(), 1);
    }

    fn change<'a>(detail: Option<&'a str>) -> PhaseChange<'a> {
        PhaseChange {
            release: "demo-app",
            namespace: "demo",
            ignore_test_failures: false,
            detail,
            now: "t1",
        }
    }

    #[test]
    fn phases_set_helm_operator_conditions() {
        let mut status = HelmReleaseStatus::default();
        status.apply_phase(Phase::ChartFetchFailed, &change(None));
        assert_eq!(status.phase.as_deref(), Some("ChartFetchFailed"));
        let released = status.condition(ConditionType::Released).unwrap();
        assert_eq!(released.status, "False");
        assert_eq!(released.reason.as_deref(), Some("ChartFetchFailed"));
        assert_eq!(
            released.message.as_deref(),
            Some("Chart fetch failed for Helm release 'demo-app' in 'demo'.")
        );
        status.apply_phase(Phase::Upgrading, &change(None));
        status.apply_phase(Phase::DeployFailed, &change(Some("helm said no")));
        assert_eq!(
            status
                .condition(ConditionType::Deployed)
                .unwrap()
                .message
                .as_deref(),
            Some(
                "Installation or upgrade failed for Helm release 'demo-app' in 'demo': helm said no"
            )
        );
        status.apply_phase(Phase::RollingBack, &change(None));
        status.apply_phase(Phase::RolledBack, &change(None));
        assert_eq!(status.rollback_count, Some(1));
        status.apply_phase(Phase::RolledBack, &change(None));
        assert_eq!(status.rollback_count, Some(2));
        status.apply_phase(Phase::Succeeded, &change(None));
        assert_eq!(status.rollback_count, Some(0));
        assert!(status.condition(ConditionType::RolledBack).is_none());
        assert_eq!(
            status
                .condition(ConditionType::Released)
                .unwrap()
                .message
                .as_deref(),
            Some("Release was successful for Helm release 'demo-app' in 'demo'.")
        );
        let mut ignoring = change(None);
        ignoring.ignore_test_failures = true;
        status.apply_phase(Phase::TestFailed, &ignoring);
        assert_eq!(
            status.condition(ConditionType::Released).unwrap().status,
            "True"
        );
        assert_eq!(
            status.condition(ConditionType::Tested).unwrap().status,
            "False"
        );
    }

    #[test]
    fn status_of_another_operator_still_reads() {
        let json = serde_json::json!({
            "phase": "Testing",
            "releaseStatus": "DEPLOYED",
            "conditions": [{"type": "Tested", "status": "True"}],
            "unknownField": 1
        });
        let status: HelmReleaseStatus = serde_json::from_value(json).unwrap();
        assert_eq!(status.phase.as_deref(), Some("Testing"));
        assert_eq!(status.conditions[0].type_, "Tested");
    }
}
