//! Kubernetes manifests as a GitOps daemon reads them from a git checkout.
//!
//! This crate will own loading a tree of YAML into resources with their source
//! positions, resource ids in Flux's `<namespace>:<kind>/<name>` form, policies and
//! tag filters from annotations, the container images of workloads and
//! HelmReleases, format-preserving edits and checksums; its `cluster` module will
//! apply a set of resources to a cluster with server-side apply.
