//! Test support and end-to-end tests.
//!
//! This crate owns what the project's tests run against: servers started on
//! 127.0.0.1 under a watchdog ([`process`]), free ports ([`net`]), the real
//! binaries the tests drive ([`tools`]), and a real Kubernetes control plane
//! (kube-apiserver, etcd and kube-controller-manager built from Go modules and
//! cached; [`controlplane`]). Later work adds git, ssh, registry and
//! chart-repository fixtures, and the scenarios that span crates.
//!
//! Tests that need a server fail, never skip, when it cannot start: the error
//! says what is missing and how to install it.

pub mod controlplane;
mod error;
pub mod helm;
pub mod net;
pub mod process;
pub mod tools;

pub use error::Error;
