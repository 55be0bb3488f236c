#!/usr/bin/env bash
# Recovery rate: `binvault recover` (the target's replication applier, fed from the archive) beside
# `mariadb-binlog ... | mariadb` (the classic point-in-time recovery), in the same run, over the
# same archived transactions, into two servers restored from the same base backup with the same
# settings. A source runs a sysbench-like write workload (BENCH_RECOVER_TXNS transactions of two
# UPDATEs, a DELETE and an INSERT on four tables of 10k rows) after a mariadb-backup base backup;
# its binlogs are archived with `binvault import`; the baseline applies the range written back out
# by `binvault fetch` (not timed). Both targets must end with the source's table checksums.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
TXNS=${BENCH_RECOVER_TXNS:-60000}
work=$BENCH_DATA/recover-run
rm -rf "$work"; mkdir -p "$work"
export BV_TEST_DIR=$work
. "$BENCH_ROOT/tests/lib/mariadb.sh"
. "$BENCH_ROOT/tests/lib/workload.sh"
trap 'mdb_stop_all' EXIT
TABLES="sbtest1,sbtest2,sbtest3,sbtest4"

MDB_SERVER_ID=1 mdb_start src "max_binlog_size=64M" > /dev/null
mdb_sql src "CREATE DATABASE sbtest"
for t in 1 2 3 4; do
    mdb_sql src "USE sbtest; CREATE TABLE sbtest$t (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL,
        pad CHAR(60) NOT NULL, KEY k_$t (k)) ENGINE=InnoDB;
        INSERT INTO sbtest$t SELECT seq, seq % 5000, REPEAT(MD5(seq), 3), MD5(seq * 7) FROM seq_1_to_10000"
done
mariadb-backup --backup --target-dir "$work/backup" --user root --socket "$(mdb_sock src)" > "$work/backup.log" 2>&1
mariadb-backup --prepare --target-dir "$work/backup" > "$work/prepare.log" 2>&1
read -r base_file base_pos _ < "$work/backup/xtrabackup_binlog_info"

echo "# generating $TXNS transactions on the source" >&2
bench_sbtest_txns "$TXNS" | mariadb --defaults-file="$(mdb_cnf src)" -uroot sbtest
mdb_sql src "FLUSH BINARY LOGS"
src_sums=$(mdb_sql src "CHECKSUM TABLE sbtest.$(sed 's/,/,sbtest./g' <<< "$TABLES")")
mapfile -t files < <(mdb_binlog_files src)
binlog_bytes=$(cat "${files[@]}" | wc -c)
mdb_stop src

"$BV" import --archive "$work/archive" "${files[@]}" > /dev/null
"$BV" fetch --archive "$work/archive" --from-position "$base_file:$base_pos" --to "$work/range" > "$work/fetch.out"
mapfile -t range < <(grep '^/' "$work/fetch.out")

restore() {
    local server=$1
    MDB_SERVER_ID=1 mdb_start "$server" > /dev/null
    mdb_stop "$server"
    rm -rf "$(mdb_dir "$server")/data"
    mariadb-backup --copy-back --target-dir "$work/backup" --datadir "$(mdb_dir "$server")/data" > "$work/cb-$server.log" 2>&1
    mdb_start "$server" > /dev/null
}
# Best of RUNS, each on freshly restored servers (the machine may be busy with something else).
RUNS=${BENCH_RECOVER_RUNS:-2}
t_bv= t_mb=
for run in $(seq 1 "$RUNS"); do
    restore "bv$run"
    restore "classic$run"
    # binvault recover: the whole command (plan, fetch and verify, apply, clean up).
    t0=$(date +%s.%N)
    BINVAULT_INTO_PASSWORD= "$BV" recover --archive "$work/archive" --into "mysql://root@127.0.0.1:$(mdb_port "bv$run")" \
        --base-dir "$work/backup" --until-end --log-level warn > "$work/recover.out"
    t=$(echo "$(date +%s.%N) - $t0" | bc -l)
    { [ -z "$t_bv" ] || [ "$(echo "$t < $t_bv" | bc -l)" = 1 ]; } && t_bv=$t
    # mariadb-binlog | mariadb on the same range. The range's first file starts at the backup's
    # position, without the GTID_LIST of the file's start, which mariadb-binlog's own GTID check
    # would refuse.
    t0=$(date +%s.%N)
    mariadb-binlog --skip-gtid-strict-mode "${range[@]}" | mariadb --defaults-file="$(mdb_cnf "classic$run")" -uroot
    t=$(echo "$(date +%s.%N) - $t0" | bc -l)
    { [ -z "$t_mb" ] || [ "$(echo "$t < $t_mb" | bc -l)" = 1 ]; } && t_mb=$t

    bv_sums=$(mdb_sql "bv$run" "CHECKSUM TABLE sbtest.$(sed 's/,/,sbtest./g' <<< "$TABLES")")
    mb_sums=$(mdb_sql "classic$run" "CHECKSUM TABLE sbtest.$(sed 's/,/,sbtest./g' <<< "$TABLES")")
    [ "$bv_sums" = "$src_sums" ] || { echo "bench: binvault's target differs from the source:"$'\n'"$bv_sums"$'\n'"$src_sums" >&2; exit 1; }
    [ "$mb_sums" = "$src_sums" ] || { echo "bench: mariadb-binlog's target differs from the source" >&2; exit 1; }
    mdb_stop "bv$run"
    mdb_stop "classic$run"
done
rate() { echo "scale=0; $TXNS / $1" | bc -l; }
out=$(mktemp)
{
    echo "### Recovery (issue: recover)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine)."
    echo "Input: $TXNS sysbench-like write transactions (2 UPDATEs, a DELETE, an INSERT on 4 tables of 10k rows; $((binlog_bytes / 1000000)) MB of binlog), applied to two servers restored from the same mariadb-backup base backup (MariaDB $(mariadbd --version | awk '{print $3}'), innodb_flush_log_at_trx_commit=2, sync_binlog=0). Both end with the source's CHECKSUM TABLE."
    echo
    echo "| command | seconds (best of $RUNS) | transactions/s |"
    echo "|---|---|---|"
    echo "| \`mariadb-binlog FILES \\| mariadb\` (the range written out by \`binvault fetch\`, not timed) | $(printf %.2f "$t_mb") | $(rate "$t_mb") |"
    echo "| \`binvault recover --base-dir ... --until-end\` from a directory archive (plan, verify, apply through the replication applier, clean up) | $(printf %.2f "$t_bv") | $(rate "$t_bv") |"
    echo
    echo "binvault is $(echo "scale=1; $t_mb / $t_bv" | bc -l)x mariadb-binlog | mariadb (aim: >= 5x)."
} > "$out"
cat "$out"
bench_record recover "$out"
rm -f "$out"
