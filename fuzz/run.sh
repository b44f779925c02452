#!/bin/sh
# Runs each fuzz target for SECONDS (default 60) with libFuzzer, or only the
# targets named: `fuzz/run.sh 60`, `fuzz/run.sh 10 loader edit`.
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Each target starts from its corpus in `corpus/NAME/` (kept in the
# repository, never written to); what libFuzzer finds goes to
# `target/corpus/NAME/`, crashes to `artifacts/NAME/`. Prints one line per
# target: executions, executions per second, new corpus entries, crashes.
# Exits non-zero if any target crashed.
#
# Sanitizer `none`: the project forbids `unsafe`, so the address sanitizer
# would only slow the Rust parsers down; panics and aborts are what is found.
set -eu
cd "$(dirname "$0")"
seconds=${1:-60}
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then
    targets="$*"
else
    targets=$(cargo +nightly fuzz list)
fi
cargo clippy --locked --lib --tests -- -D warnings
cargo +nightly fuzz build -s none >/dev/null 2>&1
mkdir -p target/logs
failed=0
printf '%-18s %12s %10s %8s %8s\n' target executions exec/s corpus crashes
for target in $targets; do
    mkdir -p "target/corpus/$target"
    log="target/logs/$target.log"
    status=0
    cargo +nightly fuzz run -s none "$target" "target/corpus/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=1024 -timeout=10 \
        >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
    crashes=0
    if [ "$status" -ne 0 ]; then
        crashes=1
        failed=1
    fi
    printf '%-18s %12s %10s %8s %8s\n' "$target" "${execs:-?}" "${rate:-?}" "${corpus:-?}" "$crashes"
    if [ "$status" -ne 0 ]; then
        grep -m 5 -E 'panicked|ERROR|artifact' "$log" | sed 's/^/    /'
    fi
done
exit "$failed"
