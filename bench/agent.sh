#!/usr/bin/env bash
# Catch-up throughput of `binvault agent` over >= 1 GB of pre-written binlogs into a local
# directory archive (compressing, hashing, fsyncing), beside `mariadb-binlog
# --read-from-remote-server --raw --to-last-log` pulling the same binlogs, in the same run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
work=$BENCH_DATA/agent-run
rm -rf "$work"; mkdir -p "$work"

bench_server_start
trap 'mdb_stop_all' EXIT
. "$BENCH_ROOT/tests/lib/agent.sh"
repl_user server
port=$(mdb_port server)
last=$(mdb_sql server "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
bytes=$(mdb_sql server "SHOW BINARY LOGS" | awk '{s+=$2} END {print s}')
files=$(mdb_sql server "SHOW BINARY LOGS" | wc -l)

# mariadb-binlog: raw copy of every binlog over the replication protocol.
mkdir -p "$work/raw"
t0=$(date +%s.%N)
( cd "$work/raw" && mariadb-binlog --read-from-remote-server --raw --to-last-log -h127.0.0.1 -P"$port" \
    -urepl -p"$REPL_PASSWORD" "$(mdb_sql server "SHOW BINARY LOGS" | head -n 1 | cut -f1)" )
t_mb=$(echo "$(date +%s.%N) - $t0" | bc -l)

# binvault agent: from an empty archive until its checkpoint reaches the server's end.
rm -f "$BV_TEST_DIR/agent.log"
t0=$(date +%s.%N)
agent_start server "file://$work/archive" "$work/spool" --segment-size 64M --segment-interval 1s --purge-check 0
peak=0
while [ "$(archive_checkpoint_pos "file://$work/archive")" != "$last" ]; do
    kill -0 "$AGENT_PID" 2>/dev/null || { echo "agent died: $(tail -n 5 "$BV_TEST_DIR/agent.log")" >&2; exit 1; }
    rss=$(bench_peak_rss_kb "$AGENT_PID"); [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.05
done
t_bv=$(echo "$(date +%s.%N) - $t0" | bc -l)
rss=$(bench_peak_rss_kb "$AGENT_PID"); [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
agent_term
stored=$(du -sb "$work/archive" | awk '{print $1}')
mbps() { echo "scale=0; $bytes / $1 / 1000000" | bc -l; }
out=$(mktemp)
{
    echo "### Agent catch-up (issue: agent)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine)."
    echo "Input: $((bytes / 1000000)) MB of binlogs in $files files on a local MariaDB $(mariadbd --version | awk '{print $3}'), pulled over loopback."
    echo
    echo "| command | seconds | MB/s |"
    echo "|---|---|---|"
    echo "| \`mariadb-binlog --read-from-remote-server --raw --to-last-log\` | $(printf %.2f "$t_mb") | $(mbps "$t_mb") |"
    echo "| \`binvault agent\` to a directory archive (lz4, SHA-256, fsync, index), until the checkpoint reaches the end | $(printf %.2f "$t_bv") | $(mbps "$t_bv") |"
    echo
    echo "binvault is $(echo "scale=2; $t_mb / $t_bv" | bc -l)x mariadb-binlog (aim: >= 4x). Peak RSS of the agent: $((peak / 1024)) MiB (aim: < 64 MiB). Archive size: $((stored / 1000000)) MB ($(echo "scale=1; 100 * $stored / $bytes" | bc -l)% of the binlogs)."
} > "$out"
cat "$out"
bench_record agent "$out"
rm -f "$out"
