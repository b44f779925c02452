//! The daemon's health as the probes see it, and the hooks the sync loop
//! calls to keep it.
//!
//! - `/readyz` is ready once the repository is cloned and the first sync
//!   pass ran (whatever its outcome: a sync with failing resources still
//!   means the daemon works).
//! - `/healthz` (liveness) fails when the sync loop has stopped, or when one
//!   sync pass (checkout, load, apply: the git worker's and the cluster's
//!   work) or a fetch reported by the loop has been running for longer than
//!   [`Health::stuck_after`]; a restart is then the remedy.
//!
//! [`Health`] also forwards what the loop reports to the daemon's
//! [`Observer`] (the metrics), so the loop has one thing to tell.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gitsync::{Head, Revision};

use crate::contract::Observer;

/// How long a sync pass may run before liveness fails, by default. A sync
/// of a large repository against a slow API server takes minutes; ten of
/// them is well past any healthy one (and past `--git-timeout`'s default).
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
struct State {
    cloned: bool,
    first_sync: bool,
    stopped: bool,
    sync_started: Option<Instant>,
    synced: Option<Head>,
    git_error: Option<String>,
}

/// The daemon's health, kept by the sync loop (see the module's guide).
pub struct Health {
    state: Mutex<State>,
    stuck_after: Duration,
    observer: Arc<dyn Observer>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("state", &self.state())
            .field("stuck_after", &self.stuck_after)
            .finish_non_exhaustive()
    }
}

/// Why `/healthz` or `/readyz` fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy(pub String);

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Health {
    /// Health that reports to `observer`, failing liveness after a pass
    /// longer than `stuck_after`.
    pub fn new(observer: Arc<dyn Observer>, stuck_after: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            stuck_after,
            observer,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bound past which a pass counts as stuck.
    pub fn stuck_after(&self) -> Duration {
        self.stuck_after
    }

    /// The repository was fetched: a head is known.
    pub fn cloned(&self) {
        let newly = {
            let mut state = self.state();
            state.git_error = None;
            !std::mem::replace(&mut state.cloned, true)
        };
        if newly {
            self.observer.git_ready(true);
        }
    }

    /// A fetch failed; the repository stays ready if it was cloned before
    /// (Flux's `flux_git_ready` stays 1 while the mirror has a clone).
    pub fn fetch_failed(&self, error: &str) {
        let cloned = {
            let mut state = self.state();
            state.git_error = Some(error.to_owned());
            state.cloned
        };
        if !cloned {
            self.observer.git_ready(false);
        }
    }

    /// A sync pass starts.
    pub fn sync_started(&self) {
        self.state().sync_started = Some(Instant::now());
    }

    /// A sync pass ended: `applied` resources synced, `failed` did not;
    /// `head` is what it applied when it ran against the cluster.
    pub fn sync_finished(
        &self,
        duration: Duration,
        head: Option<Head>,
        applied: usize,
        failed: usize,
    ) {
        {
            let mut state = self.state();
            state.sync_started = None;
            state.first_sync = true;
            if head.is_some() {
                state.synced = head;
            }
        }
        self.observer
            .sync_finished(duration, failed == 0, applied + failed);
        self.observer.sync_manifests(applied, failed);
    }

    /// A sync pass failed before it applied anything (or was abandoned).
    pub fn sync_failed(&self, duration: Duration) {
        {
            let mut state = self.state();
            state.sync_started = None;
            state.first_sync = true;
        }
        self.observer.sync_finished(duration, false, 0);
    }

    /// The sync loop ended.
    pub fn stopped(&self) {
        self.state().stopped = true;
    }

    /// The head of the last sync that ran against the cluster.
    pub fn synced_head(&self) -> Option<Head> {
        self.state().synced.clone()
    }

    /// The revision of [`Health::synced_head`].
    pub fn synced_revision(&self) -> Option<Revision> {
        self.state().synced.as_ref().map(|head| head.revision)
    }

    /// Whether the repository has been fetched, and the last fetch error.
    pub fn git_state(&self) -> (bool, Option<String>) {
        let state = self.state();
        (state.cloned, state.git_error.clone())
    }

    /// `/healthz`: `Ok` unless the loop stopped or a pass is stuck.
    pub fn live(&self) -> Result<(), Unhealthy> {
        let state = self.state();
        if state.stopped {
            return Err(Unhealthy("the sync loop has stopped".to_owned()));
        }
        if let Some(started) = state.sync_started {
            let running = started.elapsed();
            if running > self.stuck_after {
                return Err(Unhealthy(format!(
                    "a sync pass has been running for {}s (bound {}s)",
                    running.as_secs(),
                    self.stuck_after.as_secs()
                )));
            }
        }
        Ok(())
    }

    /// `/readyz`: `Ok` once cloned and synced once.
    pub fn ready(&self) -> Result<(), Unhealthy> {
        let state = self.state();
        if !state.cloned {
            return Err(Unhealthy(match &state.git_error {
                Some(error) => format!("the repository is not cloned yet: {error}"),
                None => "the repository is not cloned yet".to_owned(),
            }));
        }
        if !state.first_sync {
            return Err(Unhealthy("the first sync has not run yet".to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::NoObserver;

    #[test]
    fn ready_after_clone_and_first_sync() {
        let health = Health::new(Arc::new(NoObserver), DEFAULT_STUCK_AFTER);
        assert!(health.ready().is_err());
        health.fetch_failed("no route to host");
        assert_eq!(
            health.ready().unwrap_err().0,
            "the repository is not cloned yet: no route to host"
        );
        health.cloned();
        assert!(health.ready().is_err());
        health.sync_started();
        health.sync_finished(Duration::from_millis(3), None, 1, 1);
        assert!(health.ready().is_ok());
        assert!(health.live().is_ok());
    }

    #[test]
    fn live_fails_on_a_stuck_pass_or_a_stopped_loop() {
        let health = Health::new(Arc::new(NoObserver), Duration::ZERO);
        health.sync_started();
        std::thread::sleep(Duration::from_millis(2));
        assert!(health.live().unwrap_err().0.contains("running for"));
        health.sync_finished(Duration::from_millis(3), None, 1, 0);
        assert!(health.live().is_ok());
        health.stopped();
        assert_eq!(health.live().unwrap_err().0, "the sync loop has stopped");
    }
}
