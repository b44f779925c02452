//! The sync marker: where the last successful sync left off.
//!
//! [`SyncMarker`] is the storage (a git tag here; the daemon adds a Kubernetes
//! Secret annotation elsewhere). [`MarkerTracker`] wraps one and remembers the
//! revision it last saw or set, so a marker moved by someone else is noticed
//! and reported as [`MarkerUpdate::MovedByOther`].

use futures::future::BoxFuture;

use crate::commit::Identity;
use crate::mirror::{check_branch_name, fetch_head};
use crate::push::{LeasedPush, push_with_lease, remote_moved};
use crate::remote::Session;
use crate::{Error, Mirror, Revision, Signer};

/// Flux's default sync tag (`--git-sync-tag`).
pub const DEFAULT_SYNC_TAG: &str = "flux-sync";

/// How many times [`MarkerTracker::advance`] reads and writes the marker
/// again when another writer moves it in between.
pub const MAX_MARKER_ATTEMPTS: u32 = 3;

/// The message of the annotated tag, as Flux wrote it.
const TAG_MESSAGE: &str = "Sync pointer";

/// Storage for the revision of the last successful sync.
///
/// Implementations outside this crate wrap their errors in [`Error::Marker`].
pub trait SyncMarker: Send + Sync {
    /// The revision the marker points at, `None` if there is no marker yet.
    fn read(&self) -> BoxFuture<'_, Result<Option<Revision>, Error>>;

    /// Moves the marker from `expected` (`None`: no marker) to `revision`,
    /// creating it if needed, only if it is still at `expected`: a marker
    /// found elsewhere is [`Error::MarkerConflict`] and nothing is written.
    /// The check and the write are one step against other writers (a
    /// resourceVersion, a push's expected old target), so two writers never
    /// overwrite each other blindly.
    fn write(
        &self,
        expected: Option<Revision>,
        revision: Revision,
    ) -> BoxFuture<'_, Result<(), Error>>;

    /// Where the marker lives, for logs (no secrets).
    fn describe(&self) -> String;
}

/// Forwards [`SyncMarker`] through a smart pointer (`Box<dyn SyncMarker>`, `Arc<...>`).
macro_rules! forward_sync_marker {
    ($($pointer:ident)::+) => {
        impl<M: SyncMarker + ?Sized> SyncMarker for $($pointer)::+<M> {
            fn read(&self) -> BoxFuture<'_, Result<Option<Revision>, Error>> {
                (**self).read()
            }

            fn write(
                &self,
                expected: Option<Revision>,
                revision: Revision,
            ) -> BoxFuture<'_, Result<(), Error>> {
                (**self).write(expected, revision)
            }

            fn describe(&self) -> String {
                (**self).describe()
            }
        }
    };
}

forward_sync_marker!(Box);
forward_sync_marker!(std::sync::Arc);

/// The marker as an annotated tag in the remote repository, moved to each
/// synced revision and pushed (Flux's `--sync-state git`) with a lease: the
/// push names the tag's old target, so it fails if another writer moved the
/// tag since it was read (`git push --force-with-lease`).
#[derive(Clone, Debug)]
pub struct GitTagMarker {
    mirror: Mirror,
    tag: String,
    tagger: Identity,
    signer: Option<Signer>,
}

impl GitTagMarker {
    /// A marker named `tag` (e.g. [`DEFAULT_SYNC_TAG`]) in the mirror's remote,
    /// tagged by `tagger`.
    pub fn new(mirror: Mirror, tag: &str, tagger: Identity) -> Result<Self, Error> {
        if tag.starts_with('-') || !git2::Reference::is_valid_name(&format!("refs/tags/{tag}")) {
            return Err(Error::InvalidRefName {
                kind: "tag",
                name: tag.to_owned(),
            });
        }
        // A tag name is also checked like a branch name (no `..`, no `@{`).
        check_branch_name(tag).map_err(|_| Error::InvalidRefName {
            kind: "tag",
            name: tag.to_owned(),
        })?;
        Ok(Self {
            mirror,
            tag: tag.to_owned(),
            tagger,
            signer: None,
        })
    }

    /// Signs the tag (GPG or ssh, as commits are signed).
    #[must_use]
    pub fn with_signer(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The tag's name.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    async fn read_tag(&self) -> Result<Option<Revision>, Error> {
        let refname = format!("refs/tags/{}", self.tag);
        self.mirror
            .run("reading the sync tag from", 1, move |repo, remote| {
                remote_tag(repo, remote, &refname).map(|(_, revision)| revision)
            })
            .await
    }

