# binvault recover and binvault log, end to end. A MariaDB 10.11 source runs a workload of DDL and
# DML (several GTID domains, MyISAM and InnoDB, compressed events, a file without checksums,
# rotations) while two agents archive it, one into a directory and one into S3 (Swift). A base
# backup is taken in the middle with mariadb-backup, the workload goes on (snapshots of every
# table's CHECKSUM TABLE at a position, at a time and just before the DROP), then an accidental
# DROP TABLE, then more writes. Servers restored from the backup (with the source's server_id, as
# a restore keeps it) are recovered from each archive to (a) the time, (b) the GTID of the DROP
# with --exclusive, then (d) the end as a continuation, and (c) the position; each must hold the
# source's tables and checksums at that point. Refusals (a target before the backup, after the
# archive's end, across a removed segment, a corrupted segment, a wrong password) leave the target
# as it was; a segment corrupted in the middle of the plan stops the recovery at the end of the
# segment before it, with nothing half-applied, and a second run continues.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
. "$BV_ROOT/tests/lib/swift.sh"

T=$BV_TEST_DIR
DIR_ARCHIVE="file://$T/archive"
S3_ARCHIVE=
BK=$T/backup
PID_DIR= PID_S3=
cleanup() {
    for p in $PID_DIR $PID_S3; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    mdb_stop_all
    s3_stop_all
}
trap cleanup EXIT
export BINVAULT_INTO_PASSWORD=
AGENT_OPTS=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --purge-check 0 --http 127.0.0.1:0)

# ---- helpers ---------------------------------------------------------------------------------

# The tables of the workload's databases, "db.table" per line.
tables_of() {
    mdb_sql "$1" "SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables
                  WHERE table_schema IN ('wl', 'shop') ORDER BY 1"
}
# The table list and every table's CHECKSUM TABLE: what a recovered server must match.
snapshot() {
    local s=$1 tables
    mapfile -t tables < <(tables_of "$s")
    printf '%s\n' "${tables[@]}"
    [ ${#tables[@]} -gt 0 ] && mdb_sql "$s" "CHECKSUM TABLE $(IFS=,; echo "${tables[*]}")"
}
# A GTID position with its GTIDs sorted.
norm_pos() { tr ',' '\n' <<< "$1" | sed '/^$/d' | sort | paste -sd, -; }
gtid_pos() { norm_pos "$(mdb_sql "$1" "SELECT @@gtid_slave_pos")"; }
# What must not change on a target that a recovery refused.
target_state() {
    echo "gtid_slave_pos=$(gtid_pos "$1") server_id=$(mdb_sql "$1" "SELECT @@server_id")"
    echo "connections=$(mdb_sql "$1" "SHOW ALL SLAVES STATUS" | wc -l)"
    snapshot "$1"
}
# A server restored from the base backup, with the source's server_id. (Not "n": mdb_start's
# loop variable is not local.)
restore() {
    local server=$1
    MDB_SERVER_ID=1 mdb_start "$server" > /dev/null || return 1
    mdb_stop "$server"
    rm -rf "$(mdb_dir "$server")/data"
    mariadb-backup --copy-back --target-dir "$BK" --datadir "$(mdb_dir "$server")/data" \
        > "$T/copyback-$server.log" 2>&1 || { tail -n 5 "$T/copyback-$server.log"; return 1; }
    mdb_start "$server"
}
into() { echo "mysql://root@127.0.0.1:$(mdb_port "$1")"; }
# recover ARCHIVE SERVER ARGS...: stdout in $T/stdout, both outputs in $T/out, exit code echoed.
recover() {
    local archive=$1 s=$2 rc; shift 2
    "$BV_BIN" recover --archive "$archive" --into "$(into "$s")" "$@" > "$T/stdout" 2> "$T/stderr"
    rc=$?
    cat "$T/stdout" "$T/stderr" > "$T/out"
    echo $rc
}
show_out() { tail -n 15 "$T/out"; }

start_agent() { # NAME ARCHIVE SERVER_ID [opts]: sets PID_<NAME>
    local name=$1 archive=$2 id=$3; shift 3
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$(mdb_port src)" \
        --archive "$archive" --spool "$T/spool-$name" --server-id "$id" "${AGENT_OPTS[@]}" "$@" \
        >> "$T/agent-$name.log" 2>&1 &
    eval "PID_$name=$!"
}
stop_agent() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
}

# ---- the source, its archives and its history --------------------------------------------------

MDB_SERVER_ID=1 mdb_start src || { fail "start the source"; exit 1; }
repl_user src
if s3_start; then
    S3_ARCHIVE="s3://$S3_BUCKET/recover"
    ok "swift (S3) is up"
else
    fail "start swift: the S3 half is skipped"
fi
start_agent DIR "$DIR_ARCHIVE" 4123456001
[ -n "$S3_ARCHIVE" ] && start_agent S3 "$S3_ARCHIVE" 4123456002 --s3-endpoint "$S3_ENDPOINT" --s3-uri-style path

# Before the backup: DDL and DML in several domains, MyISAM, compressed events, a file without
# checksums, rotations; the shop.
wl_mixed src
EARLY_GTID=$(mdb_sql src "CREATE DATABASE shop; USE shop;
    CREATE TABLE shop.orders (id INT PRIMARY KEY, customer INT NOT NULL, amount DECIMAL(10,2), note VARCHAR(100)) ENGINE=InnoDB;
    CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(60)) ENGINE=InnoDB;
    CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100)) ENGINE=MyISAM;
    INSERT INTO shop.customers SELECT seq, CONCAT('customer ', seq) FROM seq_1_to_50;
    INSERT INTO shop.orders SELECT seq, seq % 50 + 1, seq * 1.5, 'before the backup' FROM seq_1_to_300;
    SELECT @@last_gtid")
