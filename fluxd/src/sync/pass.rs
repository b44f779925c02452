//! One sync pass: checkout of a revision -> load -> apply -> report -> marker.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gitsync::{
    Head, MarkerTracker, MarkerUpdate, Mirror, Revision, SyncMarker, Unverified, Verifier,
    VerifyMode,
};
use manifests::cluster;
use manifests::{LoadOptions, Resource};

use crate::Error;
use crate::sync::{RevisionCache, report};

/// What one sync pass did.
#[derive(Debug)]
#[non_exhaustive]
pub struct SyncRun {
    /// The revision synced.
    pub revision: Revision,
    /// The branch it is the head of.
    pub branch: String,
    /// How many resources loaded.
    pub resources: usize,
    /// Files, documents and resources that did not load.
    pub load_errors: Vec<manifests::Error>,
    /// The engine's per-resource results.
    pub report: cluster::SyncReport,
    /// Why the sync marker could not be moved, if it could not.
    pub marker_error: Option<String>,
    /// Why the sync did not run to completion against the cluster (then the
    /// marker stayed where it was).
    pub incomplete: Option<String>,
    /// The oldest commit after `revision` whose signature did not verify
    /// (it and everything after it were not applied).
    pub unverified: Option<Unverified>,
    /// How long the whole pass took.
    pub duration: Duration,
}

impl SyncRun {
    /// True when something failed: a manifest, a resource, or the marker.
    pub fn has_errors(&self) -> bool {
        !self.load_errors.is_empty()
            || self.marker_error.is_some()
            || self.incomplete.is_some()
            || self.unverified.is_some()
            || !self.report.is_success()
    }
}

/// The repository side of a sync: where checkouts go and what to load.
#[derive(Clone, Debug)]
pub struct GitSource {
    /// The mirror of the remote.
    pub mirror: Mirror,
    /// Directory the checkouts are made in.
    pub checkouts: PathBuf,
    /// `--git-path` as given (the sync set's name hashes it).
    pub paths: Vec<String>,
    /// How manifests load.
    pub load_options: LoadOptions,
}

/// What a checkout of one revision loaded, ready to apply or plan.
#[derive(Debug)]
pub struct LoadedRevision {
    /// The revision.
    pub revision: Revision,
    /// The branch.
    pub branch: String,
    /// The sync set (its name derived as Flux derived it).
    pub set: cluster::SyncSet,
    /// What did not load.
    pub errors: Vec<manifests::Error>,
}

impl GitSource {
    /// Fetches the branch and returns its head, logging how long it took.
    pub async fn fetch(&self) -> Result<Head, Error> {
        let began = Instant::now();
        let head = self.mirror.fetch().await?;
        tracing::info!(
            url = %self.mirror.remote().url(),
            branch = %head.branch,
            revision = %head.revision,
            duration_ms = millis(began.elapsed()),
            "fetched"
        );
        Ok(head)
    }

