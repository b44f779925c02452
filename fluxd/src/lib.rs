//! The GitOps daemon as a library.
//!
//! This crate will own the daemon: its configuration and flags (Flux v1's names),
//! the loops that compose the library crates (sync from git to the cluster, image
//! automation, the Helm operator), the job queue, the HTTP API and the types it
//! shares with `fluxctl`, metrics, leader election and the deploy-key Secret. The
//! `fluxd` binary only parses flags and calls into it.
