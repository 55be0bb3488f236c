# binvault serve-binlogs: MariaDB 10.11 replicas apply archived binlogs through their own
# replication applier. Server A writes a workload (DDL, DML, multi-statement transactions, XA,
# several GTID domains, compressed events, both checksum settings, rotations, then 50k small
# transactions) and stops; replica B catches up to a middle GTID with START SLAVE UNTIL, then to
# the end across a restart of binvault in the middle of a transaction; replicas C and D catch up
# in one go and the apply rate is
# printed (for default and durable settings; BV_REPLSERVER_BASELINE=1 adds mariadb-binlog | mariadb
# on the same binlogs). Tables are compared with CHECKSUM TABLE.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"

SERVE_PID=
cleanup() {
    serve_stop
    mdb_stop_all
}
trap cleanup EXIT

PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
BULK=${BV_REPLSERVER_BULK:-50000}

# serve_start [PORT]: run serve-binlogs on A's binlogs; sets PORT.
serve_start() {
    local want=${1:-0} n=${SERVE_RUNS:-0}
    SERVE_RUNS=$((n + 1))
    BINVAULT_SERVE_PASSWORD=$PASSWORD "$BV_BIN" serve-binlogs --listen "127.0.0.1:$want" --log-level debug \
        "${FILES[@]}" > "$BV_TEST_DIR/serve.$SERVE_RUNS.out" 2> "$BV_TEST_DIR/serve.$SERVE_RUNS.err" &
    SERVE_PID=$!
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$BV_TEST_DIR/serve.$SERVE_RUNS.out")
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$BV_TEST_DIR/serve.$SERVE_RUNS.err" >&2
    return 1
}
serve_stop() {
    [ -n "$SERVE_PID" ] || return 0
    kill -TERM "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
    SERVE_PID=
}

