//! What the poller knows, readable at any time without waiting on the network.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::digest::Digest;
use crate::reference::Repository;

/// An image's facts, shared (one allocation) by every tag that points at it
/// and by the poller's digest cache.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Image {
    pub(crate) digest: Digest,
    pub(crate) created: Option<SystemTime>,
}

/// One tag of a repository: the digest it points at and when that image was
/// created (for an index, the selected platform's image).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagInfo {
    name: Box<str>,
    image: Arc<Image>,
}

impl TagInfo {
    /// A tag.
    pub fn new(name: impl Into<Box<str>>, digest: Digest, created: Option<SystemTime>) -> Self {
        Self::shared(name, Arc::new(Image { digest, created }))
    }

    /// A tag of an image other tags may share.
    pub(crate) fn shared(name: impl Into<Box<str>>, image: Arc<Image>) -> Self {
        Self {
            name: name.into(),
            image,
        }
    }

    /// The tag.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The manifest digest the tag points at.
    pub fn digest(&self) -> &Digest {
        &self.image.digest
    }

    /// The image's `created` time, if its config has one.
    pub fn created(&self) -> Option<SystemTime> {
        self.image.created
    }
}

/// An error from the last poll of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollError {
    /// What went wrong (names the registry, URL or tag; never a secret).
    pub message: String,
    /// When.
    pub at: SystemTime,
}

/// The tags of one repository and how its polling goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepositorySnapshot {
    tags: Arc<[TagInfo]>,
    last_success: Option<SystemTime>,
    last_error: Option<PollError>,
}

impl RepositorySnapshot {
    pub(crate) fn new(
        tags: Arc<[TagInfo]>,
        last_success: Option<SystemTime>,
        last_error: Option<PollError>,
    ) -> Self {
        Self {
            tags,
            last_success,
            last_error,
        }
    }

    /// Every known tag, sorted by name. Tags whose image could not be read
    /// are missing (the error says which).
    pub fn tags(&self) -> &[TagInfo] {
        &self.tags
    }

    pub(crate) fn shared_tags(&self) -> &Arc<[TagInfo]> {
        &self.tags
    }

    /// One tag by name.
    pub fn tag(&self, name: &str) -> Option<&TagInfo> {
        self.tags
            .binary_search_by(|t| t.name().cmp(name))
            .ok()
            .map(|i| &self.tags[i])
    }

    /// When every tag was last read without error.
    pub fn last_success(&self) -> Option<SystemTime> {
        self.last_success
    }

    /// The error of the last poll, if it had one; cleared by a clean poll.
    pub fn last_error(&self) -> Option<&PollError> {
        self.last_error.as_ref()
    }
}

/// Every polled repository, as of one moment. Cheap to clone and keep.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Snapshot {
    pub(crate) repositories: BTreeMap<Repository, Arc<RepositorySnapshot>>,
}

impl Snapshot {
    /// The repository's tags and status, if it is polled.
    pub fn repository(&self, repository: &Repository) -> Option<&Arc<RepositorySnapshot>> {
        self.repositories.get(repository)
    }

    /// Every polled repository, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Repository, &Arc<RepositorySnapshot>)> {
        self.repositories.iter()
    }

    /// How many repositories are polled.
    pub fn len(&self) -> usize {
        self.repositories.len()
    }

    /// Whether no repository is polled.
    pub fn is_empty(&self) -> bool {
        self.repositories.is_empty()
    }

    /// Number of tags over all repositories.
    pub fn tag_count(&self) -> usize {
        self.repositories.values().map(|r| r.tags.len()).sum()
    }
}
