#!/usr/bin/env bash
# The library crates' public APIs against their recorded baseline (issue 16).
#
#   tests/scripts/public-api.sh [crate ...]           check (CI: check-crates.sh)
#   tests/scripts/public-api.sh --write [crate ...]   record the baseline
#   tests/scripts/public-api.sh --list CRATE          print the current API
#
# Each crate's API is one line per public item (tests/scripts/public_api.py
# says what a line holds), read from rustdoc's JSON output. The baseline is
# `.ci/public-api/<crate>.txt`: the API of the crate's last release, with
# the version it was recorded at in its first line. The check fails when a
# line of the baseline is gone (an item removed, or changed in a way that
# breaks its users: a signature, a field added to an exhaustive struct, a
# variant added to an exhaustive enum, a required trait item, a lost trait
# impl) and the crate's version does not allow a breaking change (for 0.x.y
# a new x, for x.y.z a new x). Additions are listed and pass. Record a new
# baseline with --write when a version is released (docs/crates.md).
#
# Method: `cargo doc --no-deps --all-features` with rustdoc's JSON output
# (`--output-format json`, unstable: RUSTC_BOOTSTRAP=1 is given to rustdoc
# alone, through a RUSTDOC wrapper, so the dependencies' check builds are
# the ones `cargo doc` already made and nothing else rebuilds). About 30 s
# when the docs were built. Needs python3.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

all=(fluxd-gitsync manifests registry-poller helmops fluxd fluxctl)
baseline_dir=.ci/public-api
mode=check
case "${1:-}" in
--write) mode=write; shift ;;
--list) mode=list; shift ;;
esac
crates=("$@")
((${#crates[@]})) || crates=("${all[@]}")

say() { printf '[public-api] %s\n' "$*" >&2; }

version_of() {
    cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys
name = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == name:
        print(p["version"])
' "$1"
}

# breaking_allowed OLD NEW: whether NEW may break the API of OLD.
breaking_allowed() {
    python3 - "$1" "$2" <<'PY'
import sys
def parts(v):
    core = v.split("-")[0].split("+")[0]
    return [int(x) for x in core.split(".")]
old, new = parts(sys.argv[1]), parts(sys.argv[2])
if old[0] == 0:
    allowed = (new[0], new[1]) != (old[0], old[1])
else:
    allowed = new[0] != old[0]
sys.exit(0 if allowed else 1)
PY
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/rustdoc" <<'EOF'
#!/bin/sh
RUSTC_BOOTSTRAP=1 exec "${PUBLIC_API_RUSTDOC:-rustdoc}" "$@"
EOF
chmod +x "$work/rustdoc"

packages=()
for crate in "${crates[@]}"; do packages+=(-p "$crate"); done
PUBLIC_API_RUSTDOC="${RUSTDOC:-rustdoc}" RUSTDOC="$work/rustdoc" \
    RUSTDOCFLAGS="-Z unstable-options --output-format json" \
    cargo doc "${packages[@]}" --no-deps --all-features --locked --quiet

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

failed=0
for crate in "${crates[@]}"; do
    json="$target_dir/doc/${crate//-/_}.json"
    current="$work/$crate.txt"
    python3 tests/scripts/public_api.py list "$crate" "$json" >"$current"
    version=$(version_of "$crate")
    baseline="$baseline_dir/$crate.txt"
    case $mode in
    list)
        cat "$current"
        continue
        ;;
    write)
        mkdir -p "$baseline_dir"
        {
            echo "# $crate $version: public API baseline, recorded by tests/scripts/public-api.sh --write"
            cat "$current"
        } >"$baseline"
        say "$crate $version: $(wc -l <"$current") items recorded in $baseline"
        continue
        ;;
    esac
    if [ ! -f "$baseline" ]; then
        say "error: $crate has no baseline ($baseline): record one with tests/scripts/public-api.sh --write $crate"
        failed=1
        continue
    fi
    recorded=$(head -n1 "$baseline" | awk '{print $3}' | tr -d :)
    python3 tests/scripts/public_api.py diff "$crate" "$baseline" "$current" >"$work/$crate.diff"
    removed=$(grep -c '^- ' "$work/$crate.diff" || true)
    added=$(grep -c '^+ ' "$work/$crate.diff" || true)
    if [ "$removed" -eq 0 ]; then
        say "$crate $version: compatible with $recorded ($added added)"
        continue
    fi
    if breaking_allowed "$recorded" "$version"; then
        say "$crate $version: removed or changed since $recorded ($removed), allowed by the new version ($added added)"
        continue
    fi
    say "error: $crate $version breaks the public API of $recorded ($baseline): removed or changed ($removed):"
    grep '^- ' "$work/$crate.diff" | head -n 30 >&2
    if [ "$removed" -gt 30 ]; then say "... and $((removed - 30)) more"; fi
    say "what they became (added):"
    grep '^+ ' "$work/$crate.diff" | head -n 30 >&2 || true
    say "keep the old items, or raise $crate's version to one that allows a breaking change (then CHANGELOG.md says what broke)"
    failed=1
done
exit "$failed"
