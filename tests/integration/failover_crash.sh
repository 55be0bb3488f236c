# A crashed primary (kill -9) whose last transactions the promoted replica never received
# (docs/OPERATIONS.md "Failover"): the agent, given the three servers as candidates, archived
# them from the old primary; after the promotion it starts the next timeline at the fork point
# (the last archived transaction the new primary has) and reports the transactions after it as a
# diverged branch, by GTID: in its log, /status, /metrics and /healthz (a warning), and in the
# timeline record. Nothing of them is on the main line: the archive's transactions are the new
# primary's history, and a recovery to the end gives the new primary's tables; `list`, `verify`
# and `status` name the branch (count, GTID range), and `recover --timeline 1` gives the old
# primary's tables as they were when it was killed (its last archived transaction). Then the same
# with the agent stopped during the failover and the new primary's binlog names and offsets
# those of the old one's end (a position is no proof: the GTIDs are): `recover --timeline 2`
# follows timeline 1 up to its fork, then the second old primary's history to its end.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
. "$BV_ROOT/tests/lib/topology.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'agent_kill; mdb_stop_all' EXIT
opts=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s --source-poll 500ms)

topo_start c1 c2 c3 || { fail "start a primary and two replicas"; exit 1; }
topo_schema
topo_write 40 before

same_history() {
    local a p
    a=$(topo_archived_gtids "$archive" | tr '\n' ' ')
    p=$(topo_gtids $(mdb_binlog_files "$(topo_primary)") | tr '\n' ' ')
    [ "$a" = "$p" ] || { echo "archive:  ${a: -300}"; echo "primary:  ${p: -300}"; false; }
}
record() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$BV_TEST_DIR/archive/timelines/$1.json"; }
# The old primary's tables when it is killed, after the agent archived its last transactions.
old_primary_sum() { topo_checksum "$(topo_primary)" > "$BV_TEST_DIR/sum-$(topo_primary)"; }
archived_before_kill() { agent_wait_caught_up "$(topo_primary)" "$archive" 60 && old_primary_sum; }
# The branch, as list, verify and status print it (docs/RECOVERY.md).
branch_line() {
    echo "warning: $1 transactions of timeline $2 committed after the fork at '$3' were lost when timeline" \
        "$(($2 + 1)) .*: $4\\.\\.$5, committed "
}
reports_branch() {
    local cmd out
    for cmd in list verify status; do
        out=$("$BV_BIN" "$cmd" --archive "$archive" 2>&1)
        grep -q "$1" <<< "$out" || { echo "binvault $cmd does not say '$1':"; echo "$out" | tail -n 8; return 1; }
    done
}

# --- the agent runs through the crash
agent_start_topo "$archive" "$spool" "${opts[@]}"
check "the agent archives the primary c1" agent_wait_caught_up c1 "$archive" 60
last_kept=$(topo_gtid_pos c1)
TOPO_BEFORE_KILL=archived_before_kill
topo_crash_failover c2 5
check_eq "c1 commits 5 transactions no replica receives, the agent archives them, c1 is killed" "$?" 0
lost_first="0-1-$(( ${last_kept##*-} + 1 ))" lost_last=$(cat "$BV_TEST_DIR/topo-lost-gtid")
topo_write 20 after-crash
check "the archive catches up with the promoted c2" topo_wait_archived "$archive"
check "  the loss is logged by GTID" \
    grep -q "error 5 transactions committed on the old source were lost in the failover: $lost_first..$lost_last" \
    "$BV_TEST_DIR/agent.log"
check_eq "  /status: timeline 2, 5 transactions diverged" \
    "$(topo_status 'd["timeline"]["current"], d["timeline"]["diverged"]["transactions"]')" "2 5"
check "  /status says which" grep -q "$lost_first..$lost_last" <(topo_status 'd["timeline"]["diverged"]["message"]')
check "  the metric says 5" grep -q "^binvault_diverged_transactions 5" <(curl -s "$(topo_http_url)/metrics")
check_eq "  /healthz: 200, with a warning" "$(curl -s -o /dev/null -w '%{http_code}' "$(topo_http_url)/healthz")" 200
check "  saying what was lost" grep -q "^ok (warning: 5 transactions .*$lost_first..$lost_last" <(curl -s "$(topo_http_url)/healthz")
check_eq "  the record: forks after '$last_kept', 5 diverged $lost_first..$lost_last" \
    "$(record 00000002 'r["fork"]["gtid_state"], r["diverged"]["transactions"], r["diverged"]["first_gtid"], r["diverged"]["last_gtid"]')" \
    "$last_kept 5 $lost_first $lost_last"
