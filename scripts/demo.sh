#!/usr/bin/env bash
# The newcomer's tour: starts a throwaway local MariaDB with a small workload, runs the binvault
# agent into a local directory archive (the embedded default), shows `list` and `verify` on what
# it archived, then the reason binvault exists: `binvault backup` stores a base backup in the
# archive, an accidental DROP TABLE, `binvault log` finds it, and one `binvault restore` makes a
# data directory just before it, which a plain mariadbd then serves, with the checksums shown. Everything lives under a temporary directory that is removed
# at the end (BV_KEEP_TMP=1 keeps it).
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

step "a small workload: DDL, DML, XA, two GTID domains, binlog rotations; a shop with orders"
wl_mixed demo
mdb_sql demo "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, amount DECIMAL(10,2)) ENGINE=InnoDB;
    INSERT INTO shop.orders SELECT seq, seq * 1.5 FROM shop.seq_1_to_500"
echo "shop.orders holds $(mdb_sql demo "SELECT COUNT(*) FROM shop.orders") orders"

step "binvault backup --archive $archive --source mysql://backup@127.0.0.1:$(mdb_port demo) (mariadb-backup, streamed into the archive)"
mdb_sql demo "CREATE USER backup@'127.0.0.1' IDENTIFIED BY 'backup-secret';
              GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO backup@'127.0.0.1'"
BINVAULT_SOURCE_PASSWORD=backup-secret "$BV" backup --archive "$archive" \
    --source "mysql://backup@127.0.0.1:$(mdb_port demo)" --tmp-dir "$BV_TEST_DIR" --no-progress | cut -c1-190

step "more orders after the backup, then the accident: DROP TABLE shop.orders"
for i in $(seq 501 700); do echo "INSERT INTO shop.orders VALUES ($i, $i * 2);"; done |
    mariadb --defaults-file="$(mdb_cnf demo)" -uroot
before=$(mdb_sql demo "CHECKSUM TABLE shop.orders")
echo "just before the DROP: $(mdb_sql demo "SELECT COUNT(*) FROM shop.orders") orders, CHECKSUM TABLE: $before"
mdb_sql demo "DROP TABLE shop.orders; INSERT INTO wl.t1 (id, v, n) VALUES (100, 'after the drop', 1)"
agent_wait_caught_up demo "$archive" 60
echo "archive caught up with the server at $(archive_checkpoint_pos "$archive")"

step "binvault agent: SIGTERM seals the open segment and exits"
agent_term && echo "agent exited 0"
sed -n '1,200p' "$BV_TEST_DIR/agent.log" | grep -E "starting|complete up to|stopped" | cut -c1-160 | tail -n 6

step "binvault list --archive $archive"
"$BV" list --archive "$archive" | cut -c1-190

step "binvault verify --archive $archive"
"$BV" verify --archive "$archive"

step "binvault log --archive $archive --grep 'drop table.*orders' (to find the bad statement)"
"$BV" log --archive "$archive" --grep 'drop table.*orders' | cut -c1-190
gtid=$("$BV" log --archive "$archive" --grep 'drop table.*orders' --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["gtid"])')

step "binvault restore --archive $archive --datadir $BV_TEST_DIR/restore-dir --until-gtid $gtid --exclusive"
chmod 0711 "$BV_TEST_DIR" # the restored server runs as mysql when this runs as root
"$BV" restore --archive "$archive" --datadir "$BV_TEST_DIR/restore-dir" --until-gtid "$gtid" --exclusive \
    --log-level warn | cut -c1-190

step "a plain mariadbd started on the restored data directory"
MDB_SERVER_ID=2 mdb_start restored > /dev/null
mdb_stop restored
rm -rf "$(mdb_dir restored)/data"
mv "$BV_TEST_DIR/restore-dir" "$(mdb_dir restored)/data"
mdb_start restored
echo "restored server on port $(mdb_port restored)"

step "shop.orders is back, as it was just before the DROP"
after=$(mdb_sql restored "CHECKSUM TABLE shop.orders")
echo "source before the DROP: $before"
echo "recovered server:       $after ($(mdb_sql restored "SELECT COUNT(*) FROM shop.orders") orders)"
[ "$before" = "$after" ] && echo "identical"
