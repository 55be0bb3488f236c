#!/usr/bin/env bash
# Catch-up throughput of `binvault agent` over >= 1 GB of pre-written binlogs into a local
# directory archive (compressing, hashing, fsyncing, indexing), beside `mariadb-binlog
# --read-from-remote-server --raw --to-last-log` pulling the same binlogs, in the same run, on two
# data sets: OLTP-shaped (small autocommit transactions, ~3 KB of binlog each) and large rows
# (1 MB rows, which favour a raw copy: few events per byte); and the small-event set again into an
# encrypted archive (sysbench-enc). Every catch-up is reported as a fraction of the raw read of
# the same set, measured in the same run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
export BV_BIN=$BV
out=$(mktemp)
RAWREAD=${RAWREAD:-$BENCH_ROOT/build/release/rawread}
[ -x "$RAWREAD" ] || { echo "bench: $RAWREAD is missing (make build/release/rawread)" >&2; exit 1; }
{
    echo "### Agent catch-up (issue: agent; issue #15)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start. MariaDB $(mariadbd --version | awk '{print $3}') on loopback, binlogs in the page cache; the archive is a local directory."
    echo "**Raw read** is what the server can send: \`bench/rawread.c\`, a Connector/C loop that only reads the replication packets (ANNOTATE_ROWS requested, as the agent does), best of 3. **binvault** is from start until its checkpoint reaches the server's end (the write time of that checkpoint.json; the watcher polls every 0.3 s so as not to take the CPU it measures), everything lz4-compressed, SHA-256-hashed, fsync'd in the spool and stored in the archive (\`--segment-size 64M --segment-interval 200ms\`). **CPU s/GB** is the agent's user+system time (its /proc/PID/stat, read when it has caught up) per GB of binlog."
    echo
    echo "| data set | binlog MB | events | raw read: s (MB/s) | mariadb-binlog --raw: s | binvault agent: s (MB/s) | agent / raw read | agent CPU s/GB | agent peak RSS | archive size |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
} > "$out"

# The agent's user+system CPU seconds, from /proc/PID/stat.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# The checkpoint's FILE:POS of archive $1 (encrypted: read with the key file $2).
checkpoint_pos() {
    if [ -z "${2:-}" ]; then archive_checkpoint_pos "$1"; return; fi
    BINVAULT_KEY_FILE=$2 "$BV" status --archive "$1" --json 2>/dev/null |
        python3 -c 'import json,sys; c=json.load(sys.stdin).get("checkpoint") or {}; print("%s:%d" % (c["file"], c["end_pos"])) if c else None' 2>/dev/null || true
}

# run LABEL SERVER START [encrypted]
run() {
    local label=$1 name=$2 start=$3 encrypted=${4:-} work=$BENCH_DATA/agent-run key= opts=()
    rm -rf "$work"; mkdir -p "$work/raw"
    if [ -n "$encrypted" ]; then
        key=$work/key
        head -c 32 /dev/urandom > "$key"; chmod 600 "$key"
        opts=(--encrypt --key-file "$key")
    fi
    "$start"
    . "$BENCH_ROOT/tests/lib/agent.sh"
    repl_user "$name"
    local port last bytes events t0 t_mb t_bv t_raw peak=0 rss stored first cpu
    port=$(mdb_port "$name")
    last=$(mdb_sql "$name" "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
    bytes=$(mdb_sql "$name" "SHOW BINARY LOGS" | awk '{s+=$2} END {print s}')
    first=$(mdb_sql "$name" "SHOW BINARY LOGS" | head -n 1 | cut -f1)
    events=$(mdb_sql "$name" "SHOW BINARY LOGS" | awk -v d="$(mdb_dir "$name")/data" '{print d "/" $1}' | xargs "$BV" inspect --quiet 2>/dev/null | awk '{s+=$3} END {print s}')
    t_raw=
    for _ in 1 2 3; do
        local t
        t=$(BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$RAWREAD" 127.0.0.1 "$port" repl "$first" | awk '{print $3}')
        if [ -z "$t_raw" ] || [ "$(echo "$t < $t_raw" | bc -l)" = 1 ]; then t_raw=$t; fi
    done
    t0=$(date +%s.%N)
    ( cd "$work/raw" && mariadb-binlog --read-from-remote-server --raw --to-last-log -h127.0.0.1 -P"$port" \
        -urepl -p"$REPL_PASSWORD" "$first" )
    t_mb=$(echo "$(date +%s.%N) - $t0" | bc -l)
    rm -f "$BV_TEST_DIR/agent.log"
    t0=$(date +%s.%N)
    agent_start "$name" "file://$work/archive" "$work/spool" --segment-size 64M --segment-interval 200ms --purge-check 0 --http off "${opts[@]}"
    # The watcher must not take the CPU it measures (two cores: a python3 or a `binvault status`
    # every 50 ms took a third of one): it polls every 0.3 s, and the catch-up ends when the last
    # checkpoint.json was written (its mtime; the agent writes it only when the checkpoint moves).
    while [ "$(checkpoint_pos "file://$work/archive" "$key")" != "$last" ]; do
        kill -0 "$AGENT_PID" 2>/dev/null || { echo "agent died: $(tail -n 5 "$BV_TEST_DIR/agent.log")" >&2; exit 1; }
        sleep 0.3
    done
    t_bv=$(echo "$(stat -c %.9Y "$work/archive/checkpoint.json") - $t0" | bc -l)
    cpu=$(cpu_seconds "$AGENT_PID")
    rss=$(bench_peak_rss_kb "$AGENT_PID"); [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
    agent_term
    stored=$(du -sb "$work/archive" | awk '{print $1}')
    mdb_stop_all
    printf '| %s | %d | %s | %.2f (%d) | %.2f | %.2f (%d) | %.2fx | %.1f | %d MiB | %d MB (%.1f%%) |\n' "$label" $((bytes / 1000000)) "$events" \
        "$t_raw" "$(echo "$bytes / $t_raw / 1000000" | bc)" "$t_mb" "$t_bv" "$(echo "$bytes / $t_bv / 1000000" | bc)" \
        "$(echo "$t_raw / $t_bv" | bc -l)" "$(echo "$cpu * 1000000000 / $bytes" | bc -l)" $((peak / 1024)) \
        $((stored / 1000000)) "$(echo "100 * $stored / $bytes" | bc -l)" >> "$out"
}
# BENCH_AGENT_SETS limits the data sets (e.g. "sysbench"); the table recorded is then partial.
for set in ${BENCH_AGENT_SETS:-sysbench sysbench-enc large}; do
    case $set in
    sysbench) run "sysbench oltp_write_only (small events)" sysbench bench_sysbench_start ;;
    sysbench-enc) run "sysbench oltp_write_only, encrypted archive" sysbench bench_sysbench_start encrypted ;;
    oltp) run "OLTP, 1 KB rows" oltp bench_oltp_start ;;
    large) run "large rows (1 MB)" server bench_server_start ;;
    *) echo "bench: unknown data set '$set'" >&2; exit 1 ;;
    esac
done
{
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: compare only runs of one period)."
    echo
    echo "Issue #15's goals: agent / raw read >= 0.5x on the small-event shape (stretch 0.8x) and on large rows, >= 0.4x into an encrypted archive; at most 3 CPU s/GB on the small-event shape; peak RSS < 64 MiB."
} >> "$out"
cat "$out"
bench_record agent "$out"
rm -f "$out"
