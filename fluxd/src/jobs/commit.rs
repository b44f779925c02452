//! The one commit path: intentions applied to a fresh working copy of the
//! branch's head, committed, noted and pushed.

use std::sync::{Arc, PoisonError, RwLock};

use gitsync::{CommitOutcome, CommitRequest, Identity, Mirror, Note, Revision, Signer, Verifier};
use manifests::LoadOptions;

use crate::GitWriteConfig;
use crate::jobs::intention::{self, Intention, IntentionError};
use crate::sync::LoadedRevision;

/// Whether fluxd may push: what the write check at start found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteAccess {
    /// Not checked yet (or the check could not reach the remote): try.
    Unknown,
    /// The write check pushed and deleted its tag.
    Granted,
    /// The remote refused the write check; the reason as the server gave it.
    Refused(String),
    /// `--git-readonly`.
    ReadOnly,
}

/// A job's commit, as the queue hands it over.
#[derive(Clone, Debug)]
pub struct CommitJob {
    /// What to change.
    pub intentions: Vec<Intention>,
    /// The commit message (without the `--git-ci-skip` suffix, added here).
    pub message: String,
    /// Who asked (`Name <email>`), the author with `--git-set-author`.
    pub user: Option<String>,
    /// The job as JSON, for the git note (`{"jobID":...,"spec":...,"result":...}`).
    pub note: Option<serde_json::Value>,
}

/// A commit that was pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The new head of the branch.
    pub revision: Revision,
    /// The head it was made on.
    pub parent: Revision,
    /// How many times it was built (more than 1 when someone else pushed first).
    pub attempts: u32,
}

/// What [`CommitPath::commit`] did when it did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Committed {
    /// A commit was pushed.
    Pushed(Pushed),
    /// The intentions changed nothing (already so in git): no commit.
    NoChange {
        /// The branch's head.
        head: Revision,
    },
}

/// Why a job's commit failed. Nothing was pushed in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitFailure {
    /// fluxd runs with `--git-readonly`.
    #[error("fluxd runs with --git-readonly: it does not write to git")]
    ReadOnly,
    /// The write check at start was refused.
    #[error("the deploy key has no write access: {0}")]
    NoWriteAccess(String),
    /// An intention does not apply to the branch's head.
    #[error(transparent)]
    Intention(#[from] IntentionError),
    /// The head of the branch does not verify, so fluxd does not build on it.
    #[error("the head {revision} of the branch is not verified: {reason}")]
    Unverified {
        /// The head.
        revision: Revision,
        /// Why.
        reason: String,
    },
    /// git failed: a push refused by a hook, the remote kept moving, the network.
    #[error(transparent)]
    Git(gitsync::Error),
}

/// Applies intentions to a fresh working copy of the branch's head and
/// pushes the commit (see the `jobs` module's guide). Cheap to clone.
#[derive(Clone, Debug)]
pub struct CommitPath {
    mirror: Mirror,
    paths: Vec<String>,
    load_options: LoadOptions,
    config: GitWriteConfig,
    signer: Option<Signer>,
    verifier: Option<Verifier>,
    access: Arc<RwLock<WriteAccess>>,
}

impl CommitPath {
    /// Commits to `mirror`'s branch, finding resources under `paths` (empty:
    /// the whole tree) loaded with `load_options`, as `config` says.
    pub fn new(
        mirror: Mirror,
        paths: Vec<String>,
        load_options: LoadOptions,
        config: GitWriteConfig,
    ) -> Self {
        let access = if config.readonly {
            WriteAccess::ReadOnly
        } else {
            WriteAccess::Unknown
        };
        Self {
            mirror,
            paths,
            load_options,
            config,
            signer: None,
            verifier: None,
            access: Arc::new(RwLock::new(access)),
        }
    }

    /// Signs commits with `signer`.
    #[must_use]
    pub fn with_signer(mut self, signer: Option<Signer>) -> Self {
        self.signer = signer;
        self
    }