mdb_sql src "SET SESSION gtid_domain_id = 1; UPDATE shop.customers SET name = CONCAT(name, '!') WHERE id < 10"

mariadb-backup --backup --target-dir "$BK" --user root --socket "$(mdb_sock src)" > "$T/backup.log" 2>&1 &&
    mariadb-backup --prepare --target-dir "$BK" > "$T/prepare.log" 2>&1
check "mariadb-backup: a prepared base backup with its binlog position" grep -q . "$BK/xtrabackup_binlog_info"
echo "# base backup at: $(cat "$BK/xtrabackup_binlog_info")"

# After the backup: more DDL and DML, multi-statement transactions, in two domains.
orders() { # FROM TO NOTE: one transaction per 10 orders
    local i sql=""
    for ((i = $1; i <= $2; i++)); do
        sql+="INSERT INTO shop.orders (id, customer, amount, note) VALUES ($i, $i % 50 + 1, $i * 2.25, '$3');"
        if ((i % 10 == 0)); then
            echo "BEGIN; $sql UPDATE shop.customers SET name = CONCAT('c', $i) WHERE id = $i % 50 + 1; COMMIT;"
            echo "INSERT INTO shop.audit (what) VALUES ('orders up to $i');"
            sql=""
        fi
    done
    [ -n "$sql" ] && echo "BEGIN; $sql COMMIT;"
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
    echo "UPDATE shop.orders SET status = 'paid' WHERE id % 3 = 0; DELETE FROM shop.refunds WHERE id > 30;"
} | mariadb --defaults-file="$(mdb_cnf src)" -uroot
sleep 1.2
TIME=$(mdb_sql src "SELECT UTC_TIMESTAMP()")
SNAP_TIME=$(snapshot src)
sleep 1.2
{
    orders 901 1200 'late'
    echo "SET SESSION gtid_domain_id = 1; UPDATE shop.refunds SET order_id = order_id + 1; SET SESSION gtid_domain_id = 0;"
    echo "CREATE INDEX by_customer ON shop.orders (customer);"
} | mariadb --defaults-file="$(mdb_cnf src)" -uroot
SNAP_DROP=$(snapshot src)
DROP_GTID=$(mdb_sql src "DROP TABLE shop.orders; SELECT @@last_gtid")
# The application goes on writing elsewhere.
mdb_sql src "INSERT INTO shop.customers VALUES (51, 'after the drop'); SET SESSION gtid_domain_id = 2;
    INSERT INTO wl.t2 VALUES (3, 'after the drop'); FLUSH BINARY LOGS;
    INSERT INTO shop.audit (what) VALUES ('the end')"
