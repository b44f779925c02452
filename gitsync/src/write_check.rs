//! Whether the remote takes pushes with these credentials, checked as Flux
//! did: push a uniquely named tag and delete it again.

use ssh_key::rand_core::{OsRng, RngCore};

use crate::mirror::fetch_head;
use crate::push::push_refspec;
use crate::{Error, Mirror};

/// The prefix of the tag the write check pushes and deletes.
pub const WRITE_CHECK_TAG_PREFIX: &str = "flux-write-check-";

impl Mirror {
    /// Pushes a tag named `flux-write-check-<10 hex digits>` at the branch's
    /// head and deletes it. A refusal (a read-only deploy key, a hook that
    /// declines, no permission) is [`Error::NoWriteAccess`] with what the
    /// server said; network trouble is returned as it is (try again later).
    /// A tag that could not be deleted is logged and left.
    pub async fn check_write_access(&self) -> Result<(), Error> {
        let branch = self.branch().map(ToOwned::to_owned);
        self.run("checking write access to", 3, move |repo, remote| {
            let head = fetch_head(repo, remote, branch.as_deref())?;
            let tag = format!(
                "refs/tags/{WRITE_CHECK_TAG_PREFIX}{:010x}",
                OsRng.next_u64() & 0xff_ffff_ffff
            );
            match push_refspec(repo, remote, &format!("{}:{tag}", head.revision)) {
                Ok(()) => {}
                // The fetch just now worked: only a timeout is not a refusal.
                Err(error @ (Error::Timeout { .. } | Error::StillBlocked { .. })) => {
                    return Err(error);
                }
                Err(error) => {
                    let reason = match error {
                        Error::PushRejected { reason, .. } => reason,
                        Error::Git { source, .. } => source.message().trim().to_owned(),
                        Error::Auth { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    return Err(Error::NoWriteAccess {
                        url: remote.url().to_string(),
                        reason,
                    });
                }
            }
            if let Err(error) = push_refspec(repo, remote, &format!(":{tag}")) {
                tracing::warn!(url = %remote.url(), tag, %error, "could not delete the write-check tag");
            }
            tracing::debug!(url = %remote.url(), tag, "write access checked");
            Ok(())
        })
        .await
    }
}
