//! Committing an edit of the branch and pushing it, again on top of the new
//! head when the remote moved meanwhile.

use std::path::Path;
use std::time::Duration;

use git2::{FileMode, Oid, Repository, Signature, Tree};

use crate::checkout::write_tree;
use crate::mirror::fetch_with;
use crate::push::{Rejection, may_have_landed, push_refspecs, reason_says_moved, remote_refs};
use crate::{BoxError, Error, Mirror, Remote, Revision, Signer};

/// How many times [`Mirror::commit_and_push`] builds and pushes by default.
pub const DEFAULT_PUSH_ATTEMPTS: u32 = 5;

/// The first wait before building a commit again on a moved remote; it
/// doubles with each attempt, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3);

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

    /// `Name <email>` as git and `fluxctl --user` write it; without an
    /// `<email>` part the whole text is the name and `email` is used.
    pub fn parse_or(text: &str, email: &str) -> Self {
        let text = text.trim();
        if let Some((name, rest)) = text.split_once('<')
            && let Some(address) = rest.strip_suffix('>')
            && !address.contains(['<', '>'])
        {
            let name = name.trim();
            let address = address.trim();
            return Self::new(if name.is_empty() { address } else { name }, address);
        }
        Self::new(text, email)
    }

    /// A signature dated now.
    pub(crate) fn signature(&self) -> Result<Signature<'static>, git2::Error> {
        Signature::now(&self.name, &self.email)
    }
}

/// A git note to add to the new commit, pushed together with the branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The notes reference (`refs/notes/flux`).
    pub refname: String,
    /// The note's text (Flux: the job as JSON).
    pub message: String,
}

impl Note {
    /// A note under `notes_ref`: a full reference (`refs/notes/flux`) or a
    /// short name (`flux`, as Flux's `--git-notes-ref`).
    pub fn new(notes_ref: &str, message: impl Into<String>) -> Result<Self, Error> {
        let refname = if notes_ref.starts_with("refs/") {
            notes_ref.to_owned()
        } else {
            format!("refs/notes/{notes_ref}")
        };
        if !refname.starts_with("refs/notes/") || !git2::Reference::is_valid_name(&refname) {
            return Err(Error::InvalidRefName {
                kind: "notes",
                name: notes_ref.to_owned(),
            });
        }
        Ok(Self {
            refname,
            message: message.into(),
        })
    }
}

/// What to commit: message, author and committer, note, signature, and how
/// often to try.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CommitRequest {
    /// The commit message.
    pub message: String,
    /// The author.
    pub author: Identity,
    /// The committer (Flux sets both from `--git-user`/`--git-email`).
    pub committer: Identity,
    /// How many times to build the commit and push it before giving up.
    pub max_attempts: u32,
    /// A note on the new commit, pushed with it.
    pub note: Option<Note>,
    /// Who signs the commit, if anyone.
    pub signer: Option<Signer>,
}

