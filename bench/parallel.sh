#!/usr/bin/env bash
# Parallel apply: `binvault recover --parallel 4` (the target's parallel replication,
# slave_parallel_threads = 4, optimistic mode) beside `binvault recover` with the target's default
# single applier thread, in the same run, over the same archived transactions, into servers that
# hold the same starting tables with the same settings (three sets of them: CONFIGS). A source
# runs BENCH_PARALLEL_TXNS sysbench-like write transactions (two UPDATEs, a DELETE and an INSERT
# on four tables of 10k rows) from one client; its binlogs are archived with `binvault import`.
# Every target must end with the source's table checksums and slave_parallel_threads back at 0;
# each run starts from fresh servers, and the best of BENCH_PARALLEL_RUNS is kept.
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
bench_sbtest_txns "$TXNS" | mariadb --defaults-file="$(mdb_cnf src)" -uroot sbtest
mdb_sql src "FLUSH BINARY LOGS"
src_sums=$(mdb_sql src "CHECKSUM TABLE $TABLES")
mapfile -t files < <(mdb_binlog_files src)
binlog_bytes=$(cat "${files[@]}" | wc -c)
mdb_stop src
"$BV" import --archive "$work/archive" "${files[@]}" > /dev/null

# The targets' settings compared: the test servers' (innodb_flush_log_at_trx_commit=2), durable
# commits, and durable commits that the applier also writes to its binlog, where the parallel
# applier's commits share the binlog's group commit (one fsync for several).
CONFIGS=("innodb_flush_log_at_trx_commit=2"
         "innodb_flush_log_at_trx_commit=1"
         "innodb_flush_log_at_trx_commit=1 sync_binlog=1 log_slave_updates=ON")

# recover_into SERVER CONFIG [--parallel N]: a fresh target with the my.cnf lines of CONFIG; the
# whole command (plan, verify, apply, clean up), in seconds.
recover_into() {
    local server=$1 config=$2 t0; shift 2
    # shellcheck disable=SC2086 # CONFIG is a list of my.cnf lines
    MDB_SERVER_ID=2 mdb_start "$server" $config > /dev/null
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
    rm -rf "$(mdb_dir "$server")"
}
best() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
declare -A t_one t_par
for c in "${!CONFIGS[@]}"; do
    for run in $(seq 1 "$RUNS"); do
        # Alternate which goes first: the machine may be busy with something else.
        if [ $((run % 2)) = 1 ]; then
            t_one[$c]=$(best "${t_one[$c]:-}" "$(recover_into "one$c-$run" "${CONFIGS[$c]}")")
            t_par[$c]=$(best "${t_par[$c]:-}" "$(recover_into "par$c-$run" "${CONFIGS[$c]}" --parallel 4)")
        else
            t_par[$c]=$(best "${t_par[$c]:-}" "$(recover_into "par$c-$run" "${CONFIGS[$c]}" --parallel 4)")
            t_one[$c]=$(best "${t_one[$c]:-}" "$(recover_into "one$c-$run" "${CONFIGS[$c]}")")
        fi
    done
done
rate() { echo "scale=0; $TXNS / $1" | bc -l; }
out=$(mktemp)
{
    echo "### Parallel apply (issue: recovery runbook, --parallel)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine)."
    echo "Input: $TXNS sysbench-like write transactions from one client (2 UPDATEs, a DELETE, an INSERT on 4 tables of 10k rows; $((binlog_bytes / 1000000)) MB of binlog), recovered from a directory archive into fresh servers holding the same starting tables (MariaDB $(mariadbd --version | awk '{print $3}')), with and without \`--parallel 4\` in the same run, for three settings of the target. Every target ends with the source's CHECKSUM TABLE, and with slave_parallel_threads back at 0."
    echo
    echo "| target's settings | \`binvault recover --until-end\` (one applier thread): s (best of $RUNS), trx/s | \`... --parallel 4\` (4 threads, optimistic): s, trx/s | time with --parallel 4 |"
    echo "|---|---|---|---|"
    for c in "${!CONFIGS[@]}"; do
        echo "| ${CONFIGS[$c]} | $(printf %.2f "${t_one[$c]}"), $(rate "${t_one[$c]}") | $(printf %.2f "${t_par[$c]}"), $(rate "${t_par[$c]}") | $(printf %.2f "$(echo "${t_par[$c]} / ${t_one[$c]}" | bc -l)")x |"
    done
} > "$out"
cat "$out"
bench_record parallel "$out"
rm -f "$out"
