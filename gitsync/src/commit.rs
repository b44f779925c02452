//! Committing an edit of the branch and pushing it, again on top of the new
//! head when the remote moved meanwhile.

use std::path::Path;

use git2::{FileMode, Oid, Repository, Signature, Tree};

use crate::checkout::write_tree;
use crate::mirror::fetch_head;
use crate::push::{push_refspec, remote_moved};
use crate::{BoxError, Error, Mirror, Revision};

/// How many times [`Mirror::commit_and_push`] builds and pushes by default.
pub const DEFAULT_PUSH_ATTEMPTS: u32 = 5;

/// A commit author, committer or tagger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
}

impl Identity {
    /// An identity.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
        }
    }

    /// A signature dated now.
    pub(crate) fn signature(&self) -> Result<Signature<'static>, git2::Error> {
        Signature::now(&self.name, &self.email)
    }
}

/// What to commit: message, author and committer, and how often to try.
#[derive(Clone, Debug)]
pub struct CommitRequest {
    /// The commit message.
    pub message: String,
    /// The author.
    pub author: Identity,
    /// The committer (Flux sets both from `--git-user`/`--git-email`).
    pub committer: Identity,
    /// How many times to build the commit and push it before giving up.
    pub max_attempts: u32,
}

impl CommitRequest {
    /// A commit by `author` (also the committer) with the default attempts.
    pub fn new(message: impl Into<String>, author: Identity) -> Self {
        Self {
            message: message.into(),
            committer: author.clone(),
            author,
            max_attempts: DEFAULT_PUSH_ATTEMPTS,
        }
    }

    /// A different committer.
    #[must_use]
    pub fn with_committer(mut self, committer: Identity) -> Self {
        self.committer = committer;
        self
    }

    /// A different number of attempts (at least one).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
}

/// What [`Mirror::commit_and_push`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitOutcome {
    /// A commit was pushed.
    Pushed {
        /// The new commit, now the branch's head.
        revision: Revision,
        /// Its parent: the head the edit was applied to.
        parent: Revision,
        /// The branch.
        branch: String,
        /// How many times the commit was built (1 unless the remote moved).
        attempts: u32,
    },
    /// The edit changed nothing; no commit was made.
    NothingToCommit {
        /// The branch's head.
        head: Revision,
    },
}

impl Mirror {
    /// Commits an edit of the branch's head and pushes it.
    ///
    /// Fetches the head, checks it out into a temporary directory, runs `edit`
    /// on that directory, and commits the resulting tree (file contents,
    /// executable bits and symlinks; empty directories vanish, as in git). If
    /// the push is rejected because the remote moved, it fetches again and
    /// re-applies `edit` to a fresh checkout of the new head, up to
    /// `request.max_attempts` times. `edit` runs on a blocking thread.
    pub async fn commit_and_push<F>(
        &self,
        request: CommitRequest,
        edit: F,
    ) -> Result<CommitOutcome, Error>
    where
        F: FnMut(&Path) -> Result<(), BoxError> + Send + 'static,
    {
        let branch = self.branch().map(ToOwned::to_owned);
        // Each attempt fetches and pushes.
        let network_operations = request.max_attempts.max(1) * 2;
        self.run(
            "commit and push to",
            network_operations,
            move |repo, remote| commit_and_push(repo, remote, branch.as_deref(), &request, edit),
        )
        .await
    }
}

