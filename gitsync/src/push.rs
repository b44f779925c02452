//! Pushing references, with both ways a rejection shows up checked, and
//! asking the remote where its references are (`git ls-remote`).

use std::collections::HashMap;

use git2::{Direction, ErrorCode, Oid, Repository};

use crate::remote::Session;
use crate::{Error, Remote};

/// Pushes `refspec` (`[+]<src>:<dst>`). A rejection is [`Error::PushRejected`]
/// whether libgit2 refused it locally (an `Err` from `push()`, e.g. not a
/// fast-forward of what the remote advertised) or the server refused it (a
/// status in `push_update_reference`).
pub(crate) fn push_refspec(repo: &Repository, remote: &Remote, refspec: &str) -> Result<(), Error> {
    let rejections = push_refspecs(repo, remote, &[refspec.to_owned()])?;
    match rejections.into_iter().next() {
        Some(rejection) => Err(rejection.into_error(remote)),
        None => Ok(()),
    }
}

/// A reference the server refused to update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// The reference.
    pub refname: String,
    /// The server's status, with what it printed (a hook's message).
    pub reason: String,
}

impl Rejection {
    pub(crate) fn into_error(self, remote: &Remote) -> Error {
        Error::PushRejected {
            url: remote.url().to_string(),
            refname: self.refname,
            reason: self.reason,
        }
    }
}

/// Pushes `refspecs` in one push. `Ok` lists the references the server
/// refused (empty: all updated); `Err` is a failure of the whole push (the
/// transport, or libgit2's refusal of a non-fast-forward before sending).
pub(crate) fn push_refspecs(
    repo: &Repository,
    remote: &Remote,
    refspecs: &[String],
) -> Result<Vec<Rejection>, Error> {
    let session = Session::new(remote, "push to");
    push_in_session(repo, remote, refspecs, &session)
}

/// What a push with a lease ([`push_with_lease`]) found.
#[derive(Debug)]
pub(crate) enum LeasedPush {
    /// The reference was where expected and now is updated.
    Pushed,
    /// The remote had the reference at this target instead (zero: absent);
    /// nothing was sent.
    Moved(Oid),
}

/// Pushes `refspec`, whose destination `refname` the remote must still have
/// at `expected` (zero: absent). A server that finds it moved between the
/// negotiation and the update refuses too (it checks the old value), which
/// shows as [`Error::PushRejected`].
pub(crate) fn push_with_lease(
    repo: &Repository,
    remote: &Remote,
    refspec: &str,
    refname: &str,
    expected: Oid,
) -> Result<LeasedPush, Error> {
    let session = Session::new(remote, "push to");
    session.set_lease(refname, expected);
    match push_in_session(repo, remote, &[refspec.to_owned()], &session) {
        Ok(rejections) => match rejections.into_iter().next() {
            Some(rejection) => Err(rejection.into_error(remote)),
            None => Ok(LeasedPush::Pushed),
        },
        Err(error) => match session.lease_broken() {
            Some(found) => Ok(LeasedPush::Moved(found)),
            None => Err(error),
        },
    }
}

fn push_in_session(
    repo: &Repository,
    remote: &Remote,
    refspecs: &[String],
    session: &Session<'_>,
) -> Result<Vec<Rejection>, Error> {
    let url = remote.url().to_string();
    let mut git_remote = repo
        .remote_anonymous(&remote.url().libgit2_url())
        .map_err(|e| session.fail(e))?;
    let result = {
        let mut options = session.push_options();
        let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
        git_remote.push(&specs, Some(&mut options))
    };
    if let Err(error) = result {
        if error.code() == ErrorCode::NotFastForward {
            let refname = first_destination(refspecs);
            return Err(Error::PushRejected {
                url,
                refname,
                reason: format!("non-fast-forward ({})", error.message()),
            });
        }
        if error.message().contains("failed to lock file") {
            // A local (file://) remote whose reference another writer
            // holds, or a killed one left locked.
            let refname = first_destination(refspecs);
            return Err(Error::PushRejected {
                url,
                refname,
                reason: explain_stale_lock(error.message().to_owned()),
            });
        }
        return Err(session.fail(error));
    }
    let messages = session.remote_messages();
    Ok(session
        .take_rejections()
        .into_iter()
        .map(|(refname, status)| Rejection {
            refname,
            reason: explain_stale_lock(if messages.is_empty() {
                status
            } else {
                format!("{status} (remote: {messages})")
            }),
        })
        .collect())
}

/// The destination reference of the first refspec (`[+]<src>:<dst>`).
fn first_destination(refspecs: &[String]) -> String {
    refspecs
        .first()
        .and_then(|spec| spec.rsplit_once(':'))
        .map_or_else(String::new, |(_, dst)| dst.to_owned())
}

