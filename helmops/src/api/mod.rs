//! The HelmRelease kinds of every Flux v1 era, as Kubernetes custom resources.
//!
//! - [`v1beta1::HelmRelease`] in `flux.weave.works/v1beta1`: the seed's kind.
//! - [`v1::HelmRelease`] in `helm.fluxcd.io/v1`: the final API of Flux's
//!   helm-operator.
//! - [`v1alpha2::FluxHelmRelease`] in `helm.integrations.flux.weave.works/v1alpha2`:
//!   the legacy kind whose chart lives in the daemon's own git repository.
//!
//! All three share [`HelmReleaseStatus`] and the reference types in this module.
//! Their specs keep every field optional when deserializing (the CRD schema
//! enforces what is required), so one odd object never breaks a whole watch;
//! [`crate::model`] turns each into the one internal model and reports what is
//! missing there.

mod common;
mod schema;
mod status;
pub mod v1;
pub mod v1alpha2;
pub mod v1beta1;

pub use common::{
    ChartFileSelector, ExternalSourceSelector, KeySelector, LocalObjectReference, ObjectReference,
    ValuesFromSource,
};
pub use status::{
    Condition, ConditionStatus, ConditionType, HelmReleaseStatus, Phase, PhaseChange,
};
