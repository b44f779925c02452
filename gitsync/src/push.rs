//! Pushing one reference, with both ways a rejection shows up checked.

use git2::{ErrorCode, Repository};

use crate::remote::Session;
use crate::{Error, Remote};

/// Pushes `refspec` (`[+]<src>:<dst>`). A rejection is [`Error::PushRejected`]
/// whether libgit2 refused it locally (an `Err` from `push()`, e.g. not a
/// fast-forward of what the remote advertised) or the server refused it (a
/// status in `push_update_reference`).
pub(crate) fn push_refspec(repo: &Repository, remote: &Remote, refspec: &str) -> Result<(), Error> {
    let session = Session::new(remote, "push to");
    let url = remote.url().to_string();
    let destination = refspec
        .rsplit_once(':')
        .map_or(refspec, |(_, destination)| destination)
        .to_owned();
    let mut git_remote = repo
        .remote_anonymous(&remote.url().libgit2_url())
        .map_err(|e| session.fail(e))?;
    let result = {
        let mut options = session.push_options();
        git_remote.push(&[refspec], Some(&mut options))
    };
    if let Err(error) = result {
        if error.code() == ErrorCode::NotFastForward {
            return Err(Error::PushRejected {
                url,
                refname: destination,
                reason: format!("non-fast-forward ({})", error.message()),
            });
        }
        return Err(session.fail(error));
    }
    if let Some((refname, reason)) = session.take_rejections().into_iter().next() {
        return Err(Error::PushRejected {
            url,
            refname,
            reason,
        });
    }
    Ok(())
}

/// Whether a rejection means the remote moved under us, so fetching and
/// building the change again may succeed.
pub(crate) fn remote_moved(error: &Error) -> bool {
    let Error::PushRejected { reason, .. } = error else {
        return false;
    };
    [
        "non-fast-forward",
        "fetch first",
        "stale info",
        "cannot lock ref",
        "failed to update ref",
    ]
    .iter()
    .any(|needle| reason.contains(needle))
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
    fn only_a_moved_remote_is_retried() {
        assert!(remote_moved(&rejected("non-fast-forward (cannot push)")));
        assert!(remote_moved(&rejected("failed to update ref")));
        assert!(!remote_moved(&rejected("pre-receive hook declined")));
        assert!(!remote_moved(&rejected("deny updating a hidden ref")));
        assert!(!remote_moved(&Error::InvalidRevision("x".to_owned())));
    }
}
