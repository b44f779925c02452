//! Test support and end-to-end tests.
//!
//! This crate owns what the project's tests run against: servers started on
//! 127.0.0.1 under a watchdog ([`process`]), free ports ([`net`]), the real
//! binaries the tests drive ([`tools`]), a real Kubernetes control plane
//! (kube-apiserver, etcd and kube-controller-manager built from Go modules and
//! cached; [`controlplane`]), git repositories built with the real git CLI and
//! served over smart HTTP ([`git`]), a real sshd ([`sshd`]), a TCP proxy
//! that can hang, refuse or cut connections ([`proxy`]), `kube` clients
//! that record every request they send ([`recording`]), fluxd itself run
//! as a process, in a pod's surroundings if need be ([`fluxd`]), and the
//! state Flux v1 leaves a cluster in ([`fluxv1`]).
//!
//! Tests that need a server fail, never skip, when it cannot start: the error
//! says what is missing and how to install it.

pub mod api_proxy;
pub mod controlplane;
mod error;
pub mod fluxd;
pub mod fluxv1;
pub mod git;
pub mod helm;
pub mod net;
pub mod process;
pub mod proxy;
pub mod recording;
pub mod registry;
pub mod sshd;
pub mod tools;
pub mod workloads;

pub use error::Error;