/// How old a lock file in a local remote must be to be called stale: a
/// reference update holds its lock for milliseconds.
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(60);

/// `reason`, and when it names a lock file of a local remote that has been
/// there for longer than [`STALE_LOCK`], what to do about it: a process
/// killed while it wrote the reference left it, and every later push of
/// that reference fails until someone removes it. gitsync does not remove
/// it itself: the repository is not its own, and another writer may hold it.
fn explain_stale_lock(reason: String) -> String {
    let Some(path) = reason
        .split_once("failed to lock file '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(path, _)| std::path::PathBuf::from(path))
    else {
        return reason;
    };
    let age = std::fs::metadata(&path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok());
    match age {
        Some(age) if age >= STALE_LOCK => format!(
            "{reason}; {} has been there for {} s, so a git process that was killed while \
             writing this reference probably left it: if nothing else writes to the \
             repository, remove that file",
            path.display(),
            age.as_secs()
        ),
        _ => reason,
    }
}

/// Where the remote's references named `names` point (absent ones left out).
pub(crate) fn remote_refs(
    repo: &Repository,
    remote: &Remote,
    names: &[&str],
) -> Result<HashMap<String, Oid>, Error> {
    let session = Session::new(remote, "listing the references of");
    let mut git_remote = repo
        .remote_anonymous(&remote.url().libgit2_url())
        .map_err(|e| session.fail(e))?;
    let connection = git_remote
        .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
        .map_err(|e| session.fail(e))?;
    let heads = connection.list().map_err(|e| session.fail(e))?;
    Ok(heads
        .iter()
        .filter(|head| names.contains(&head.name()))
        .map(|head| (head.name().to_owned(), head.oid()))
        .collect())
}

/// Whether a rejection means the remote moved under us, so fetching and
/// building the change again may succeed.
pub(crate) fn remote_moved(error: &Error) -> bool {
    let Error::PushRejected { reason, .. } = error else {
        return false;
    };
    reason_says_moved(reason)
}

/// Whether a server's status for one reference means it moved meanwhile.
pub(crate) fn reason_says_moved(reason: &str) -> bool {
    [
        "non-fast-forward",
        "fetch first",
        "stale info",
        "cannot lock ref",
        "failed to lock",
        "failed to update ref",
    ]
    .iter()
    .any(|needle| reason.contains(needle))
}

/// Whether a failed push may have landed all the same: the connection broke
/// or timed out after the server may have received everything.
pub(crate) fn may_have_landed(error: &Error) -> bool {
    match error {
        Error::Timeout { .. } => true,
        Error::Git { source, .. } => matches!(
            source.class(),
            git2::ErrorClass::Net
                | git2::ErrorClass::Http
                | git2::ErrorClass::Ssh
                | git2::ErrorClass::Os
                | git2::ErrorClass::Ssl
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(reason: &str) -> Error {
        Error::PushRejected {
            url: "file:///repo".to_owned(),
            refname: "refs/heads/main".to_owned(),
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn a_stale_lock_in_a_local_remote_is_named_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("flux-sync.lock");
        std::fs::write(&lock, "").unwrap();
        let reason = format!("failed to lock file '{}' for writing: ", lock.display());
        // A fresh lock: another writer holds it; the reason stays as it was.
        assert_eq!(explain_stale_lock(reason.clone()), reason);
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
        std::fs::File::options()
            .write(true)
            .open(&lock)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let explained = explain_stale_lock(reason.clone());
        assert!(explained.starts_with(&reason), "{explained}");
        assert!(explained.contains("remove that file"), "{explained}");
        assert!(
            explained.contains(&lock.display().to_string()),
            "{explained}"
        );
        // Still a moved remote for the retry (the lock may be released).
        assert!(reason_says_moved(&explained));
        // No path, or one that is gone: unchanged.
        assert_eq!(
            explain_stale_lock("pre-receive hook declined".into()),
            "pre-receive hook declined"
        );
        std::fs::remove_file(&lock).unwrap();
        assert_eq!(explain_stale_lock(reason.clone()), reason);
    }

    #[test]
    fn only_a_moved_remote_is_retried() {
        assert!(remote_moved(&rejected("non-fast-forward (cannot push)")));
        assert!(remote_moved(&rejected("failed to update ref")));
        // Another writer holds the reference's lock (libgit2's local transport).
        assert!(remote_moved(&rejected(
            "failed to lock file '/srv/origin.git/refs/heads/main.lock' for writing: "
        )));
        assert!(!remote_moved(&rejected("pre-receive hook declined")));
        assert!(!remote_moved(&rejected("deny updating a hidden ref")));
        assert!(!remote_moved(&Error::InvalidRevision("x".to_owned())));
    }
}
