#!/usr/bin/env bash
# Runs each libFuzzer target for $1 seconds, its corpus seeded from fuzz/seeds-NAME/ (and, for
# fuzz_binlog, the binlog fixtures).
# Usage: fuzz.sh SECONDS TARGET...   (built as build/fuzz/TARGET by `make fuzz`)
set -euo pipefail
secs=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${BV_FIXTURES:-$root/../shared/fixtures/binlog}
# UBSan reports are recoverable in the fuzz build: stop at the first one, as at a crash.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for t in "$@"; do
    corpus=$root/build/fuzz/corpus-$t
    mkdir -p "$corpus"
    seeds=$root/fuzz/seeds-${t#fuzz_}
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    if [ "$t" = fuzz_binlog ]; then cp -n "$fixtures"/*.binlog "$corpus"/ 2>/dev/null || true; fi
    echo "# fuzz $t for ${secs}s"
    "$root/build/fuzz/$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        "$corpus" 2>&1 | tail -n 12
done
