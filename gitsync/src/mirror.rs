//! The local mirror of a remote: a bare repository that fetches one branch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use git2::Repository;

use crate::remote::Session;
use crate::{Error, Remote, Revision};

/// Extra time the async watchdog gives a blocking git task beyond its own deadline.
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);

/// How often a caller waiting for the mirror checks whether the operation in
/// progress was abandoned.
const LOCK_POLL: Duration = Duration::from_secs(1);

/// Where a fetch left the branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The branch (the remote's default branch when none was configured).
    pub branch: String,
    /// Its commit.
    pub revision: Revision,
}

/// A bare repository on local disk that mirrors one branch of a [`Remote`].
///
/// Cheap to clone (shared state). Operations on one mirror run one at a time,
/// each in its own blocking task with its own `git2::Repository`.
#[derive(Clone, Debug)]
pub struct Mirror {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    remote: Remote,
    path: PathBuf,
    branch: Option<String>,
    /// Serialises operations on the repository.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Tasks the watchdog gave up on that are still blocked in libgit2.
    abandoned: Arc<AtomicUsize>,
}

impl Mirror {
    /// Opens the mirror at `path`, creating an empty bare repository there if
    /// there is none. `branch` is the branch to follow; `None` follows the
    /// remote's default branch (its `HEAD`).
    ///
    /// Lock files a killed process left in an existing mirror are removed
    /// (logged as warnings), so a mirror directory must not be opened by two
    /// processes, or twice at once.
    pub async fn open(
        remote: Remote,
        path: impl Into<PathBuf>,
        branch: Option<String>,
    ) -> Result<Self, Error> {
        if let Some(branch) = &branch {
            check_branch_name(branch)?;
        }
        crate::timeouts::ensure();
        let path = path.into();
        let url = remote.url().to_string();
        let init_path = path.clone();
        tokio::task::spawn_blocking(move || open_or_init(&init_path))
            .await
            .map_err(|e| Error::Task {
                url,
                operation: "opening the mirror of",
                reason: e.to_string(),
            })??;
        Ok(Self {
            inner: Arc::new(Inner {
                remote,
                path,
                branch,
                lock: Arc::new(tokio::sync::Mutex::new(())),
                abandoned: Arc::new(AtomicUsize::new(0)),
            }),
        })
    }

    /// The remote this mirrors.
    pub fn remote(&self) -> &Remote {
        &self.inner.remote
    }

    /// The bare repository's directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The configured branch, `None` when following the remote's default branch.
    pub fn branch(&self) -> Option<&str> {
        self.inner.branch.as_deref()
    }

    /// Fetches the branch and returns its head. Objects already present are
    /// not downloaded again, so a fetch that finds nothing new costs one
    /// reference listing.
    pub async fn fetch(&self) -> Result<Head, Error> {
        let branch = self.inner.branch.clone();
        self.run("fetch from", 1, move |repo, remote| {
            fetch_head(repo, remote, branch.as_deref())
        })
        .await
    }

    /// The commits reachable from `reference` (a commit id, possibly
    /// abbreviated, or a ref name of the mirror) and not from `applied`,
    /// newest first: what is still to be synced up to `reference`. Empty
    /// when `reference` is `applied` or one of its ancestors.
    pub async fn revisions_between(
        &self,
        applied: Option<Revision>,
        reference: &str,
    ) -> Result<Vec<Revision>, Error> {
        self.revisions_touching(applied, reference, &[]).await
    }

    /// [`revisions_between`](Self::revisions_between), keeping only the
    /// commits that change something under one of `paths` (directories or
    /// files relative to the repository's root, as `--git-path` names them)
    /// against their first parent, as `git log <applied>..<reference> --
    /// <paths>` would list them. No paths, or one that is empty or `.`,
    /// keep every commit.
    pub async fn revisions_touching(
        &self,
        applied: Option<Revision>,
        reference: &str,
        paths: &[String],
    ) -> Result<Vec<Revision>, Error> {
        let reference = reference.to_owned();
        let paths: Vec<String> = paths
            .iter()
            .map(|p| p.trim_matches('/').to_owned())
            .collect();
        let every = paths.is_empty() || paths.iter().any(|p| p.is_empty() || p == ".");
        let url = self.remote().url().to_string();
        self.run("reading the history of", 0, move |repo, _| {
            let not_found = || Error::RevisionNotFound {
                url: url.clone(),
                revision: reference.clone(),
            };
            let target = repo
                .revparse_single(&reference)
                .and_then(|object| object.peel_to_commit())
                .map_err(|_| not_found())?;
            let git = |source| Error::Git {
                url: url.clone(),
                operation: "walking the history of",
                source,
            };
            let mut walk = repo.revwalk().map_err(git)?;
            walk.push(target.id()).map_err(git)?;
            if let Some(applied) = applied {
                // An applied revision the mirror no longer has hides nothing.
                let _ = walk.hide(applied.oid());
            }
            let mut revisions = Vec::new();
            for oid in walk {
                let oid = oid.map_err(git)?;
                if every || touches(repo, oid, &paths).map_err(git)? {
                    revisions.push(Revision::from_oid(oid));
                }
            }
            Ok(revisions)
        })
        .await
    }