SNAP_END=$(snapshot src)
END_POS=$(norm_pos "$(mdb_sql src "SELECT @@gtid_binlog_pos")")
echo "# position $POS, time $TIME, drop $DROP_GTID, end $END_POS"
check "the DROP removed shop.orders on the source" test -z "$(tables_of src | grep -x shop.orders)"

check "the directory archive catches up" agent_wait_caught_up_any src "$DIR_ARCHIVE" 120
stop_agent "$PID_DIR"; check_eq "the directory agent exits 0" "$?" 0; PID_DIR=
if [ -n "$S3_ARCHIVE" ]; then
    check "the S3 archive catches up" agent_wait_caught_up_any src "$S3_ARCHIVE" 120
    stop_agent "$PID_S3"; check_eq "the S3 agent exits 0" "$?" 0; PID_S3=
fi
mdb_stop src

# ---- binvault log: find the bad statement ----------------------------------------------------------
"$BV_BIN" log --archive "$DIR_ARCHIVE" --grep 'drop table.*orders' > "$T/log.txt" 2>&1
check_eq "log --grep finds the DROP and its GTID" "$(awk 'NR > 1 && !/^#/ {print $1}' "$T/log.txt")" "$DROP_GTID"
check "log shows the statement text" grep -q "DROP TABLE \`shop\`.\`orders\`" "$T/log.txt"
check "log names the DDL's table in its TABLES column" \
    awk -v g="$DROP_GTID" '$1 == g && $6 == "shop.orders" { found = 1 } END { exit !found }' "$T/log.txt"
"$BV_BIN" log --archive "$DIR_ARCHIVE" --grep 'shop.orders' > "$T/log-name.txt" 2>&1
check "log --grep shop.orders (unquoted) finds DROP TABLE \`shop\`.\`orders\`" \
    grep -q "^$DROP_GTID .*DROP TABLE" "$T/log-name.txt"
"$BV_BIN" log --archive "$DIR_ARCHIVE" --grep 'drop table shop\.orders' > "$T/log-text.txt" 2>&1
check_eq "log --grep matches the statement without its backticks" \
    "$(awk 'NR > 1 && !/^#/ {print $1}' "$T/log-text.txt")" "$DROP_GTID"
"$BV_BIN" log --archive "$DIR_ARCHIVE" --json > "$T/log.json" 2>&1
check_eq "log --json: every archived transaction, once" "$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
last = {}
for r in rows:
    d, s, n = r["gtid"].split("-")
    last[d] = max(last.get(d, (0, "")), (int(n), r["gtid"]))