impl CommitRequest {
    /// A commit by `author` (also the committer) with the default attempts.
    pub fn new(message: impl Into<String>, author: Identity) -> Self {
        Self {
            message: message.into(),
            committer: author.clone(),
            author,
            max_attempts: DEFAULT_PUSH_ATTEMPTS,
            note: None,
            signer: None,
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

    /// A note on the commit.
    #[must_use]
    pub fn with_note(mut self, note: Note) -> Self {
        self.note = Some(note);
        self
    }

    /// Signs the commit.
    #[must_use]
    pub fn with_signer(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
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
    /// executable bits and symlinks; empty directories vanish, as in git),
    /// signed when the request has a signer. A note, if any, is added to the
    /// new commit and pushed in the same push as the branch.
    ///
    /// If the push is rejected because the remote moved, it waits (100 ms,
    /// doubling), fetches again and re-applies `edit` to a fresh checkout of
    /// the new head, up to `request.max_attempts` times; the branch is never
    /// force-pushed. A push that fails in the network (a timeout, a cut
    /// connection) may have landed: the remote is asked where the branch is
    /// before anything is retried, so a commit is never made twice. `edit`
    /// runs on a blocking thread.
    pub async fn commit_and_push<F>(
        &self,
        request: CommitRequest,
        edit: F,
    ) -> Result<CommitOutcome, Error>
    where
        F: FnMut(&Path) -> Result<(), BoxError> + Send + 'static,
    {
        let branch = self.branch().map(ToOwned::to_owned);
        // Each attempt fetches, pushes and may ask where the branch went.
        let network_operations = request.max_attempts.max(1) * 3;
        self.run(
            "commit and push to",
            network_operations,
            move |repo, remote| commit_and_push(repo, remote, branch.as_deref(), &request, edit),
        )
        .await
    }
}

fn backoff(attempt: u32) -> Duration {
    let exponential = FIRST_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 50);
    exponential.min(MAX_BACKOFF) + Duration::from_millis(u64::from(jitter))
}

/// The state of one attempt: the head it built on, the commit, its note.
struct Built {
    parent: Revision,
    commit: Oid,
    notes_commit: Option<Oid>,
}

fn commit_and_push<F>(
    repo: &Repository,
    remote: &Remote,
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
    let notes_ref = request.note.as_ref().map(|note| note.refname.as_str());
    let extra: Vec<&str> = notes_ref.into_iter().collect();
    let mut last_branch = branch.unwrap_or_default().to_owned();
    // The working copy of the last attempt and the tree it was edited into.
    let mut working: Option<(tempfile::TempDir, Oid)> = None;
    for attempt in 1..=attempts {
        if attempt > 1 {
            std::thread::sleep(backoff(attempt - 1));
        }
        let (head, _) = fetch_with(repo, remote, branch, &extra)?;
        last_branch.clone_from(&head.branch);
        let parent = repo
            .find_commit(head.revision.oid())
            .map_err(git_error("reading the head of"))?;
        let parent_tree = parent.tree().map_err(git_error("reading the head of"))?;

        // The working copy of this head: the previous attempt's, brought to
        // this head (only what differs is written), or a full checkout.
        let workdir = match working.take() {
            Some((dir, edited)) => {
                let edited = repo
                    .find_tree(edited)
                    .map_err(git_error("reading the previous attempt of"))?;
                if update_workdir(repo, dir.path(), &edited, &parent_tree, &url)? {
                    dir
                } else {
                    fresh_workdir(repo, head.revision, &url)?
                }
            }
            None => fresh_workdir(repo, head.revision, &url)?,
        };
        edit(workdir.path()).map_err(|source| Error::Edit {
            url: url.clone(),
            source,
        })?;
        let tree_id = tree_from_dir(repo, workdir.path(), Some(&parent_tree), &url)?;
        working = Some((workdir, tree_id));
        if tree_id == parent_tree.id() {
            return Ok(CommitOutcome::NothingToCommit {
                head: head.revision,
            });
        }
        let tree = repo
            .find_tree(tree_id)
            .map_err(git_error("building a commit for"))?;
        let commit = write_commit(repo, request, &tree, &parent, &url)?;
        let notes_commit = match &request.note {
            Some(note) => Some(add_note(repo, request, note, commit, &url)?),
            None => None,
        };
        let built = Built {
            parent: head.revision,
            commit,
            notes_commit,
        };

        let refname = format!("refs/heads/{}", head.branch);
        let mut refspecs = vec![format!("{commit}:{refname}")];
        if let (Some(note), Some(notes_commit)) = (&request.note, notes_commit) {
            refspecs.push(format!("{notes_commit}:{}", note.refname));
        }
        tracing::debug!(url = %url, branch = %head.branch, revision = %commit, attempt, "pushing commit");
        let pushed = match push_refspecs(repo, remote, &refspecs) {
            Ok(rejections) => rejections,
            Err(error) if may_have_landed(&error) => {
                match landed(repo, remote, &refname, notes_ref, &built, &error)? {
                    Landed::Both => Vec::new(),
                    Landed::BranchOnly => vec![Rejection {
                        refname: notes_ref.unwrap_or_default().to_owned(),
                        reason: "not updated".to_owned(),
                    }],
                    Landed::No => {
                        tracing::info!(url = %url, branch = %head.branch, attempt, error = %error, "the push did not land; trying again");
                        continue;
                    }
                }
            }
            Err(error) if crate::push::remote_moved(&error) && attempt < attempts => {
                tracing::info!(url = %url, branch = %head.branch, attempt, error = %error,
                    "push rejected, the remote moved; applying the edit again on its new head");
                continue;
            }
            Err(error) if crate::push::remote_moved(&error) => {
                tracing::warn!(url = %url, branch = %head.branch, attempt, error = %error, "push rejected");
                break;
            }
            Err(error) => return Err(error),
        };
        let branch_rejection = pushed.iter().find(|r| r.refname == refname);
        if let Some(rejection) = branch_rejection {
            if reason_says_moved(&rejection.reason) {
                tracing::info!(url = %url, branch = %head.branch, attempt, reason = %rejection.reason,
                    "push rejected, the remote moved; applying the edit again on its new head");
                continue;
            }
            return Err(rejection.clone().into_error(remote));
        }
        repo.reference(&refname, commit, true, "gitsync: push")
            .map_err(git_error("updating the mirror of"))?;
        if let Some(note) = &request.note {
            if pushed.iter().any(|r| r.refname == note.refname) {
                push_note_again(
                    repo,
                    remote,
                    &head.branch,
                    request,
                    note,
                    commit,
                    attempts,
                    &url,
                )?;
            } else if let Some(notes_commit) = notes_commit {
                repo.reference(&note.refname, notes_commit, true, "gitsync: push")
                    .map_err(git_error("updating the mirror of"))?;
            }
        }
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
    Err(Error::RemoteKeptMoving {
        url,
        branch: last_branch,
        attempts,
    })
}

/// A new directory holding the files of `revision`.
fn fresh_workdir(
    repo: &Repository,
    revision: Revision,
    url: &str,
) -> Result<tempfile::TempDir, Error> {
    let workdir = tempfile::Builder::new()
        .prefix("gitsync-edit-")
        .tempdir()
        .map_err(|e| Error::io("creating a directory for the edit", e))?;
    write_tree(repo, revision, workdir.path(), url)?;
    Ok(workdir)
}

/// Makes `dir`, which holds exactly the files of tree `from`, hold those of
/// `to` by writing and removing only what differs: a retry on a moved
/// remote then costs what changed, not a whole checkout. `false` (nothing
/// done, or half done) when a path is not a plain relative one or an entry
/// is a submodule: the caller checks out afresh.
fn update_workdir(
    repo: &Repository,
    dir: &Path,
    from: &Tree<'_>,
    to: &Tree<'_>,
    url: &str,
) -> Result<bool, Error> {
    use std::os::unix::fs::PermissionsExt as _;

    let git_error = |source| Error::Git {
        url: url.to_owned(),
        operation: "updating the working copy of",
        source,
    };
    let diff = repo
        .diff_tree_to_tree(Some(from), Some(to), None)
        .map_err(git_error)?;
    for delta in diff.deltas() {
        let (old, new) = (delta.old_file(), delta.new_file());
        let Some(relative) = new.path().or_else(|| old.path()) else {
            return Ok(false);
        };
        let plain = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(name) if name != ".git"));
        let submodule = |file: &git2::DiffFile<'_>| file.mode() == FileMode::Commit;
        if !plain || submodule(&old) || submodule(&new) {
            return Ok(false);
        }
        let path = dir.join(relative);
        let io_error = |e| Error::io(format!("updating {}", path.display()), e);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => return Ok(false),
            Ok(_) => std::fs::remove_file(&path).map_err(io_error)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e)),
        }
        if delta.status() == git2::Delta::Deleted {
            continue;
        }
        let blob = repo.find_blob(new.id()).map_err(git_error)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_error)?;
        }
        match new.mode() {
            FileMode::Link => {
                let target =
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(blob.content());
                std::os::unix::fs::symlink(target, &path).map_err(io_error)?;
            }
            mode => {
                std::fs::write(&path, blob.content()).map_err(io_error)?;
                if mode == FileMode::BlobExecutable {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                        .map_err(io_error)?;
                }
            }
        }
    }
    Ok(true)
}

