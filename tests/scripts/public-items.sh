#!/usr/bin/env bash
# Counts the public items of each library crate, from rustdoc's JSON output.
#
#   tests/scripts/public-items.sh [crate ...]     (default: every library crate)
#
# Prints one line per crate, `<crate> <total> <kind>=<n> ...`, e.g. to compare
# a crate's public surface before and after a change.
#
# Method: `cargo doc -p <crate> --no-deps` with rustdoc's JSON output
# (`--output-format json` is unstable: RUSTC_BOOTSTRAP=1 lets the stable
# toolchain emit it). Without `--document-private-items` rustdoc keeps only
# what a user of the crate can reach, and drops `#[doc(hidden)]` items (such
# as registry-poller's `fuzzing` door). The count is then every item of the
# crate itself (`crate_id == 0`) that is
#   - declared `pub` (modules, structs, enums, unions, traits, functions,
#     inherent methods, fields, constants, statics, type aliases), or a
#     `pub use` of something that is not itself one of those items (a
#     re-export of another crate's item; a re-export of the crate's own item
#     is that item, counted once), or
#   - an enum variant or a `macro_rules!` macro (they carry no visibility of
#     their own: they are public when reachable, which is all rustdoc keeps).
# Impl blocks and the items of trait impls (`impl Debug for ..`) are not
# counted: they add no name an embedder writes.
#
# Each crate is documented with the features docs.rs uses for it (see its
# `[package.metadata.docs.rs]`), fluxd with its default features. The JSON
# goes to a target dir of its own (PUBLIC_ITEMS_TARGET_DIR, default
# target/public-items) so that the unstable flag does not rebuild the
# workspace's main target.
set -euo pipefail

cd "$(dirname "$0")/../.."
target_dir="${PUBLIC_ITEMS_TARGET_DIR:-target/public-items}"

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
    crates=(gitsync manifests registry-poller helmops fluxd fluxctl)
fi

features_of() {
    case "$1" in
        manifests) echo "cluster,k8s-openapi/latest" ;;
        helmops) echo "k8s-openapi/latest" ;;
        *) echo "" ;;
    esac
}

for crate in "${crates[@]}"; do
    features="$(features_of "$crate")"
    args=(doc -p "$crate" --no-deps --locked --quiet)
    if [ -n "$features" ]; then
        args+=(--features "$features")
    fi
    CARGO_TARGET_DIR="$target_dir" RUSTC_BOOTSTRAP=1 \
        RUSTDOCFLAGS="-Z unstable-options --output-format json" \
        cargo "${args[@]}"
    json="$target_dir/doc/${crate//-/_}.json"
    jq -r --arg crate "$crate" '
        .index as $index
        | [ .index[]
          | select(.crate_id == 0)
          | (.inner | keys[0]) as $kind
          | select($kind != "impl")
          | select($kind != "use" or (.inner.use.id as $target
              | $target == null or ($index[$target | tostring].crate_id // 1) != 0))
          | select(.visibility == "public" or $kind == "variant" or $kind == "macro")
          | $kind ]
        | group_by(.) | map({kind: .[0], n: length}) as $kinds
        | "\($crate) \($kinds | map(.n) | add // 0) \($kinds | map("\(.kind)=\(.n)") | join(" "))"
    ' "$json"
done
