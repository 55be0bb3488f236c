# recover --until-time when commit times do not follow binlog order (issue 14). A session commits
# with SET TIMESTAMP an hour in the past before an accidental DROP TABLE, and another one starts
# a later segment after it. --until-time just before the DROP must never apply it: the planner
# reads the commit times of the transactions (the index has only each segment's first and last),
# refuses the ambiguous time (exit 65, naming the DROP and the back-dated transaction after it),
# and with --allow-time-disorder stops before the DROP; the plan (text and --json) says that
# commit times go backwards.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/agent.sh"

T=$BV_TEST_DIR
archive="file://$T/archive"
trap 'agent_kill; mdb_stop_all' EXIT
export BINVAULT_INTO_PASSWORD=

mdb_start src || { fail "start the source"; exit 1; }
MDB_SERVER_ID=2 mdb_start tgt || { fail "start the target"; exit 1; }
repl_user src
agent_start src "$archive" "$T/spool" --segment-interval 300ms --heartbeat 500ms --http off

schema="CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY) ENGINE=InnoDB;
        CREATE TABLE d.victim (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO d.victim VALUES (1)"
mdb_sql src "$schema"
start=$(mdb_sql src "SELECT @@gtid_binlog_pos")
mdb_sql tgt "SET sql_log_bin=0; $schema"

mdb_sql src "INSERT INTO d.t VALUES (1), (2)"
sleep 1.2
# Back-dated, before the DROP in binlog order.
mdb_sql src "SET TIMESTAMP=UNIX_TIMESTAMP()-3600; INSERT INTO d.t VALUES (100)"
sleep 1.2
until_time=$(date -u '+%F %T')
sleep 1.2
mdb_sql src "DROP TABLE d.victim"
drop_gtid=$(mdb_sql src "SELECT @@gtid_binlog_pos")
# The segment holding the DROP is sealed (300 ms); the next one starts with a back-dated commit.
sleep 1.2
mdb_sql src "SET TIMESTAMP=UNIX_TIMESTAMP()-3600; INSERT INTO d.t VALUES (200)"
mdb_sql src "INSERT INTO d.t VALUES (3)"
check "archive catches up" agent_wait_caught_up src "$archive" 60
agent_term

check "the DROP's segment and the back-dated one are different segments" python3 - "$T/archive" "$drop_gtid" <<'EOF'
import json, sys, glob
lines = []
for f in glob.glob(sys.argv[1] + "/index/*"):
    for l in open(f):
        l = l.strip()
        if l.startswith("{"):
            lines.append(json.loads(l))
drop = [m for m in lines if m.get("last_gtid") == sys.argv[2] or m.get("first_gtid") == sys.argv[2]]
later = [m for m in lines if drop and m["seq"] > drop[0]["seq"] and m.get("transactions", 0) > 0]
assert drop and later and later[0]["first_time_us"] < drop[0]["first_time_us"] - 3000 * 1000000, (drop, later)
EOF

# recover ARGS...: stdout+stderr in $T/out, exit code echoed.
recover() {
    "$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port tgt)" \
        --from-gtid "$start" --until-time "$until_time" "$@" > "$T/out" 2>&1
    echo $?
}
victim() { mdb_sql tgt "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='d' AND table_name='victim'"; }

rc=$(recover)
check_eq "--until-time just before the DROP, back-dated commit after it: refused, exit 65" "$rc" 65
check "the refusal names the DROP's gtid" grep -q "'$drop_gtid'" "$T/out"
check "... says the time is ambiguous and how to go on" grep -q "ambiguous.*--allow-time-disorder" "$T/out"
check_eq "nothing applied: the table is still there" "$(victim)" 1
check_eq "nothing applied: no rows" "$(mdb_sql tgt "SELECT COUNT(*) FROM d.t")" 0

rc=$(recover --allow-time-disorder --dry-run --json)
check_eq "--allow-time-disorder --dry-run --json: exit 0" "$rc" 0
check "--json: the plan says the commit times go backwards and what is ambiguous" python3 - "$T/out" "$drop_gtid" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
o = d["plan"]["time_order"]
assert o["cut"]["gtid"] == sys.argv[2], o
assert o["backwards"] >= 1 and o["ambiguous"] >= 1, o
assert d["plan"]["target"]["allow_time_disorder"] is True, d["plan"]["target"]
EOF

rc=$(recover --allow-time-disorder)
check_eq "--allow-time-disorder: exit 0" "$rc" 0
check "the text plan says commit times go backwards" grep -q "time order: commit times go backwards" "$T/out"
check_eq "the DROP is not applied" "$(victim)" 1
check_eq "the target stops before it: the back-dated row before it is in, the later ones are not" \
    "$(mdb_sql tgt "SELECT GROUP_CONCAT(id ORDER BY id) FROM d.t")" "1,2,100"
