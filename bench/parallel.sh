#!/usr/bin/env bash
# Parallel apply: `binvault recover --parallel 4` (the target's parallel replication,
# slave_parallel_threads = 4, optimistic mode) beside `binvault recover` with the target's default
# single applier thread, in the same run, over the same archived transactions, into two servers
# that hold the same starting tables with the same settings. A source runs BENCH_PARALLEL_TXNS
# sysbench-like write transactions (two UPDATEs, a DELETE and an INSERT on four tables of 10k rows)
# from one client; its binlogs are archived with `binvault import`. Both targets must end with the
# source's table checksums; each run starts from fresh servers, and the best of
# BENCH_PARALLEL_RUNS is kept.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
TXNS=${BENCH_PARALLEL_TXNS:-40000}
RUNS=${BENCH_PARALLEL_RUNS:-2}
work=$BENCH_DATA/parallel-run
rm -rf "$work"; mkdir -p "$work"
export BV_TEST_DIR=$work
. "$BENCH_ROOT/tests/lib/mariadb.sh"
. "$BENCH_ROOT/tests/lib/workload.sh"
trap 'mdb_stop_all' EXIT
TABLES="sbtest.sbtest1,sbtest.sbtest2,sbtest.sbtest3,sbtest.sbtest4"

# The starting tables: the same statements on the source (logged) and on each target (not).
schema() {
    echo "CREATE DATABASE sbtest; USE sbtest;"
    for t in 1 2 3 4; do
        echo "CREATE TABLE sbtest.sbtest$t (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL,
              pad CHAR(60) NOT NULL, KEY k_$t (k)) ENGINE=InnoDB;
              INSERT INTO sbtest.sbtest$t SELECT seq, seq % 5000, REPEAT(MD5(seq), 3), MD5(seq * 7)
              FROM seq_1_to_10000;"
    done
}

MDB_SERVER_ID=1 mdb_start src "max_binlog_size=64M" > /dev/null
mdb_sql src "$(schema)"
start=$(mdb_sql src "SELECT @@gtid_binlog_pos")
echo "# generating $TXNS transactions on the source" >&2
python3 - "$TXNS" <<'PY' | mariadb --defaults-file="$(mdb_cnf src)" -uroot sbtest
import random, sys
random.seed(42)
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    t = random.randint(1, 4)
    a, b, d = random.randint(1, 10000), random.randint(1, 10000), random.randint(1, 10000)
    c = "-".join("%011d" % random.randint(0, 10**11 - 1) for _ in range(10))
    out.write("BEGIN;UPDATE sbtest%d SET k=k+1 WHERE id=%d;UPDATE sbtest%d SET c='%s' WHERE id=%d;"
              "DELETE FROM sbtest%d WHERE id=%d;INSERT INTO sbtest%d VALUES (%d,%d,'%s','%s');COMMIT;\n"
              % (t, a, t, c[:120], b, t, d, t, d, random.randint(1, 10000), c[:120], c[:59]))
PY
mdb_sql src "FLUSH BINARY LOGS"
src_sums=$(mdb_sql src "CHECKSUM TABLE $TABLES")
mapfile -t files < <(mdb_binlog_files src)
binlog_bytes=$(cat "${files[@]}" | wc -c)
mdb_stop src
"$BV" import --archive "$work/archive" "${files[@]}" > /dev/null

# recover_into SERVER [--parallel N]: the whole command (plan, verify, apply, clean up), in seconds.
recover_into() {
    local server=$1 t0; shift
    MDB_SERVER_ID=2 mdb_start "$server" > /dev/null
    mdb_sql "$server" "SET sql_log_bin = 0; $(schema)"
    t0=$(date +%s.%N)
    BINVAULT_INTO_PASSWORD= "$BV" recover --archive "$work/archive" --into "mysql://root@127.0.0.1:$(mdb_port "$server")" \
        --from-gtid "$start" --until-end --log-level warn "$@" > "$work/recover-$server.out"
    echo "$(date +%s.%N) - $t0" | bc -l
    local sums; sums=$(mdb_sql "$server" "CHECKSUM TABLE $TABLES")
    [ "$sums" = "$src_sums" ] || { echo "bench: '$server' differs from the source:"$'\n'"$sums"$'\n'"$src_sums" >&2; exit 1; }
    [ "$(mdb_sql "$server" "SELECT @@slave_parallel_threads")" = 0 ] ||
        { echo "bench: '$server' kept slave_parallel_threads" >&2; exit 1; }
    mdb_stop "$server"
}
best() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
t_one= t_par=
for run in $(seq 1 "$RUNS"); do
    # Alternate which goes first: the machine may be busy with something else.
    if [ $((run % 2)) = 1 ]; then
        t_one=$(best "$t_one" "$(recover_into "one$run")")
        t_par=$(best "$t_par" "$(recover_into "par$run" --parallel 4)")
    else
        t_par=$(best "$t_par" "$(recover_into "par$run" --parallel 4)")
        t_one=$(best "$t_one" "$(recover_into "one$run")")
    fi
done
rate() { echo "scale=0; $TXNS / $1" | bc -l; }
out=$(mktemp)
{
    echo "### Parallel apply (issue: recovery runbook, --parallel)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine)."
    echo "Input: $TXNS sysbench-like write transactions from one client (2 UPDATEs, a DELETE, an INSERT on 4 tables of 10k rows; $((binlog_bytes / 1000000)) MB of binlog), recovered from a directory archive into two servers holding the same starting tables (MariaDB $(mariadbd --version | awk '{print $3}'), innodb_flush_log_at_trx_commit=2, sync_binlog=0). Both end with the source's CHECKSUM TABLE, and with slave_parallel_threads back at 0."
    echo
    echo "| command | seconds (best of $RUNS) | transactions/s |"
    echo "|---|---|---|"
    echo "| \`binvault recover --from-gtid ... --until-end\` (the target's single applier thread) | $(printf %.2f "$t_one") | $(rate "$t_one") |"
    echo "| \`binvault recover --from-gtid ... --until-end --parallel 4\` (4 threads, optimistic mode) | $(printf %.2f "$t_par") | $(rate "$t_par") |"
    echo
    echo "--parallel 4 takes $(echo "scale=2; $t_par / $t_one" | bc -l) of the time of the single thread ($(echo "scale=2; $t_one / $t_par" | bc -l)x)."
} > "$out"
cat "$out"
bench_record parallel "$out"
rm -f "$out"