fn commit_and_push<F>(
    repo: &Repository,
    remote: &crate::Remote,
    branch: Option<&str>,
    request: &CommitRequest,
    mut edit: F,
) -> Result<CommitOutcome, Error>
where
    F: FnMut(&Path) -> Result<(), BoxError>,
{
    let url = remote.url().to_string();
    let git_error = |operation| {
        let url = url.clone();
        move |source| Error::Git {
            url,
            operation,
            source,
        }
    };
    let attempts = request.max_attempts.max(1);
    let mut last_branch = branch.unwrap_or_default().to_owned();
    for attempt in 1..=attempts {
        let head = fetch_head(repo, remote, branch)?;
        last_branch.clone_from(&head.branch);
        let parent = repo
            .find_commit(head.revision.oid())
            .map_err(git_error("reading the head of"))?;
        let parent_tree = parent.tree().map_err(git_error("reading the head of"))?;

        let workdir = tempfile::Builder::new()
            .prefix("gitsync-edit-")
            .tempdir()
            .map_err(|e| Error::io("creating a directory for the edit", e))?;
        write_tree(repo, head.revision, workdir.path(), &url)?;
        edit(workdir.path()).map_err(|source| Error::Edit {
            url: url.clone(),
            source,
        })?;
        let tree_id = tree_from_dir(repo, workdir.path(), Some(&parent_tree), &url)?;
        if tree_id == parent_tree.id() {
            return Ok(CommitOutcome::NothingToCommit {
                head: head.revision,
            });
        }
        let tree = repo
            .find_tree(tree_id)
            .map_err(git_error("building a commit for"))?;
        let author = request
            .author
            .signature()
            .map_err(git_error("signing a commit for"))?;
        let committer = request
            .committer
            .signature()
            .map_err(git_error("signing a commit for"))?;
        let commit = repo
            .commit(
                None,
                &author,
                &committer,
                &request.message,
                &tree,
                &[&parent],
            )
            .map_err(git_error("writing a commit for"))?;

        let refname = format!("refs/heads/{}", head.branch);
        match push_refspec(repo, remote, &format!("{commit}:{refname}")) {
            Ok(()) => {
                repo.reference(&refname, commit, true, "gitsync: push")
                    .map_err(git_error("updating the mirror of"))?;
                tracing::info!(
                    url = %url,
                    branch = %head.branch,
                    revision = %commit,
                    attempt,
                    "pushed commit"
                );
                return Ok(CommitOutcome::Pushed {
                    revision: Revision::from_oid(commit),
                    parent: head.revision,
                    branch: head.branch,
                    attempts: attempt,
                });
            }
            Err(error) if remote_moved(&error) && attempt < attempts => {
                tracing::info!(
                    url = %url,
                    branch = %head.branch,
                    attempt,
                    error = %error,
                    "push rejected, the remote moved; applying the edit again on its new head"
                );
            }
            Err(error) if remote_moved(&error) => {
                tracing::warn!(url = %url, branch = %head.branch, attempt, error = %error, "push rejected");
            }
            Err(error) => return Err(error),
        }
    }
    Err(Error::RemoteKeptMoving {
        url,
        branch: last_branch,
        attempts,
    })
}

/// Writes the tree of directory `dir` into `repo`. Submodule entries of
/// `original` (the tree `dir` was checked out from) survive as long as their
/// (empty) directory does.
pub(crate) fn tree_from_dir(
    repo: &Repository,
    dir: &Path,
    original: Option<&Tree<'_>>,
    url: &str,
) -> Result<Oid, Error> {
    match subtree(repo, dir, original, url)? {
        Some(oid) => Ok(oid),
        None => repo
            .treebuilder(None)
            .and_then(|builder| builder.write())
            .map_err(|source| Error::Git {
                url: url.to_owned(),
                operation: "writing an empty tree for",
                source,
            }),
    }
}

/// The tree of `dir`, `None` when it holds no files at any depth.
fn subtree(
    repo: &Repository,
    dir: &Path,
    original: Option<&Tree<'_>>,
    url: &str,
) -> Result<Option<Oid>, Error> {
    use std::os::unix::fs::PermissionsExt as _;

    let git_error = |source| Error::Git {
        url: url.to_owned(),
        operation: "writing the edited tree for",
        source,
    };
    let io_error = |path: &Path, e| Error::io(format!("reading {}", path.display()), e);
    let mut builder = repo.treebuilder(None).map_err(git_error)?;
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| io_error(&path, e))?;
        let name_path = Path::new(&name);
        let before = name
            .to_str()
            .and_then(|n| original.and_then(|t| t.get_name(n)));
        if file_type.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| io_error(&path, e))?;
            let blob = repo
                .blob(target.as_os_str().as_encoded_bytes())
                .map_err(git_error)?;
            builder
                .insert(name_path, blob, FileMode::Link.into())
                .map_err(git_error)?;
        } else if file_type.is_dir() {
            if let Some(before) = &before
                && before.filemode() == i32::from(FileMode::Commit)
            {
                let empty = std::fs::read_dir(&path)
                    .map_err(|e| io_error(&path, e))?
                    .next()
                    .is_none();
                if empty {
                    builder
                        .insert(name_path, before.id(), FileMode::Commit.into())
                        .map_err(git_error)?;
                    continue;
                }
            }
            let original_subtree = before
                .as_ref()
                .and_then(|b| b.to_object(repo).ok())
                .and_then(|o| o.into_tree().ok());
            if let Some(oid) = subtree(repo, &path, original_subtree.as_ref(), url)? {
                builder
                    .insert(name_path, oid, FileMode::Tree.into())
                    .map_err(git_error)?;
            }
        } else {
            let metadata = entry.metadata().map_err(|e| io_error(&path, e))?;
            let contents = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
            let blob = repo.blob(&contents).map_err(git_error)?;
            let mode = if metadata.permissions().mode() & 0o111 != 0 {
                FileMode::BlobExecutable
            } else {
                FileMode::Blob
            };
            builder
                .insert(name_path, blob, mode.into())
                .map_err(git_error)?;
        }
    }
    if builder.is_empty() {
        return Ok(None);
    }
    builder.write().map(Some).map_err(git_error)
}
