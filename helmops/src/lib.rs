//! A Helm operator for Flux's HelmRelease resources.
//!
//! This crate will own the HelmRelease kinds of every Flux v1 era
//! (`flux.weave.works/v1beta1`, `helm.fluxcd.io/v1` and the legacy
//! `FluxHelmRelease` in `helm.integrations.flux.weave.works/v1alpha2`) behind one
//! internal model, their CRDs, chart sources (git paths through `gitsync`, Helm
//! chart repositories, OCI), values assembly (`valueFileSecrets`, `valuesFrom`,
//! `values`), the `helm` subprocess, and the release reconciler with its status
//! and events.