    /// Whether `revision` is `ancestor` or one of its descendants: whether a
    /// branch that moved from `ancestor` to `revision` moved forward. A
    /// commit the mirror does not have (gone from the remote with a
    /// rewritten history) is nobody's ancestor: `false`.
    pub async fn descends_from(
        &self,
        revision: Revision,
        ancestor: Revision,
    ) -> Result<bool, Error> {
        if revision == ancestor {
            return Ok(true);
        }
        self.run("reading the history of", 0, move |repo, remote| {
            let git = |source| Error::Git {
                url: remote.url().to_string(),
                operation: "reading the history of",
                source,
            };
            if repo.find_commit(ancestor.oid()).is_err() {
                return Ok(false);
            }
            repo.find_commit(revision.oid()).map_err(git)?;
            repo.graph_descendant_of(revision.oid(), ancestor.oid())
                .map_err(git)
        })
        .await
    }

    /// Runs `work` on the mirror's repository in a blocking task, one at a
    /// time. `network_operations` bounds how many network round trips `work`
    /// makes, for the watchdog: if the task outlives all their timeouts it is
    /// abandoned with a timeout error (libgit2 cannot be interrupted; the task
    /// ends when its connection does, and until then further operations on
    /// this mirror fail with [`Error::StillBlocked`]).
    pub(crate) async fn run<T, F>(
        &self,
        operation: &'static str,
        network_operations: u32,
        work: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Repository, &Remote) -> Result<T, Error> + Send + 'static,
    {
        crate::timeouts::ensure();
        let inner = &self.inner;
        let url = inner.remote.url().to_string();
        let still_blocked = || Error::StillBlocked {
            url: url.clone(),
            operation,
        };
        // Wait for the operation in progress, unless it was abandoned.
        let guard = loop {
            if inner.abandoned.load(Ordering::SeqCst) > 0 {
                return Err(still_blocked());
            }
            if let Ok(guard) =
                tokio::time::timeout(LOCK_POLL, inner.lock.clone().lock_owned()).await
            {
                break guard;
            }
        };
        let watchdog = (inner.remote.timeout() + WATCHDOG_GRACE) * network_operations.max(1);
        let path = inner.path.clone();
        let remote = inner.remote.clone();
        let task_state = Arc::new(std::sync::Mutex::new(TaskState::default()));
        let task = {
            let task_state = task_state.clone();
            let abandoned = inner.abandoned.clone();
            tokio::task::spawn_blocking(move || {
                let result = Repository::open_bare(&path)
                    .map_err(|source| Error::Git {
                        url: path.display().to_string(),
                        operation: "opening the mirror",
                        source,
                    })
                    .and_then(|repo| work(&repo, &remote));
                let mut state = task_state.lock().unwrap_or_else(PoisonError::into_inner);
                state.finished = true;
                if state.abandoned {
                    abandoned.fetch_sub(1, Ordering::SeqCst);
                }
                drop(guard);
                result
            })
        };
        match tokio::time::timeout(watchdog, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::Task {
                url,
                operation,
                reason: join.to_string(),
            }),
            Err(_) => {
                let mut state = task_state.lock().unwrap_or_else(PoisonError::into_inner);
                if !state.finished {
                    state.abandoned = true;
                    inner.abandoned.fetch_add(1, Ordering::SeqCst);
                    tracing::warn!(url = %url, operation, "git task abandoned after its timeout");
                }
                Err(Error::Timeout {
                    url,
                    operation,
                    after: inner.remote.timeout(),
                })
            }
        }
    }
}

/// Whether a blocking task has finished, and whether its watchdog gave up on it.
#[derive(Debug, Default)]
struct TaskState {
    finished: bool,
    abandoned: bool,
}

/// Whether commit `oid` changes anything under `paths` (literal paths,
/// files or directories) against its first parent, or, for a root commit,
/// adds anything there.
fn touches(repo: &Repository, oid: git2::Oid, paths: &[String]) -> Result<bool, git2::Error> {
    let commit = repo.find_commit(oid)?;
    let tree = commit.tree()?;
    let parent = match commit.parents().next() {
        Some(parent) => Some(parent.tree()?),
        None => None,
    };
    let mut options = git2::DiffOptions::new();
    options.disable_pathspec_match(true);
    for path in paths {
        options.pathspec(path);
    }
    let diff = repo.diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut options))?;
    Ok(diff.deltas().len() > 0)
}

