#!/usr/bin/env bash
# Base backups (issue #12): `binvault backup` beside the by-hand way, in the same run, on one
# database (sysbench tables, BENCH_BACKUP_ROWS rows in each of 8, about 230 MB per million rows):
#  - directory: `mariadb-backup --backup --stream=mbstream | lz4 -1 > file` against `binvault
#    backup` into a directory archive (lz4, SHA-256 of every part, fsync);
#  - S3 (Swift with s3api on loopback): `mariadb-backup ... | aws s3 cp - s3://...` against
#    `binvault backup` into an S3 archive;
# with binvault's peak RSS (its --json summary) and the bytes stored; then, after BENCH_RESTORE_TXNS
# (100 000) sysbench-like transactions archived by the agent, a restore to the end:
#  - by hand (the old runbook): `lz4 -d | mbstream -x`, `mariadb-backup --prepare`, start a server,
#    `mariadb-binlog --start-position` of the source's binlogs from the backup's point `| mariadb`;
#  - `binvault restore --until-end` from the directory archive (parts verified, the same tools,
#    the transactions through the server's replication applier);
# both restored servers must have the source's tables.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
export BV_BIN=$BV BV_ROOT=$BENCH_ROOT
BV_DEPS_EXTRA="s3 bench" "$BENCH_ROOT/scripts/deps.sh"
rows=${BENCH_BACKUP_ROWS:-500000}
export BV_TEST_DIR=$BENCH_DATA/backup-run
rm -rf "$BV_TEST_DIR"; mkdir -p "$BV_TEST_DIR/tmp"
. "$BENCH_ROOT/tests/lib/mariadb.sh"
. "$BENCH_ROOT/tests/lib/swift.sh"
. "$BENCH_ROOT/tests/lib/agent.sh"
trap 'agent_kill; mdb_stop_all; s3_stop_all; true' EXIT

# The database, generated once and kept (stopped) under $BENCH_DATA/backupdb-<rows>.
db=$BENCH_DATA/backupdb-$rows
if [ ! -f "$db/.complete" ]; then
    rm -rf "$db"
    echo "# generating 8 sysbench tables of $rows rows (once; kept in $db)" >&2
    BV_TEST_DIR=$BENCH_DATA mdb_start "backupdb-$rows" > /dev/null
    BV_TEST_DIR=$BENCH_DATA mdb_sql "backupdb-$rows" "CREATE DATABASE sbtest"
    sysbench oltp_write_only --db-driver=mysql --mysql-socket="$BENCH_DATA/backupdb-$rows/mysqld.sock" \
        --mysql-user=root --mysql-db=sbtest --tables=8 --table-size="$rows" --threads=2 prepare > /dev/null
    BV_TEST_DIR=$BENCH_DATA mdb_sql "backupdb-$rows" "RESET MASTER"
    BV_TEST_DIR=$BENCH_DATA mdb_stop "backupdb-$rows"
    touch "$db/.complete"
fi
rm -rf "$BV_TEST_DIR/src"; cp -a "$db" "$BV_TEST_DIR/src"
rm -f "$BV_TEST_DIR/src/.complete"
sed -i "s|$db|$BV_TEST_DIR/src|g" "$BV_TEST_DIR/src/my.cnf"
mdb_start src > /dev/null
port=$(mdb_port src)
mdb_sql src "CREATE USER bk@'127.0.0.1' IDENTIFIED BY 'bk'; CREATE USER bk@localhost IDENTIFIED BY 'bk';
             GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO bk@'127.0.0.1';
             GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO bk@localhost"
datadir=$(mdb_dir src)/data
dbmb=$(du -sm "$datadir" | awk '{print $1}')
s3_start

seconds() { echo "$(date +%s.%N) - $1" | bc -l; }
tool() { mariadb-backup --backup --stream=mbstream --target-dir="$BV_TEST_DIR/tmp" --datadir="$datadir" \
             --host=127.0.0.1 --port="$port" --user=bk --password=bk 2> "$BV_TEST_DIR/tool.log"; }
bvbackup() {
    BINVAULT_SOURCE_PASSWORD=bk "$BV" backup --archive "$1" --source "mysql://bk@127.0.0.1:$port" \
        --datadir "$datadir" --tmp-dir "$BV_TEST_DIR/tmp" --json "${@:2}" > "$BV_TEST_DIR/bv.json"
}
peak() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("peak_rss_kib", 0) // 1024)' "$BV_TEST_DIR/bv.json"; }
identity() { # an archive needs its identity first: the agent or import writes it; a tiny import does
    "$BV" import --archive "$1" "$datadir/mariadb-bin.000001" > /dev/null
}
repl_user src

# ---- directory ---------------------------------------------------------------------------------
t0=$(date +%s.%N); tool | lz4 -1 -q > "$BV_TEST_DIR/hand.mbstream.lz4"; t_hand=$(seconds "$t0")
# The backup's binlog point, as mariadb-backup logs it: "... filename 'F', position 'P', GTID of the last change 'G'"
sed -n "s/.*filename '\([^']*\)', position '\([0-9]*\)'.*/\1 \2/p" "$BV_TEST_DIR/tool.log" | tail -n 1 > "$BV_TEST_DIR/hand-point"
[ -s "$BV_TEST_DIR/hand-point" ] || { echo "bench: no binlog position in mariadb-backup's log" >&2; exit 1; }
hand_mb=$(( $(stat -c %s "$BV_TEST_DIR/hand.mbstream.lz4") / 1000000 ))
agent_start src "file://$BV_TEST_DIR/archive" "$BV_TEST_DIR/spool" --segment-interval 1s --http off
agent_wait_caught_up src "file://$BV_TEST_DIR/archive" 120
t0=$(date +%s.%N); bvbackup "file://$BV_TEST_DIR/archive"; t_bv=$(seconds "$t0")
bv_mb=$(( $(du -sb "$BV_TEST_DIR/archive/backups" | awk '{print $1}') / 1000000 )); bv_rss=$(peak)

