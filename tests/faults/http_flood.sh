# Fault: the agent's HTTP endpoint flooded with idle connections (issue 14: 400 of them exhausted
# the agent's descriptors and spool writes failed) while it archives a continuous workload with
# only 512 descriptors: three floods of 500 idle connections to /metrics, 8 s each, the second
# across an agent SIGKILL and restart. The agent closes what is beyond its limit, keeps archiving
# and loses nothing.
. "$BV_ROOT/tests/faults/_common.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
port=$(free_port)
flood_agent_start() {
    agent_start src "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}" --http "127.0.0.1:$port"
    sleep 1
    prlimit --pid "$AGENT_PID" --nofile=512:512 || fail "lower the agent's limit on open files to 512"
}
flood() { python3 "$BV_ROOT/tests/tools/http_flood.py" 127.0.0.1 "$port" 500 8 > "$BV_TEST_DIR/flood$1.out"; }

fault_wl_start src
flood_agent_start
flood 1
flood 2 & fpid=$!
sleep 3
fault_kill_agent
flood_agent_start
wait "$fpid"
flood 3
opened=0
for i in 1 2 3; do
    echo "# flood $i: $(cat "$BV_TEST_DIR/flood$i.out")"
    n=$(sed -E 's/.*opened=([0-9]+).*/\1/' "$BV_TEST_DIR/flood$i.out")
    opened=$((opened + ${n:-0}))
done
fault_count "idle HTTP connections opened" "$opened"
check "the floods opened more connections than the agent has descriptors ($opened)" test "$opened" -gt 512
check_eq "no write failed for want of descriptors" "$(grep -c 'Too many open files' "$BV_TEST_DIR/agent.log")" 0
check "the agent log stays small" test "$(stat -c %s "$BV_TEST_DIR/agent.log")" -lt 1000000
sleep 1
wl_continuous_stop
fault_final_checks src "$archive"