check "  the main line is the new primary's history (no lost transaction on it)" same_history
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "verify passes" "$BV_BIN" verify --archive "$archive"
branch1=$(branch_line 5 1 "$last_kept" "$lost_first" "$lost_last")
check "list, verify and status name the diverged branch: 5 transactions, $lost_first..$lost_last" reports_branch "$branch1"
c1_lost_pos=$(cat "$BV_TEST_DIR/topo-lost-gtid")

# --- the agent is stopped during the failover; the new primary's binlog reaches the old one's
# end position with its own transactions of the same sizes
topo_rebuild c1 || { fail "rebuild c1 as a replica"; exit 1; }
check "the rebuilt c1 replicates c2" topo_wait_replicas
agent_start_topo "$archive" "$spool" "${opts[@]}"
check "the agent archives c2 again" agent_wait_caught_up c2 "$archive" 60
last_kept=$(topo_gtid_pos c2)
stop_agent() { agent_wait_caught_up c2 "$archive" 60 && agent_term && old_primary_sum; }
TOPO_BEFORE_KILL=stop_agent
topo_crash_failover c3 3
check_eq "c2 commits 3 transactions no replica receives, the agent stops, c2 is killed" "$?" 0
lost_first="0-2-$(( ${last_kept##*-} + 1 ))" lost_last=$(cat "$BV_TEST_DIR/topo-lost-gtid")
end=$(archive_checkpoint_pos "$archive")
for i in 1 2 3; do mdb_sql c3 "INSERT INTO topo.lost (note) VALUES ('kept by new primary! $i')"; done
check "the old primary's end position is an event boundary on the new primary" \
    test "$(mdb_sql c3 "SELECT BINLOG_GTID_POS('${end%:*}', ${end#*:}) IS NOT NULL")" = 1
: > "$BV_TEST_DIR/agent.log"
agent_start_topo "$archive" "$spool" "${opts[@]}"
check "the archive catches up with c3" topo_wait_archived "$archive"
check "  the loss is logged by GTID" \
    grep -q "3 transactions committed on the old source were lost in the failover: $lost_first..$lost_last" \
    "$BV_TEST_DIR/agent.log"
check_eq "  /status: timeline 3, 3 transactions diverged" \
    "$(topo_status 'd["timeline"]["current"], d["timeline"]["diverged"]["transactions"]')" "3 3"
check "  the main line is the new primary's history" same_history
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "verify passes" "$BV_BIN" verify --archive "$archive"
check "list, verify and status name both branches: 3 transactions, $lost_first..$lost_last" reports_branch \
    "$(branch_line 3 2 "$last_kept" "$lost_first" "$lost_last")"
check "  and still the first" reports_branch "$branch1"
c2_lost_pos=$(cat "$BV_TEST_DIR/topo-lost-gtid")

# --- a recovery to the end follows the main line: the new primary's tables
topo_recover_check "$archive"

# --- --timeline N follows N's path to its end: each old primary as it was when it was killed
check "recover --timeline 1" topo_recover_into branch1 "$archive" --until-end --timeline 1
check_eq "  the tables are c1's when it was killed" "$(topo_checksum branch1)" "$(cat "$BV_TEST_DIR/sum-c1")"
check_eq "  at its last archived transaction" "$(mdb_sql branch1 "SELECT @@gtid_slave_pos")" "$c1_lost_pos"
check "recover --timeline 2" topo_recover_into branch2 "$archive" --until-end --timeline 2
check_eq "  the tables are c2's when it was killed" "$(topo_checksum branch2)" "$(cat "$BV_TEST_DIR/sum-c2")"
check_eq "  at its last archived transaction" "$(mdb_sql branch2 "SELECT @@gtid_slave_pos")" "$c2_lost_pos"
