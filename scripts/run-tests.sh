#!/usr/bin/env bash
# Runs the unit tests and the integration tests with the binaries of build directory $1, and
# prints the closing line "N passed, N failed". $2 = "unit" or "integration" runs only those;
# "faults" runs only the fault-injection suite (tests/faults/*.sh, `make faults`) and prints the
# faults it injected and the transactions written and lost, per scenario.
# TESTS="name1 name2" limits the integration (or fault) scripts run; BV_JOBS (default 2) integration
# scripts run at a time.
set -uo pipefail

build=${1:?usage: run-tests.sh BUILD_DIR [unit|integration|faults]}
only=${2:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export BV_BIN="${BV_BIN_OVERRIDE:-$root/$build/binvault}"
export BV_ROOT="$root"
export BV_FIXTURES="${BV_FIXTURES:-$root/../shared/fixtures/binlog}"
results=$(mktemp)
export BV_RESULTS=$results
passed=0 failed=0

scripts_dir=tests/integration
if [ "$only" = faults ]; then
    scripts_dir=tests/faults
    export BV_FAULT_COUNTS=$(mktemp)
    faults_start=$(date +%s)
fi

if [ "$only" = all ] || [ "$only" = unit ]; then
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

# One script: its own test directory and results file, its output to $log; then the pass/fail
# lines join $results. A script that exits non-zero or records no check is a failure.
run_script() {
    local t=$1 log=$2 name dir res rc t0 n bad=0
    name=$(basename "$t" .sh)
    dir=$(mktemp -d "/tmp/binvault-it-$name-XXXXXX")
    res=$(mktemp)
    t0=$(date +%s)
    {
        echo "# ${scripts_dir#tests/} $name"
        BV_RESULTS=$res BV_TEST_DIR=$dir timeout "${BV_TEST_TIMEOUT:-1200}" bash "$t"
        rc=$?
        n=$(grep -c . "$res" || true)
        if [ $rc -ne 0 ] || [ "$n" -eq 0 ]; then
            echo "not ok - integration script $name exited $rc (after $n checks)"
            echo fail >> "$res"
        fi
        # A fault scenario's logs are kept when one of its checks failed, too.
        [ "$only" = faults ] && grep -q '^fail$' "$res" && bad=1
        if [ $rc -eq 0 ] && [ $bad = 0 ] && [ -z "${BV_KEEP_TMP:-}" ]; then rm -rf "$dir"; else echo "# kept $dir"; fi
        echo "# ${scripts_dir#tests/} $name: $(( $(date +%s) - t0 )) s"
    } > "$log" 2>&1
    [ "$only" = faults ] && printf '%s\trun time (s)\t%s\n' "$name" $(( $(date +%s) - t0 )) >> "$BV_FAULT_COUNTS"
    cat "$res" >> "$results"
    rm -f "$res"
}

if [ "$only" != unit ]; then
    # The scripts to run, the longest first (tests/integration/durations, seconds of a past run:
    # with parallel jobs the suite then ends with the short ones).
    scripts=()
    for t in "$scripts_dir"/*.sh; do
        name=$(basename "$t" .sh)
        [[ $name == _* ]] && continue # helpers of the scripts
        if [ -n "${TESTS:-}" ] && ! [[ " $TESTS " == *" $name "* ]]; then continue; fi
        secs=$(awk -v n="$name" '$1 == n { print $2 }' "$scripts_dir/durations" 2>/dev/null)
        scripts+=("${secs:-0} $t")
    done
    mapfile -t scripts < <(printf '%s\n' "${scripts[@]}" | sort -k1,1nr -k2 | cut -d' ' -f2-)
    # Integration scripts run BV_JOBS at a time (each has its own servers, ports and directories;
    # most of their time is waiting); the fault scenarios one at a time (they change the network
    # and the machine). Each script's output is printed whole when it ends.
    jobs_max=${BV_JOBS:-2}
    [ "$only" = faults ] && jobs_max=1
    logs=$(mktemp -d)
    running=0
    for t in "${scripts[@]}"; do
        [ -n "$t" ] || continue
        if [ "$jobs_max" -le 1 ]; then
            run_script "$t" "$logs/out"
            cat "$logs/out"
            continue
        fi
        while [ "$running" -ge "$jobs_max" ]; do
            wait -n
            running=$((running - 1))
        done
        log="$logs/$(basename "$t" .sh)"
        ( run_script "$t" "$log.part"; mv "$log.part" "$log.done" ) &
        running=$((running + 1))
        # Print what has ended, as it ends.
        for f in "$logs"/*.done; do [ -e "$f" ] && { cat "$f"; rm -f "$f"; }; done
    done
    wait
    for f in "$logs"/*.done; do [ -e "$f" ] && { cat "$f"; rm -f "$f"; }; done
    rm -rf "$logs"
    passed=$((passed + $(grep -c '^pass$' "$results" || true)))
    failed=$((failed + $(grep -c '^fail$' "$results" || true)))
fi

if [ "$only" = faults ]; then
    # The counts each scenario recorded (scenario, what, count), and the suite's totals.
    echo "# fault-injection suite: $(( $(date +%s) - faults_start )) s"
    awk -F'\t' '{ printf "#   %-10s %-56s %s\n", $1, $2, $3 }
        $2 ~ /^(transactions|agent SIGKILL)/ { total[$2] += $3 }
        END { for (k in total) printf "#   %-10s %-56s %s\n", "total", k, total[k] }' "$BV_FAULT_COUNTS"
    kills=$(awk -F'\t' '$2 == "agent SIGKILL" { n += $3 } END { print n + 0 }' "$BV_FAULT_COUNTS")
    echo "# agent SIGKILLed $kills times in total"
    if [ -z "${TESTS:-}" ]; then
        if [ "$kills" -ge 50 ]; then
            passed=$((passed + 1)); echo "ok - the suite SIGKILLed the agent at least 50 times ($kills)"
        else
            failed=$((failed + 1)); echo "not ok - the suite SIGKILLed the agent at least 50 times ($kills)"
        fi
    fi
    rm -f "$BV_FAULT_COUNTS"
fi
rm -f "$results"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
