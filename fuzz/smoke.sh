#!/bin/sh
# The fuzz smoke CI runs: each target's function passes over its whole
# corpus (`corpus/NAME/`) as a normal test on stable. Running libFuzzer
# itself needs nightly and cargo-fuzz (`cargo install cargo-fuzz`, about a
# minute to build), so that is `fuzz/run.sh SECONDS`, not CI.
set -eu
cd "$(dirname "$0")"
# Share the workspace's build of the project crates.
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/../target}
export CARGO_TARGET_DIR
cargo fmt --check
# Each target's function over its whole corpus, as a stable test: this
# builds every target body (fuzz/src/lib.rs). The nightly build of the
# libFuzzer binaries and clippy of the fuzz crate are in run.sh, not CI:
# they take minutes on a cold cache and the bins are one line each.
cargo test --locked --lib
