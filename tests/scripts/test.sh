#!/usr/bin/env bash
# Runs every test of the workspace on a fresh Debian/Ubuntu machine that has a
# Rust toolchain and Go: first builds the test Kubernetes control plane (once
# per pinned version, cached outside the checkout), installs what else the
# tests need (only what is missing), then runs `cargo test --workspace`.
# Extra arguments go to `cargo test`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

tests/scripts/build-controlplane.sh
tests/scripts/install-test-deps.sh
cargo test --workspace --locked --no-fail-fast "$@"