    /// Builds only on a head whose signature `verifier` accepts (with
    /// `--git-verify-signatures-mode` other than none).
    #[must_use]
    pub fn with_verifier(mut self, verifier: Option<Verifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// What the write check found.
    pub fn write_access(&self) -> WriteAccess {
        self.access
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs the write check (unless `--git-readonly`) and remembers what it
    /// found; a refusal is logged once, plainly, and fails every job that
    /// would write from then on.
    pub async fn check_write_access(&self) -> WriteAccess {
        if self.config.readonly {
            return WriteAccess::ReadOnly;
        }
        let found = match self.mirror.check_write_access().await {
            Ok(()) => {
                tracing::info!(url = %self.mirror.remote().url(), "write access checked");
                WriteAccess::Granted
            }
            Err(gitsync::Error::NoWriteAccess { reason, .. }) => {
                tracing::error!(
                    url = %self.mirror.remote().url(),
                    reason = %reason,
                    "the deploy key has no write access: jobs that change git will fail until it has; syncing goes on"
                );
                WriteAccess::Refused(reason)
            }
            Err(error) => {
                tracing::warn!(url = %self.mirror.remote().url(), %error, "could not check write access; will try when a job writes");
                WriteAccess::Unknown
            }
        };
        *self.access.write().unwrap_or_else(PoisonError::into_inner) = found.clone();
        found
    }

    /// Applies `job`'s intentions to a fresh working copy of the head of the
    /// branch, commits them with the job's message (plus the `[ci skip]`
    /// suffix), author and note, and pushes branch and note together. When
    /// someone else pushed first, the same intentions are applied again on
    /// the new head; one that no longer applies fails the job with its reason.
    pub async fn commit(&self, job: CommitJob) -> Result<Committed, CommitFailure> {
        self.commit_planned(job, None).await
    }

    /// [`CommitPath::commit`], finding the files to edit through `planned`,
    /// the load of the branch the job was planned on: only those files are
    /// loaded again in the working copy (all of them when a resource moved).
    pub(crate) async fn commit_planned(
        &self,
        job: CommitJob,
        planned: Option<Arc<LoadedRevision>>,
    ) -> Result<Committed, CommitFailure> {
        match self.write_access() {
            WriteAccess::ReadOnly => return Err(CommitFailure::ReadOnly),
            WriteAccess::Refused(reason) => return Err(CommitFailure::NoWriteAccess(reason)),
            WriteAccess::Unknown | WriteAccess::Granted => {}
        }
        if let Some(verifier) = &self.verifier {
            self.check_head_verifies(verifier.clone()).await?;
        }
        let committer = self.config.committer.clone();
        let author = match (&job.user, self.config.set_author) {
            (Some(user), true) if !user.trim().is_empty() => {
                Identity::parse_or(user, &committer.email)
            }
            _ => committer.clone(),
        };
        let message = format!("{}{}", job.message, self.config.message_suffix);
        let mut request = CommitRequest::new(message, author).with_committer(committer);
        if let Some(note) = &job.note {
            let note =
                Note::new(&self.config.notes_ref, note.to_string()).map_err(CommitFailure::Git)?;
            request = request.with_note(note);
        }
        if let Some(signer) = &self.signer {
            request = request.with_signer(signer.clone());
        }
        let root_paths = self.paths.clone();
        let options = self.load_options.clone();
        let intentions = job.intentions;
        let url = self.mirror.remote().url().to_string();
        let outcome = self
            .mirror
            .commit_and_push(request, move |dir| {
                let known = planned
                    .as_ref()
                    .map(|loaded| loaded.set.resources.as_slice());
                intention::apply(dir, &root_paths, &options, &intentions, known)
                    .map_err(|e| Box::new(e) as gitsync::BoxError)
            })
            .await
            .map_err(|error| match error {
                gitsync::Error::Edit { source, .. } => match source.downcast::<IntentionError>() {
                    Ok(intention) => CommitFailure::Intention(*intention),
                    Err(other) => CommitFailure::Git(gitsync::Error::Task {
                        url: url.clone(),
                        operation: "editing the checkout of",
                        reason: other.to_string(),
                    }),
                },
                other => CommitFailure::Git(other),
            })?;
        Ok(match outcome {
            CommitOutcome::Pushed {
                revision,
                parent,
                attempts,
                ..
            } => Committed::Pushed(Pushed {
                revision,
                parent,
                attempts,
            }),
            CommitOutcome::NothingToCommit { head } => Committed::NoChange { head },
            _ => {
                return Err(CommitFailure::Git(gitsync::Error::Task {
                    url: self.mirror.remote().url().to_string(),
                    operation: "commit and push to",
                    reason: "gitsync reported an outcome this fluxd does not know".to_owned(),
                }));
            }
        })
    }

    async fn check_head_verifies(&self, verifier: Verifier) -> Result<(), CommitFailure> {
        let head = self.mirror.fetch().await.map_err(CommitFailure::Git)?;
        match self
            .mirror
            .verify_commit(head.revision, verifier)
            .await
            .map_err(CommitFailure::Git)?
        {
            Ok(_) => Ok(()),
            Err(reason) => Err(CommitFailure::Unverified {
                revision: head.revision,
                reason,
            }),
        }
    }
}
