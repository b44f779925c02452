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