# ---- S3 ----------------------------------------------------------------------------------------
export AWS_DEFAULT_REGION=$S3_REGION
t0=$(date +%s.%N); tool | aws --endpoint-url "$S3_ENDPOINT" s3 cp --quiet - "s3://$S3_BUCKET/hand/backup.mbstream"
t_hand_s3=$(seconds "$t0")
identity "s3://$S3_BUCKET/bv"
t0=$(date +%s.%N); bvbackup "s3://$S3_BUCKET/bv"; t_bv_s3=$(seconds "$t0"); bv_rss_s3=$(peak)

# ---- restore to the end after BENCH_RESTORE_TXNS transactions ------------------------------------
txns=${BENCH_RESTORE_TXNS:-100000}
bench_sbtest_txns "$txns" | mariadb --defaults-file="$(mdb_cnf src)" -uroot sbtest
agent_wait_caught_up src "file://$BV_TEST_DIR/archive" 600
agent_term || true
tables="sbtest.sbtest1, sbtest.sbtest2, sbtest.sbtest3, sbtest.sbtest4"
want=$(mdb_sql src "CHECKSUM TABLE $tables")
read -r bfile bpos _ < "$BV_TEST_DIR/hand-point"
MDB_SERVER_ID=7 mdb_start byhand > /dev/null; mdb_stop byhand
hand=$(mdb_dir byhand)/data
t0=$(date +%s.%N)
rm -rf "$hand"; mkdir -p "$hand"
lz4 -d -q < "$BV_TEST_DIR/hand.mbstream.lz4" | mbstream -x -C "$hand"
mariadb-backup --prepare --target-dir="$hand" > "$BV_TEST_DIR/prepare.log" 2>&1
mdb_start byhand > /dev/null
files=$(mdb_sql src "SHOW BINARY LOGS" | awk -v f="$bfile" -v d="$datadir" '$1 >= f {print d "/" $1}')
# shellcheck disable=SC2086
mariadb-binlog --start-position="$bpos" $files | mariadb --defaults-file="$(mdb_cnf byhand)" -uroot
t_hand_restore=$(seconds "$t0")
got_hand=$(mdb_sql byhand "CHECKSUM TABLE $tables")
mdb_stop byhand
t0=$(date +%s.%N)
"$BV" restore --archive "file://$BV_TEST_DIR/archive" --datadir "$BV_TEST_DIR/restore-dir" --until-end \
    > "$BV_TEST_DIR/restore.log" 2>&1
t_bv_restore=$(seconds "$t0")
MDB_SERVER_ID=8 mdb_start restored > /dev/null; mdb_stop restored
rm -rf "$(mdb_dir restored)/data"; mv "$BV_TEST_DIR/restore-dir" "$(mdb_dir restored)/data"
mdb_start restored > /dev/null
got_bv=$(mdb_sql restored "CHECKSUM TABLE $tables")
mdb_stop restored
[ "$got_hand" = "$want" ] || { echo "bench: the server restored by hand differs from the source" >&2; exit 1; }
[ "$got_bv" = "$want" ] || { echo "bench: the server restored by binvault differs from the source" >&2; exit 1; }

out=$(mktemp)
{
    echo "### Base backup (issue #12)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine). MariaDB $(mariadbd --version | awk '{print $3}') on loopback, a ${dbmb} MB data directory (8 sysbench tables of $rows rows), idle during the runs; S3 is OpenStack Swift with s3api on loopback. Each row: the by-hand pipeline and \`binvault backup\` in the same run."
    echo
    echo "| store | by hand | s | binvault backup: s | binvault / by hand (time) | binvault peak RSS | stored |"
    echo "|---|---|---|---|---|---|---|"
    printf '| directory | `mariadb-backup --stream=mbstream \\| lz4 -1 > file` | %.1f | %.1f | %.2fx | %d MiB | by hand %d MB, binvault %d MB |\n' \
        "$t_hand" "$t_bv" "$(echo "$t_bv / $t_hand" | bc -l)" "$bv_rss" "$hand_mb" "$bv_mb"
    printf '| S3 | `mariadb-backup --stream=mbstream \\| aws s3 cp -` (no compression) | %.1f | %.1f | %.2fx | %d MiB | |\n' \
        "$t_hand_s3" "$t_bv_s3" "$(echo "$t_bv_s3 / $t_hand_s3" | bc -l)" "$bv_rss_s3"
    echo
    echo "binvault also hashes every part (SHA-256 of the content and of the object), fsyncs, and writes parts.bvi and the manifest; peak RSS aim: < 64 MiB whatever the database size."
    echo
    echo "Restore to the end, the same database plus $txns sysbench-like transactions after the backup (both results have the source's CHECKSUM TABLE):"
    echo
    echo "| restore | s |"
    echo "|---|---|"
    printf '| by hand: `lz4 -d \| mbstream -x`, `mariadb-backup --prepare`, start, `mariadb-binlog --start-position \| mariadb` | %.1f |\n' "$t_hand_restore"
    printf '| `binvault restore --until-end` (parts verified; the transactions through the replication applier) | %.1f |\n' "$t_bv_restore"
    echo
    echo "binvault / by hand: $(printf %.2f "$(echo "$t_bv_restore / $t_hand_restore" | bc -l)")x. The by-hand path needs the source's binlog files (on the dead primary, in a real recovery); binvault reads only the archive."
} > "$out"
cat "$out"
bench_record backup "$out"
rm -f "$out"
