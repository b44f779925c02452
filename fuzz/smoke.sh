#!/bin/sh
# The fuzz smoke CI runs: the targets still build (a nightly check, as cargo
# fuzz builds them) and each target's function passes over its whole corpus
# (`corpus/NAME/`) as a normal test on stable. Running libFuzzer itself
# needs cargo-fuzz (`cargo install cargo-fuzz`, about a minute to build),
# so that is `fuzz/run.sh SECONDS`, not CI.
set -eu
cd "$(dirname "$0")"
# Share the workspace's build of the project crates.
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(pwd)/../target}
export CARGO_TARGET_DIR
cargo fmt --check
# The nightly check only where a nightly toolchain is installed (CI
# machines may have stable alone); the stable steps below always run.
if rustup run nightly rustc --version >/dev/null 2>&1; then
    cargo +nightly check --locked --bins
else
    echo "fuzz/smoke.sh: no nightly toolchain; skipping the nightly check of the targets" >&2
fi
cargo test --locked --lib
cargo clippy --locked --lib --tests -- -D warnings
