#!/usr/bin/env bash
# Runs the unit tests and the integration tests with the binaries of build directory $1, and
# prints the closing line "N passed, N failed". $2 = "unit" or "integration" runs only those;
# "faults" runs only the fault-injection suite (tests/faults/*.sh, `make faults`) and prints the
# faults it injected and the transactions written and lost, per scenario.
# TESTS="name1 name2" limits the integration (or fault) scripts run; BV_JOBS (default 2) integration
# scripts and unit suites (each in a runner of its own) run at a time, the scripts starting as the
# suites end.
# Each suite's and script's time is printed when it ends, the ten slowest before the closing line.
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

# Seconds each unit suite and integration script took ("NAME SECONDS"), for the slowest at the end.
times=$(mktemp)

# The names of the lines of a durations file ($1: "NAME SECONDS", of a past run), the longest first,
# then the names of $2... it does not list: with parallel jobs the run then ends with the short ones.
longest_first() {
    local durations=$1 name secs
    shift
    for name in "$@"; do
        secs=$(awk -v n="$name" '$1 == n { print $2 }' "$durations" 2>/dev/null)
        echo "${secs:-0} $name"
    done | sort -k1,1nr -k2 | cut -d' ' -f2-
}

# Jobs (unit suites, integration scripts) run in the background, BV_JOBS (default 2) at a time
# (the fault scenarios one at a time: they change the network and the machine); each one's output
# is printed whole when it ends.
jobs_max=${BV_JOBS:-2}
[ "$only" = faults ] && jobs_max=1
logs=$(mktemp -d)
running=0
jobs_print() {
    for f in "$logs"/*.done; do [ -e "$f" ] && { cat "$f"; rm -f "$f"; }; done
}
job_start() { # NAME COMMAND...: COMMAND ARGS... LOG, once fewer than jobs_max run
    local name=$1
    shift
    while [ "$running" -ge "$jobs_max" ]; do
        wait -n
        running=$((running - 1))
    done
    ( "$@" "$logs/$name.part"; mv "$logs/$name.part" "$logs/$name.done" ) &
    running=$((running + 1))
    jobs_print
}

# One unit suite in a runner process of its own; its output, then its time, to $2, its counts to
# $unit_results ("SUITE PASSED FAILED", or "SUITE crash": the runner ended without its closing
# line). Its files go to a tmpfs when there is one (BV_UNIT_TMPDIR, default /dev/shm): some suites
# write thousands of small objects, each fsynced, which on a disk takes minutes.
unit_tmp=${BV_UNIT_TMPDIR:-/dev/shm}
[ -d "$unit_tmp" ] && [ -w "$unit_tmp" ] || unit_tmp=${TMPDIR:-/tmp}
unit_results=$(mktemp)
run_suite() {
    local s=$1 log=$2 t0 line
    t0=$(date +%s)
    TMPDIR=$unit_tmp "$build/test-unit" "$s" > "$log" 2>&1
    echo "# unit $s: $(( $(date +%s) - t0 )) s" >> "$log"
    echo "unit/$s $(( $(date +%s) - t0 ))" >> "$times"
    line=$(grep -E '^unit: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        echo "$s $(echo "$line" | sed -E 's/^unit: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')" >> "$unit_results"
    else
        echo "$s crash" >> "$unit_results"
    fi
}

# Once every suite has ended: their closing line, and their counts added to the run's.
unit_finish() {
    local s p f up=0 uf=0
    wait
    running=0
    jobs_print
    while read -r s p f; do
        if [ "$p" = crash ]; then
            echo "not ok - unit suite $s ended without a summary (crash?)"
            uf=$((uf + 1))
        else
            up=$((up + p)); uf=$((uf + f))
        fi
    done < "$unit_results"
    echo "unit: $up passed, $uf failed"
    passed=$((passed + up)); failed=$((failed + uf))
}

units=0
if [ "$only" = all ] || [ "$only" = unit ]; then
    # The suites (tests/unit/test_NAME.c), the longest first; the integration scripts start as
    # soon as a job ends, beside the long suites' last minutes.
    suites=()
    for f in tests/unit/test_*.c; do suites+=("$(basename "$f" .c | sed 's/^test_//')"); done
    mapfile -t suites < <(longest_first tests/unit/durations "${suites[@]}")
    for s in "${suites[@]}"; do job_start "unit-$s" run_suite "$s"; done
    units=1
    # One job at a time: the suites end before the first script starts.
    if [ "$only" = unit ] || [ "$jobs_max" -le 1 ]; then unit_finish; units=0; fi
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
    echo "${scripts_dir#tests/}/$name $(( $(date +%s) - t0 ))" >> "$times"
    [ "$only" = faults ] && printf '%s\trun time (s)\t%s\n' "$name" $(( $(date +%s) - t0 )) >> "$BV_FAULT_COUNTS"
    cat "$res" >> "$results"
    rm -f "$res"
}

if [ "$only" != unit ]; then
    # The scripts to run, the longest first (tests/integration/durations, seconds of a past run).
    names=()
    for t in "$scripts_dir"/*.sh; do
        name=$(basename "$t" .sh)
        [[ $name == _* ]] && continue # helpers of the scripts
        if [ -n "${TESTS:-}" ] && ! [[ " $TESTS " == *" $name "* ]]; then continue; fi
        names+=("$name")
    done
    scripts=()
    [ ${#names[@]} -gt 0 ] && mapfile -t scripts < <(longest_first "$scripts_dir/durations" "${names[@]}" |
        sed "s|^|$scripts_dir/|; s|\$|.sh|")
    # Each has its own servers, ports and directories; most of their time is waiting.
    for t in "${scripts[@]}"; do
        [ -n "$t" ] || continue
        if [ "$jobs_max" -le 1 ]; then
            run_script "$t" "$logs/out"
            cat "$logs/out"
            continue
        fi
        job_start "$(basename "$t" .sh)" run_script "$t"
    done
    wait
    running=0
    jobs_print
    passed=$((passed + $(grep -c '^pass$' "$results" || true)))
    failed=$((failed + $(grep -c '^fail$' "$results" || true)))
fi
[ "$units" = 1 ] && unit_finish

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
# Where the time went: the ten slowest suites and scripts (their lines above say each one's).
echo "# slowest: $(sort -k2,2nr "$times" | head -n 10 | awk '{ printf "%s%s %ss", (NR > 1 ? ", " : ""), $1, $2 }')"
rm -rf "$results" "$times" "$unit_results" "$logs"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
