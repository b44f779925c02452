#!/usr/bin/env bash
# Checks the library crates as their users on crates.io get them (issue 16).
# CI runs it from .ci/run; each step prints how long it took.
#
#  1. rust-version: the workspace's `rust-version` must equal the major.minor
#     of the `rustc` this runs with (the toolchain CI builds and tests with),
#     and every crate must inherit it. What this proves: the stated version
#     is one the workspace is built with here. What it does not: that older
#     toolchains fail (cargo refuses them because of the field itself).
#  2. Examples: `cargo build --workspace --examples --locked`. The e2e module
#     `examples` runs them against the test servers.
#  3. Docs: `cargo doc --workspace --no-deps --all-features` with
#     `RUSTDOCFLAGS=-D warnings`: every rustdoc warning (a broken intra-doc
#     link, a bad code block) fails.
#  4. Publishing: `cargo publish --dry-run --workspace --exclude tests
#     --no-verify` packages every library crate in dependency order
#     (cargo's: manifests, registry-poller, gitsync, helmops, fluxd, fluxctl;
#     manifests before gitsync, whose benchmarks dev-depend on it) (the
#     metadata crates.io wants, a version on every path dependency, the
#     files that go in, each manifest as crates.io would rewrite it); path
#     dependencies resolve to the packages of the same run (cargo's local
#     overlay), since none is on crates.io yet: `cargo publish --dry-run -p X`
#     alone cannot work before X's project dependencies are published.
#     Step `publish-verify` (not in the default set) also builds each package
#     from its .crate file alone: each crate then compiles its whole
#     dependency tree again with its own features and without the
#     workspace's profile, 6 and 15 minutes for manifests and gitsync on the
#     loaded 2-core machine, too long for CI (docs/crates.md).
#  5. Public API (step `api`): tests/scripts/public-api.sh compares each
#     library crate's public API, read from rustdoc's JSON, with its
#     baseline in .ci/public-api/ (the API of the last release) and fails on
#     an item removed or changed in a breaking way that the crate's version
#     does not allow. About 30 s after the docs step: it reuses its builds.
#  6. Semver (step `semver`, not in the default set): cargo-semver-checks
#     (tests/scripts/install-semver-checks.sh) compares each library crate's
#     public API with the git revision in .ci/semver-baseline and fails on a
#     breaking change that the crate's version does not allow. Not in CI yet:
#     it builds each crate's dependency tree again in a target directory of
#     its own per crate and per side (12 cold builds here), on top of a
#     19-minute cold install; see docs/crates.md.
#
# Usage: check-crates.sh [STEP...]   (steps: rust-version examples docs api
#                                     publish publish-verify semver; default
#                                     the first five, what CI runs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

# The library crates, in dependency order.
crates=(fluxd-gitsync manifests registry-poller helmops fluxd fluxctl)

say() { printf '[check-crates] %s\n' "$*" >&2; }
fail() { printf '[check-crates] error: %s\n' "$*" >&2; exit 1; }

# timed NAME COMMAND...: runs it and reports its wall time.
timed() {
    local name=$1 started
    shift
    started=$(date +%s)
    say "$name: $*"
    local status=0
    "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        say "$name: failed after $(($(date +%s) - started)) s"
        return "$status"
    fi
    say "$name: done in $(($(date +%s) - started)) s"
}

check_rust_version() {
    local rustc declared
    rustc=$(rustc --version | awk '{print $2}')
    # Every package's rust-version, as cargo reads it.
    declared=$(cargo metadata --format-version 1 --no-deps --locked |
        python3 -c '
import json, sys
packages = json.load(sys.stdin)["packages"]
versions = {p["name"]: p.get("rust_version") for p in packages}
if len(set(versions.values())) != 1:
    sys.exit("crates disagree on rust-version: " + ", ".join(f"{n}={v}" for n, v in sorted(versions.items())))
print(next(iter(versions.values())))
') || fail "rust-version: every crate must inherit the workspace's (rust-version.workspace = true)"
    [ "$declared" != None ] || fail "rust-version: the workspace states none"
    local have=${rustc%.*} want=${declared%.*}
    [[ $declared == *.*.* ]] || want=$declared
    if [ "$have" != "$want" ]; then
        fail "rust-version is $declared but CI builds with rustc $rustc: set [workspace.package] rust-version to ${rustc%.*} in Cargo.toml, or build CI with $declared (rustup toolchain install $declared)"
    fi
    say "rust-version: $declared, the toolchain this builds with (rustc $rustc)"
}

check_examples() {
    timed examples cargo build --workspace --examples --locked
}

check_docs() {
    RUSTDOCFLAGS="-D warnings" timed docs cargo doc --workspace --no-deps --all-features --locked
}

# publish [--no-verify]: the dry run; warns of names crates.io already has.
check_publish() {
    local log
    log=$(mktemp)
    local status=0
    timed publish cargo publish --dry-run --workspace --exclude tests --locked "$@" 2>"$log" || status=$?
    cat "$log" >&2
    [ "$status" -eq 0 ] || { rm -f "$log"; fail "cargo publish --dry-run failed"; }
    if grep -q 'already exists on' "$log"; then
        say "warning: $(grep -o 'crate [^ ]* already exists' "$log" | sort -u | tr '\n' ' ')- that name on crates.io belongs to another project: a real publish of it fails"
    fi
    rm -f "$log"
}

check_api() {
    timed api tests/scripts/public-api.sh
}

check_semver() {
    local baseline bin
    baseline=$(tr -d '[:space:]' <.ci/semver-baseline)
    [[ $baseline =~ ^[0-9a-f]{40}$ ]] || fail ".ci/semver-baseline must hold one full commit id, not ${baseline:-nothing}"
    git cat-file -e "$baseline^{commit}" 2>/dev/null ||
        fail "the semver baseline $baseline (.ci/semver-baseline) is not in this clone: fetch it (git fetch origin $baseline) or clone with history"
    bin=$(timed semver-install tests/scripts/install-semver-checks.sh)
    local args=()
    for crate in "${crates[@]}"; do args+=(--package "$crate"); done
    # A library alone needs one Kubernetes version for k8s-openapi: the one
    # its `latest` feature picks (k8s-openapi 0.29: 1.37), so that crates
    # enabling `latest` (fluxd, fluxctl) agree with it.
    K8S_OPENAPI_ENABLED_VERSION=${K8S_OPENAPI_ENABLED_VERSION:-1.37} \
        timed semver "$bin" semver-checks check-release "${args[@]}" --all-features \
        --baseline-rev "$baseline"
}

steps=("$@")
((${#steps[@]})) || steps=(rust-version examples docs api publish)
for step in "${steps[@]}"; do
    case $step in
    rust-version) check_rust_version ;;
    examples) check_examples ;;
    docs) check_docs ;;
    api) check_api ;;
    publish) check_publish --no-verify ;;
    publish-verify) check_publish ;;
    semver) check_semver ;;
    *) fail "unknown step $step (rust-version, examples, docs, api, publish, publish-verify, semver)" ;;
    esac
done
