#!/usr/bin/env bash
# Runs each libFuzzer target for $1 seconds, its corpus seeded from fuzz/seeds-NAME/ (and, for
# fuzz_binlog, the binlog fixtures), BV_FUZZ_JOBS targets at a time (default: the number of
# cores); each target's summary is printed when it ends. Fails when a target found a crash.
# Usage: fuzz.sh SECONDS TARGET...   (built as build/fuzz/TARGET by `make fuzz`)
set -euo pipefail
secs=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${BV_FIXTURES:-$root/../shared/fixtures/binlog}
# UBSan reports are recoverable in the fuzz build: stop at the first one, as at a crash.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
jobs_max=${BV_FUZZ_JOBS:-$(nproc)}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

fuzz_one() {
    local t=$1 corpus=$root/build/fuzz/corpus-$1 seeds=$root/fuzz/seeds-${1#fuzz_}
    mkdir -p "$corpus"
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    if [ "$t" = fuzz_binlog ]; then cp -n "$fixtures"/*.binlog "$corpus"/ 2>/dev/null || true; fi
    echo "# fuzz $t for ${secs}s"
    # libFuzzer writes crash-* / leak-* / timeout-* reproducers into the working directory.
    (cd "$root" && "$root/build/fuzz/$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        -print_final_stats=1 "$corpus" 2>&1) | tail -n 12
}

pids=() names=() failed=0
finish() { # $1: index in pids
    local rc=0
    wait "${pids[$1]}" || rc=$?
    cat "$logs/${names[$1]}"
    [ $rc -eq 0 ] || { echo "not ok - fuzz ${names[$1]} exited $rc"; failed=1; }
}
next=0
for t in "$@"; do
    if [ ${#pids[@]} -ge $((next + jobs_max)) ]; then finish $next; next=$((next + 1)); fi
    (set -o pipefail; fuzz_one "$t") > "$logs/$t" 2>&1 &
    pids+=($!) names+=("$t")
done
while [ $next -lt ${#pids[@]} ]; do finish $next; next=$((next + 1)); done
exit $failed
