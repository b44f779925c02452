//! The command-line client for `fluxd`.
//!
//! This crate will own `fluxctl`: the commands (identity, list-workloads,
//! list-images, release, automate, lock, policy, sync) over fluxd's HTTP API,
//! reached through a URL or a port-forward, with table and JSON output and
//! progress while it waits.