fn open_or_init(path: &Path) -> Result<(), Error> {
    let git_error = |operation, source| Error::Git {
        url: path.display().to_string(),
        operation,
        source,
    };
    if path.join("HEAD").is_file() {
        remove_stale_locks(path);
        Repository::open_bare(path).map_err(|e| git_error("opening the mirror", e))?;
        return Ok(());
    }
    std::fs::create_dir_all(path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    Repository::init_bare(path).map_err(|e| git_error("creating a bare mirror", e))?;
    Ok(())
}

/// Removes the `.lock` files of refs and of the repository's own files
/// (libgit2 writes `<file>.lock`, then renames it into place) that a process
/// killed in the middle of a write left in the mirror: each would make every
/// later update of that file fail with "failed to lock file". A mirror is
/// one process's alone, and this runs before it is used, so any lock found
/// now is such a leftover.
fn remove_stale_locks(path: &Path) {
    let mut found: Vec<PathBuf> = ["HEAD", "packed-refs", "config", "FETCH_HEAD", "shallow"]
        .iter()
        .map(|name| path.join(format!("{name}.lock")))
        .filter(|lock| lock.is_file())
        .collect();
    let mut dirs = vec![path.join("refs")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let entry_path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => dirs.push(entry_path),
                Ok(kind)
                    if kind.is_file() && entry_path.extension().is_some_and(|e| e == "lock") =>
                {
                    found.push(entry_path);
                }
                _ => {}
            }
        }
    }
    for lock in found {
        match std::fs::remove_file(&lock) {
            Ok(()) => {
                tracing::warn!(
                    lock = %lock.display(),
                    "removed a lock file left in the mirror by a process that stopped while writing"
                );
            }
            Err(error) => {
                tracing::warn!(lock = %lock.display(), %error, "cannot remove a stale lock file of the mirror");
            }
        }
    }
}

pub(crate) fn check_branch_name(branch: &str) -> Result<(), Error> {
    if branch.starts_with('-') || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(Error::InvalidRefName {
            kind: "branch",
            name: branch.to_owned(),
        });
    }
    Ok(())
}

/// Where a fetch of the remote's `HEAD` is kept.
const REMOTE_HEAD_REF: &str = "refs/gitsync/remote-head";

/// Fetches `branch` (or the remote's default branch) into `refs/heads/<branch>`.
pub(crate) fn fetch_head(
    repo: &Repository,
    remote: &Remote,
    branch: Option<&str>,
) -> Result<Head, Error> {
    fetch_with(repo, remote, branch, &[]).map(|(head, _)| head)
}

/// [`fetch_head`], and in the same fetch the references `extra` (e.g. a
/// notes ref), each kept locally exactly as the remote has it: set when it
/// exists there, deleted when it does not. Returns those that exist.
pub(crate) fn fetch_with(
    repo: &Repository,
    remote: &Remote,
    branch: Option<&str>,
    extra: &[&str],
) -> Result<(Head, HashMap<String, git2::Oid>), Error> {
    let session = Session::new(remote, "fetch from");
    let url = remote.url().to_string();
    let mut git_remote = repo
        .remote_anonymous(&remote.url().libgit2_url())
        .map_err(|e| session.fail(e))?;
    let mut refspecs = vec![match branch {
        Some(branch) => format!("+refs/heads/{branch}:refs/heads/{branch}"),
        None => format!("+HEAD:{REMOTE_HEAD_REF}"),
    }];
    refspecs.extend(extra.iter().map(|name| format!("+{name}:{name}")));
    git_remote
        .fetch(&refspecs, Some(&mut session.fetch_options()), None)
        .map_err(|e| session.fail(e))?;
    let branch = match branch {
        Some(branch) => branch.to_owned(),
        None => {
            let default = git_remote
                .default_branch()
                .map_err(|_| Error::NoDefaultBranch { url: url.clone() })?;
            let name = default
                .as_str()
                .ok()
                .and_then(|name| name.strip_prefix("refs/heads/"))
                .ok_or_else(|| Error::NoDefaultBranch { url: url.clone() })?;
            check_branch_name(name)?;
            name.to_owned()
        }
    };
    let refname = format!("refs/heads/{branch}");
    let heads = git_remote.list().map_err(|e| session.fail(e))?;
    let oid = heads
        .iter()
        .find(|head| head.name() == refname)
        .map(git2::RemoteHead::oid)
        .ok_or_else(|| Error::BranchNotFound {
            url: url.clone(),
            branch: branch.clone(),
        })?;
    let found: HashMap<String, git2::Oid> = heads
        .iter()
        .filter(|head| extra.contains(&head.name()))
        .map(|head| (head.name().to_owned(), head.oid()))
        .collect();
    let git_error = |operation| {
        let url = url.clone();
        move |source| Error::Git {
            url,
            operation,
            source,
        }
    };
    repo.find_commit(oid)
        .map_err(git_error("reading the fetched head of"))?;
    repo.reference(&refname, oid, true, "gitsync: fetch")
        .map_err(git_error("updating the mirror of"))?;
    for name in extra {
        match found.get(*name) {
            Some(oid) => {
                repo.reference(name, *oid, true, "gitsync: fetch")
                    .map_err(git_error("updating the mirror of"))?;
            }
            None => {
                if let Ok(mut stale) = repo.find_reference(name) {
                    stale
                        .delete()
                        .map_err(git_error("updating the mirror of"))?;
                }
            }
        }
    }
    Ok((
        Head {
            branch,
            revision: Revision::from_oid(oid),
        },
        found,
    ))
}
