# binvault restore, end to end, on MariaDB 10.11 with mariadb-backup. A source runs a workload while
# two agents archive it (a plain and an encrypted archive); `binvault backup` stores three backups
# in the plain archive (the second while the workload runs) and one in the encrypted archive; an
# mbstream file is also taken by hand. Then more DDL and DML, an accidental DROP TABLE and writes
# after it. `binvault restore` makes fresh data directories at (a) the GTID of the DROP with
# --exclusive, (b) a time, (c) a position, (d) the end, each from the newest backup before the
# target; each is started with a plain `mariadbd --datadir DIR` and must hold the source's tables
# and CHECKSUM TABLE at that point. The same from the encrypted archive and from the mbstream file.
# Refusals: a target before every backup (the backups listed), a DIR that is not empty, a
# corrupted part (before any server starts). Replica provisioning: --until-end --replicate-from the
# live primary, started, converges. binvault's own peak RSS stays under 64 MiB.
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
ENC="file://$T/enc"
head -c 32 /dev/urandom > "$T/key"; chmod 600 "$T/key"
mkdir -p "$T/tmp"
unset BINVAULT_KEY_FILE BINVAULT_ENCRYPT
BACKUP_PASSWORD=bk-secret-2
PID_ENC=
STREAM=$T/backup.mbs
cleanup() {
    wl_continuous_stop
    agent_kill
    [ -n "$PID_ENC" ] && kill -9 "$PID_ENC" 2>/dev/null
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
    "$BV_BIN" restore --tmpdir "$T/tmp" "$@" > "$T/stdout" 2> "$T/stderr" &
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

# start_restored NAME DIR [SERVER_ID]: a plain mariadbd on DIR (the user's own configuration: a
# port, a socket, the owner of DIR as its user), reachable with mdb_sql NAME.
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
server_id=${3:-1}
skip-name-resolve
EOF
    mdb_start "$name"
}
# bvbackup ARCHIVE [options]: binvault backup of the source; the new backup's id echoed.
bvbackup() {
    local a=$1 dir=${1#file://}; shift
    BINVAULT_SOURCE_PASSWORD=$BACKUP_PASSWORD "$BV_BIN" backup --archive "$a" --tmp-dir "$T/tmp" --no-progress \
        --source "mysql://backup@127.0.0.1:$(mdb_port src)" --part-size 256K "$@" >> "$T/bvbackup.log" 2>&1 || return 1
    ls "$dir/backups" | sort | tail -n 1
}
chosen_backup() { sed -n "s/^backup \([^:]*\): .*/\1/p" "$T/out"; }

# ---- the source, its archive and its history --------------------------------------------------

MDB_SERVER_ID=1 mdb_start src || { fail "start the source"; exit 1; }
repl_user src
mdb_sql src "CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY '$BACKUP_PASSWORD';
             GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'backup'@'127.0.0.1'"
AGENT_OPTS=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --purge-check 0)
agent_start src "$ARCHIVE" "$T/spool" --server-id 4123456101 "${AGENT_OPTS[@]}"
BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$(mdb_port src)" \
    --archive "$ENC" --encrypt --key-file "$T/key" --spool "$T/spool-enc" --server-id 4123456102 --http 127.0.0.1:0 \
    "${AGENT_OPTS[@]}" >> "$T/agent-enc.log" 2>&1 &
PID_ENC=$!
EARLY_GTID=$(mdb_sql src "CREATE DATABASE early; DROP DATABASE early; SELECT @@last_gtid")
wl_mixed src
B1=$(bvbackup "$ARCHIVE"); check "binvault backup (1) before the workload: $B1" test -n "$B1"
mdb_sql src "CREATE DATABASE shop;
    CREATE TABLE shop.orders (id INT PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(10,2), note VARCHAR(100)) ENGINE=InnoDB;
    CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=MyISAM;
    INSERT INTO shop.orders SELECT seq, seq % 50 + 1, seq * 1.5, 'before the backup' FROM shop.seq_1_to_300"

# The backups, while a workload writes: two in the archives, and a stream file.
wl_continuous_start src
sleep 1
B2=$(bvbackup "$ARCHIVE"); check "binvault backup (2) while the workload runs: $B2" test -n "$B2"
BE=$(bvbackup "$ENC" --key-file "$T/key"); check "binvault backup into the encrypted archive: $BE" test -n "$BE"
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
    echo "INSERT INTO shop.refunds SELECT seq, seq * 3 FROM shop.seq_1_to_40; SET SESSION gtid_domain_id = 0;"
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
B3=$(bvbackup "$ARCHIVE"); check "binvault backup (3) after the time target: $B3" test -n "$B3"
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
BINVAULT_KEY_FILE=$T/key check "the encrypted archive catches up" agent_wait_caught_up_any src "$ENC" 120
agent_term; check_eq "the agent exits 0" "$?" 0
kill -TERM "$PID_ENC"; wait "$PID_ENC"; check_eq "the encrypted archive's agent exits 0" "$?" 0; PID_ENC=
mdb_stop src