    /// Checks `head` out and loads its manifests (off the async threads).
    pub async fn load(&self, head: &Head) -> Result<LoadedRevision, Error> {
        let began = Instant::now();
        let checkout = self.mirror.checkout(head.revision, &self.checkouts).await?;
        tracing::debug!(
            revision = %head.revision,
            path = %checkout.path().display(),
            duration_ms = millis(began.elapsed()),
            "checked out"
        );
        let began = Instant::now();
        let root = checkout.path().to_owned();
        let load_paths = if self.paths.is_empty() {
            vec![".".to_owned()]
        } else {
            self.paths.clone()
        };
        let options = self.load_options.clone();
        let loaded =
            tokio::task::spawn_blocking(move || manifests::load(&root, &load_paths, &options))
                .await
                .map_err(|e| Error::Io {
                    context: "loading manifests from",
                    path: checkout.path().to_owned(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        tracing::info!(
            revision = %head.revision,
            resources = loaded.resources.len(),
            errors = loaded.errors.len(),
            charts_skipped = loaded.skipped_charts.len(),
            duration_ms = millis(began.elapsed()),
            "loaded manifests"
        );
        if !loaded.skipped_charts.is_empty() {
            let charts: Vec<String> = loaded
                .skipped_charts
                .iter()
                .map(|chart| chart.display().to_string())
                .collect();
            tracing::debug!(charts = %charts.join(","), "skipped Helm chart directories");
        }
        let name = cluster::sync_set_name(
            &self.mirror.remote().url().flux_safe_url(),
            &head.branch,
            &self.paths,
        );
        // Keep this checkout, remove older ones.
        if let Err(error) = self
            .mirror
            .prune_checkouts(&self.checkouts, &[head.revision])
            .await
        {
            tracing::warn!(%error, "could not remove old checkouts");
        }
        let resources: Vec<Resource> = loaded.resources;
        Ok(LoadedRevision {
            revision: head.revision,
            branch: head.branch.clone(),
            set: cluster::SyncSet {
                name,
                resources,
                complete: loaded.errors.is_empty(),
            },
            errors: loaded.errors,
        })
    }
}

/// The pieces of a sync: the repository, the engine, the marker.
pub struct Syncer {
    source: GitSource,
    engine: cluster::Engine,
    tracker: MarkerTracker<Box<dyn SyncMarker>>,
    resumed: bool,
    /// The last revision whose resources outside the scope were reported.
    scope_reported: Option<Revision>,
    verification: Option<(VerifyMode, Verifier)>,
    allow_history_rewrite: bool,
    /// Where loads are shared with the API and the jobs.
    loads: RevisionCache,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("source", &self.source)
            .field("marker", &self.tracker.marker().describe())
            .finish_non_exhaustive()
    }
}

impl Syncer {
    /// A syncer of `source` through `engine`, recording progress in `marker`.
    pub fn new(source: GitSource, engine: cluster::Engine, marker: Box<dyn SyncMarker>) -> Self {
        Self {
            source,
            engine,
            tracker: MarkerTracker::new(marker),
            resumed: false,
            scope_reported: None,
            verification: None,
            allow_history_rewrite: false,
            loads: RevisionCache::new(),
        }
    }

    /// Shares what it loads through `loads` (with the API and the jobs),
    /// and syncs again a revision loaded there without loading it again.
    #[must_use]
    pub(crate) fn sharing_loads(mut self, loads: RevisionCache) -> Self {
        self.loads = loads;
        self
    }

    /// Follows a branch whose history was rewritten behind the sync marker
    /// (`--git-allow-history-rewrite`) instead of refusing it with
    /// [`Error::HistoryRewritten`]; such a head is then applied (and what
    /// left git pruned) with a warning.
    #[must_use]
    pub fn with_history_rewrites_allowed(mut self, allow: bool) -> Self {
        self.allow_history_rewrite = allow;
        self
    }

    /// Applies only commits whose signatures `verifier` accepts, as `mode`
    /// says (`--git-verify-signatures-mode`); [`VerifyMode::None`] applies
    /// every head.
    #[must_use]
    pub fn with_verification(mut self, mode: VerifyMode, verifier: Verifier) -> Self {
        self.verification = (mode != VerifyMode::None).then_some((mode, verifier));
        self
    }

    /// The repository side.
    pub fn source(&self) -> &GitSource {
        &self.source
    }

    /// Reads the sync marker: the revision the last sync (of any run) reached.
    /// A failure is logged and tried again before the marker is next moved.
    pub async fn resume(&mut self) -> Option<Revision> {
        self.try_resume().await.ok().flatten()
    }

    /// [`Syncer::resume`], with the error.
    async fn try_resume(&mut self) -> Result<Option<Revision>, gitsync::Error> {
        let began = Instant::now();
        match self.tracker.resume().await {
            Ok(revision) => {
                self.resumed = true;
                tracing::info!(
                    marker = %self.tracker.marker().describe(),
                    revision = revision.map(|r| r.to_string()),
                    duration_ms = millis(began.elapsed()),
                    "resuming from the sync marker"
                );
                Ok(revision)
            }
            Err(error) => {
                tracing::warn!(
                    marker = %self.tracker.marker().describe(),
                    %error,
                    "cannot read the sync marker"
                );
                Err(error)
            }
        }
    }

    /// Refuses `head` when the branch's history was rewritten behind the
    /// sync marker: the head does not descend from the marker's revision.
    /// No marker (the first sync) is no rewrite. Before refusing, the marker
    /// is read again, so a marker moved (or deleted) to accept the new
    /// history is honoured; with rewrites allowed, a rewrite is a warning.
    async fn check_history(&mut self, head: &Head) -> Result<(), Error> {
        let unreadable = |error: gitsync::Error, marker: String| Error::MarkerUnreadable {
            branch: head.branch.clone(),
            marker,
            reason: error.to_string(),
        };
        if !self.resumed
            && let Err(error) = self.try_resume().await
        {
            if self.allow_history_rewrite {
                return Ok(());
            }
            return Err(unreadable(error, self.tracker.marker().describe()));
        }
        let mirror = self.source.mirror.clone();
        let Some(mut at) = self.tracker.last_seen() else {
            return Ok(());
        };
        if mirror.descends_from(head.revision, at).await? {
            return Ok(());
        }
        // Moved by someone since it was last read (to accept the rewrite)?
        match self.try_resume().await {
            Ok(None) => return Ok(()),
            Ok(Some(now)) => {
                if now != at && mirror.descends_from(head.revision, now).await? {
                    return Ok(());
                }
                at = now;
            }
            Err(error) if !self.allow_history_rewrite => {
                return Err(unreadable(error, self.tracker.marker().describe()));
            }
            Err(_) => {}
        }
        let marker = self.tracker.marker().describe();
        if self.allow_history_rewrite {
            tracing::warn!(
                branch = %head.branch,
                head = %head.revision,
                marker_revision = %at,
                marker = %marker,
                "the branch's history was rewritten behind the sync marker; following it (--git-allow-history-rewrite)"
            );
            return Ok(());
        }
        Err(Error::HistoryRewritten {
            branch: head.branch.clone(),
            head: head.revision,
            marker_revision: at,
            marker,
        })
    }

    /// Syncs `head` (or, with signature verification, the newest revision
    /// up to it that verifies): checkout, load, apply, log, and move the
    /// marker, only when the sync ran to completion against the cluster. An
    /// error means nothing was applied (the checkout failed, or no revision
    /// verifies, the branch's history was rewritten behind the sync marker:
    /// [`Error::HistoryRewritten`], or the marker cannot be read to check
    /// that); failures of single files or resources are in the run.
    pub async fn sync(&mut self, head: &Head) -> Result<SyncRun, Error> {
        let began = Instant::now();
        self.check_history(head).await?;
        let (head, unverified) = self.verified(head).await?;
        // A revision already loaded (without errors) is not loaded again:
        // the same tree gives the same resources.
        let (loaded, load_errors) = self.loads.load_for_sync(&self.source, &head).await?;
        let resources = loaded.set.resources.len();
        let report = self.engine.sync(&loaded.set).await;
        let first_of_revision = self.scope_reported != Some(head.revision);
        report::log_results(&report, &load_errors, first_of_revision);
        self.scope_reported = Some(head.revision);
        let incomplete = report.incomplete.clone();
        let marker_error = match &incomplete {
            None => self.advance(head.revision).await,
            Some(why) => {
                tracing::warn!(
                    marker = %self.tracker.marker().describe(),
                    at = self.tracker.last_seen().map(|r| r.to_string()),
                    revision = %head.revision,
                    reason = %why,
                    "the sync did not run to completion against the cluster; the sync marker stays where it was"
                );
                None
            }
        };
        let run = SyncRun {
            revision: head.revision,
            branch: loaded.branch.clone(),
            resources,
            load_errors,
            report,
            marker_error,
            incomplete,
            unverified,
            duration: began.elapsed(),
        };
        report::log_summary(&run);
        Ok(run)
    }

    /// The head to apply: `head`, or with verification the newest verified
    /// revision up to it, and the commit that did not verify.
    async fn verified(&self, head: &Head) -> Result<(Head, Option<Unverified>), Error> {
        let Some((mode, verifier)) = &self.verification else {
            return Ok((head.clone(), None));
        };
        let began = Instant::now();
        let verification = self
            .source
            .mirror
            .newest_verified(
                head.revision,
                self.tracker.last_seen(),
                *mode,
                verifier.clone(),
            )
            .await?;
        tracing::debug!(
            head = %head.revision,
            checked = verification.checked,
            duration_ms = millis(began.elapsed()),
            "signatures checked"
        );
        if let Some(unverified) = &verification.unverified {
            tracing::warn!(
                commit = %unverified.revision,
                reason = %unverified.reason,
                head = %head.revision,
                applying = verification.verified.map(|r| r.to_string()),
                "commit signature not verified: it and the commits after it are not applied"
            );
        }
        match verification.verified {
            Some(revision) => Ok((
                Head {
                    branch: head.branch.clone(),
                    revision,
                },
                verification.unverified,
            )),
            None => Err(Error::Unverified {
                revision: verification
                    .unverified
                    .as_ref()
                    .map_or(head.revision, |u| u.revision),
                reason: verification
                    .unverified
                    .map_or_else(String::new, |u| u.reason),
            }),
        }
    }

    /// Moves the marker to `revision`; the error, if it could not.
    async fn advance(&mut self, revision: Revision) -> Option<String> {
        if !self.resumed {
            self.resume().await;
        }
        let began = Instant::now();
        let describe = self.tracker.marker().describe();
        tracing::debug!(marker = %describe, revision = %revision, "writing the sync marker");
        match self.tracker.advance(revision).await {
            Ok(MarkerUpdate::Moved { from, to }) => {
                tracing::info!(
                    marker = %describe,
                    from = from.map(|r| r.to_string()),
                    to = %to,
                    duration_ms = millis(began.elapsed()),
                    "moved the sync marker"
                );
                None
            }
            Ok(MarkerUpdate::Unchanged { at }) => {
                tracing::debug!(marker = %describe, at = %at, "the sync marker is already there");
                None
            }
            Ok(MarkerUpdate::MovedByOther {
                expected,
                found,
                to,
            }) => {
                tracing::warn!(
                    marker = %describe,
                    expected = expected.map(|r| r.to_string()),
                    found = found.map(|r| r.to_string()),
                    to = %to,
                    "the sync marker was moved by someone else; moved it to the revision synced"
                );
                None
            }
            Ok(other) => {
                tracing::debug!(marker = %describe, update = ?other, "sync marker");
                None
            }
            Err(error) => {
                tracing::warn!(marker = %describe, %error, "cannot move the sync marker");
                Some(error.to_string())
            }
        }
    }
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
