//! Kubernetes manifests as a GitOps daemon reads them from a git checkout.
//!
//! This crate owns loading a tree of YAML into resources with their source
//! positions ([`SourceLocation`]), resource ids in Flux's `<namespace>:<kind>/<name>`
//! form ([`ResourceId`]), policies and tag filters from annotations, the
//! container images of workloads and HelmReleases, format-preserving edits and
//! checksums. Its [`cluster`] module (feature `cluster`) applies a set of
//! resources to a cluster with server-side apply; it is the only part of the
//! crate that talks to the Kubernetes API.

mod checksum;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod edit;
mod error;
mod filter;
mod id;
pub mod images;
mod load;
pub mod names;
pub mod policy;
mod resource;
mod scope;
mod source;
pub mod stack;

pub use checksum::Checksum;
pub use error::Error;
pub use filter::{SemverConstraint, TagCandidate, TagFilter, TagRanking};
pub use id::{CLUSTER_SCOPE, ResourceId};
pub use images::{ContainerImage, ImageFields, PathSegment};
pub use load::{LoadOptions, Loaded, Loader, load};
pub use policy::{Ignore, Policies, Policy};
pub use resource::Resource;
pub use scope::{ClusterScopedKinds, GroupKind, api_group};
pub use source::SourceLocation;

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
