#!/usr/bin/env bash
# RPO under a steady workload of about 1000 transactions/s (a paced stored procedure, one INSERT
# per transaction), `binvault agent --segment-interval 1s`, sampled every 0.5 s for
# $BENCH_RPO_SECONDS (default 60) after a 5 s warm-up: into a directory archive and into the S3
# archive of tests/lib/swift.sh (Swift on loopback). Two measures per sample: what the agent
# reports on /metrics (archive and spool RPO), and an independent one: the commit time (NOW(6) in
# the row) of the first transaction after the checkpoint the agent last wrote, read back from the
# source. Then the commit latency with --semi-sync on vs off (one session committing serially, and
# 8 sessions at once). Recorded in docs/BENCHMARKS.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
SECONDS_RUN=${BENCH_RPO_SECONDS:-60}
RATE=${BENCH_RPO_RATE:-1000}
work=$BENCH_DATA/rpo-run
rm -rf "$work"; mkdir -p "$work"

bench_server_start
export BV_ROOT=$BENCH_ROOT
. "$BENCH_ROOT/tests/lib/agent.sh"
. "$BENCH_ROOT/tests/lib/swift.sh"
APID=
cleanup() {
    [ -n "$APID" ] && kill -9 "$APID" 2>/dev/null
    s3_stop_all 2>/dev/null || true
    mdb_stop_all
}
trap cleanup EXIT
repl_user server
mdb_sql server "SET GLOBAL rpl_semi_sync_master_enabled = OFF"
mariadb --defaults-file="$(mdb_cnf server)" -uroot <<'SQL'
DROP DATABASE IF EXISTS rpobench;
CREATE DATABASE rpobench;
CREATE TABLE rpobench.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100), t DATETIME(6)) ENGINE=InnoDB;
DELIMITER //
CREATE PROCEDURE rpobench.paced(IN rate INT, IN secs INT)
BEGIN
  DECLARE n INT DEFAULT 0;
  DECLARE t0 DATETIME(6) DEFAULT NOW(6);
  DECLARE ahead DOUBLE;
  WHILE n < rate * secs DO
    INSERT INTO rpobench.t (v, t) VALUES (REPEAT('x', 80), NOW(6));
    SET n = n + 1;
    IF n % 10 = 0 THEN
      SET ahead = n / rate - TIMESTAMPDIFF(MICROSECOND, t0, NOW(6)) / 1e6;
      IF ahead > 0 THEN DO SLEEP(ahead); END IF;
    END IF;
  END WHILE;
END //
CREATE PROCEDURE rpobench.serial(IN n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  WHILE i < n DO
    INSERT INTO rpobench.t (v, t) VALUES (REPEAT('y', 80), NOW(6));
    SET i = i + 1;
  END WHILE;
END //
DELIMITER ;
SQL
port=$(mdb_port server)
cnf=$(mdb_cnf server)

# start_agent NAME ARCHIVE [options...]: an agent from the source's current end; sets APID, HTTP.
start_agent() {
    local name=$1 archive=$2; shift 2
    local hp
    hp=$(free_port)
    HTTP=127.0.0.1:$hp
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV" agent --source "mysql://repl@127.0.0.1:$port" --archive "$archive" \
        --spool "$work/$name-spool" --start-position "$(mdb_sql server "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')" \
        --segment-interval 1s --heartbeat 1s --source-poll 1s --purge-check 0 --http "$HTTP" "$@" \
        >> "$work/$name-agent.log" 2>&1 &
    APID=$!
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/healthz")" = 200 ] && return 0
        sleep 0.2
    done
    echo "agent $name did not become healthy: $(tail -n 5 "$work/$name-agent.log")" >&2
    return 1
}
stop_agent() { kill -TERM "$APID"; wait "$APID" || true; APID=; }

