//! Enough stack for the YAML parser, on whatever thread the caller runs.
//!
//! serde-saphyr descends one chain of Rust calls per level of nesting, and
//! a level takes about 25 KiB of stack in an unoptimised build (a document
//! nested 100 deep needs between 2 and 3 MB). A tokio blocking thread has
//! 2 MiB: a hostile file nested 80 deep would abort the whole daemon with a
//! stack overflow before the parser's depth budget refused it. Each parse
//! therefore runs where at least its budget's worth of stack is free, on a
//! fresh segment when the current thread has less.
//!
//! Public so that other crates parsing YAML with serde-saphyr (helmops'
//! values and chart files) guard their parses the same way.

/// Stack one level of nesting may take, with margin over the measured 25 KiB.
const PER_LEVEL: usize = 32 * 1024;

/// The deepest nesting a parse is given stack for; a larger budget is cut to
/// this (32 MiB of stack, reserved only when a thread has less free).
pub const MAX_DEPTH: usize = 1_000;

/// serde-saphyr's default depth budget, for parses that keep its defaults.
pub const DEFAULT_DEPTH: usize = 64;

/// Runs `parse`, a YAML parse whose depth budget is `max_depth`, with stack
/// for that many levels.
pub fn with_stack_for<T>(max_depth: usize, parse: impl FnOnce() -> T) -> T {
    let needed = (max_depth.min(MAX_DEPTH) + 16) * PER_LEVEL;
    stacker::maybe_grow(needed, needed, parse)
}