# ---- restores from the archive's backups ------------------------------------------------------------

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

rc=$(restore --archive "$ARCHIVE" --datadir "$T/r-gtid" --until-gtid "$DROP_GTID" --exclusive)
check_eq "(a) --until-gtid DROP --exclusive: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
check_eq "(a) from the newest backup before the target" "$(chosen_backup)" "$B3"
check "(a) reports the gtid state it stopped at" grep -qE "^restored: '$T/r-gtid' at gtid state '[0-9,-]+', [0-9]+ transactions applied" "$T/out"
restored "(a)" s-gtid "$T/r-gtid" "$SNAP_DROP"
check "(a) shop.orders is back" grep -qx "shop.orders" <<< "$SNAP_DROP"
check_rss "(a) binvault's peak RSS under 64 MiB ($(peak_kib) KiB)" "$(peak_kib)"

rc=$(restore --archive "$ARCHIVE" --datadir "$T/r-time" --until-time "$TIME")
check_eq "(b) --until-time: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
check_eq "(b) from the newest backup before the time" "$(chosen_backup)" "$B2"
restored "(b)" s-time "$T/r-time" "$SNAP_TIME"

rc=$(restore --archive "$ARCHIVE" --datadir "$T/r-pos" --until-position "$POS")
check_eq "(c) --until-position: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
check_eq "(c) from the newest backup before the position" "$(chosen_backup)" "$B2"
restored "(c)" s-pos "$T/r-pos" "$SNAP_POS"

rc=$(restore --archive "$ARCHIVE" --datadir "$T/r-end" --until-end)
check_eq "(d) --until-end: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
check_eq "(d) from the newest backup" "$(chosen_backup)" "$B3"
restored "(d)" s-end "$T/r-end" "$SNAP_END"

rc=$(restore --archive "$ARCHIVE" --datadir "$T/r-b1" --backup "$B1" --until-gtid "$DROP_GTID" --exclusive)
check_eq "--backup B1 (the oldest) to the DROP: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
check_eq "... from B1" "$(chosen_backup)" "$B1"
restored "--backup B1" s-b1 "$T/r-b1" "$SNAP_DROP"

rc=$(restore --archive "$ENC" --key-file "$T/key" --datadir "$T/r-enc" --until-gtid "$DROP_GTID" --exclusive)
check_eq "encrypted archive, --until-gtid DROP --exclusive: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
check_eq "... from its backup" "$(chosen_backup)" "$BE"
restored "encrypted" s-enc "$T/r-enc" "$SNAP_DROP"

rc=$(restore --archive "$ARCHIVE" --stream-file "$STREAM" --datadir "$T/r-file" --until-gtid "$DROP_GTID" --exclusive)
check_eq "--stream-file (mariadb-backup's own stream), to the DROP: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
restored "--stream-file" s-file "$T/r-file" "$SNAP_DROP"

# ---- refusals ---------------------------------------------------------------------------------

rc=$(restore --archive "$ARCHIVE" --datadir "$T/r-early" --until-gtid "$EARLY_GTID")
check_eq "refused: a target before every backup (exit 64)" "$rc" 64
check "... listing the backups the archive holds" grep -q "^  $B1: ended .*, at mariadb-bin" "$T/out"
check "... before DIR is touched" test ! -e "$T/r-early"

mkdir -p "$T/full"; echo x > "$T/full/something"
rc=$(restore --archive "$ARCHIVE" --datadir "$T/full" --until-end)
check_eq "refused: a DIR that is not empty (exit 78)" "$rc" 78
check "... naming what it holds" grep -q "is not empty (it holds 'something')" "$T/out"
check "... and leaving it as it was" test "$(ls "$T/full")" = something

rc=$(restore --archive "$ARCHIVE" --datadir "$T/r-late" --until-gtid 0-1-999999)
check_eq "refused: a GTID after the archive's end (exit 66)" "$rc" 66
check "... with the archive's restorable window" grep -q "the archive holds" "$T/out"
check "... before DIR is touched" test ! -e "$T/r-late"

