#!/usr/bin/env bash
# The newcomer's tour: starts a throwaway local MariaDB with a small workload, runs the binvault
# agent into a local directory archive (the embedded default), and shows `list` and `verify` on
# what it archived. Everything lives under a temporary directory that is removed at the end
# (BV_KEEP_TMP=1 keeps it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BV=$root/binvault
export BV_TEST_DIR=$(mktemp -d /tmp/binvault-demo-XXXXXX)
export BV_BIN=$BV
. "$root/tests/lib/mariadb.sh"
. "$root/tests/lib/workload.sh"
. "$root/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
cleanup() { agent_kill; mdb_stop_all; [ -n "${BV_KEEP_TMP:-}" ] || rm -rf "$BV_TEST_DIR"; }
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting a throwaway MariaDB (loopback, private port) in $BV_TEST_DIR"
mdb_start demo
repl_user demo
echo "replication user 'repl' created with REPLICATION SLAVE, BINLOG MONITOR"

step "binvault agent --source mysql://repl@127.0.0.1:$(mdb_port demo) --archive $archive --spool $BV_TEST_DIR/spool"
agent_start demo "$archive" "$BV_TEST_DIR/spool" --segment-interval 1s
sleep 1
echo "agent running (pid $AGENT_PID, log $BV_TEST_DIR/agent.log)"

step "a small workload: DDL, DML, XA, two GTID domains, binlog rotations"
wl_mixed demo
agent_wait_caught_up demo "$archive" 60
echo "archive caught up with the server at $(archive_checkpoint_pos "$archive")"

step "binvault agent: SIGTERM seals the open segment and exits"
agent_term && echo "agent exited 0"
sed -n '1,200p' "$BV_TEST_DIR/agent.log" | grep -E "starting|complete up to|stopped" | cut -c1-160 | tail -n 6

step "binvault list --archive $archive"
"$BV" list --archive "$archive"

step "binvault verify --archive $archive"
"$BV" verify --archive "$archive"

step "binvault inspect --transactions (what the server's binlogs hold)"
mapfile -t files < <(mdb_binlog_files demo)
"$BV" inspect --transactions "${files[@]}" 2>/dev/null | grep -v '^#' | cut -c1-150 | head -n 20