print(",".join(sorted(v[1] for v in last.values())) if len(rows) == len({r["gtid"] for r in rows}) else "duplicates")
' "$T/log.json")" "$END_POS"
"$BV_BIN" log --archive "$DIR_ARCHIVE" --json --since "$TIME" > "$T/log-since.json"
check "log --since keeps only later commits" python3 -c '
import json, sys, datetime
t = datetime.datetime.strptime(sys.argv[2], "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows and all(r["commit_us"] >= t * 1e6 for r in rows), rows[:1]
' "$T/log-since.json" "$TIME"

# ---- recoveries ------------------------------------------------------------------------------------
# check_recovered NAME WHAT SNAPSHOT
check_recovered() {
    check_eq "$2: every table and CHECKSUM TABLE as on the source" "$(snapshot "$1")" "$3"
    check_eq "$2: the replication connection is removed" "$(mdb_sql "$1" "SHOW ALL SLAVES STATUS" | wc -l)" 0
    check_eq "$2: server_id is the restored one again" "$(mdb_sql "$1" "SELECT @@server_id")" 1
}

recoveries() { # ARCHIVE LABEL
    local A=$1 L=$2 rc

    restore "r-$L-time" || { fail "restore a server from the backup"; return; }
    rc=$(recover "$A" "r-$L-time" --base-dir "$BK" --until-time "$TIME")
    check_eq "$L (a) --until-time: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
    check "$L (a) prints a summary" grep -q "^recovered: [0-9]* transactions" "$T/out"
    check_recovered "r-$L-time" "$L (a) --until-time '$TIME'" "$SNAP_TIME"
    mdb_stop "r-$L-time"

    restore "r-$L-gtid" || { fail "restore a server from the backup"; return; }
    rc=$(recover "$A" "r-$L-gtid" --base-dir "$BK" --until-gtid "$DROP_GTID" --exclusive --json)
    check_eq "$L (b) --until-gtid DROP --exclusive: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
    check "$L (b) --json: ok, reached, and the plan" python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["ok"] and d["result"]["reached"] and d["plan"]["segments"] > 0 and d["plan"]["transactions"] > 0, d
' "$T/stdout"
    check_recovered "r-$L-gtid" "$L (b) --until-gtid $DROP_GTID --exclusive" "$SNAP_DROP"
    check "$L (b) shop.orders is back" test -n "$(tables_of "r-$L-gtid" | grep -x shop.orders)"
    rc=$(recover "$A" "r-$L-gtid" --until-end)
    check_eq "$L (d) --until-end, continuing from where (b) stopped: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
    check "$L (d) starts from the target's gtid_slave_pos" grep -q "continuing an earlier recovery" "$T/out"
    check_recovered "r-$L-gtid" "$L (d) --until-end" "$SNAP_END"
    check_eq "$L (d) gtid_slave_pos is the source's end" "$(gtid_pos "r-$L-gtid")" "$END_POS"
    rc=$(recover "$A" "r-$L-gtid" --until-end)
    check "$L a third run has nothing to apply" test "$rc" = 0 -a -n "$(grep 'nothing applied' "$T/out")"
    mdb_stop "r-$L-gtid"

    restore "r-$L-pos" || { fail "restore a server from the backup"; return; }
    rc=$(recover "$A" "r-$L-pos" --base-dir "$BK" --until-position "$POS")
    check_eq "$L (c) --until-position: exit 0" "$rc" 0; [ "$rc" = 0 ] || show_out
    check_recovered "r-$L-pos" "$L (c) --until-position $POS" "$SNAP_POS"
    mdb_stop "r-$L-pos"
}

recoveries "$DIR_ARCHIVE" dir
if [ -n "$S3_ARCHIVE" ]; then
    # On S3, the GTID of the DROP is found in the archive itself.
    DROP_GTID=$("$BV_BIN" log --archive "$S3_ARCHIVE" --s3-endpoint "$S3_ENDPOINT" --s3-uri-style path \
        --grep 'drop table.*orders' --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["gtid"])')
    export AWS_ENDPOINT_URL=$S3_ENDPOINT BINVAULT_S3_URI_STYLE=path
    recoveries "$S3_ARCHIVE" s3
fi

# ---- refusals: the target stays as it was ------------------------------------------------------------
restore r-ref || { fail "restore a server from the backup"; exit 1; }
BEFORE=$(target_state r-ref)
refused() { # WHAT EXIT GREP ARCHIVE ARGS...
    local what=$1 want=$2 pattern=$3 rc; shift 3
    rc=$(recover "$@")
    check_eq "refused: $what (exit $want)" "$rc" "$want"
    if grep -qE -- "$pattern" "$T/out"; then ok "... saying: $(grep -m1 -E -- "$pattern" "$T/out" | cut -c1-150)"
    else fail "... the message says '$pattern'" "$(cat "$T/out")"; fi
    check_eq "... and the target is as it was" "$(target_state r-ref)" "$BEFORE"
}
rc=$(recover "$DIR_ARCHIVE" r-ref --base-dir "$BK" --until-end --dry-run)
check_eq "--dry-run: exit 0" "$rc" 0
check "--dry-run prints the plan" grep -qE "^plan: [0-9]+ segments .* [0-9]+ transactions" "$T/out"
check_eq "--dry-run changes nothing" "$(target_state r-ref)" "$BEFORE"
refused "a target before the base backup" 64 "before the start" "$DIR_ARCHIVE" r-ref --base-dir "$BK" --until-gtid "$EARLY_GTID"
check "... and the restorable window is printed" grep -q "restorable window seq" "$T/out"
refused "a time after the archive's end" 66 "after the last archived commit" "$DIR_ARCHIVE" r-ref --base-dir "$BK" \
    --until-time '2099-01-01 00:00:00'
refused "a GTID after the archive's end" 66 "after the end of the archive" "$DIR_ARCHIVE" r-ref --base-dir "$BK" \
    --until-gtid 0-1-999999
# The plan's segments, from the dry run.
"$BV_BIN" recover --archive "$DIR_ARCHIVE" --from-gtid "$(cut -f3 "$BK/xtrabackup_binlog_info")" --until-end --dry-run --json \
    > "$T/plan.json"
mapfile -t PLANNED < <(python3 -c 'import json,sys; [print(o["name"]) for o in json.load(open(sys.argv[1]))["plan"]["objects"]]' "$T/plan.json")
check "the plan spans several segments (${#PLANNED[@]})" test "${#PLANNED[@]}" -ge 6
mid=$(( ${#PLANNED[@]} / 2 ))
cp -r "$T/archive" "$T/removed"
rm "$T/removed/${PLANNED[$mid]}"
refused "a range across a removed segment" 65 "not in the store" "file://$T/removed" r-ref --base-dir "$BK" --until-end
cp -r "$T/archive" "$T/corrupt-first"
printf 'XXXX' | dd of="$T/corrupt-first/${PLANNED[0]}" bs=1 seek=100 conv=notrunc 2>/dev/null
refused "a corrupted segment (the first of the plan)" 65 "^binvault: segment '${PLANNED[0]}'" "file://$T/corrupt-first" r-ref \
    --base-dir "$BK" --until-end
BINVAULT_INTO_PASSWORD=wrong refused "a wrong password on the target" 77 "access denied" "$DIR_ARCHIVE" r-ref \
    --base-dir "$BK" --until-end

# A segment corrupted in the middle of the plan: everything before it is applied, nothing of it.
cp -r "$T/archive" "$T/corrupt-mid"
printf 'XXXX' | dd of="$T/corrupt-mid/${PLANNED[$mid]}" bs=1 seek=100 conv=notrunc 2>/dev/null
rc=$(recover "file://$T/corrupt-mid" r-ref --base-dir "$BK" --until-end)
check_eq "a corrupted segment in the middle stops the recovery (exit 65)" "$rc" 65
check "... naming the segment" grep -q "binvault: segment '${PLANNED[$mid]}'" "$T/out"
prev_end=$(python3 -c '
import json, sys
for s in json.load(sys.stdin)["segments"]:
    if s["name"] == sys.argv[1]: print(s["gtid_end"])
' "${PLANNED[$((mid - 1))]}" < <("$BV_BIN" list --archive "$DIR_ARCHIVE" --json))
check_eq "... at the end of the segment before it, nothing half-applied" "$(gtid_pos r-ref)" "$(norm_pos "$prev_end")"
check "... saying how far the target got" grep -q "stopped at gtid_slave_pos" "$T/out"
check_eq "... the replication connection is removed" "$(mdb_sql r-ref "SHOW ALL SLAVES STATUS" | wc -l)" 0
check_eq "... server_id is restored" "$(mdb_sql r-ref "SELECT @@server_id")" 1
rc=$(recover "$DIR_ARCHIVE" r-ref --until-end)
check_eq "a second run on the sound archive continues (exit 0)" "$rc" 0; [ "$rc" = 0 ] || show_out
check_recovered r-ref "after the interrupted recovery" "$SNAP_END"
