//! The status subresource shared by the three HelmRelease kinds.
//!
//! Fields written by the operator are plain strings in the stored form, so a
//! status left behind by another operator (Flux's own helm-operator wrote
//! phases such as `Testing`) still reads; [`Phase`], [`ConditionType`] and
//! [`ConditionStatus`] name the values this crate writes.

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
    /// Installing, Upgrading, Deployed, DeployFailed, RollingBack, RolledBack,
    /// RollbackFailed or Failed.
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
    /// Rollbacks made since the last successful upgrade or change.
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
    /// What is observed: ChartFetched, Released or RolledBack.
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
    /// A machine-readable reason, in PascalCase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened and what a person can do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The condition types this operator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConditionType {
    /// The chart was fetched (or failed to be).
    ChartFetched,
    /// The release was installed or upgraded as specified (or failed to be).
    Released,
    /// The release was rolled back after a failed upgrade.
    RolledBack,
}

impl ConditionType {
    /// The name stored in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChartFetched => "ChartFetched",
            Self::Released => "Released",
            Self::RolledBack => "RolledBack",
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
}

/// The phases this operator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// The chart was fetched; a release follows.
    ChartFetched,
    /// The chart could not be fetched, or its values could not be assembled.
    ChartFetchFailed,
    /// `helm upgrade --install` is running for a new release.
    Installing,
    /// `helm upgrade` is running.
    Upgrading,
    /// The release is deployed as specified.
    Deployed,
    /// Install or upgrade failed.
    DeployFailed,
    /// A rollback is running.
    RollingBack,
    /// The release was rolled back after a failed upgrade.
    RolledBack,
    /// The rollback failed too.
    RollbackFailed,
    /// The spec itself is invalid; nothing was attempted.
    Failed,
}

impl Phase {
    /// The name stored in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChartFetched => "ChartFetched",
            Self::ChartFetchFailed => "ChartFetchFailed",
            Self::Installing => "Installing",
            Self::Upgrading => "Upgrading",
            Self::Deployed => "Deployed",
            Self::DeployFailed => "DeployFailed",
            Self::RollingBack => "RollingBack",
            Self::RolledBack => "RolledBack",
            Self::RollbackFailed => "RollbackFailed",
            Self::Failed => "Failed",
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
