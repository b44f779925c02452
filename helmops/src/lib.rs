//! A Helm operator for Flux's HelmRelease resources.
//!
//! This crate owns the HelmRelease kinds of every Flux v1 era and turns them
//! into Helm releases with the real `helm` binary:
//!
//! # Public surface
//! - [`api`]: the custom resources (`flux.weave.works/v1beta1` HelmRelease,
//!   `helm.fluxcd.io/v1` HelmRelease, legacy `helm.integrations.flux.weave.works/v1alpha2`
//!   FluxHelmRelease) and their shared status; [`crd`] renders their CRDs (the
//!   checked-in `deploy/crds/*.yaml` come from it).
//! - [`model`]: the one model all three kinds convert to
//!   ([`model::HelmReleaseResource::to_release`]), what a migration tool reads.
//! - [`values`]: assembling values (`valueFileSecrets`, then `valuesFrom`, then
//!   `values`, deep-merged).
//! - [`gitcharts`]: git chart sources over `gitsync` mirrors, the
//!   [`GitCharts`] provider a daemon plugs in ([`DaemonRepository`],
//!   [`SyncedCheckout`] and [`ChartCheckout`] for its own repository).
//! - [`chartrepo`]: a Helm chart repository client (index cache, digest check,
//!   basic auth, [`GitCredentials`] and its credentials).
//! - [`run`], [`Operator`] and [`OperatorConfig`]: the operator a daemon
//!   embeds (helm-operator 1.4's release cycle, phases, conditions and
//!   Events, back-off of failed releases, recovery of interrupted ones, the
//!   watch loops), [`discover`] of the kinds the cluster serves, its
//!   [`OperatorHandle`] and [`OperatorMetrics`] (the
//!   `flux_helm_operator_*` metrics an HTTP server beside it serves), what
//!   one reconcile did ([`ReconcileOutcome`]), and the [`AccessPolicy`] of
//!   what a HelmRelease (written by a tenant) may make the operator reach,
//!   with the [`http_client`] that keeps to it.
//! - [`Redactor`]: the secret strings of one release (values read from
//!   Secrets), replaced by `<redacted>` in any text;
//!   [`values::ValuesResolver::assemble`] fills it.
//!
//! Inside, not public: the `helm` subprocess (Helm 3 and Helm 4, JSON
//! output parsed), the checksum and decision that let an unchanged release
//! cost no helm call (from its status and a watch of Helm's own release
//! records), and keeping secret text out of statuses, Events and logs.
//!
//! A daemon embeds it like this (the HelmRelease CRDs applied by a cluster
//! admin, the operator restricted to the namespaces it may touch):
//!
//! ```no_run
//! # async fn example() -> Result<(), helmops::Error> {
//! let client = kube::Client::try_default()
//!     .await
//!     .map_err(|e| helmops::Error::kube("connecting to the cluster", e))?;
//! let config = helmops::OperatorConfig::new()
//!     .with_allow_namespaces(["demo"])
//!     .with_state_dir("/var/lib/fluxd/helm-operator");
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

mod access;
pub mod api;
mod api_error;
mod chart;
pub mod chartrepo;
mod checksum;
pub mod crd;
mod decision;
mod error;
pub mod gitcharts;
mod helm;
mod metrics;
pub mod model;
mod operator;
mod reconcile;
mod redact;
mod storage;
pub mod values;
mod yaml;

#[doc(hidden)]
pub mod internals;

pub use access::{AccessPolicy, http_client};
pub use chart::{ChartCheckout, DaemonRepository, GitCharts, GitCredentials, SyncedCheckout};
pub use decision::SkipCause;
pub use error::Error;
pub use helm::TERM_GRACE as HELM_TERM_GRACE;
pub use metrics::OperatorMetrics;
pub use operator::{
    FINALIZER, Operator, OperatorConfig, OperatorHandle, ServedKinds, default_state_dir, discover,
    prepare_state_dir, run,
};
pub use reconcile::ReconcileOutcome;
// What `values::ValuesResolver::assemble` takes and fills.
pub use redact::Redactor;

// The README's examples are compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
