//! Integration tests of the `manifests` crate over the fixture trees in
//! `tests/.fixtures/`: one binary, a module per area. The fixtures hold
//! broken and duplicated manifests on purpose; their directory is hidden so
//! that this repository itself loads clean as a GitOps tree (the loader
//! skips hidden entries).

// Helpers of tests may unwrap like the tests themselves: a panic is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checksum;
#[cfg(feature = "cluster")]
mod cluster;
mod corpus;
mod edit;
mod filter;
mod flux_v1;
mod images;
mod load;
mod roundtrip;
