# Fault: clock games under a continuous workload (issue 14). Sessions commit with SET TIMESTAMP an
# hour in the past (before and after an accidental DROP TABLE, the one after it starting a later
# segment) and a day in the future, then the agent is stopped while the source keeps writing:
# - `binvault status --archive` must not say OK (a commit time in the future never shortens the
#   RPO: the bound starts at the agent's own clock, confirmed_us);
# - `recover --until-time` just before the DROP must never apply it: refused as ambiguous (exit
#   65: a back-dated commit starts a later segment), and with --allow-time-disorder it stops
#   before the DROP, saying that commit times go backwards.
. "$BV_ROOT/tests/faults/_common.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
mdb_sql src "CREATE DATABASE clk; CREATE TABLE clk.t (id INT PRIMARY KEY) ENGINE=InnoDB;
             CREATE TABLE clk.victim (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO clk.victim VALUES (1)"
fault_wl_start src
agent_start src "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}"
sleep 3

mdb_sql src "SET TIMESTAMP=UNIX_TIMESTAMP()-3600; INSERT INTO clk.t VALUES (1)"
sleep 1.2
until_time=$(date -u '+%F %T')
sleep 1.2
# The back-dated commit right after the DROP lands in its segment or the next: the planner reads
# both (later ones only through their first and last commit in the index).
mdb_sql src "DROP TABLE clk.victim; SET TIMESTAMP=UNIX_TIMESTAMP()-3600; INSERT INTO clk.t VALUES (2)"
drop_gtid=$(mdb_binlog_files src | xargs "$BV_BIN" inspect --transactions --json |
    python3 -c 'import sys, json; print([d["gtid"] for d in map(json.loads, sys.stdin) if "DROP TABLE `clk`" in (d.get("statement") or "")][0])')
# Under the workload the cut comes before the DROP's segment (the first commit after the time is
# the workload's), so that back-dated commit may be beyond what the planner reads. One that starts
# a segment is in the index: the workload pauses so that the next segment starts with it.
wl_continuous_stop
sleep 1
mdb_sql src "SET TIMESTAMP=UNIX_TIMESTAMP()-3600; INSERT INTO clk.t VALUES (4)"
fault_wl_start src
sleep 1
mdb_sql src "SET TIMESTAMP=UNIX_TIMESTAMP()+86400; INSERT INTO clk.t VALUES (3)"
fault_count "commits back-dated by an hour" 3
fault_count "commits dated a day ahead" 1
sleep 2

# The agent stops; the source keeps writing.
agent_term
sleep 4
out=$("$BV_BIN" status --archive "$archive" --warn-rpo 2 --max-rpo 600 2>&1); rc=$?
check "future-dated commit, agent stopped 4 s: status --archive is not OK" test "$rc" -ge 1
[ "$rc" -ge 1 ] || echo "$out" | head -n 3
fault_count "agent stopped after a future-dated commit" 1
agent_start src "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}"
sleep 2

# Recovery to just before the DROP, from the archive alone, while the workload goes on.
MDB_SERVER_ID=2 mdb_start tgt > /dev/null || { fail "start the target"; exit 1; }
recover() {
    BINVAULT_INTO_PASSWORD= "$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port tgt)" \
        --from-gtid '' --until-time "$until_time" "$@" > "$BV_TEST_DIR/recover-time.log" 2>&1
    echo $?
}
rc=$(recover)
check_eq "--until-time before the DROP, back-dated commits after it: refused (exit 65)" "$rc" 65
check "the refusal says the time is ambiguous" grep -q "ambiguous" "$BV_TEST_DIR/recover-time.log"
check_eq "refused: nothing applied" "$(mdb_sql tgt "SELECT @@gtid_slave_pos")" ""
rc=$(recover --allow-time-disorder)
check_eq "--allow-time-disorder: exit 0" "$rc" 0
[ "$rc" = 0 ] || tail -n 10 "$BV_TEST_DIR/recover-time.log"
check "the plan says commit times go backwards" grep -q "time order: commit times go backwards" \
    "$BV_TEST_DIR/recover-time.log"
check_eq "the DROP is not applied" \
    "$(mdb_sql tgt "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='clk' AND table_name='victim'")" 1
check "the target stopped before the DROP's gtid ($drop_gtid)" python3 -c '
import sys
pos = {g.split("-")[0]: int(g.split("-")[2]) for g in sys.argv[1].split(",") if g}
assert pos.get("0", 0) < int(sys.argv[2].split("-")[2]), (sys.argv[1], sys.argv[2])' \
    "$(mdb_sql tgt "SELECT @@gtid_slave_pos")" "$drop_gtid"
mdb_stop tgt

wl_continuous_stop
fault_final_checks src "$archive"
