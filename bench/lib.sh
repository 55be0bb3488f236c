# Helpers for benchmarks (sourced).

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DATA=${BENCH_DATA:-$BENCH_ROOT/build/bench-data}
mkdir -p "$BENCH_DATA"

bench_machine() {
    local cpu
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
    echo "$(nproc) cores, ${cpu:-unknown cpu}, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r)"
}

# Seconds (float) that a command takes; output discarded.
bench_time() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    local rc=$?
    t1=$(date +%s.%N)
    [ $rc -eq 0 ] || { echo "bench: command failed ($rc): $*" >&2; return 1; }
    echo "$t1 - $t0" | bc -l
}

# Best of N runs.
bench_best() {
    local n=$1; shift
    local best=
    for _ in $(seq 1 "$n"); do
        local t; t=$(bench_time "$@") || return 1
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

# N sysbench-like write transactions as SQL on stdout, the same every time (seeded): two UPDATEs, a
# DELETE and an INSERT on one of the tables sbtest1-4 of 10k rows (ids 1-10000).
bench_sbtest_txns() {
    python3 - "$1" <<'PY'
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
}

# Replace the section NAME of docs/BENCHMARKS.md with the contents of FILE.
bench_record() {
    local name=$1 file=$2 doc=$BENCH_ROOT/docs/BENCHMARKS.md
    python3 - "$doc" "$name" "$file" <<'PY'
import sys, re
doc, name, f = sys.argv[1:]
body = open(f).read().rstrip() + "\n"
start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
text = open(doc).read() if __import__("os").path.exists(doc) else "# Benchmarks\n"
block = f"{start}\n{body}{end}"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda m: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(doc, "w").write(text)
PY
}

# The binlog files of a bench data set are fixed when the set is made: DIR/binlogs.set, one name a
# line, the files of the generating run (the last one opened by the FLUSH at its end). Every start
# of the server opens a new binlog file (a format description, a GTID list) and the benches' own
# statements go into it (the replication user, rpo.sh's load); kept, they grew the set by a file
# per run (22 to ~90 files, each archived as one more segment by every later catch-up), so that
# figures taken at different times were not comparable. bench_binlog_set_restore DIR, before each
# start, removes the files that are not in the set, rewrites the index to the set and drops the
# saved GTID state (the server then takes it from the set's last file, the same every run): each
# run reads the set plus the one file its own start opens, whose contents are the same every run.
bench_binlog_set_record() {
    sed 's#.*/##' "$1/data/mariadb-bin.index" > "$1/binlogs.set"
}

bench_binlog_set_restore() {
    local dir=$1 data=$1/data prefix f
    if [ ! -f "$dir/binlogs.set" ]; then
        bench_binlog_set_record "$dir"
        echo "# bench: $dir has no binlogs.set (made before sets were fixed): its $(wc -l < "$dir/binlogs.set") binlog files are now the set; to restore the original, keep in binlogs.set only the generating run's files (up to the small one its final FLUSH opened)" >&2
    fi
    prefix=$(head -n 1 "$data/mariadb-bin.index" | sed 's#[^/]*$##')
    for f in "$data"/mariadb-bin.[0-9]*; do
        grep -qxF "${f##*/}" "$dir/binlogs.set" || rm -f "$f"
    done
    sed "s#^#$prefix#" "$dir/binlogs.set" > "$data/mariadb-bin.index"
    rm -f "$data/mariadb-bin.state"
}

# An OLTP-shaped MariaDB data directory kept (stopped) under $BENCH_DATA/oltp: >= BENCH_OLTP_MB
# (default 1024) MB of binlogs made of small autocommit transactions (one INSERT, or an UPDATE,
# of a ~1 KB row each: ~3 KB of binlog per transaction). bench_oltp_start starts it as "oltp".
bench_oltp_start() {
    local target_mb=${BENCH_OLTP_MB:-1024} binmb round=0
    export BV_TEST_DIR=$BENCH_DATA
    . "$BENCH_ROOT/tests/lib/mariadb.sh"
    if [ ! -f "$BENCH_DATA/oltp/.complete" ]; then
        rm -rf "$BENCH_DATA/oltp"
        echo "# generating ~${target_mb} MB of OLTP binlogs (once; kept in $BENCH_DATA/oltp)" >&2
        mdb_start oltp "max_binlog_size=256M" || return 1
        mdb_sql oltp "CREATE DATABASE o; CREATE TABLE o.t (id BIGINT PRIMARY KEY, k INT, v VARCHAR(1200), t DATETIME(6)) ENGINE=InnoDB"
        while :; do
            binmb=$(mdb_sql oltp "SHOW BINARY LOGS" | awk '{s+=$2} END {print int(s/1048576)}')
            [ "$binmb" -ge "$target_mb" ] && break
            python3 -c '
import sys, random
r, base = random.Random(int(sys.argv[1])), int(sys.argv[1]) * 50000
for i in range(50000):
    if i % 4 == 3:
        print("UPDATE o.t SET k = k + 1, v = REPEAT(%r, 70) WHERE id = %d;" % ("%016x" % r.getrandbits(64), base + i - 2))
    else:
        print("INSERT INTO o.t VALUES (%d, %d, REPEAT(%r, 70), NOW(6));" % (base + i, r.randrange(10**6), "%016x" % r.getrandbits(64)))
' "$round" | mariadb --defaults-file="$(mdb_cnf oltp)" -uroot
            round=$((round + 1))
        done
        mdb_sql oltp "FLUSH BINARY LOGS"
        mdb_stop oltp
        bench_binlog_set_record "$BENCH_DATA/oltp"
        touch "$BENCH_DATA/oltp/.complete"
    fi
    bench_binlog_set_restore "$BENCH_DATA/oltp"
    mdb_start oltp
}

# A MariaDB data directory with >= BENCH_MB (default 1100) MB of binlogs, generated once and kept
# (stopped) under $BENCH_DATA/server. bench_server_start starts it (BV_TEST_DIR=$BENCH_DATA);
# the caller stops it with mdb_stop_all.
bench_server_start() {
    local target_mb=${BENCH_MB:-1100} i=0 binmb
    export BV_TEST_DIR=$BENCH_DATA
    . "$BENCH_ROOT/tests/lib/mariadb.sh"
    if [ ! -f "$BENCH_DATA/server/.complete" ]; then
        rm -rf "$BENCH_DATA/server"
        echo "# generating ~${target_mb} MB of binlogs (once; kept in $BENCH_DATA/server)" >&2
        mdb_start server "max_binlog_size=256M" "max_allowed_packet=64M" || return 1
        mdb_sql server "CREATE DATABASE b; CREATE TABLE b.small (id BIGINT PRIMARY KEY, a VARCHAR(64), n INT) ENGINE=InnoDB;
                        CREATE TABLE b.big (id BIGINT PRIMARY KEY, v LONGBLOB) ENGINE=InnoDB"
        while :; do
            binmb=$(mdb_sql server "SHOW BINARY LOGS" | awk '{s+=$2} END {print int(s/1048576)}')
            [ "$binmb" -ge "$target_mb" ] && break
            # OLTP-like: many small transactions of small rows, and some large rows.
            mdb_sql server "USE b; INSERT INTO b.small SELECT seq + $((i * 20000)), MD5(seq), seq FROM seq_1_to_20000;
                         UPDATE b.small SET n = n + 1 WHERE id BETWEEN $((i * 20000)) AND $((i * 20000 + 5000));
                         INSERT INTO b.big SELECT seq + $((i * 20)), REPEAT(MD5(seq + $i), 32768) FROM seq_1_to_20;"
            i=$((i + 1))
        done
        mdb_sql server "FLUSH BINARY LOGS"
        mdb_stop server
        bench_binlog_set_record "$BENCH_DATA/server"
        touch "$BENCH_DATA/server/.complete"
    fi
    bench_binlog_set_restore "$BENCH_DATA/server"
    mdb_start server
}

# Peak RSS (VmHWM, KiB) of a running process.
bench_peak_rss_kb() {
    awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null
}

# A MariaDB data directory kept (stopped) under $BENCH_DATA/sysbench: >= BENCH_SYSBENCH_MB
# (default 400) MB of binlogs written by sysbench oltp_write_only (4 tables of 100 000 rows, 4
# threads): small events (an UPDATE of an indexed and of a non-indexed column, a DELETE and an
# INSERT per transaction), poorly compressible. bench_sysbench_start starts it as "sysbench".
bench_sysbench_start() {
    local target_mb=${BENCH_SYSBENCH_MB:-400} binmb sb
    export BV_TEST_DIR=$BENCH_DATA
    . "$BENCH_ROOT/tests/lib/mariadb.sh"
    if [ ! -f "$BENCH_DATA/sysbench/.complete" ]; then
        command -v sysbench > /dev/null || { echo "bench: sysbench is not installed (BV_DEPS_EXTRA=bench scripts/deps.sh)" >&2; return 1; }
        rm -rf "$BENCH_DATA/sysbench"
        echo "# generating ~${target_mb} MB of sysbench oltp_write_only binlogs (once; kept in $BENCH_DATA/sysbench)" >&2
        mdb_start sysbench "max_binlog_size=128M" || return 1
        mdb_sql sysbench "CREATE DATABASE sbtest"
        sb=(sysbench oltp_write_only --db-driver=mysql --mysql-socket="$(mdb_sock sysbench)" --mysql-user=root
            --mysql-db=sbtest --tables=4 --table-size=100000 --threads=4)
        "${sb[@]}" prepare > /dev/null || return 1
        mdb_sql sysbench "RESET MASTER"
        while :; do
            binmb=$(mdb_sql sysbench "SHOW BINARY LOGS" | awk '{s+=$2} END {print int(s/1048576)}')
            [ "$binmb" -ge "$target_mb" ] && break
            "${sb[@]}" --time=20 --report-interval=0 run > /dev/null || return 1
        done
        mdb_sql sysbench "FLUSH BINARY LOGS"
        mdb_stop sysbench
        bench_binlog_set_record "$BENCH_DATA/sysbench"
        touch "$BENCH_DATA/sysbench/.complete"
    fi
    bench_binlog_set_restore "$BENCH_DATA/sysbench"
    mdb_start sysbench
}

# A paced workload on SERVER (tests/lib/mariadb.sh): database DB with table t (one ~100-byte row
# per transaction, its commit time in t) and procedure DB.paced(rate, secs), one INSERT per
# autocommit transaction, sleeping every 10 rows to keep `rate` transactions/s.
bench_paced_setup() {
    local s=$1 db=$2
    mariadb --defaults-file="$(mdb_cnf "$s")" -uroot <<SQL
DROP DATABASE IF EXISTS $db;
CREATE DATABASE $db;
CREATE TABLE $db.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100), t DATETIME(6)) ENGINE=InnoDB;
DELIMITER //
CREATE PROCEDURE $db.paced(IN rate INT, IN secs INT)
BEGIN
  DECLARE n INT DEFAULT 0;
  DECLARE t0 DATETIME(6) DEFAULT NOW(6);
  DECLARE ahead DOUBLE;
  WHILE n < rate * secs DO
    INSERT INTO $db.t (v, t) VALUES (REPEAT('x', 80), NOW(6));
    SET n = n + 1;
    IF n % 10 = 0 THEN
      SET ahead = n / rate - TIMESTAMPDIFF(MICROSECOND, t0, NOW(6)) / 1e6;
      IF ahead > 0 THEN DO SLEEP(ahead); END IF;
    END IF;
  END WHILE;
