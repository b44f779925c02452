//! Integration tests of the `manifests` crate: one binary, a module per area.

mod edit;
mod filter;
mod images;
