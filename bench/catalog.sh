#!/usr/bin/env bash
# Issue #13: every command at archive sizes of 1 k, 100 k and (BENCH_CATALOG_1M=1) 1 M segments.
# The archives are made by bench/mkarchive (one transaction per segment, one commit per second,
# 10 000 segments per binlog file, format 3 (format 2's catalog summaries, segments grouped in
# directories of 10 000), or BENCH_CATALOG_FORMAT=2 (flat segments/) or 1 (no summaries: the
# "before" of docs/BENCHMARKS.md); kept in $BENCH_DATA/catalog-vF-N,
# made once). Each command runs once, cold
# for the process (warm page cache); its wall time and peak RSS (getrusage of the child) are
# recorded. recover --dry-run needs a MariaDB server (the `--into` privilege checks): one is
# started with tests/lib/mariadb.sh; each plan starts 100 transactions before its target (a
# recovery from a recent base backup), at 1% (start), 50% (middle) and 99.9% (end) of the archive,
# by GTID, time and position. Recorded in docs/BENCHMARKS.md (section catalog).
#
#   BENCH_CATALOG_SIZES   sizes to run (default "1000 100000", plus 1000000 with BENCH_CATALOG_1M=1)
#   BENCH_CATALOG_FORMAT  1 or 2 (default): the archive format generated
#   BENCH_CATALOG_BEFORE  a file of rows measured before the conversion, printed beside (optional)
#   BENCH_CATALOG_SYNTH   sizes of synthetic archives (e.g. "3000000 30000000": a year of 10 s and of
#                         1 s segments) measured after the others: mkarchive --summaries-only 20000
#                         writes the summary lines of every block but the segments and block chunks
#                         of the last 20 000 segments only (and the chunk of each group's first
#                         block), so only what reads the summaries and the archive's end runs: list,
#                         status, recover --dry-run near the end, fetch of the last hour, prune
#                         --dry-run to the first block of the middle group (issue #13)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
MK=${BENCH_MKARCHIVE:-$BENCH_ROOT/build/release/mkarchive}
SIZES=${BENCH_CATALOG_SIZES-"1000 100000${BENCH_CATALOG_1M:+ 1000000}"}
FORMAT=${BENCH_CATALOG_FORMAT:-3}
START_TIME=1796000000 # mkarchive's default: seq s commits at START_TIME + s
work=$BENCH_DATA/catalog-run
out=$work/table.md
rm -rf "$work"; mkdir -p "$work"

[ -x "$MK" ] || { echo "bench: $MK is missing (make build/release/mkarchive)" >&2; exit 1; }

# measure CMD...: "seconds peak-MiB" of one run (output discarded; a failure is reported and
# recorded as "fail").
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open("/tmp/bench-catalog.err", "w"))
dt = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if rc != 0:
    sys.stderr.write("bench: exit %d: %s\n%s" % (rc, " ".join(sys.argv[1:]), open("/tmp/bench-catalog.err").read()[-2000:]))
    print("fail")
else:
    print("%.2f s %.0f MiB" % (dt, rss))
PY
}

archive_for() {
    local n=$1 dir=$BENCH_DATA/catalog-v$FORMAT-$1
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir"
        echo "# generating an archive of $n segments in $dir (once)" >&2
        local t0; t0=$(date +%s.%N)
        "$MK" "$dir" "$n" --format "$FORMAT" >&2
        echo "# generated in $(echo "$(date +%s.%N) - $t0" | bc -l | cut -c1-6) s" >&2
        touch "$dir/.complete"
    fi
    echo "$dir"
}

# The MariaDB server recover --dry-run checks the privileges on.
export BV_TEST_DIR=$work/servers
mkdir -p "$BV_TEST_DIR"
. "$BENCH_ROOT/tests/lib/mariadb.sh"
trap mdb_stop_all EXIT
mdb_start catalog > /dev/null
into="mysql://root@127.0.0.1:$(mdb_port catalog)"
export BINVAULT_INTO_PASSWORD=

gtid() { echo "0-11-$((1000 + $1))"; }
utc() { date -u -d "@$((START_TIME + $1))" '+%Y-%m-%d %H:%M:%S'; }
# The position of the end of segment s: 256 + 146 bytes per segment in its file (10 000 a file).
position() { local i=$((($1 - 1) % 10000)); printf 'mariadb-bin.%06d:%d' $((($1 - 1) / 10000 + 1)) $((256 + (i + 1) * 146)); }

list_all=()
# Not grep -q: it exits at the first match, list gets SIGPIPE and pipefail fails the test.
"$BV" list --help 2>&1 | grep -- '--all' > /dev/null && list_all=(--all)

