#!/usr/bin/env bash
# The agent in steady state (issue #15): a fresh MariaDB takes small autocommit INSERTs paced at
# BENCH_STEADY_RATE transactions/s (default 2000) while `binvault agent` archives them into a local
# directory (lz4, SHA-256, fsync, the default 1 s interval); after a warm-up, the agent's and the
# server's CPU use (their /proc/PID/stat, user+system) are read over BENCH_STEADY_SECS (default 60)
# seconds, with the agent's RSS (VmRSS at the end, VmHWM the peak) and the rate the server reached.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
export BV_BIN=$BV
RATE=${BENCH_STEADY_RATE:-2000}
SECS=${BENCH_STEADY_SECS:-60}
WARM=10
work=$BENCH_DATA/steady-run
rm -rf "$work"; mkdir -p "$work"
export BV_TEST_DIR=$work
. "$BENCH_ROOT/tests/lib/mariadb.sh"
. "$BENCH_ROOT/tests/lib/agent.sh"
APID= LOADPID=
cleanup() {
    [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
    [ -n "$APID" ] && kill -9 "$APID" 2>/dev/null
    mdb_stop_all
}
trap cleanup EXIT

mdb_start steady
repl_user steady
mariadb --defaults-file="$(mdb_cnf steady)" -uroot <<'SQL'
CREATE DATABASE steady;
CREATE TABLE steady.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, k INT, v VARCHAR(100), t DATETIME(6)) ENGINE=InnoDB;
DELIMITER //
CREATE PROCEDURE steady.paced(IN rate INT, IN secs INT)
BEGIN
  DECLARE n INT DEFAULT 0;
  DECLARE t0 DATETIME(6) DEFAULT NOW(6);
  DECLARE ahead DOUBLE;
  WHILE n < rate * secs DO
    INSERT INTO steady.t (k, v, t) VALUES (n % 1000, REPEAT('x', 80), NOW(6));
    SET n = n + 1;
    IF n % 20 = 0 THEN
      SET ahead = n / rate - TIMESTAMPDIFF(MICROSECOND, t0, NOW(6)) / 1e6;
      IF ahead > 0 THEN DO SLEEP(ahead); END IF;
    END IF;
  END WHILE;
END //
DELIMITER ;
SQL

# user+system CPU seconds of a process.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
trx_count() { mdb_sql steady "SELECT COUNT(*) FROM steady.t"; }

agent_start steady "file://$work/archive" "$work/spool" --purge-check 0 --http off \
    --start-position "$(mdb_sql steady "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')"
APID=$AGENT_PID
server=$(cat "$(mdb_dir steady)/mysqld.pid")
mariadb --defaults-file="$(mdb_cnf steady)" -uroot -e "CALL steady.paced($RATE, $((WARM + SECS + 5)))" &
LOADPID=$!
sleep "$WARM"
a0=$(cpu_seconds "$APID"); s0=$(cpu_seconds "$server"); n0=$(trx_count); t0=$(date +%s.%N)
sleep "$SECS"
a1=$(cpu_seconds "$APID"); s1=$(cpu_seconds "$server"); n1=$(trx_count); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$APID/status")
hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$APID/status")
wait "$LOADPID" || true
LOADPID=
kill -TERM "$APID"; wait "$APID" || true; APID=
elapsed=$(echo "$t1 - $t0" | bc -l)

out=$(mktemp)
{
    echo "### Agent steady state (issue #15)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end. MariaDB $(mariadbd --version | awk '{print $3}') on loopback (innodb_flush_log_at_trx_commit=2, sync_binlog=0); one session inserts small rows in autocommit transactions paced at $RATE/s; the agent archives them into a local directory with its defaults (lz4, SHA-256, fsync, 1 s segments). CPU is user+system time from /proc/PID/stat over ${SECS} s after a ${WARM} s warm-up, as a share of one core."
    echo
    echo "| transactions/s reached | agent CPU | agent RSS (peak) | server CPU |"
    echo "|---|---|---|---|"
    printf '| %.0f | %.1f%% | %d MiB (%d MiB) | %.1f%% |\n' "$(echo "($n1 - $n0) / $elapsed" | bc -l)" \
        "$(echo "100 * ($a1 - $a0) / $elapsed" | bc -l)" "$rss" "$hwm" "$(echo "100 * ($s1 - $s0) / $elapsed" | bc -l)"
    echo
    echo "Issue #15's goals: the agent under 5% of one core at 2,000 transactions/s; peak RSS < 64 MiB."
} > "$out"
cat "$out"
bench_record steady "$out"
rm -f "$out"
