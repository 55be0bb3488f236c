#!/usr/bin/env bash
# Issue #13: the agent archiving 1,000 transactions/s with 1 s segments into a 1 M-segment archive,
# beside the same agent on a fresh archive, in one run: start time, peak RSS, CPU and archive RPO.
#
# The 1 M archive is a real history of the MariaDB server the agent then follows: bench/mkarchive
# writes it as that server's (its server_id 11, gtid_domain_id 0, binlog base name, address), its
# last segment ending its binlog file with a ROTATE to the next one; the server is then made to
# start its binlog exactly there: `SET GLOBAL gtid_binlog_state` to the archive's end state, FLUSH
# BINARY LOGS up to the next file's number, PURGE BINARY LOGS TO it (the older files a long-running
# server would have purged). The agent resumes from the archive's end as from any archive it wrote:
# the same source (no new timeline), its end state in the server's history, the stream by GTID state
# continuing at the start of the next file. Afterwards `binvault verify` of the whole archive and
# `recover --dry-run` from 100 transactions before the generated end to the end must accept it.
#
# The fresh and 1 M agents run one after the other, BENCH_CATALOG_AGENT_ROUNDS times (default 2),
# on the same server; each archives a paced load (bench_paced_setup) of BENCH_CATALOG_AGENT_RATE
# transactions/s (default 1000) for BENCH_CATALOG_AGENT_SECONDS (default 60) after a 5 s warm-up,
# with `--segment-interval 1s`: CPU (user+system over the load), peak RSS (VmHWM), archive RPO
# sampled every 0.5 s as bench/rpo.sh does (reported by /status, and measured from the commit times
# read back), the load average. The start time is from the agent's first log line to its "segments
# up to" line (the archive opened: upgrade check, view, index writer, tail), and to /healthz.
# Recorded in docs/BENCHMARKS.md (section catalog_agent). The 1 M archive (about 4.7 GB) is made in
# $BENCH_DATA/catalog-agent-run and deleted at the end (BENCH_KEEP=1 keeps it).
#
# A block (1024 segments) completes once every 17 minutes at one segment a second, and that is when
# the writer does its largest step: the block chunk, and the group's level-1 document (one line per
# block: about 1.5 MB near 1 M segments) written again. So the large archive ends 40 segments
# before a block does: the first round on it completes a block while it is measured (the table
# says which seqs each run archived while measured).
#
#   BENCH_CATALOG_AGENT_SEGMENTS   about how many segments the large archive has (default 1000000)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
MK=${BENCH_MKARCHIVE:-$BENCH_ROOT/build/release/mkarchive}
SIZE=${BENCH_CATALOG_AGENT_SEGMENTS:-1000000}
BLOCK_END=$(( (SIZE + 1023) / 1024 * 1024 ))
N=$((BLOCK_END - 40))
RATE=${BENCH_CATALOG_AGENT_RATE:-1000}
SECS=${BENCH_CATALOG_AGENT_SECONDS:-60}
ROUNDS=${BENCH_CATALOG_AGENT_ROUNDS:-2}
WARM=5
work=$BENCH_DATA/catalog-agent-run
big=$work/big
rm -rf "$work"; mkdir -p "$work"
[ -x "$MK" ] || { echo "bench: $MK is missing (make build/release/mkarchive)" >&2; exit 1; }

