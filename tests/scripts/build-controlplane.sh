#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager and
# etcd) from the Go modules in tests/controlplane/, once per pinned version.
#
# The binaries go to ${XDG_CACHE_HOME:-$HOME/.cache}/fluxd-rs/controlplane/<key>/,
# where <key> names the pinned versions plus a hash of everything that shapes the
# build (tests/controlplane/versions, both go.mod/go.sum, etcd/main.go, the
# go build flags, the Go version), so changing any of them builds into a new directory
# and an unchanged pin reuses the old one in well under a second. The checkout's
# target/test-tools/controlplane is then a symlink to that directory: that is
# where the tests (tests::controlplane) find the binaries.
#
# Usage: build-controlplane.sh [--quiet]
# Environment: GOMODCACHE/GOCACHE as for any Go build; FLUXRS_CONTROLPLANE_JOBS
# caps parallel compile jobs (default: the number of cores).
set -euo pipefail

quiet=
if [ "${1:-}" = --quiet ]; then quiet=1; fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src=$root/tests/controlplane
link=$root/target/test-tools/controlplane

say() { [ -n "$quiet" ] || printf '[controlplane] %s\n' "$*" >&2; }
fail() { printf '[controlplane] error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=../controlplane/versions
. "$src/versions"

# --- Go toolchain ----------------------------------------------------------------
need_go=1.26.0 # the highest `go` line of kube/go.mod and etcd/go.mod
install_go="install Go $need_go or newer (an official release archive from go.dev/dl unpacked to /usr/local/go, with /usr/local/go/bin on PATH) and run this again"
command -v go >/dev/null 2>&1 ||
    fail "\`go\` is not on PATH. The tests run a real Kubernetes control plane built from Go modules: $install_go."
have_go=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null) || fail "\`go env GOVERSION\` failed: $install_go."
have_go=${have_go#go}
have_go=${have_go%%[-+ ]*}
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1)" != "$need_go" ]; then
    fail "Go $have_go is too old to build the test control plane: $install_go."
fi
export GOTOOLCHAIN=local
# Only what this script says: no vendoring, no go.mod edits, no VCS stamping.
export GOFLAGS="-mod=readonly -buildvcs=false"

# --- the pin must match the generated modules -------------------------------------
grep -q "k8s.io/kubernetes $KUBERNETES_VERSION\b" "$src/kube/go.mod" &&
    grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION\b" "$src/etcd/go.mod" ||
    fail "tests/controlplane/versions does not match kube/go.mod or etcd/go.mod: run tests/controlplane/pin.sh"

# --- how the binaries are built --------------------------------------------------
# Stamp the version the way Kubernetes' own build does (hack/lib/version.sh):
# without it the apiserver reports v0.0.0, and helm's kubeVersion checks and
# kubectl's version-skew warnings go wrong. (gitCommit and buildDate stay
# empty/default: a module download carries neither.)
minor=${KUBERNETES_VERSION#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit="
done

kube_build=(go build -trimpath -ldflags "$ldflags")
etcd_build=(go build -trimpath -ldflags "-s -w")

# --- cache key ----------------------------------------------------------------------
hash=$(
    cd "$src"
    {
        cat versions kube/go.mod kube/go.sum etcd/go.mod etcd/go.sum etcd/main.go
        echo "${kube_build[*]}" "${etcd_build[*]}" "go$have_go" "$(go env GOOS GOARCH CGO_ENABLED)"
    } | sha256sum | cut -c1-12
)
key=kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-$hash
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/fluxd-rs/controlplane
dir=$cache_root/$key

# (Re)made every time: its age tells the tests whether the pin changed since.
point_link() {
    mkdir -p "$(dirname "$link")"
    ln -sfn "$dir" "$link.tmp.$$"
    mv -T "$link.tmp.$$" "$link"
}

# Builds of other pins unused for this many days are removed after a new build.
keep_days=30

if [ -f "$dir/.complete" ]; then
    touch "$dir/.complete" # last use, for pruning
    point_link
    say "kube-apiserver $KUBERNETES_VERSION, kube-controller-manager, etcd $ETCD_VERSION: cached in $dir"
    exit 0
fi

mkdir -p "$cache_root"
# One build at a time per cache (parallel test binaries, CI jobs on one machine).
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
    say "waiting for another build of the control plane to finish"
    flock 9
fi
# Holding the lock, nothing else builds: leftovers of interrupted builds can go.
rm -rf "$cache_root"/.build-*
if [ ! -f "$dir/.complete" ]; then
    say "building kube-apiserver and kube-controller-manager $KUBERNETES_VERSION and etcd $ETCD_VERSION from Go modules, first time only (~5 min on 2 free cores, ~20 on a busy machine)"
    started=$(date +%s)
    tmp=$cache_root/.build-$key-$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    jobs=${FLUXRS_CONTROLPLANE_JOBS:-$(nproc)}

    # One `go build` for both kube binaries: they share most packages, and one
    # invocation compiles each package once. nice: the machine stays usable.
    (cd "$src/kube" && nice -n 10 "${kube_build[@]}" -p "$jobs" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
    say "kube binaries built in $(($(date +%s) - started)) s; building etcd"
    (cd "$src/etcd" && nice -n 10 "${etcd_build[@]}" -p "$jobs" -o "$tmp/etcd" .)

    "$tmp/kube-apiserver" --version | grep -q "Kubernetes $KUBERNETES_VERSION\$" ||
        fail "built kube-apiserver reports '$("$tmp/kube-apiserver" --version)', not $KUBERNETES_VERSION"
    printf 'kubernetes %s\netcd %s\ngo %s\n' "$KUBERNETES_VERSION" "$ETCD_VERSION" "$have_go" >"$tmp/versions"
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv -T "$tmp" "$dir"
    trap - EXIT
    say "built in $(($(date +%s) - started)) s, $(du -sh "$dir" | cut -f1) in $dir"
    find "$cache_root" -mindepth 2 -maxdepth 2 -name .complete -mtime +"$keep_days" -printf '%h\n' |
        while read -r old; do
            [ "$old" = "$dir" ] || { say "removing unused $old"; rm -rf "$old"; }
        done
fi
point_link