END //
DELIMITER ;
SQL
}

# bench_rpo_sample HTTP CNF TABLE S0 SECS OUT: every 0.5 s for SECS seconds, the agent's archive RPO
# as it reports it (/status) and as measured (the age of the first transaction after its
# checkpoint: row checkpoint-seq + 1 - S0 of TABLE, whose `t` is its commit time; S0 is the GTID
# sequence number before the table's first row, the server's own domain-server in its GTIDs), one
# "reported measured" line per sample into OUT.
bench_rpo_sample() {
    python3 - "$@" <<'PY'
import json, subprocess, sys, time, urllib.request
http, cnf, table, s0, secs, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
def sql(q):
    return subprocess.run(["mariadb", "--defaults-file=" + cnf, "-uroot", "-N", "-B", "-e", q],
                          capture_output=True, text=True, check=True).stdout.strip()
rows, end, nxt = [], time.time() + secs, time.time()
while time.time() < end:
    t = time.time()
    st = json.load(urllib.request.urlopen("http://%s/status" % http, timeout=5))
    last = st["archive"]["checkpoint"]["last_gtid"]
    seq = int(last.split("-")[2]) if last.count("-") == 2 else 0
    nid = seq + 1 - s0
    v = sql("SELECT UNIX_TIMESTAMP(t) FROM %s WHERE id = %d" % (table, nid)) if nid >= 1 else ""
    rows.append((st["rpo"]["archive_seconds"], max(0.0, t - float(v)) if v else 0.0))
    nxt += 0.5
    time.sleep(max(0, nxt - time.time()))
with open(out, "w") as f:
    for r in rows:
        f.write("%.3f %.3f\n" % r)
PY
}

# p50, p99 and max of column COL (from 1) of the numbers in FILE: "p50 p99 max".
bench_percentiles() {
    python3 - "$1" "$2" <<'PY'
import sys
col = [float(l.split()[int(sys.argv[2]) - 1]) for l in open(sys.argv[1]) if l.strip()]
def pct(v, p):
    v = sorted(v); k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1)); return v[k]
print("%.2f %.2f %.2f" % (pct(col, 50), pct(col, 99), max(col)) if col else "- - -")
PY
}

# user+system CPU seconds of a process.
bench_cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
