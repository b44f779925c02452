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
# toolchain emit it). Without `--document-private-items` rustdoc keeps what
# a user of the crate can see and strips `#[doc(hidden)]` modules (such as
# registry-poller's `fuzzing`, helmops' and fluxd's `internals`). The count
# then walks from the crate root what a user can name: public modules and
# what they hold, `pub use` re-exports (another crate's item counts as one
# `use`; the crate's own item counts once, as itself), structs and their
# public fields, enums and their variants (and the variants' fields),
# traits and their items, the public methods and constants of inherent
# impls, functions, constants, statics, type aliases, macros. Trait impls
# (`impl Debug for ..`) add no name and are not counted; an item reachable
# only through a hidden module is not counted.
#
# Each crate is documented with the features docs.rs uses for it (see its
# `[package.metadata.docs.rs]`), fluxd with its default features. The JSON
# goes to a target dir of its own (PUBLIC_ITEMS_TARGET_DIR, default
# target/public-items) so that the unstable flag does not rebuild the
# workspace's main target. Needs python3.
set -euo pipefail

cd "$(dirname "$0")/../.."
target_dir="${PUBLIC_ITEMS_TARGET_DIR:-target/public-items}"

crates=("$@")
if [ ${#crates[@]} -eq 0 ]; then
    crates=(fluxd-gitsync manifests registry-poller helmops fluxd fluxctl)
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
    python3 - "$crate" "$json" <<'PY'
import json
import sys
from collections import Counter

crate, path = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
index = doc["index"]
seen = set()
kinds = Counter()


def item(id_):
    return index.get(str(id_)) if id_ is not None else None


def fields(kind):
    # Struct and variant kinds: {"plain": {"fields": [...]}}, {"tuple": [...]}.
    if not isinstance(kind, dict):
        return
    for value in kind.values():
        ids = value.get("fields", []) if isinstance(value, dict) else value
        for id_ in ids or []:
            if id_ is not None:
                visit(id_)


def inherent(impl_id):
    impl = (item(impl_id) or {}).get("inner", {}).get("impl")
    if impl is None or impl.get("trait") is not None or impl.get("blanket_impl") is not None:
        return
    for id_ in impl["items"]:
        if (item(id_) or {}).get("visibility") == "public":
            visit(id_)


def visit(id_):
    found = item(id_)
    if found is None or found["crate_id"] != 0 or id_ in seen:
        return
    seen.add(id_)
    kind, inner = next(iter(found["inner"].items()))
    if kind == "use":
        target = item(inner.get("id"))
        if target is None or target["crate_id"] != 0:
            kinds["use"] += 1
        else:
            visit(inner["id"])
        return
    kinds[kind] += 1
    if kind in ("module", "trait"):
        for child in inner["items"]:
            visit(child)
    elif kind in ("struct", "union", "variant"):
        fields(inner.get("kind"))
    elif kind == "enum":
        for variant in inner["variants"]:
            visit(variant)
    for impl_id in inner.get("impls", []) if isinstance(inner, dict) else []:
        inherent(impl_id)


visit(doc["root"])
detail = " ".join(f"{kind}={n}" for kind, n in sorted(kinds.items()))
print(f"{crate} {sum(kinds.values())} {detail}")
PY
done