    async fn write_tag(&self, expected: Option<Revision>, revision: Revision) -> Result<(), Error> {
        let tag = self.tag.clone();
        let tagger = self.tagger.clone();
        let signer = self.signer.clone();
        let branch = self.mirror.branch().map(ToOwned::to_owned);
        let describe = self.describe();
        self.mirror
            .run("moving the sync tag in", 2, move |repo, remote| {
                let url = remote.url().to_string();
                let git_error = |source| Error::Git {
                    url: url.clone(),
                    operation: "moving the sync tag in",
                    source,
                };
                let refname = format!("refs/tags/{tag}");
                // Where the remote has the tag now, and the commit it names.
                let (current, found) = remote_tag(repo, remote, &refname)?;
                if found != expected {
                    return Err(conflict(&describe, expected, &revision_text(found)));
                }
                let target = match repo.find_object(revision.oid(), None) {
                    Ok(object) => object,
                    Err(_) => {
                        // Not fetched yet (e.g. after a restart): fetch, then look again.
                        fetch_head(repo, remote, branch.as_deref())?;
                        repo.find_object(revision.oid(), None).map_err(|_| {
                            Error::RevisionNotFound {
                                url: url.clone(),
                                revision: revision.to_string(),
                            }
                        })?
                    }
                };
                let signature = tagger.signature().map_err(git_error)?;
                match &signer {
                    None => {
                        repo.tag(&tag, &target, &signature, TAG_MESSAGE, true)
                            .map_err(git_error)?;
                    }
                    Some(signer) => {
                        let oid = signed_tag(repo, &tag, &target, &signature, signer)?;
                        repo.reference(&refname, oid, true, "gitsync: sync tag")
                            .map_err(git_error)?;
                    }
                }
                let refspec = format!("+{refname}:{refname}");
                match push_with_lease(repo, remote, &refspec, &refname, current) {
                    Ok(LeasedPush::Pushed) => {}
                    Ok(LeasedPush::Moved(found)) => {
                        return Err(conflict(
                            &describe,
                            expected,
                            &format!("tag object {found}"),
                        ));
                    }
                    Err(error) if remote_moved(&error) => {
                        return Err(conflict(&describe, expected, &error.to_string()));
                    }
                    Err(error) => return Err(error),
                }
                tracing::debug!(url = %url, tag = %tag, revision = %revision, "moved sync tag");
                Ok(())
            })
            .await
    }
}

/// The remote's target of `refname` (zero when absent) and the commit it
/// peels to, fetching the tag so it can be peeled here.
fn remote_tag(
    repo: &git2::Repository,
    remote: &crate::Remote,
    refname: &str,
) -> Result<(git2::Oid, Option<Revision>), Error> {
    let session = Session::new(remote, "reading the sync tag from");
    let mut git_remote = repo
        .remote_anonymous(&remote.url().libgit2_url())
        .map_err(|e| session.fail(e))?;
    git_remote
        .fetch(
            &[format!("+{refname}:{refname}")],
            Some(&mut session.fetch_options()),
            None,
        )
        .map_err(|e| session.fail(e))?;
    let heads = git_remote.list().map_err(|e| session.fail(e))?;
    let Some(current) = heads
        .iter()
        .find(|h| h.name() == refname)
        .map(git2::RemoteHead::oid)
    else {
        return Ok((git2::Oid::ZERO_SHA1, None));
    };
    let commit = repo
        .find_object(current, None)
        .and_then(|object| object.peel_to_commit())
        .map_err(|source| Error::Git {
            url: remote.url().to_string(),
            operation: "reading the sync tag from",
            source,
        })?;
    Ok((current, Some(Revision::from_oid(commit.id()))))
}

fn revision_text(revision: Option<Revision>) -> String {
    revision.map_or_else(|| "none".to_owned(), |r| r.to_string())
}

fn conflict(marker: &str, expected: Option<Revision>, found: &str) -> Error {
    Error::MarkerConflict {
        marker: marker.to_owned(),
        expected: revision_text(expected),
        found: found.to_owned(),
    }
}

