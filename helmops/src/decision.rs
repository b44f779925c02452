//! Deciding what a release needs, from state already at hand: the
//! HelmRelease's status, the checksum just computed, and Helm's storage as
//! watched. No helm call is made to decide.

use crate::api::{HelmReleaseStatus, Phase};
use crate::model::RollbackPolicy;
use crate::storage::StoredRelease;

/// What to do with a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No release exists: install it.
    Install,
    /// The release exists and must be upgraded, for this reason.
    Upgrade(UpgradeCause),
    /// An install, upgrade or rollback of this operator was interrupted (the
    /// operator stopped or was killed while helm ran) and left the release
    /// `pending-*`: roll it back to its last deployed revision (or remove a
    /// release that never deployed), then release again.
    Recover {
        /// Helm's status of the newest revision (`pending-upgrade`, ...).
        pending: String,
    },
    /// Nothing to do.
    Skip(SkipCause),
}

/// Why an upgrade is needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UpgradeCause {
    /// A release of this name exists but this operator never released it.
    Adopt,
    /// Chart content or values changed.
    Changed,
    /// The HelmRelease changed (a new generation) without changing chart or values.
    SpecChanged,
    /// Someone ran helm on the release (upgrade, rollback) since the operator did.
    ChangedOutside {
        /// The revision the operator recorded.
        recorded: i64,
        /// The newest revision Helm has.
        found: i64,
    },
    /// The last attempt failed and is retried (after a back-off).
    RetryFailed,
    /// The last upgrade was rolled back and `rollback.retry` allows another try.
    RetryAfterRollback,
    /// Helm's newest revision is not deployed (failed outside the operator).
    NotDeployed(String),
}

/// Why nothing is done.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipCause {
    /// Deployed as specified.
    UpToDate,
    /// Rolled back, and retries are off or used up until something changes.
    RolledBack,
    /// Failed before with the same chart and values; retried after a back-off.
    BackingOff,
    /// Another helm operation holds the release (`pending-*`): not ours to break.
    Pending(String),
}