# The value of a SHOW SLAVE STATUS field on server $1.
slave_field() {
    mariadb --defaults-file="$(mdb_cnf "$1")" -uroot -e "SHOW SLAVE STATUS\G" |
        awk -F': ' -v k="$2" '{sub(/^ +/, "", $1)} $1 == k {print $2}'
}
# A GTID position with its GTIDs sorted, for comparisons.
norm_pos() { tr ',' '\n' <<< "$1" | sed '/^$/d' | sort | paste -sd, -; }
slave_pos() { norm_pos "$(mdb_sql "$1" "SELECT @@gtid_slave_pos")"; }
# wait_until SECONDS CMD...: poll CMD every 0.2 s.
wait_until() {
    local end=$((SECONDS + $1)); shift
    while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
    return 1
}
pos_is() { [ "$(slave_pos "$1")" = "$2" ]; }
sql_stopped() { [ "$(slave_field "$1" Slave_SQL_Running)" = No ] && [ "$(slave_field "$1" Slave_IO_Running)" = No ]; }
# CHECKSUM TABLE of tables $2... on server $1, one "table checksum" per line.
checksums() {
    local s=$1; shift
    [ $# -gt 0 ] || return 0
    mdb_sql "$s" "CHECKSUM TABLE $(IFS=,; echo "$*")" | sort
}
tables_of() {
    mdb_sql "$1" "SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables
                  WHERE table_schema IN ('wl', 'bulk') ORDER BY 1"
}
change_master() {
    mdb_sql "$1" "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$PORT, MASTER_USER='binvault',
                  MASTER_PASSWORD='$PASSWORD', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1${2:+, $2}"
}
show_failure() {
    mariadb --defaults-file="$(mdb_cnf "$1")" -uroot -e "SHOW SLAVE STATUS\G" | grep -E "Running|Err|Gtid|Pos"
    tail -n 5 "$(mdb_dir "$1")/error.log"
    tail -n 5 "$BV_TEST_DIR"/serve.*.err
}

# ---- Server A: the workload, with a snapshot in the middle ----
MDB_SERVER_ID=1 mdb_start A || { fail "start server A"; exit 1; }
wl_mixed A
mdb_sql A "SET SESSION gtid_domain_id=1; CREATE DATABASE bulk;
    CREATE TABLE bulk.kv (id INT PRIMARY KEY, d INT NOT NULL, v VARCHAR(40)) ENGINE=InnoDB;
    INSERT INTO bulk.kv VALUES (0, 0, 'seed');
    XA START 'x2'; UPDATE bulk.kv SET d = 1 WHERE id = 0; XA END 'x2'; XA PREPARE 'x2'; XA COMMIT 'x2';"
MID=$(norm_pos "$(mdb_sql A "SELECT @@gtid_binlog_pos")")
mapfile -t MID_TABLES < <(tables_of A)
MID_SUMS=$(checksums A "${MID_TABLES[@]}")

# 50k small transactions in domain 0, multi-statement ones and DDL in domain 1, rotations.
{
    echo "SET SESSION gtid_domain_id=0;"
    echo "CREATE TABLE bulk.small (id INT PRIMARY KEY, n INT NOT NULL, s VARCHAR(32)) ENGINE=InnoDB;"
    for ((i = 1; i <= BULK; i++)); do
        echo "INSERT INTO bulk.small VALUES ($i, $((i % 97)), 'row $i');"
        if ((i % 5000 == 0)); then
            echo "SET SESSION gtid_domain_id=1;"
            echo "BEGIN; UPDATE bulk.kv SET d = d + 1 WHERE id = 0; INSERT INTO bulk.kv VALUES ($i, $i, REPEAT('k', 30));"
            echo "DELETE FROM bulk.small WHERE id = $((i - 1)); COMMIT;"
            echo "ALTER TABLE bulk.kv COMMENT 'after $i';"
            echo "SET SESSION gtid_domain_id=0;"
        fi
        if ((i % 20000 == 0)); then echo "FLUSH BINARY LOGS;"; fi
    done
    echo "UPDATE bulk.small SET n = n + 1 WHERE id % 10 = 0;"
} | mariadb --defaults-file="$(mdb_cnf A)" -uroot
FINAL=$(norm_pos "$(mdb_sql A "SELECT @@gtid_binlog_pos")")
mapfile -t FINAL_TABLES < <(tables_of A)
FINAL_SUMS=$(checksums A "${FINAL_TABLES[@]}")
TOTAL=$(tr ',' '\n' <<< "$FINAL" | awk -F- '{s += $3} END {print s}')
mapfile -t FILES < <(mdb_binlog_files A)
mdb_stop A
check "server A wrote several binlog files" test "${#FILES[@]}" -ge 6
echo "# workload: $TOTAL transactions in ${#FILES[@]} binlog files; middle $MID; final $FINAL"

# ---- binvault serves A's binlogs ----
serve_start || { fail "binvault serve-binlogs did not start"; exit 1; }
ok "serve-binlogs listens on 127.0.0.1:$PORT"
check_fails "a wrong password is refused" \
    mariadb -h 127.0.0.1 -P "$PORT" -u binvault -pwrong --skip-ssl -e "SELECT 1"
out=$(mariadb -h 127.0.0.1 -P "$PORT" -u binvault "-p$PASSWORD" --skip-ssl -N -B -e "SELECT @@version, @@server_id" 2>&1)
check_eq "the mariadb client logs in and reads variables" "$out" "10.11.19-MariaDB-binvault	4294967290"

# ---- Replica B: UNTIL the middle, then to the end across a restart of binvault ----
MDB_SERVER_ID=2 mdb_start B || { fail "start server B"; exit 1; }
change_master B
mdb_sql B "START SLAVE UNTIL master_gtid_pos='$MID'"
if wait_until 120 sql_stopped B; then ok "B stopped by itself at its UNTIL position"; else fail "B did not stop at UNTIL" "$(show_failure B)"; fi
check_eq "B's gtid_slave_pos is the UNTIL position" "$(slave_pos B)" "$MID"
check_eq "B's tables equal A's snapshot at that position" "$(checksums B "${MID_TABLES[@]}")" "$MID_SUMS"
check_eq "no replication error on B" "$(slave_field B Last_Errno)/$(slave_field B Last_IO_Errno)" "0/0"

# Then to the end, across a restart of binvault with B holding half a transaction: first
# binvault serves copies of the binlogs in which one file ends inside a transaction group (after
# its row event, before its XID), so that B receives the group's start and waits, idle, with
# heartbeats; then binvault restarts with the complete files and B reconnects by itself: it asks
# from its last complete GTID, and skips the part of the group it already has.
serve_stop
mkdir -p "$BV_TEST_DIR/partial"
cut_file=${FILES[$(( ${#FILES[@]} - 2 ))]}
cut_name=$(basename "$cut_file")
# The middle XID of the file, and the GTID of its group.
read -r cut_at cut_gtid < <("$BV_BIN" inspect "$cut_file" 2>/dev/null | awk '
    $2 == "Gtid" {g = $(NF - 1)} $2 == "Xid" {x[++n] = $1; gx[n] = g}
    END {print x[int(n / 2)], gx[int(n / 2)]}')
PARTIAL=()
for f in "${FILES[@]}"; do
    if [ "$f" = "$cut_file" ]; then
        head -c "$cut_at" "$f" > "$BV_TEST_DIR/partial/$cut_name"
        PARTIAL+=("$BV_TEST_DIR/partial/$cut_name")
        break
    fi
    PARTIAL+=("$f")
done
ALL_FILES=("${FILES[@]}")
FILES=("${PARTIAL[@]}")
serve_start "$PORT" || { fail "binvault serve-binlogs did not restart on port $PORT"; exit 1; }
mdb_sql B "STOP SLAVE; CHANGE MASTER TO MASTER_HEARTBEAT_PERIOD=1; START SLAVE"
io_at_cut() { [ "$(slave_field B Master_Log_File)" = "$cut_name" ] && [ "$(slave_field B Read_Master_Log_Pos)" = "$cut_at" ]; }
if wait_until 300 io_at_cut; then ok "B received the stream up to the middle of GTID $cut_gtid ('$cut_name':$cut_at)"
else fail "B did not receive the partial stream" "$(show_failure B)"; fi
before=$(awk -F- '{print $1 "-" $2 "-" $3 - 1}' <<< "$cut_gtid")
applied_before() { tr ',' '\n' <<< "$(slave_pos B)" | grep -qx "$before"; }
check "B applied everything before the partial group ($before)" wait_until 120 applied_before
sleep 2.5
hb=$(mdb_sql B "SHOW STATUS LIKE 'Slave_received_heartbeats'" | cut -f2)
check "B stays connected, receiving heartbeats, at the end of the served events" test "${hb:-0}" -ge 2 -a "$(slave_field B Slave_IO_Running)" = Yes
serve_stop
FILES=("${ALL_FILES[@]}")
sleep 1
serve_start "$PORT" || { fail "binvault serve-binlogs did not restart on port $PORT"; exit 1; }
if wait_until 600 pos_is B "$FINAL"; then ok "B reconnected and caught up to A's final position"
else fail "B did not reach $FINAL" "$(show_failure B)"; fi
check_eq "B's tables equal A's" "$(checksums B "${FINAL_TABLES[@]}")" "$FINAL_SUMS"
io_running() { [ "$(slave_field "$1" Slave_IO_Running)" = Yes ]; }
wait_until 30 io_running B
check_eq "B's replication threads run" "$(slave_field B Slave_IO_Running)/$(slave_field B Slave_SQL_Running)" "Yes/Yes"
check_eq "no replication error on B" "$(slave_field B Last_Errno)/$(slave_field B Last_IO_Errno)" "0/0"
resumed=$(sed -n "s/^.*asks for the binlog stream after gtid '\([^']*\)'.*$/\1/p" "$BV_TEST_DIR/serve.$SERVE_RUNS.err" | head -n 1)
check "B resumed from its last complete GTID ($before in '$resumed')" grep -qx "$before" <<< "$(tr ',' '\n' <<< "$resumed")"
check "B skipped the part of the group it had (its error log says so)" \
    grep -q "reconnected to receive Gtid_log_event $cut_gtid. It is to skip" "$(mdb_dir B)/error.log"
# A second replica is refused while B is connected.
out=$(mariadb -h 127.0.0.1 -P "$PORT" -u binvault "-p$PASSWORD" --skip-ssl -e "SELECT 1" 2>&1)
check "a second connection is refused while a replica is served" grep -q "one replica at a time" <<< "$out"
mdb_sql B "STOP SLAVE"

# ---- Replicas C and D: all at once, timed; heartbeats while idle ----
# catch_up NAME LABEL: START SLAVE on a fresh replica, wait for the final position, print the rate.
catch_up() {
    local s=$1 label=$2 start end
    change_master "$s" "MASTER_HEARTBEAT_PERIOD=1"
    start=$(date +%s.%N)
    mdb_sql "$s" "START SLAVE"
    local deadline=$((SECONDS + 600))
    while [ "$(slave_pos "$s")" != "$FINAL" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
    end=$(date +%s.%N)
    if [ "$(slave_pos "$s")" = "$FINAL" ]; then
        ok "$s caught up to A's final position"
        awk -v n="$TOTAL" -v a="$start" -v b="$end" -v l="$label" \
            'BEGIN {printf "# apply rate (%s): %d transactions in %.2f s = %.0f trx/s\n", l, n, b - a, n / (b - a)}'
    else
        fail "$s did not reach $FINAL" "$(show_failure "$s")"
    fi
    check_eq "$s's tables equal A's" "$(checksums "$s" "${FINAL_TABLES[@]}")" "$FINAL_SUMS"
}
MDB_SERVER_ID=3 mdb_start C || { fail "start server C"; exit 1; }
catch_up C "replica applier, test settings: innodb_flush_log_at_trx_commit=2, sync_binlog=0"
sleep 3
hb=$(mdb_sql C "SHOW STATUS LIKE 'Slave_received_heartbeats'" | cut -f2)
check "C receives heartbeats when the stream is idle" test "${hb:-0}" -ge 2
check_eq "C's replication threads still run" "$(slave_field C Slave_IO_Running)/$(slave_field C Slave_SQL_Running)" "Yes/Yes"
mdb_sql C "STOP SLAVE"
MDB_SERVER_ID=4 mdb_start D "innodb_flush_log_at_trx_commit=1" "sync_binlog=1" || { fail "start server D"; exit 1; }
catch_up D "replica applier, durable: innodb_flush_log_at_trx_commit=1, sync_binlog=1"
mdb_sql D "STOP SLAVE"
if [ "${BV_REPLSERVER_BASELINE:-0}" = 1 ]; then
    # For comparison: the same binlogs through mariadb-binlog | mariadb on the same settings as D.
    MDB_SERVER_ID=5 mdb_start E "innodb_flush_log_at_trx_commit=1" "sync_binlog=1" || { fail "start server E"; exit 1; }
    start=$(date +%s.%N)
    mariadb-binlog "${FILES[@]}" | mariadb --defaults-file="$(mdb_cnf E)" -uroot
    end=$(date +%s.%N)
    awk -v n="$TOTAL" -v a="$start" -v b="$end" \
        'BEGIN {printf "# apply rate (mariadb-binlog | mariadb, durable): %d transactions in %.2f s = %.0f trx/s\n", n, b - a, n / (b - a)}'
    check_eq "E's tables equal A's" "$(checksums E "${FINAL_TABLES[@]}")" "$FINAL_SUMS"
fi

# ---- What the replicas sent ----
all_err=$(cat "$BV_TEST_DIR"/serve.*.err)
for q in "SELECT UNIX_TIMESTAMP()" "SHOW VARIABLES LIKE 'SERVER_ID'" "SET @master_binlog_checksum= @@global.binlog_checksum" \
         "SET @mariadb_slave_capability=4" "SELECT @@GLOBAL.gtid_domain_id" "SET @slave_connect_state=" \
         "SET @slave_until_gtid="; do
    if grep -qF "replica query: $q" <<< "$all_err"; then ok "replica sent: $q"; else fail "replica did not send: $q"; fi
done
if grep -q "unsupported" <<< "$all_err"; then fail "a replica query was not supported" "$(grep unsupported <<< "$all_err")"
else ok "every replica query was answered"; fi
grep -h "replica query:" "$BV_TEST_DIR"/serve.*.err | sed 's/^.*replica query: //; s/ (recover.*$//' |
    sed "s/'[^']*'/'...'/g; s/[0-9][0-9]*/N/g" | sort -u | sed 's/^/# replica query: /'
