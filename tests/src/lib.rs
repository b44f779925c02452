//! Test support and end-to-end tests.
//!
//! This crate owns what the project's tests run against: servers started on
//! 127.0.0.1 under a watchdog ([`process`]), free ports ([`net`]) and the real
//! binaries the tests drive ([`tools`]). Later work adds a real Kubernetes
//! control plane (kube-apiserver, etcd and kube-controller-manager built from Go
//! modules and cached), git, ssh, registry and chart-repository fixtures, and the
//! scenarios that span crates.
//!
//! Tests that need a server fail, never skip, when it cannot start: the error
//! says what is missing and how to install it.

mod error;
pub mod net;
pub mod process;
pub mod registry;
pub mod tools;

pub use error::Error;