/// Where a push that failed in the network left the remote.
enum Landed {
    Both,
    BranchOnly,
    No,
}

/// Asks the remote whether the commit (and note) of a push that failed in
/// the network landed.
fn landed(
    repo: &Repository,
    remote: &Remote,
    refname: &str,
    notes_ref: Option<&str>,
    built: &Built,
    push_error: &Error,
) -> Result<Landed, Error> {
    let names: Vec<&str> = std::iter::once(refname).chain(notes_ref).collect();
    let refs = remote_refs(repo, remote, &names).map_err(|check| Error::PushUnconfirmed {
        url: remote.url().to_string(),
        push_error: push_error.to_string(),
        check_error: check.to_string(),
    })?;
    if refs.get(refname) != Some(&built.commit) {
        tracing::debug!(refname, parent = %built.parent, "the remote does not have the commit");
        return Ok(Landed::No);
    }
    let notes_landed = match (notes_ref, built.notes_commit) {
        (Some(notes_ref), Some(notes_commit)) => refs.get(notes_ref) == Some(&notes_commit),
        _ => true,
    };
    tracing::info!(refname, revision = %built.commit, error = %push_error,
        "the push reported an error but landed");
    Ok(if notes_landed {
        Landed::Both
    } else {
        Landed::BranchOnly
    })
}

