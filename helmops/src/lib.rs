//! A Helm operator for Flux's HelmRelease resources.
//!
//! This crate owns the HelmRelease kinds of every Flux v1 era and turns them
//! into Helm releases with the real `helm` binary:
//!
//! - [`api`]: the custom resources (`flux.weave.works/v1beta1` HelmRelease,
//!   `helm.fluxcd.io/v1` HelmRelease, legacy `helm.integrations.flux.weave.works/v1alpha2`
//!   FluxHelmRelease) and their shared status; [`crd`] renders their CRDs (the
//!   checked-in `deploy/crds/*.yaml` come from it).
//! - [`model`]: the one internal model all three kinds convert to.
//! - [`values`]: assembling values (`valueFileSecrets`, then `valuesFrom`, then
//!   `values`, deep-merged).
//! - [`gitcharts`]: git chart sources over `gitsync` mirrors.
//! - [`chartrepo`]: a Helm chart repository client (index cache, digest check,
//!   basic auth); [`chart`] resolves a chart source to a directory or archive
//!   with a content checksum.
//! - [`helm`]: the `helm` subprocess, Helm 3 and Helm 4, JSON output parsed.
//! - [`checksum`] and [`decision`]: whether a release needs helm at all,
//!   decided from its status and the [`storage`] watch of Helm's own release
//!   records, so an unchanged release costs no helm call.
//! - [`reconcile`] and [`operator`]: the reconciler (helm-operator 1.4's
//!   release cycle, phases, conditions and Events, back-off of failed
//!   releases, recovery of interrupted ones), the watch loops, and the
//!   [`run`] entry point a daemon embeds; [`metrics`]: the
//!   `flux_helm_operator_*` metrics an HTTP server beside it serves
//!   ([`OperatorHandle`]).
//! - [`access`], [`redact`] and [`api_error`]: what a HelmRelease (written by
//!   a tenant) may make the operator reach, keeping secret text out of
//!   statuses, Events and logs, and API errors as kubectl words them.
//!
//! A daemon embeds it like this (the HelmRelease CRDs applied by a cluster
//! admin, the operator restricted to the namespaces it may touch):
//!
//! ```no_run
//! # async fn example() -> Result<(), helmops::Error> {
//! let client = kube::Client::try_default()
//!     .await
//!     .map_err(|e| helmops::Error::kube("connecting to the cluster", e))?;
//! let config = helmops::OperatorConfig {
//!     allow_namespaces: vec!["demo".to_owned()],
//!     state_dir: "/var/lib/fluxd/helm-operator".into(),
//!     ..helmops::OperatorConfig::default()
//! };
//! // No git chart provider and no daemon repository here: releases from
//! // Helm repositories only. fluxd passes both.
//! helmops::run(client, config, None, None, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! Nothing here panics on bad input: a HelmRelease that cannot be released
//! ends with a status condition saying why, and the others go on; should a
//! reconcile panic all the same, it is caught, and the others still go on.

pub mod access;
pub mod api;
pub mod api_error;
pub mod chart;
pub mod chartrepo;
pub mod checksum;
pub mod crd;
pub mod decision;
mod error;
pub mod gitcharts;
pub mod helm;
pub mod metrics;
pub mod model;
mod operator;
pub mod reconcile;
pub mod redact;
pub mod storage;
pub mod values;
mod yaml;

pub use access::AccessPolicy;
pub use chart::{ChartCheckout, DaemonRepository, GitCharts, GitCredentials, SyncedCheckout};
pub use error::Error;
pub use metrics::OperatorMetrics;
pub use operator::{
    FINALIZER, Operator, OperatorConfig, OperatorHandle, ServedKinds, default_state_dir, discover,
    prepare_state_dir, run,
};

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
