//! End-to-end tests against real servers and clients, one module per area.
//!
//! One test binary, so servers shared by a binary (the Kubernetes control
//! plane) start once for every area.

mod automation;
mod controlplane;
mod engine;
mod examples;
mod fluxctl;
mod fluxd;
mod gitsync;
mod helm_operator;
mod helmops;
mod registry;
mod walkthrough;
