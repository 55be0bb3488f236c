# Fault: the source server restarted (clean shutdown) and killed with SIGKILL (crash recovery;
# its binlog ends without a ROTATE) under a continuous workload, the agent's dump connection
# killed from the source, and the agent SIGKILLed while the source is down. The agent reconnects
# with backoff by itself and continues exactly where its last sealed segment ends.
. "$BV_ROOT/tests/faults/_common.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
fault_wl_start src
agent_start src "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}"
sleep 1.5
restarts=0 crashes=0 dumpkills=0
for round in 1 2 3; do
    fault_rand_sleep 100 250
    mdb_restart src > /dev/null || { fail "restart the source"; exit 1; }
    restarts=$((restarts + 1))
    fault_rand_sleep 100 250
    mdb_kill src
    crashes=$((crashes + 1))
    # The agent dies too while the source is down, and starts before it is back.
    fault_kill_agent
    agent_start src "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}"
    fault_rand_sleep 50 150
    mdb_start src > /dev/null || { fail "start the source after SIGKILL"; exit 1; }
    fault_rand_sleep 100 200
    id=$(mdb_sql src "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'" | head -n 1)
    if [ -n "$id" ] && mdb_sql src "KILL $id" 2>/dev/null; then dumpkills=$((dumpkills + 1)); fi
    fault_rand_sleep 20 80
    fault_kill_agent
    agent_start src "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}"
done
fault_count "source restarted" "$restarts"
fault_count "source SIGKILLed (crash)" "$crashes"
fault_count "dump connection killed on the source" "$dumpkills"
check_eq "source restarted and SIGKILLed 3 times each" "$restarts $crashes" "3 3"
check "the agent saw the stream interrupted and reconnected" grep -q "reconnecting to the source" "$BV_TEST_DIR/agent.log"
sleep 1
wl_continuous_stop
fault_final_checks src "$archive"