/// Writes an annotated tag object signed by `signer`, as `git tag -s` does:
/// the signature follows the message.
fn signed_tag(
    repo: &git2::Repository,
    name: &str,
    target: &git2::Object<'_>,
    tagger: &git2::Signature<'_>,
    signer: &Signer,
) -> Result<git2::Oid, Error> {
    let kind = target
        .kind()
        .and_then(|k| k.str().parse().ok())
        .unwrap_or_else(|| "commit".to_owned());
    let when = tagger.when();
    let offset = when.offset_minutes();
    let sign = if offset < 0 { '-' } else { '+' };
    let payload = format!(
        "object {}\ntype {kind}\ntag {name}\ntagger {} <{}> {} {sign}{:02}{:02}\n\n{TAG_MESSAGE}\n",
        target.id(),
        String::from_utf8_lossy(tagger.name_bytes()),
        String::from_utf8_lossy(tagger.email_bytes()),
        when.seconds(),
        offset.abs() / 60,
        offset.abs() % 60,
    );
    let signature = signer.sign(payload.as_bytes())?;
    let object = format!("{payload}{signature}");
    repo.odb()
        .and_then(|odb| odb.write(git2::ObjectType::Tag, object.as_bytes()))
        .map_err(|source| Error::Git {
            url: repo.path().display().to_string(),
            operation: "writing a signed tag in",
            source,
        })
}

impl SyncMarker for GitTagMarker {
    fn read(&self) -> BoxFuture<'_, Result<Option<Revision>, Error>> {
        Box::pin(self.read_tag())
    }

    fn write(
        &self,
        expected: Option<Revision>,
        revision: Revision,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.write_tag(expected, revision))
    }

    fn describe(&self) -> String {
        format!("tag {} in {}", self.tag, self.mirror.remote().url())
    }
}

/// What [`MarkerTracker::advance`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarkerUpdate {
    /// The marker was where this tracker left it and now points at `to`.
    Moved {
        /// Where it was (`None`: there was no marker).
        from: Option<Revision>,
        /// Where it is now.
        to: Revision,
    },
    /// The marker already pointed at the revision; nothing was written.
    Unchanged {
        /// The revision.
        at: Revision,
    },
    /// Someone else moved (or deleted) the marker since this tracker last saw
    /// it. It now points at `to` all the same; the daemon should log this.
    MovedByOther {
        /// Where this tracker left it.
        expected: Option<Revision>,
        /// Where it was found.
        found: Option<Revision>,
        /// Where it is now.
        to: Revision,
    },
}

/// A [`SyncMarker`] plus the revision it was last seen at.
#[derive(Debug)]
pub struct MarkerTracker<M> {
    marker: M,
    last_seen: Option<Revision>,
}

impl<M: SyncMarker> MarkerTracker<M> {
    /// A tracker that has not read the marker yet; call [`Self::resume`] first.
    pub fn new(marker: M) -> Self {
        Self {
            marker,
            last_seen: None,
        }
    }

    /// Reads the marker at start-up: the revision the next sync resumes from.
    pub async fn resume(&mut self) -> Result<Option<Revision>, Error> {
        let current = self.marker.read().await?;
        self.last_seen = current;
        Ok(current)
    }

    /// The revision the marker was last seen at or moved to.
    pub fn last_seen(&self) -> Option<Revision> {
        self.last_seen
    }

    /// The marker.
    pub fn marker(&self) -> &M {
        &self.marker
    }

    /// After a sync of `to`: reads the marker, reports whether someone else
    /// moved it, and moves it to `to` unless it is there already.
    ///
    /// The write is conditional on what was just read
    /// ([`SyncMarker::write`]): if another writer moves the marker between
    /// the read and the write, nothing is overwritten; the marker is read
    /// again and the move reported, up to [`MAX_MARKER_ATTEMPTS`] times.
    pub async fn advance(&mut self, to: Revision) -> Result<MarkerUpdate, Error> {
        let expected = self.last_seen;
        let mut attempt = 1;
        let found = loop {
            let found = self.marker.read().await?;
            if found == Some(to) {
                break found;
            }
            match self.marker.write(found, to).await {
                Ok(()) => break found,
                Err(error @ Error::MarkerConflict { .. }) => {
                    if attempt >= MAX_MARKER_ATTEMPTS {
                        return Err(error);
                    }
                    tracing::info!(marker = %self.marker.describe(), %error, "the sync marker moved while it was being written; reading it again");
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        };
        self.last_seen = Some(to);
        Ok(if found != expected {
            MarkerUpdate::MovedByOther {
                expected,
                found,
                to,
            }
        } else if found == Some(to) {
            MarkerUpdate::Unchanged { at: to }
        } else {
            MarkerUpdate::Moved { from: found, to }
        })
    }
}