# run_rpo NAME: the paced load, sampled; prints "p50 p99 max" lines to $work/NAME.result
run_rpo() {
    local name=$1 s0 loadpid
    s0=$(mdb_sql server "SELECT @@gtid_binlog_pos" | sed -E 's/.*0-[0-9]+-([0-9]+).*/\1/')
    mdb_sql server "TRUNCATE rpobench.t"
    s0=$(mdb_sql server "SELECT @@gtid_binlog_pos" | sed -E 's/.*0-[0-9]+-([0-9]+).*/\1/')
    mariadb --defaults-file="$cnf" -uroot -e "CALL rpobench.paced($RATE, $((SECONDS_RUN + 8)))" &
    loadpid=$!
    sleep 5
    python3 - "$HTTP" "$cnf" "$s0" "$SECONDS_RUN" "$work/$name.samples" <<'PY'
import json, subprocess, sys, time, urllib.request
http, cnf, s0, secs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
def sql(q):
    return subprocess.run(["mariadb", "--defaults-file=" + cnf, "-uroot", "-N", "-B", "-e", q],
                          capture_output=True, text=True, check=True).stdout.strip()
rows, end, nxt = [], time.time() + secs, time.time()
while time.time() < end:
    t = time.time()
    st = json.load(urllib.request.urlopen("http://%s/status" % http, timeout=5))
    last = st["archive"]["checkpoint"]["last_gtid"]
    seq = int(last.split("-")[2]) if last.startswith("0-") else 0
    # The first transaction after the checkpoint is row (seq + 1 - s0), if it is committed yet.
    nid = seq + 1 - s0
    v = sql("SELECT UNIX_TIMESTAMP(t) FROM rpobench.t WHERE id = %d" % nid) if nid >= 1 else ""
    truth = max(0.0, t - float(v)) if v else 0.0
    rows.append((st["rpo"]["archive_seconds"], st["rpo"]["spool_seconds"], truth))
    nxt += 0.5
    time.sleep(max(0, nxt - time.time()))
with open(out, "w") as f:
    for r in rows:
        f.write("%.3f %.3f %.3f\n" % r)
PY
    wait "$loadpid"
    python3 - "$work/$name.samples" "$(mdb_sql server "SELECT COUNT(*), TIMESTAMPDIFF(MICROSECOND, MIN(t), MAX(t)) / 1e6 FROM rpobench.t")" \
        > "$work/$name.result" <<'PY'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
n, span = sys.argv[2].split()
def pct(vals, p):
    v = sorted(vals); k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1)); return v[k]
for i in range(3):
    col = [r[i] for r in rows]
    print("%.2f %.2f %.2f" % (pct(col, 50), pct(col, 99), max(col)))
print("%d %.0f" % (len(rows), int(n) / float(span)))
PY
}

# --- directory archive
start_agent dir "file://$work/dir-archive"
run_rpo dir
stop_agent
# --- S3 archive (Swift on loopback)
rm -rf "$BENCH_DATA/swift" # a fresh store: s3_start creates the bucket
if s3_start > "$work/s3-start.log" 2>&1; then
    start_agent s3 "s3://$S3_BUCKET/rpo" --s3-endpoint "$S3_ENDPOINT" --s3-uri-style path
    run_rpo s3
    stop_agent
    s3_stop_all || true
    s3=1
else
    echo "bench rpo: S3 server unavailable, see $work/s3-start.log" >&2
    s3=0
fi

# --- semi-sync commit latency: one session, then 8 sessions, semi-sync off and on
N=${BENCH_SEMISYNC_COMMITS:-2000}
timed() { local t0; t0=$(date +%s.%N); "$@" > /dev/null; echo "$(date +%s.%N) - $t0" | bc -l; }
serial() { timed mariadb --defaults-file="$cnf" -uroot -e "CALL rpobench.serial($N)"; }
parallel8() {
    local t0 pids=()
    t0=$(date +%s.%N)
    for _ in 1 2 3 4 5 6 7 8; do mariadb --defaults-file="$cnf" -uroot -e "CALL rpobench.serial($((N / 8)))" & pids+=($!); done
    wait "${pids[@]}"
    echo "$(date +%s.%N) - $t0" | bc -l
}
mdb_sql server "SET GLOBAL rpl_semi_sync_master_wait_point = AFTER_SYNC; SET GLOBAL rpl_semi_sync_master_timeout = 10000;
                SET GLOBAL rpl_semi_sync_master_enabled = ON"
