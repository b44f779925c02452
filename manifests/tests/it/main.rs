//! Integration tests of the `manifests` crate over the fixture trees in
//! `tests/fixtures/`, one module per area.

mod checksum;
mod load;
