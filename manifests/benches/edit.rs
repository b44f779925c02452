//! Benchmark of format-preserving image edits (filled in by the next commit).

fn main() {}
