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
    echo "**Raw read** is what the server can send: \`bench/rawread.c\`, a Connector/C loop that only reads the replication packets (ANNOTATE_ROWS requested, as the agent does), best of 3. **binvault** is from start until its checkpoint reaches the server's end (the write time of that checkpoint.json; the watcher polls every 0.3 s without a fork, so as not to take the CPU it measures), best of ${BENCH_AGENT_RUNS:-3} catch-ups from an empty archive, everything lz4-compressed, SHA-256-hashed, fsync'd in the spool and stored in the archive (\`--segment-size 64M --segment-interval 200ms\`). **CPU s/GB** is the agent's user+system time (its /proc/PID/stat, read when it has caught up) per GB of binlog: the median of the catch-ups (their range). The sets are the bench's fixed ones (bench/lib.sh); every catch-up also reads the few hundred bytes of the file each start of the server opens, and seals them at the segment interval's end (~0.2 s of each catch-up's time)."
    echo
    echo "| data set | binlog MB | events | raw read: s (MB/s) | mariadb-binlog --raw: s | binvault agent: s (MB/s) | agent / raw read | agent CPU s/GB | agent peak RSS | archive size |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
} > "$out"

# The agent's user+system CPU seconds, from /proc/PID/stat.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# CKPT := the checkpoint's FILE:POS of directory archive $1 (encrypted: read with the key file $2),
# or empty. The watcher must not take the CPU it measures: a python3 per poll cost 25 ms of CPU on
# Debian and 170 ms behind a pyenv shim (8-57% of a core at one poll per 0.3 s, on two cores).
# A plaintext checkpoint.json is read and matched by bash builtins, without a fork; an encrypted
# one through `binvault status --json` (about 10 ms of CPU).
checkpoint_pos() {
    local f=${1#file://}/checkpoint.json doc=
    CKPT=
    if [ -n "${2:-}" ]; then
        doc=$(BINVAULT_KEY_FILE=$2 "$BV" status --archive "$1" --json 2>/dev/null) || return 0
    elif [ -f "$f" ]; then
        IFS= read -r -d '' doc < "$f" || true
    fi
    [[ $doc =~ \"file\":\"([^\"]*)\",\"end_pos\":([0-9]+) ]] && CKPT=${BASH_REMATCH[1]}:${BASH_REMATCH[2]}
    return 0
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
    # Its copy (the size of the set) is not left to be written back during the catch-ups.
    rm -rf "$work/raw"
    # The catch-up, BENCH_AGENT_RUNS times (default 3) from an empty archive and spool: its best
    # time, as the raw read's, and the median of its CPU s/GB (with the spread).
    local runs=${BENCH_AGENT_RUNS:-3} cpus=() t
    t_bv=
    for _ in $(seq 1 "$runs"); do
        rm -rf "$work/archive" "$work/spool" "$BV_TEST_DIR/agent.log"
        sync
        t0=$(date +%s.%N)
        agent_start "$name" "file://$work/archive" "$work/spool" --segment-size 64M --segment-interval 200ms --purge-check 0 --http off "${opts[@]}"
        # The catch-up ends when the last checkpoint.json was written (its mtime; the agent writes
        # it only when the checkpoint moves); the watcher polls every 0.3 s.
        while checkpoint_pos "file://$work/archive" "$key"; [ "$CKPT" != "$last" ]; do
            kill -0 "$AGENT_PID" 2>/dev/null || { echo "agent died: $(tail -n 5 "$BV_TEST_DIR/agent.log")" >&2; exit 1; }
            sleep 0.3
        done
        t=$(echo "$(stat -c %.9Y "$work/archive/checkpoint.json") - $t0" | bc -l)
        if [ -z "$t_bv" ] || [ "$(echo "$t < $t_bv" | bc -l)" = 1 ]; then t_bv=$t; fi
        cpus+=("$(echo "$(cpu_seconds "$AGENT_PID") * 1000000000 / $bytes" | bc -l)")
        rss=$(bench_peak_rss_kb "$AGENT_PID"); [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
        agent_term
    done
    cpu=$(printf '%s\n' "${cpus[@]}" | sort -g | awk '{v[NR]=$1} END {printf "%.1f (%.1f-%.1f)", v[int((NR+1)/2)], v[1], v[NR]}')
    stored=$(du -sb "$work/archive" | awk '{print $1}')
    mdb_stop_all
    printf '| %s | %d | %s | %.2f (%d) | %.2f | %.2f (%d) | %.2fx | %s | %d MiB | %d MB (%.1f%%) |\n' "$label" $((bytes / 1000000)) "$events" \
        "$t_raw" "$(echo "$bytes / $t_raw / 1000000" | bc)" "$t_mb" "$t_bv" "$(echo "$bytes / $t_bv / 1000000" | bc)" \
        "$(echo "$t_raw / $t_bv" | bc -l)" "$cpu" $((peak / 1024)) \
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
