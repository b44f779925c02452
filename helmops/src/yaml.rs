//! YAML from charts, chart repositories and values sources, parsed with
//! stack to spare.
//!
//! serde-saphyr recurses once per nesting level (about 25 KiB of stack per
//! level unoptimised) up to its default budget of 64 levels; the operator
//! parses on tokio threads with 2 MiB of stack. A hostile values file must be
//! refused by the budget, not abort the operator with a stack overflow, so
//! the parse runs on a fresh stack segment when the thread has too little.

use serde::de::DeserializeOwned;

/// Stack for serde-saphyr's default 64 levels, 32 KiB each, and some margin.
const STACK: usize = (64 + 16) * 32 * 1024;

/// Parses one YAML document.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    stacker::maybe_grow(STACK, STACK, || serde_saphyr::from_str(text))
}
