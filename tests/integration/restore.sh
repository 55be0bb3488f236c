# binvault restore, end to end, on MariaDB with mariadb-backup. A source runs a workload while an
# agent archives it; a backup is streamed (mbstream) while the workload goes on; then more DDL and
# DML, an accidental DROP TABLE and writes after it. `binvault restore` makes fresh data
# directories at (a) the GTID of the DROP with --exclusive, (b) a time, (c) a position, (d) the end;
# each is started with a plain `mariadbd --datadir DIR` and must hold the source's tables and
# CHECKSUM TABLE at that point. Refusals (a DIR that is not empty, a target outside the archive,
# a corrupted stream) leave a clear message and state; binvault's peak RSS stays small.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"

T=$BV_TEST_DIR
# The restored directories belong to the mysql account (restore's default when run as root): it
# must reach them.
chmod 0711 "$T"
ARCHIVE="file://$T/archive"
mkdir -p "$T/tmp"
STREAM=$T/backup.mbs
cleanup() {
    wl_continuous_stop
    agent_kill
    mdb_stop_all
}
trap cleanup EXIT

# ---- helpers ---------------------------------------------------------------------------------

tables_of() {
    mdb_sql "$1" "SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables
                  WHERE table_schema IN ('wl', 'shop', 'cw') ORDER BY 1"
}
# The table list and every table's CHECKSUM TABLE: what a restored server must match.
snapshot() {
    local s=$1 tables
    mapfile -t tables < <(tables_of "$s")
    printf '%s\n' "${tables[@]}"
    [ ${#tables[@]} -gt 0 ] && mdb_sql "$s" "CHECKSUM TABLE $(IFS=,; echo "${tables[*]}")"
}
norm_pos() { tr ',' '\n' <<< "$1" | sed '/^$/d' | sort | paste -sd, -; }

# restore ARGS...: stdout in $T/stdout, both outputs in $T/out, binvault's own peak RSS in KiB
# (VmHWM: its children, the tools and the private server, are not counted) in $T/peak; the exit
# code echoed.
restore() {
    local rc pid hwm peak=0
    "$BV_BIN" restore --archive "$ARCHIVE" --tmpdir "$T/tmp" "$@" > "$T/stdout" 2> "$T/stderr" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        [ -n "$hwm" ] && peak=$hwm
        sleep 0.1
    done
    wait "$pid"
    rc=$?
    echo "$peak" > "$T/peak"
    cat "$T/stdout" "$T/stderr" > "$T/out"
    echo $rc
}
show_out() { tail -n 20 "$T/out"; }
peak_kib() { cat "$T/peak"; }

# start_restored NAME DIR: a plain mariadbd on DIR (the user's own configuration: a port, a
# socket, the owner of DIR as its user), reachable with mdb_sql NAME.
start_restored() {
    local name=$1 dir=$2 d port
    d=$(mdb_dir "$name")
    mkdir -p "$d"
    chown "$(stat -c %U "$dir")" "$d"
    port=$(free_port)
    echo "$port" > "$d/port"
    cat > "$d/my.cnf" <<EOF
[client]
socket=$d/mysqld.sock
port=$port
host=127.0.0.1
[mariadbd]
user=$(stat -c %U "$dir")
datadir=$dir
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
port=$port
bind-address=127.0.0.1
log-error=$d/error.log
server_id=1
skip-name-resolve
EOF
    mdb_start "$name"
}

# ---- the source, its archive and its history --------------------------------------------------

MDB_SERVER_ID=1 mdb_start src || { fail "start the source"; exit 1; }
repl_user src
agent_start src "$ARCHIVE" "$T/spool" --server-id 4123456101 --segment-size 64K --segment-interval 300ms \
    --heartbeat 500ms --purge-check 0
wl_mixed src
mdb_sql src "CREATE DATABASE shop;
    CREATE TABLE shop.orders (id INT PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(10,2), note VARCHAR(100)) ENGINE=InnoDB;
    CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=MyISAM;
    INSERT INTO shop.orders SELECT seq, seq % 50 + 1, seq * 1.5, 'before the backup' FROM seq_1_to_300"

# The backup, while a workload writes.
wl_continuous_start src
sleep 1
mariadb-backup --backup --stream=mbstream --user root --socket "$(mdb_sock src)" --target-dir "$T/bk-tmp" \
    > "$STREAM" 2> "$T/backup.log"
check_eq "mariadb-backup --stream=mbstream while a workload runs: exit 0" "$?" 0
sleep 1
wl_continuous_stop
check "the backup stream is not empty" test -s "$STREAM"

orders() { # FROM TO NOTE: one transaction per 10 orders
    local i sql=""
    for ((i = $1; i <= $2; i++)); do
        sql+="INSERT INTO shop.orders (id, customer, amount, note) VALUES ($i, $i % 50 + 1, $i * 2.25, '$3');"
        if ((i % 10 == 0)); then
            echo "BEGIN; $sql COMMIT; INSERT INTO shop.audit (what) VALUES ('orders up to $i');"
            sql=""
        fi
    done
}
{
    echo "ALTER TABLE shop.orders ADD COLUMN status VARCHAR(10) NOT NULL DEFAULT 'new';"
    orders 301 600 'after the backup'
    echo "SET SESSION gtid_domain_id = 1; CREATE TABLE shop.refunds (id INT PRIMARY KEY, order_id INT) ENGINE=InnoDB;"
    echo "INSERT INTO shop.refunds SELECT seq, seq * 3 FROM seq_1_to_40; SET SESSION gtid_domain_id = 0;"
} | mariadb --defaults-file="$(mdb_cnf src)" -uroot
SNAP_POS=$(snapshot src)
POS=$(mdb_sql src "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
{
    echo "FLUSH BINARY LOGS;"
    orders 601 900 'in the middle'
    echo "UPDATE shop.orders SET status = 'paid' WHERE id % 3 = 0;"
} | mariadb --defaults-file="$(mdb_cnf src)" -uroot
sleep 1.2
TIME=$(mdb_sql src "SELECT UTC_TIMESTAMP()")
SNAP_TIME=$(snapshot src)
sleep 1.2
{
    orders 901 1200 'late'
    echo "CREATE INDEX by_customer ON shop.orders (customer);"
} | mariadb --defaults-file="$(mdb_cnf src)" -uroot
SNAP_DROP=$(snapshot src)
DROP_GTID=$(mdb_sql src "DROP TABLE shop.orders; SELECT @@last_gtid")
mdb_sql src "INSERT INTO shop.audit (what) VALUES ('after the drop'); FLUSH BINARY LOGS;
    SET SESSION gtid_domain_id = 2; INSERT INTO wl.t2 VALUES (3, 'after the drop')"
SNAP_END=$(snapshot src)
END_POS=$(norm_pos "$(mdb_sql src "SELECT @@gtid_binlog_pos")")
echo "# position $POS, time $TIME, drop $DROP_GTID, end $END_POS"
check "the archive catches up" agent_wait_caught_up src "$ARCHIVE" 120
agent_term; check_eq "the agent exits 0" "$?" 0
mdb_stop src

# ---- restores from the stream file -------------------------------------------------------------

# restored LABEL SERVER DIR SNAPSHOT: DIR starts with a plain mariadbd and matches SNAPSHOT.
restored() {
    local label=$1 server=$2 dir=$3 snap=$4
    check "$label: restore says it is ready" grep -q "is ready: start it with 'mariadbd --datadir $dir'" "$T/out"
    check "$label: the private server is gone" test -z "$(ls -d "$T"/tmp/binvault-restore.* 2>/dev/null)"
    if ! start_restored "$server" "$dir"; then fail "$label: mariadbd --datadir starts"; return; fi
    ok "$label: mariadbd --datadir $dir starts"
    check_eq "$label: every table and CHECKSUM TABLE as on the source" "$(snapshot "$server")" "$snap"
    check_eq "$label: no replication connection is left" "$(mdb_sql "$server" "SHOW ALL SLAVES STATUS" | wc -l)" 0
    mdb_stop "$server"
}

rc=$(restore --stream-file "$STREAM" --datadir "$T/r-gtid" --until-gtid "$DROP_GTID" --exclusive)
check_eq "(a) --until-gtid DROP --exclusive: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
check "(a) reports the gtid state it stopped at" grep -qE "^restored: '$T/r-gtid' at gtid state '[0-9,-]+', [0-9]+ transactions applied" "$T/out"
restored "(a)" s-gtid "$T/r-gtid" "$SNAP_DROP"
check "(a) shop.orders is back" grep -qx "shop.orders" <<< "$SNAP_DROP"
check "(a) binvault's peak RSS under 64 MiB ($(peak_kib) KiB)" test "$(peak_kib)" -gt 0 -a "$(peak_kib)" -lt 65536

rc=$(restore --stream-file "$STREAM" --datadir "$T/r-time" --until-time "$TIME")
check_eq "(b) --until-time: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
restored "(b)" s-time "$T/r-time" "$SNAP_TIME"

rc=$(restore --stream-file "$STREAM" --datadir "$T/r-pos" --until-position "$POS")
check_eq "(c) --until-position: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
restored "(c)" s-pos "$T/r-pos" "$SNAP_POS"

rc=$(restore --stream-file "$STREAM" --datadir "$T/r-end" --until-end)
check_eq "(d) --until-end: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
restored "(d)" s-end "$T/r-end" "$SNAP_END"

# ---- refusals ---------------------------------------------------------------------------------

mkdir -p "$T/full"; echo x > "$T/full/something"
rc=$(restore --stream-file "$STREAM" --datadir "$T/full" --until-end)
check_eq "refused: a DIR that is not empty (exit 78)" "$rc" 78
check "... naming what it holds" grep -q "is not empty (it holds 'something')" "$T/out"
check "... and leaving it as it was" test "$(ls "$T/full")" = something

rc=$(restore --stream-file "$STREAM" --datadir "$T/r-late" --until-gtid 0-1-999999)
check_eq "refused: a GTID after the archive's end (exit 66)" "$rc" 66
check "... with the archive's restorable window" grep -q "the archive holds" "$T/out"
check "... saying what DIR holds" grep -q "holds the prepared backup at gtid state" "$T/out"

head -c 300000 "$STREAM" > "$T/truncated.mbs"
printf 'XXXXXXXXXXXXXXXXXXXXXXXX' >> "$T/truncated.mbs"
rc=$(restore --stream-file "$T/truncated.mbs" --datadir "$T/r-bad" --until-end)
check "refused: a damaged stream (exit $rc)" test "$rc" != 0
check "... saying DIR must be emptied" grep -q "holds an incomplete .* of the backup" "$T/out"
check "... no private server was started" test -z "$(ls -d "$T"/tmp/binvault-restore.* 2>/dev/null)"
