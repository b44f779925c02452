//! Test support and end-to-end tests.
//!
//! This crate will own what the project's tests run against: a real Kubernetes
//! control plane (kube-apiserver, etcd and kube-controller-manager built from Go
//! modules and cached), git, ssh, registry and chart-repository fixtures on
//! 127.0.0.1, locating the `helm` and `kubectl` binaries, and the scenarios that
//! span crates.
