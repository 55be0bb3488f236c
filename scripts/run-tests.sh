#!/usr/bin/env bash
# Runs the unit tests and the integration tests with the binaries of build directory $1, and
# prints the closing line "N passed, N failed". $2 = "unit" or "integration" runs only those.
# TESTS="name1 name2" limits the integration scripts run.
set -uo pipefail

build=${1:?usage: run-tests.sh BUILD_DIR [unit|integration]}
only=${2:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export BV_BIN="${BV_BIN_OVERRIDE:-$root/$build/binvault}"
export BV_ROOT="$root"
export BV_FIXTURES="${BV_FIXTURES:-$root/../shared/fixtures/binlog}"
results=$(mktemp)
export BV_RESULTS=$results
passed=0 failed=0

if [ "$only" != integration ]; then
    out=$(mktemp)
    "$build/test-unit" 2>&1 | tee "$out"
    line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "not ok - unit test runner ended without a summary (crash?)"
        failed=$((failed + 1))
    else
        p=$(echo "$line" | sed -E 's/^unit: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        passed=$((passed + p)); failed=$((failed + f))
    fi
    rm -f "$out"
fi

if [ "$only" != unit ]; then
    for t in tests/integration/*.sh; do
        name=$(basename "$t" .sh)
        if [ -n "${TESTS:-}" ] && ! [[ " $TESTS " == *" $name "* ]]; then continue; fi
        echo "# integration $name"
        dir=$(mktemp -d "/tmp/binvault-it-$name-XXXXXX")
        before=$(grep -c . "$results" || true)
        BV_TEST_DIR=$dir timeout "${BV_TEST_TIMEOUT:-1200}" bash "$t"
        rc=$?
        after=$(grep -c . "$results" || true)
        if [ $rc -ne 0 ] || [ "$after" -eq "$before" ]; then
            echo "not ok - integration script $name exited $rc (after $((after - before)) checks)"
            echo fail >> "$results"
        fi
        if [ $rc -eq 0 ] && [ -z "${BV_KEEP_TMP:-}" ]; then rm -rf "$dir"; else echo "# kept $dir"; fi
    done
    passed=$((passed + $(grep -c '^pass$' "$results" || true)))
    failed=$((failed + $(grep -c '^fail$' "$results" || true)))
fi
rm -f "$results"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
