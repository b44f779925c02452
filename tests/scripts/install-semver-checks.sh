#!/usr/bin/env bash
# Installs cargo-semver-checks (compiled from source with `cargo install
# --locked`) only when the pinned version is missing, into a cache outside the
# checkout, and prints the path of its binary on stdout.
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/fluxd-rs/cargo-semver-checks/<version>/bin/cargo-semver-checks
#
# A second run finds it there and takes well under a second. The pinned
# version must read the rustdoc JSON format of the toolchain CI builds with
# (each rustc release may bump that format; a cargo-semver-checks too old for
# it fails with "unsupported rustdoc format vN"): bump it together with the
# toolchain. Measured on the 2-core CI machine: see docs/crates.md.
#
# Environment: FLUXRS_SEMVER_CHECKS_DIR overrides the cache directory.
set -euo pipefail

version=0.51.0

cache=${FLUXRS_SEMVER_CHECKS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fluxd-rs/cargo-semver-checks/$version}
bin=$cache/bin/cargo-semver-checks

say() { printf '[semver-checks] %s\n' "$*" >&2; }

if [ -x "$bin" ] && "$bin" semver-checks --version 2>/dev/null | grep -qF " $version"; then
    echo "$bin"
    exit 0
fi

say "installing cargo-semver-checks $version into $cache (compiled from source; minutes on 2 cores)"
started=$(date +%s)
# Its own temporary target directory: nothing of the workspace's target is
# touched, and nothing is left behind but the binary.
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
CARGO_TARGET_DIR=$build cargo install --locked --quiet \
    --root "$cache" --version "$version" cargo-semver-checks >&2
say "installed in $(($(date +%s) - started)) s"
echo "$bin"
