//! Container registries, polled cheaply and politely.
//!
//! Image automation needs, for every image repository the cluster's workloads
//! use, each tag's digest and creation time. This crate owns getting them:
//!
//! - [`ImageRef`] and [`Repository`]: references parsed and normalised the way
//!   Docker does (`nginx` is `docker.io/library/nginx`), with errors that name
//!   the reference.
//! - [`Credentials`]: the data of `kubernetes.io/dockerconfigjson` and
//!   `kubernetes.io/dockercfg` pull secrets and docker `config.json` files,
//!   matched to a repository by host as Docker matches them.
//! - [`RegistryClient`]: a small registry v2 / OCI distribution client over
//!   reqwest (rustls): tag lists with `Link` paging, manifests (Docker v2,
//!   OCI, manifest lists and indexes resolved to a [`Platform`]), config
//!   blobs; anonymous, basic and bearer-token auth; a global rate limit and
//!   `429`/`Retry-After`; [`RequestCounts`] by kind.
//! - [`Poller`]: keeps the set of repositories in use fresh on an interval,
//!   include/exclude globs, a cache keyed by digest (optionally in a file),
//!   and publishes a [`Snapshot`] per repository (tags, last success, last
//!   error) that readers take without waiting on the network.
//!
//! An unchanged repository costs one request per poll (its tag list); a new
//! tag whose digest is already known costs one (its manifest); a new image two
//! (manifest and config), three for an index. Known tags are re-checked with
//! one `HEAD` each every [`PollerConfig::tag_recheck_interval`] in case they
//! moved.
//!
//! It knows nothing of manifests or policies: which tag to deploy is decided
//! elsewhere from the snapshot.
//!
//! ```
//! use registry_poller::ImageRef;
//!
//! let image = ImageRef::parse("nginx:1.25")?;
//! assert_eq!(image.to_string(), "docker.io/library/nginx:1.25");
//! assert_eq!(image.repository().path(), "library/nginx");
//! assert_eq!(image.familiar(), "nginx:1.25");
//! # Ok::<(), registry_poller::Error>(())
//! ```

mod auth;
mod cache;
mod client;
mod credentials;
mod digest;
mod error;
mod manifest;
mod poller;
mod ratelimit;
mod reference;
mod snapshot;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use cache::CACHE_FILE_VERSION;
pub use client::{
    ClientConfig, DEFAULT_MAX_TAG_LIST_BYTES, DEFAULT_MAX_TAGS, FetchedManifest, RegistryClient,
    RequestCounts,
};
pub use credentials::{BasicAuth, Credentials, DOCKER_CFG_TYPE, DOCKER_CONFIG_JSON_TYPE};
pub use digest::Digest;
pub use error::Error;
pub use manifest::{
    DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, ManifestKind, OCI_INDEX, OCI_MANIFEST, Platform,
};
pub use poller::{FetchKind, FetchObserver, PollRound, Poller, PollerConfig};
pub use ratelimit::MAX_RETRY_AFTER;
pub use reference::{DOCKER_HUB, DOCKER_HUB_API_HOST, ImageRef, Repository};
pub use snapshot::{PollError, RepositorySnapshot, Snapshot, TagInfo};

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