/// Decides what the release needs. `generation` is the HelmRelease's
/// `metadata.generation`.
pub(crate) fn decide(
    status: Option<&HelmReleaseStatus>,
    generation: Option<i64>,
    release_name: &str,
    checksum: &str,
    stored: Option<&StoredRelease>,
    rollback: Option<&RollbackPolicy>,
) -> Decision {
    let Some(stored) = stored else {
        return Decision::Install;
    };
    let ours = status.filter(|s| {
        s.release_name.as_deref() == Some(release_name) && s.last_attempted_checksum.is_some()
    });
    if stored.latest_status.starts_with("pending-") {
        let interrupted = ours
            .and_then(|s| s.phase.as_deref())
            .is_some_and(Phase::in_progress);
        return if interrupted {
            Decision::Recover {
                pending: stored.latest_status.clone(),
            }
        } else {
            Decision::Skip(SkipCause::Pending(stored.latest_status.clone()))
        };
    }
    let Some(status) = ours else {
        return Decision::Upgrade(UpgradeCause::Adopt);
    };
    if status.last_attempted_checksum.as_deref() != Some(checksum) {
        return Decision::Upgrade(UpgradeCause::Changed);
    }
    if let (Some(observed), Some(generation)) = (status.observed_generation, generation)
        && observed < generation
    {
        return Decision::Upgrade(UpgradeCause::SpecChanged);
    }
    let recorded = status.helm_revision.unwrap_or(0);
    if stored.latest_revision > recorded {
        return Decision::Upgrade(UpgradeCause::ChangedOutside {
            recorded,
            found: stored.latest_revision,
        });
    }
    let phase = status.phase.as_deref();
    if phase == Some(Phase::RolledBack.as_str()) || phase == Some(Phase::RollbackFailed.as_str()) {
        // helm-operator's ShouldRetryUpgrade: maxRetries 0 retries forever.
        let retries_left = rollback.is_some_and(|policy| {
            policy.retry
                && (policy.max_retries == 0
                    || status.rollback_count.unwrap_or(0) <= policy.max_retries)
        });
        return if retries_left {
            Decision::Upgrade(UpgradeCause::RetryAfterRollback)
        } else {
            Decision::Skip(SkipCause::RolledBack)
        };
    }
    if status.last_deployed_checksum.as_deref() != Some(checksum) {
        return Decision::Upgrade(UpgradeCause::RetryFailed);
    }
    if stored.latest_status != "deployed" {
        return Decision::Upgrade(UpgradeCause::NotDeployed(stored.latest_status.clone()));
    }
    Decision::Skip(SkipCause::UpToDate)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn deployed_status() -> HelmReleaseStatus {
        HelmReleaseStatus {
            release_name: Some("demo-app".into()),
            phase: Some("Deployed".into()),
            helm_revision: Some(2),
            last_attempted_checksum: Some("c1".into()),
            last_deployed_checksum: Some("c1".into()),
            ..HelmReleaseStatus::default()
        }
    }

    fn stored(revision: i64, status: &str) -> StoredRelease {
        StoredRelease {
            latest_revision: revision,
            latest_status: status.into(),
            deployed_revision: (status == "deployed").then_some(revision),
        }
    }

    fn policy(retry: bool) -> RollbackPolicy {
        RollbackPolicy {
            force: false,
            recreate: false,
            disable_hooks: false,
            timeout: Duration::from_secs(300),
            wait: false,
            retry,
            max_retries: 2,
        }
    }

    #[test]
    fn unchanged_release_is_skipped() {
        let status = deployed_status();
        assert_eq!(
            decide(
                Some(&status),
                None,
                "demo-app",
                "c1",
                Some(&stored(2, "deployed")),
                None
            ),
            Decision::Skip(SkipCause::UpToDate)
        );
    }

    #[test]
    fn install_change_adopt_and_drift() {
        let status = deployed_status();
        assert_eq!(
            decide(Some(&status), None, "demo-app", "c1", None, None),
            Decision::Install
        );
        assert_eq!(
            decide(
                Some(&status),
                None,
                "demo-app",
                "c2",
                Some(&stored(2, "deployed")),
                None
            ),
            Decision::Upgrade(UpgradeCause::Changed)
        );
        assert_eq!(
            decide(
                None,
                None,
                "demo-app",
                "c1",
                Some(&stored(1, "deployed")),
                None
            ),
            Decision::Upgrade(UpgradeCause::Adopt)
        );
        assert_eq!(
            decide(
                Some(&status),
                None,
                "renamed",
                "c1",
                Some(&stored(1, "deployed")),
                None
            ),
            Decision::Upgrade(UpgradeCause::Adopt)
        );
        assert_eq!(
            decide(
                Some(&status),
                None,
                "demo-app",
                "c1",
                Some(&stored(4, "deployed")),
                None
            ),
            Decision::Upgrade(UpgradeCause::ChangedOutside {
                recorded: 2,
                found: 4
            })
        );
        assert_eq!(
            decide(
                Some(&status),
                None,
                "demo-app",
                "c1",
                Some(&stored(2, "failed")),
                None
            ),
            Decision::Upgrade(UpgradeCause::NotDeployed("failed".into()))
        );
    }

    #[test]
    fn failures_retry_and_rollbacks_respect_the_policy() {
        let mut failed = deployed_status();
        failed.phase = Some("DeployFailed".into());
        failed.last_attempted_checksum = Some("c2".into());
        assert_eq!(
            decide(
                Some(&failed),
                None,
                "demo-app",
                "c2",
                Some(&stored(2, "failed")),
                None
            ),
            Decision::Upgrade(UpgradeCause::RetryFailed)
        );
        let mut rolled_back = failed.clone();
        rolled_back.phase = Some("RolledBack".into());
        rolled_back.rollback_count = Some(1);
        assert_eq!(
            decide(
                Some(&rolled_back),
                None,
                "demo-app",
                "c2",
                Some(&stored(2, "deployed")),
                Some(&policy(false))
            ),
            Decision::Skip(SkipCause::RolledBack)
        );
        assert_eq!(
            decide(
                Some(&rolled_back),
                None,
                "demo-app",
                "c2",
                Some(&stored(2, "deployed")),
                Some(&policy(true))
            ),
            Decision::Upgrade(UpgradeCause::RetryAfterRollback)
        );
        rolled_back.rollback_count = Some(3);
        assert_eq!(
            decide(
                Some(&rolled_back),
                None,
                "demo-app",
                "c2",
                Some(&stored(2, "deployed")),
                Some(&policy(true))
            ),
            Decision::Skip(SkipCause::RolledBack)
        );
        assert_eq!(
            decide(
                Some(&rolled_back),
                None,
                "demo-app",
                "c3",
                Some(&stored(2, "deployed")),
                Some(&policy(true))
            ),
            Decision::Upgrade(UpgradeCause::Changed),
            "a new change is always tried"
        );
    }

    #[test]
    fn spec_changes_and_interrupted_operations() {
        let status = deployed_status();
        let mut observed = status.clone();
        observed.observed_generation = Some(3);
        assert_eq!(
            decide(
                Some(&observed),
                Some(4),
                "demo-app",
                "c1",
                Some(&stored(2, "deployed")),
                None
            ),
            Decision::Upgrade(UpgradeCause::SpecChanged)
        );
        assert_eq!(
            decide(
                Some(&observed),
                Some(3),
                "demo-app",
                "c1",
                Some(&stored(2, "deployed")),
                None
            ),
            Decision::Skip(SkipCause::UpToDate)
        );
        let mut upgrading = status.clone();
        upgrading.phase = Some("Upgrading".into());
        let pending = StoredRelease {
            latest_revision: 3,
            latest_status: "pending-upgrade".into(),
            deployed_revision: Some(2),
        };
        assert_eq!(
            decide(
                Some(&upgrading),
                None,
                "demo-app",
                "c1",
                Some(&pending),
                None
            ),
            Decision::Recover {
                pending: "pending-upgrade".into()
            }
        );
        assert_eq!(
            decide(Some(&status), None, "demo-app", "c1", Some(&pending), None),
            Decision::Skip(SkipCause::Pending("pending-upgrade".into())),
            "someone else's helm is running"
        );
    }
}