export BV_TEST_DIR=$work/servers BV_BIN=$BV BV_ROOT=$BENCH_ROOT
mkdir -p "$BV_TEST_DIR"
. "$BENCH_ROOT/tests/lib/mariadb.sh"
. "$BENCH_ROOT/tests/lib/agent.sh"
APID= LOADPID=
cleanup() {
    [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
    [ -n "$APID" ] && kill -9 "$APID" 2>/dev/null
    mdb_stop_all
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$big"
}
trap cleanup EXIT

MDB_SERVER_ID=11 mdb_start source > /dev/null
MDB_SERVER_ID=2 mdb_start into > /dev/null
port=$(mdb_port source)
cnf=$(mdb_cnf source)

echo "# generating an archive of $N segments in $big" >&2
t0=$(date +%s.%N)
read -r _ endfile endpos nextfile endstate < <("$MK" "$big" "$N" --ends-file --server-id 11 --domain 0 \
    --basename mariadb-bin --source "127.0.0.1:$port" | awk '$1 == "end"')
echo "# generated in $(echo "$(date +%s.%N) - $t0" | bc -l | cut -c1-6) s: ends at $endfile:$endpos, gtid state $endstate" >&2
# The server's binlog starts where the archive ends: its state, then the next file's number.
mdb_sql source "RESET MASTER; SET GLOBAL gtid_binlog_state = '$endstate'"
nextno=$((10#${nextfile##*.}))
mdb_sql source "$(for _ in $(seq 2 "$nextno"); do printf 'FLUSH BINARY LOGS;'; done) PURGE BINARY LOGS TO '$nextfile'"
[ "$(mdb_sql source "SHOW BINARY LOGS" | awk 'NR == 1 {print $1}')" = "$nextfile" ] ||
    { echo "bench: the server's binlog does not start at $nextfile" >&2; exit 1; }
repl_user source
bench_paced_setup source pacebench

# The checkpoint's seq the agent on HTTP port $1 reports.
checkpoint_seq() {
    curl -s "http://127.0.0.1:$1/status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["archive"]["checkpoint"]["seq"])'
}

# run KIND ROUND ARCHIVE [options...]: one agent over the paced load; a result line into $work/results.
run() {
    local kind=$1 round=$2 archive=$3; shift 3
    local name=$kind-$round log=$work/$kind-$round.log hp launched healthy s0 a0 a1 c0 c1 opened q0 q1
    hp=$(free_port)
    launched=$(date +%s.%N)
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV" agent --source "mysql://repl@127.0.0.1:$port" --archive "$archive" \
        --spool "$work/spool-$name" --segment-interval 1s --heartbeat 1s --source-poll 1s --purge-check 0 \
        --http "127.0.0.1:$hp" "$@" > "$log" 2>&1 &
    APID=$!
    healthy=
    for _ in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hp/healthz")" = 200 ]; then
            healthy=$(echo "$(date +%s.%N) - $launched" | bc -l); break
        fi
        kill -0 "$APID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$healthy" ] || { echo "bench: agent $name did not become healthy: $(tail -n 5 "$log")" >&2; exit 1; }
    opened=$(python3 - "$log" <<'PY'
import datetime, re, sys
ts = lambda l: datetime.datetime.strptime(l.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
lines = open(sys.argv[1]).read().splitlines()
first = ts(lines[0])
done = [l for l in lines if re.search(r"archive '.*': segments up to|archive '.*' is empty", l)]
print("%.2f" % (ts(done[0]) - first) if done else "?")
PY
)
    mdb_sql source "TRUNCATE pacebench.t"
    s0=$(mdb_sql source "SELECT @@gtid_binlog_pos" | sed -E 's/.*0-11-([0-9]+).*/\1/')
    mariadb --defaults-file="$cnf" -uroot -e "CALL pacebench.paced($RATE, $((WARM + SECS + 3)))" &
    LOADPID=$!
    sleep "$WARM"
    a0=$(bench_cpu_seconds "$APID"); c0=$(mdb_sql source "SELECT COUNT(*) FROM pacebench.t"); t0=$(date +%s.%N)
    q0=$(checkpoint_seq "$hp")
    bench_rpo_sample "127.0.0.1:$hp" "$cnf" pacebench.t "$s0" "$SECS" "$work/$name.samples"
    a1=$(bench_cpu_seconds "$APID"); c1=$(mdb_sql source "SELECT COUNT(*) FROM pacebench.t"); t1=$(date +%s.%N)
    q1=$(checkpoint_seq "$hp")
    hwm=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$APID/status")
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    wait "$LOADPID" || true
    LOADPID=
    kill -TERM "$APID"; wait "$APID" || { echo "bench: agent $name failed: $(tail -n 5 "$log")" >&2; exit 1; }
    APID=
    local el; el=$(echo "$t1 - $t0" | bc -l)
    printf '| %s | %s | %s-%s | %s s / %.2f s | %s MiB | %.1f%% | %.0f | %s | %s | %s |\n' "$kind" "$round" "$q0" "$q1" \
        "$opened" "$healthy" "$hwm" "$(echo "100 * ($a1 - $a0) / $el" | bc -l)" "$(echo "($c1 - $c0) / $el" | bc -l)" \
        "$(bench_percentiles "$work/$name.samples" 1 | sed 's/ / \/ /g')" \
        "$(bench_percentiles "$work/$name.samples" 2 | sed 's/ / \/ /g')" "$load" | tee -a "$work/results" >&2
}

period0=$(date -u +%H:%M)
for r in $(seq 1 "$ROUNDS"); do
    run fresh "$r" "file://$work/fresh-$r" --start-position "$(mdb_sql source "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')"
    run "$N" "$r" "file://$big"
done
period1=$(date -u +%H:%M)

# The agent continued the archive: no new timeline, and every check of it passes.
[ ! -e "$big/timelines" ] || { echo "bench: the agent started a new timeline in the large archive" >&2; exit 1; }
vt0=$(date +%s.%N)
"$BV" verify --archive "file://$big" > "$work/verify.out" 2>&1 ||
    { echo "bench: verify of the large archive failed:" >&2; grep -v '^note' "$work/verify.out" | head -n 20 >&2; exit 1; }
vt=$(echo "$(date +%s.%N) - $vt0" | bc -l)
fromgtid=$(echo "$endstate" | awk -F- '{printf "%s-%s-%d", $1, $2, $3 - 100}')
BINVAULT_INTO_PASSWORD= "$BV" recover --archive "file://$big" --into "mysql://root@127.0.0.1:$(mdb_port into)" --dry-run \
    --from-gtid "$fromgtid" --until-end > "$work/recover.out" 2>&1 ||
    { echo "bench: recover --dry-run of the large archive failed:" >&2; tail -n 20 "$work/recover.out" >&2; exit 1; }
segs=$(grep -oE '^verified [0-9]+ segments' "$work/verify.out" | awk '{print $2}')

out=$work/table.md
{
    echo "### The agent on a 1 M-segment archive (issue #13)"
    echo
    echo "$(date -u +%Y-%m-%d) $period0-$period1 UTC, $(bench_machine): a machine shared with other jobs. MariaDB"
    echo "$(mariadbd --version | awk '{print $3}') on loopback; one session inserts ~100-byte rows in autocommit transactions"
    echo "paced at $RATE/s; \`binvault agent --segment-interval 1s --heartbeat 1s\` into a directory archive: *fresh*"
    echo "(a new archive, \`--start-position\` at the server's end) or the $N-segment archive of bench/mkarchive"
    echo "that the server's binlog continues (the server's own history: its server_id, domain, base name; the"
    echo "server's binlog starts at the file after the archive's last one, at the archive's end GTID state, by"
    echo "\`SET GLOBAL gtid_binlog_state\`, FLUSH and PURGE BINARY LOGS). The kinds run one after the other, $ROUNDS rounds."
    echo "Start: from the agent's first log line to \"segments up to\" (archive opened) / to /healthz 200 from the"
    echo "launch. CPU: user+system over ${SECS} s after a ${WARM} s warm-up, share of one core. RPO: archive RPO every"
    echo "0.5 s, as \`/status\` reports it and as measured (age of the first transaction after the checkpoint, its"
    echo "commit time read back from the server), p50 / p99 / max in seconds. The large archive ends 40 segments before"
    echo "block $((BLOCK_END / 1024 - 1)) does (seq $BLOCK_END): its first round completes that block while measured (block chunk and"
    echo "level-1 summary of $((BLOCK_END / 1024)) lines stored, the block's narrower chunks deleted). \`bench/catalog_agent.sh\`."
    echo
    echo "| archive | round | seqs archived while measured | start: opened / healthy | peak RSS | agent CPU | tx/s | archive RPO reported | archive RPO measured | load average |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    cat "$work/results"
    echo
    echo "Afterwards \`binvault verify\` of the large archive: OK, $segs segments in $(printf '%.0f' "$vt") s (no new timeline:"
    echo "the agent continued timeline 1), and \`recover --dry-run --from-gtid $fromgtid --until-end\` accepts the plan"
    echo "from the generated history into what the agent archived. The issue's aim: RSS under 64 MiB and archive RPO p99"
    echo "under 1.5 s at 1 M, as on a fresh archive."
} > "$out"
cat "$out"
bench_record catalog_agent "$out"