/// The branch landed and its note did not (the notes moved meanwhile):
/// adds the note on top of the remote's notes and pushes the notes alone.
#[allow(clippy::too_many_arguments)]
fn push_note_again(
    repo: &Repository,
    remote: &Remote,
    branch: &str,
    request: &CommitRequest,
    note: &Note,
    commit: Oid,
    attempts: u32,
    url: &str,
) -> Result<(), Error> {
    for attempt in 1..=attempts {
        std::thread::sleep(backoff(attempt));
        // The remote's notes, so the new note builds on them.
        fetch_with(repo, remote, Some(branch), &[note.refname.as_str()])?;
        let notes_commit = add_note(repo, request, note, commit, url)?;
        let rejections =
            push_refspecs(repo, remote, &[format!("{notes_commit}:{}", note.refname)])?;
        match rejections.into_iter().next() {
            None => {
                repo.reference(&note.refname, notes_commit, true, "gitsync: push")
                    .map_err(|source| Error::Git {
                        url: url.to_owned(),
                        operation: "updating the mirror of",
                        source,
                    })?;
                return Ok(());
            }
            Some(rejection) if reason_says_moved(&rejection.reason) => {}
            Some(rejection) => return Err(rejection.into_error(remote)),
        }
    }
    Err(Error::RemoteKeptMoving {
        url: url.to_owned(),
        branch: note.refname.clone(),
        attempts,
    })
}

/// Writes the commit object, signed when the request says so.
fn write_commit(
    repo: &Repository,
    request: &CommitRequest,
    tree: &Tree<'_>,
    parent: &git2::Commit<'_>,
    url: &str,
) -> Result<Oid, Error> {
    let git_error = |operation| {
        move |source| Error::Git {
            url: url.to_owned(),
            operation,
            source,
        }
    };
    let author = request
        .author
        .signature()
        .map_err(git_error("signing a commit for"))?;
    let committer = request
        .committer
        .signature()
        .map_err(git_error("signing a commit for"))?;
    let Some(signer) = &request.signer else {
        return repo
            .commit(None, &author, &committer, &request.message, tree, &[parent])
            .map_err(git_error("writing a commit for"));
    };
    let buffer = repo
        .commit_create_buffer(&author, &committer, &request.message, tree, &[parent])
        .map_err(git_error("writing a commit for"))?;
    let signature = signer.sign(&buffer)?;
    let content = std::str::from_utf8(&buffer).map_err(|_| Error::Signing {
        signer: signer.describe(),
        reason: "the commit is not UTF-8".to_owned(),
    })?;
    repo.commit_signed(content, &signature, None)
        .map_err(git_error("writing a signed commit for"))
}

/// Adds `note` to `commit` on the local notes ref (which mirrors the
/// remote's) and returns the new notes commit.
fn add_note(
    repo: &Repository,
    request: &CommitRequest,
    note: &Note,
    commit: Oid,
    url: &str,
) -> Result<Oid, Error> {
    let git_error = |source| Error::Git {
        url: url.to_owned(),
        operation: "adding a note in",
        source,
    };
    let signature = request.committer.signature().map_err(git_error)?;
    repo.note(
        &signature,
        &signature,
        Some(&note.refname),
        commit,
        &note.message,
        true,
    )
    .map_err(git_error)?;
    repo.refname_to_id(&note.refname).map_err(git_error)
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
            // Most files are as checked out: hash them, and write only what changed.
            let unchanged = before.as_ref().map(git2::TreeEntry::id).filter(|id| {
                Oid::hash_object(git2::ObjectType::Blob, &contents).is_ok_and(|hash| hash == *id)
            });
            let blob = match unchanged {
                Some(id) => id,
                None => repo.blob(&contents).map_err(git_error)?,
            };
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