cp -r "$T/archive" "$T/corrupt"
PART=$(ls "$T/corrupt/backups/$B3/parts/"*.bvp | sort | head -n 1)
printf 'XXXX' | dd of="$PART" bs=1 seek=200 conv=notrunc 2>/dev/null
rc=$(restore --archive "file://$T/corrupt" --datadir "$T/r-corrupt" --until-end)
check_eq "refused: a corrupted part of the backup (exit 65)" "$rc" 65
check "... naming the part" grep -q "$(basename "$PART")" "$T/out"
check "... before any server was started" test -z "$(ls -d "$T"/tmp/binvault-restore.* 2>/dev/null)"
check "... saying DIR must be emptied" grep -q "holds an incomplete unpack of the backup" "$T/out"

head -c 300000 "$STREAM" > "$T/truncated.mbs"
printf 'XXXXXXXXXXXXXXXXXXXXXXXX' >> "$T/truncated.mbs"
rc=$(restore --archive "$ARCHIVE" --stream-file "$T/truncated.mbs" --datadir "$T/r-bad" --until-end)
check "refused: a damaged stream file (exit $rc)" test "$rc" != 0
check "... saying DIR must be emptied" grep -q "holds an incomplete .* of the backup" "$T/out"
check "... no private server was started" test -z "$(ls -d "$T"/tmp/binvault-restore.* 2>/dev/null)"

# ---- Ctrl-C ---------------------------------------------------------------------------------------

"$BV_BIN" restore --archive "$ARCHIVE" --tmpdir "$T/tmp" --datadir "$T/r-int" --until-end > "$T/int.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q " info start: " "$T/int.out" && break; sleep 0.05; done
kill -INT "$pid"; wait "$pid"; rc=$?
check "Ctrl-C while the private server starts: restore stops (exit $rc)" test "$rc" != 0 -a "$rc" != 130
check "... saying it was interrupted" grep -q "interrupted" "$T/int.out"
check "... and what DIR holds" grep -qE "holds the (prepared backup at gtid state|backup recovered up to gtid state)" "$T/int.out"
check "... with the private server stopped and its directory removed" test -z "$(ls -d "$T"/tmp/binvault-restore.* 2>/dev/null)"
if start_restored s-int "$T/r-int"; then ok "... and DIR starts with mariadbd"; mdb_stop s-int; else fail "... and DIR starts with mariadbd"; fi

# ---- replica provisioning ------------------------------------------------------------------------

mdb_start src > /dev/null || fail "restart the source"
rc=$(BINVAULT_PRIMARY_PASSWORD=$REPL_PASSWORD restore --archive "$ARCHIVE" --datadir "$T/r-replica" --until-end \
    --replicate-from "mysql://repl@127.0.0.1:$(mdb_port src)")
check_eq "--until-end --replicate-from the live primary: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
check "... says it replicates once started" grep -q "It replicates from the primary as soon as it starts" "$T/out"
check "... and the password is not printed" test -z "$(grep -- "$REPL_PASSWORD" "$T/out")"
# The primary goes on while the replica is not started yet, and after.
mdb_sql src "INSERT INTO shop.audit (what) VALUES ('while the replica is stopped');
    CREATE TABLE shop.late (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.late SELECT seq FROM shop.seq_1_to_100"
slave_status() { mariadb --defaults-file="$(mdb_cnf "$1")" -uroot -e "SHOW SLAVE STATUS\\G"; }
converged() { # REPLICA: its gtid_slave_pos is the primary's gtid_binlog_pos, within 60 s
    local want got
    for _ in $(seq 1 300); do
        want=$(norm_pos "$(mdb_sql src "SELECT @@gtid_binlog_pos")")
        got=$(norm_pos "$(mdb_sql "$1" "SELECT @@gtid_slave_pos")")
        [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    echo "gtid_slave_pos '$got', primary at '$want'"
    slave_status "$1" | grep -E "Running|Error"
    return 1
}
if start_restored s-replica "$T/r-replica" 2; then
    ok "the provisioned replica starts (server_id 2)"
    check "it replicates from the primary and catches up" converged s-replica
    mdb_sql src "UPDATE shop.late SET id = id + 1000 WHERE id <= 10; DELETE FROM shop.audit WHERE id = 1"
    check "it follows new writes" converged s-replica
    check_eq "its tables and CHECKSUM TABLE are the primary's" "$(snapshot s-replica)" "$(snapshot src)"
    check_eq "its replication threads run" "$(slave_status s-replica | grep -cE "Slave_(IO|SQL)_Running: Yes")" 2
else
    fail "the provisioned replica starts"
fi
