//! Kubernetes manifests as a GitOps daemon reads them from a git checkout.
//!
//! This crate owns loading a tree of YAML into resources with their source
//! positions ([`Source`]), resource ids in Flux's `<namespace>:<kind>/<name>`
//! form ([`ResourceId`]), policies and tag filters from annotations, the
//! container images of workloads and HelmReleases, format-preserving edits and
//! checksums; its `cluster` module will apply a set of resources to a cluster
//! with server-side apply.

mod error;
mod id;
mod source;

pub mod edit;
mod filter;
pub mod images;
pub mod policy;

pub use error::Error;
pub use id::{CLUSTER_SCOPE, ResourceId};
pub use source::Source;

pub use filter::{SemverConstraint, TagCandidate, TagFilter, TagRanking};
pub use images::{ContainerImage, ImageFields, PathSegment};
pub use policy::{Ignore, Policies, Policy};