rows=()
for n in $SIZES; do
    archive=$(archive_for "$n")
    s=$((n / 100 > 100 ? n / 100 : 101)); m=$((n / 2)); e=$((n - n / 1000 - 1))
    hour=$((n > 3600 ? n - 3600 : 1))
    echo "## catalog: $n segments" >&2
    r_list=$(measure "$BV" list --archive "$archive")
    r_all=$(measure "$BV" list --archive "$archive" "${list_all[@]}")
    r_status=$(measure "$BV" status --archive "$archive" --warn-rpo 999999999 --max-rpo 999999999)
    dry=("$BV" recover --archive "$archive" --into "$into" --dry-run --from-gtid)
    r_start=$(measure "${dry[@]}" "$(gtid $((s - 100)))" --until-gtid "$(gtid "$s")")
    r_mid=$(measure "${dry[@]}" "$(gtid $((m - 100)))" --until-time "$(utc "$m")")
    r_end=$(measure "${dry[@]}" "$(gtid $((e - 100)))" --until-position "$(position "$e")")
    rm -rf "$work/fetch"
    r_fetch=$(measure "$BV" fetch --archive "$archive" --from-gtid "$(gtid "$hour")" --to "$work/fetch")
    r_prune=$(measure "$BV" prune --archive "$archive" --before-gtid "$(gtid "$m")" --dry-run)
    r_verify=$(measure "$BV" verify --archive "$archive")
    r_log=$(measure "$BV" log --archive "$archive" --grep 'no such statement')
    rows+=("| $n | $r_list | $r_all | $r_status | $r_start | $r_mid | $r_end | $r_fetch | $r_prune | $r_verify | $r_log |")
    echo "${rows[-1]}" >&2
done

# Synthetic archives: only the end is stored, so the plans and the fetch stay in the last 20 000
# segments and the prune cuts at a group's first block (whose chunk is stored).
synth_for() {
    local n=$1 dir=$BENCH_DATA/catalog-synth-v3-$1
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir"
        echo "# generating a synthetic archive of $n segments in $dir (once)" >&2
        "$MK" "$dir" "$n" --summaries-only 20000 >&2
        touch "$dir/.complete"
    fi
    echo "$dir"
}
synth_rows=()
for n in ${BENCH_CATALOG_SYNTH:-}; do
    archive=$(synth_for "$n")
    e=$((n - 1000)); hour=$((n - 3600))
    groups=$(((n - 1) / 1048576 + 1)); p=$((groups / 2 * 1048576 + 500))
    echo "## catalog: $n segments (synthetic)" >&2
    r_list=$(measure "$BV" list --archive "$archive")
    r_status=$(measure "$BV" status --archive "$archive" --warn-rpo 999999999 --max-rpo 999999999)
    r_end=$(measure "$BV" recover --archive "$archive" --into "$into" --dry-run --from-gtid "$(gtid $((e - 100)))" \
        --until-gtid "$(gtid "$e")")
    rm -rf "$work/fetch"
    r_fetch=$(measure "$BV" fetch --archive "$archive" --from-gtid "$(gtid "$hour")" --to "$work/fetch")
    r_prune=$(measure "$BV" prune --archive "$archive" --before-gtid "$(gtid "$p")" --dry-run)
    synth_rows+=("| $n | $(du -sh "$archive/catalog" | cut -f1) | $r_list | $r_status | $r_end | $r_fetch | $r_prune |")
    echo "${synth_rows[-1]}" >&2
done
rm -rf "$work/fetch"

{
    echo "### Every command at 1 k, 100 k and 1 M segments (issue #13)"
    echo
    echo "$(bench_machine); $(date -u '+%Y-%m-%d %H:%M') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg): a machine"
    echo "shared with other jobs, times vary. Format-$FORMAT directory archives made by bench/mkarchive (one"
    echo "transaction per segment, a commit per second, 10 000 segments per binlog file); wall time and peak"
    echo "RSS of one run, warm page cache. recover --dry-run plans 100 transactions up to a GTID at 1% (start),"
    echo "a time at 50% (middle), a position at 99.9% (end), and verifies them; fetch writes the last hour"
    echo "(3600 segments); prune --dry-run to the middle; log --grep and verify read the whole archive."
    echo "\`bench/catalog.sh\` (1 M with BENCH_CATALOG_1M=1)."
    echo
    echo "| segments | list | list --all | status | recover start | recover middle | recover end | fetch last hour | prune --dry-run | verify | log --grep |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    if [ ${#synth_rows[@]} -gt 0 ]; then
        echo
        echo "Synthetic archives (mkarchive --summaries-only 20000: summary lines of every block, the last"
        echo "20 000 segments stored); recover --dry-run plans 100 transactions up to 1000 before the end,"
        echo "prune --dry-run cuts at the first block of the middle group of 1024 blocks."
        echo
        echo "| segments | catalog/ | list | status | recover end | fetch last hour | prune --dry-run |"
        echo "|---|---|---|---|---|---|---|"
        printf '%s\n' "${synth_rows[@]}"
    fi
    if [ -n "${BENCH_CATALOG_BEFORE:-}" ] && [ -f "$BENCH_CATALOG_BEFORE" ]; then
        echo
        cat "$BENCH_CATALOG_BEFORE"
    fi
} > "$out"
cat "$out"
bench_record catalog "$out"
