//! Which revision of a branch may be applied when commits must be signed:
//! Flux's `--git-verify-signatures-mode`.

use git2::{Oid, Repository, Sort};

use crate::{Error, Mirror, Revision, Verifier};

/// Which commits must carry a good signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyMode {
    /// None: every head is applied.
    None,
    /// Every commit since the last synced revision (all parents of merges too).
    All,
    /// The commits on the first-parent line since the last synced revision.
    FirstParent,
}

/// A commit that did not verify, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unverified {
    /// The commit.
    pub revision: Revision,
    /// Why it did not verify (not signed, unknown key, bad signature, ...).
    pub reason: String,
}

/// What [`Mirror::newest_verified`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// The newest revision that may be applied: the head when everything
    /// verified, else the commit before the oldest one that did not, else
    /// the last synced revision; `None` when nothing may be applied.
    pub verified: Option<Revision>,
    /// The oldest commit that did not verify, if any.
    pub unverified: Option<Unverified>,
    /// How many commits were checked.
    pub checked: usize,
}

impl Mirror {
    /// Checks the signatures of the commits from `since` (the last synced
    /// revision, `None` for the whole history) up to `head`, oldest first, as
    /// Flux did: the newest revision that may be applied is the one before
    /// the first commit that does not verify.
    pub async fn newest_verified(
        &self,
        head: Revision,
        since: Option<Revision>,
        mode: VerifyMode,
        verifier: Verifier,
    ) -> Result<Verification, Error> {
        if mode == VerifyMode::None {
            return Ok(Verification {
                verified: Some(head),
                unverified: None,
                checked: 0,
            });
        }
        self.run("verifying signatures in", 1, move |repo, remote| {
            let url = remote.url().to_string();
            newest_verified(repo, head, since, mode, &verifier).map_err(|source| Error::Git {
                url,
                operation: "verifying signatures in",
                source,
            })
        })
        .await
    }
}

impl Mirror {
    /// Checks the signature of one commit: `Ok(Ok(signer))`, or `Ok(Err(why
    /// not))` when it does not verify.
    pub async fn verify_commit(
        &self,
        revision: Revision,
        verifier: Verifier,
    ) -> Result<Result<String, String>, Error> {
        self.run("verifying a signature in", 0, move |repo, remote| {
            verify_one(repo, revision.oid(), &verifier).map_err(|source| Error::Git {
                url: remote.url().to_string(),
                operation: "verifying a signature in",
                source,
            })
        })
        .await
    }
}

fn verify_one(
    repo: &Repository,
    oid: Oid,
    verifier: &Verifier,
) -> Result<Result<String, String>, git2::Error> {
    match repo.extract_signature(&oid, None) {
        Ok((signature, data)) => Ok(match std::str::from_utf8(&signature) {
            Ok(signature) => verifier.verify(signature, &data),
            Err(_) => Err("the signature is not text".to_owned()),
        }),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(Err("not signed".to_owned())),
        Err(e) => Err(e),
    }
}

fn newest_verified(
    repo: &Repository,
    head: Revision,
    since: Option<Revision>,
    mode: VerifyMode,
    verifier: &Verifier,
) -> Result<Verification, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    if mode == VerifyMode::FirstParent {
        walk.simplify_first_parent()?;
    }
    walk.push(head.oid())?;
    // A marker that is not an ancestor (history rewritten) hides nothing
    // useful: then everything up to the head is checked.
    let since = since.filter(|s| {
        s.oid() == head.oid()
            || repo
                .graph_descendant_of(head.oid(), s.oid())
                .unwrap_or(false)
    });
    if let Some(since) = since {
        walk.hide(since.oid())?;
    }
    let mut verified = since;
    let mut checked = 0;
    for oid in walk {
        let oid: Oid = oid?;
        checked += 1;
        let revision = Revision::from_oid(oid);
        match verify_one(repo, oid, verifier)? {
            Ok(signer) => {
                tracing::debug!(revision = %revision, signer, "signature verified");
                verified = Some(revision);
            }
            Err(reason) => {
                return Ok(Verification {
                    verified,
                    unverified: Some(Unverified { revision, reason }),
                    checked,
                });
            }
        }
    }
    Ok(Verification {
        verified: verified.or(Some(head)),
        unverified: None,
        checked,
    })
}
