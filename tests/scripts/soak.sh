#!/usr/bin/env bash
# The soak run of issue 15 (not part of CI): fluxd and `fluxd helm-operator`
# against the real test control plane, git over ssh and docker-registry for
# MINUTES, under load (a commit every 10 s, a new image tag every 30 s, 20 API
# clients, garbage collection on), with RSS and open fds of each process
# sampled every minute; prints the samples, a summary, and the checks (every
# commit applied, every automation commit correct). Exit status 1: a check
# failed; 2: the run could not be set up.
#
#   tests/scripts/soak.sh 30                    # the 30-minute run
#   tests/scripts/soak.sh 10 --mode idle        # fluxd alone, small repository
#   tests/scripts/soak.sh 10 --objects 10000    # 10,000 ConfigMaps in git as well
#   tests/scripts/soak.sh 2 --help              # every setting of the driver
#
# fluxd is the release build (what users run); SOAK_PROFILE=debug uses a debug
# build instead, to try the script quickly. The driver (tests/src/bin/soak.rs)
# is a debug build: its speed does not matter.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

if [ $# -lt 1 ]; then
    echo "usage: $0 MINUTES [soak arguments]" >&2
    exit 2
fi
minutes=$1
shift

tests/scripts/build-controlplane.sh --quiet
tests/scripts/install-test-deps.sh

case "${SOAK_PROFILE:-release}" in
    release)
        cargo build --locked --release -p fluxd --bin fluxd
        fluxd=$root/target/release/fluxd
        ;;
    debug)
        cargo build --locked -p fluxd --bin fluxd
        fluxd=$root/target/debug/fluxd
        ;;
    *)
        echo "SOAK_PROFILE is release or debug, not ${SOAK_PROFILE}" >&2
        exit 2
        ;;
esac
cargo build --locked -p tests --bin soak

exec "$root/target/debug/soak" --minutes "$minutes" --fluxd "$fluxd" "$@"
