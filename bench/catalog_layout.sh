#!/usr/bin/env bash
# Issue #13, format 3: what grouping segments/ in directories of 10 000 seqs saves a directory
# archive. The same N-segment history (bench/mkarchive: one transaction per segment, a commit per
# second, 10 000 segments per binlog file) as format 2 (every segment in segments/ itself) and as
# format 3 (segments/<seq/10000>/), both kept in $BENCH_DATA/catalog-vF-N (made once). The commands
# that read the archive's end run on each, interleaved, three rounds: list, fetch of the last hour,
# prune --dry-run to the middle. Wall time and peak RSS of each run, warm page cache.
#   BENCH_LAYOUT_N   segments (default 1000000: ~5 GB per archive, ~3 min to make each)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
MK=${BENCH_MKARCHIVE:-$BENCH_ROOT/build/release/mkarchive}
N=${BENCH_LAYOUT_N:-1000000}
work=$BENCH_DATA/catalog-layout-run
out=$work/table.md
rm -rf "$work"; mkdir -p "$work"
[ -x "$MK" ] || { echo "bench: $MK is missing (make build/release/mkarchive)" >&2; exit 1; }

archive_for() {
    local format=$1 dir=$BENCH_DATA/catalog-v$1-$N
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir"
        echo "# generating a format-$format archive of $N segments in $dir (once)" >&2
        "$MK" "$dir" "$N" --format "$format" > /dev/null
        touch "$dir/.complete"
    fi
    echo "$dir"
}

# run CMD...: "seconds s, peak MiB" of one run (output discarded).
run() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
dt = time.monotonic() - t0
print("fail" if rc else "%.2f s, %.0f MiB" % (dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))
PY
}

v2=$(archive_for 2); v3=$(archive_for 3)
hour=$((N > 3600 ? N - 3600 : 1)); mid=$((N / 2))
rows=()
for round in 1 2 3; do
    for format in 2 3; do
        dir=$v2; [ "$format" = 3 ] && dir=$v3
        rm -rf "$work/fetch"
        rows+=("| $round | $format | $(run "$BV" list --archive "$dir") | $(run "$BV" fetch --archive "$dir" \
            --from-gtid "0-11-$((1000 + hour))" --to "$work/fetch") | $(run "$BV" prune --archive "$dir" \
            --before-gtid "0-11-$((1000 + mid))" --dry-run) | $(cut -d' ' -f1 /proc/loadavg) |")
        echo "${rows[-1]}" >&2
    done
done
rm -rf "$work/fetch"
{
    echo "### Format 3: segments/ in groups, a directory archive of $N segments (issue #13)"
    echo
    echo "$(bench_machine); $(date -u '+%Y-%m-%d %H:%M') UTC. The same history as format 2 (flat"
    echo "\`segments/\`) and format 3 (\`segments/<seq/10000>/\`), interleaved; each command opens the catalog"
    echo "view, which lists \`segments/\` from the tail's first seq. \`bench/catalog_layout.sh\`."
    echo
    echo "| round | format | list | fetch of the last hour | prune --dry-run | load |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"
bench_record catalog_layout "$out"