start_agent semisync "file://$work/semisync-archive" --semi-sync
for _ in $(seq 1 50); do
    [ "$(mdb_sql server "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'" | awk '{print $2}')" = 1 ] && break
    sleep 0.2
done
no0=$(mdb_sql server "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_no_tx'" | awk '{print $2}')
on1=$(serial); on8=$(parallel8)
no1=$(mdb_sql server "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_no_tx'" | awk '{print $2}')
avgwait=$(mdb_sql server "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_tx_avg_wait_time'" | awk '{print $2}')
acks=$(curl -s "http://$HTTP/metrics" | awk '$1 == "binvault_semi_sync_acks_total" {print $2}')
syncs=$(curl -s "http://$HTTP/metrics" | awk '$1 == "binvault_journal_syncs_total" {print $2}')
mdb_sql server "SET GLOBAL rpl_semi_sync_master_enabled = OFF"
off1=$(serial); off8=$(parallel8)
stop_agent
ms() { printf '%.2f' "$(echo "1000 * $1 / $2" | bc -l)"; }
tps() { printf '%.0f' "$(echo "$2 / $1" | bc -l)"; }
fsync_ms=$(python3 - "$work" <<'PY'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
t = time.time()
for _ in range(200):
    os.write(fd, b"x" * 300); os.fdatasync(fd)
print("%.2f" % ((time.time() - t) * 1000 / 200)); os.close(fd); os.unlink(p)
PY
)

out=$(mktemp)
{
    echo "### RPO and semi-sync (issue: rpo)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine). MariaDB $(mariadbd --version | awk '{print $3}') on loopback"
    echo "(innodb_flush_log_at_trx_commit=2, sync_binlog=0), \`--segment-interval 1s --heartbeat 1s\`."
    echo
    echo "Steady load: one INSERT per transaction, paced at $RATE/s; sampled every 0.5 s for ${SECONDS_RUN} s after a 5 s warm-up."
    echo "\"measured\": age of the first transaction after the checkpoint the agent last wrote (its NOW(6), read back"
    echo "from the source), 0 when there is none; \"reported\": binvault_archive_rpo_seconds / binvault_spool_rpo_seconds."
    echo
    echo "| archive | tx/s | samples | archive RPO reported p50 / p99 / max (s) | archive RPO measured p50 / p99 / max (s) | spool RPO reported p50 / p99 / max (s) | aim (p99) |"
    echo "|---|---|---|---|---|---|---|"
    for name in dir s3; do
        [ "$name" = s3 ] && [ "$s3" = 0 ] && continue
        mapfile -t r < "$work/$name.result"
        read -r ns rate <<< "${r[3]}"
        label=directory; aim="<= 2 s"
        [ "$name" = s3 ] && label="S3 (Swift, loopback)" && aim="<= 3 s"
        echo "| $label | $rate | $ns | ${r[0]// / / } | ${r[2]// / / } | ${r[1]// / / } | $aim |"
    done
    echo
    echo "Semi-sync (\`--semi-sync\`, AFTER_SYNC): $N commits, each its own transaction; the ACK follows an fdatasync of the"
    echo "spool's journal (this disk: $fsync_ms ms per 300-byte append + fdatasync)."
    echo
    echo "| semi-sync | 1 session: ms per commit | 8 sessions: commits/s |"
    echo "|---|---|---|"
    echo "| off | $(ms "$off1" "$N") | $(tps "$off8" "$N") |"
    echo "| on | $(ms "$on1" "$N") | $(tps "$on8" "$N") |"
    echo
    echo "With semi-sync on: Rpl_semi_sync_master_tx_avg_wait_time ${avgwait} us; commits that returned without an ACK: $((no1 - no0));"
    echo "${acks:-?} ACKs sent after ${syncs:-?} journal fdatasyncs for $((2 * N)) commits (both runs): the source asks for an ACK of"
    echo "every transaction; the agent makes what it received durable before acknowledging it, and transactions that"
    echo "arrive together (concurrent sessions) share one fdatasync and one ACK, for the latest position (see"
    echo "docs/OPERATIONS.md, \"Semi-sync\"). The fdatasync cost of the spool's disk dominates the single-session figure."
} > "$out"
cat "$out"
bench_record rpo "$out"
rm -f "$out"
