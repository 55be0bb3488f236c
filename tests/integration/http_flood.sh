# The agent's HTTP endpoint under a flood of idle connections (issue 14: 400 of them exhausted the
# agent's descriptors, spool and checkpoint writes failed with "Too many open files" and 64 MB of
# log lines were written in 30 s). With the agent's limit on open files lowered to 512, 500 idle
# connections are held open to /metrics (reopened as the agent closes them) for 12 s while a
# workload runs: the endpoint holds at most 64 of them, no write fails, the log stays small, and
# /healthz answers once the flood stops; nothing is lost (verify passes, the fetched binlogs are
# the server's).
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
logfile=$BV_TEST_DIR/agent-file.log
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
port=$(free_port)
http="127.0.0.1:$port"
healthz() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$http/healthz"; }
wait_health() {
    for _ in $(seq 1 $(($1 * 5))); do [ "$(healthz)" = 200 ] && return 0; sleep 0.2; done
    return 1
}

agent_start src "$archive" "$spool" --segment-interval 500ms --heartbeat 500ms --http "$http" --log-file "$logfile"
check "healthz 200 once streaming" wait_health 20
check "agent's limit on open files lowered to 512" prlimit --pid "$AGENT_PID" --nofile=512:512

wl_continuous_start src
out=$(python3 "$BV_ROOT/tests/tools/http_flood.py" 127.0.0.1 "$port" 500 12)
echo "# flood: $out"
opened=$(sed -E 's/.*opened=([0-9]+).*/\1/' <<< "$out")
closed=$(sed -E 's/.*closed_by_server=([0-9]+).*/\1/' <<< "$out")
check "the flood opened more than 500 connections ($opened)" test "${opened:-0}" -gt 500
check "the agent closed the connections beyond its limit ($closed)" test "${closed:-0}" -ge 400
check "the agent is still running" kill -0 "$AGENT_PID"
check "healthz answers 200 after the flood" wait_health 10
wl_continuous_stop
check "archive catches up" agent_wait_caught_up src "$archive" 60

check_eq "no write failed for want of descriptors" "$(grep -c 'Too many open files' "$logfile" "$BV_TEST_DIR/agent.log" | awk -F: '{s += $2} END {print s}')" 0
check "refused connections were logged" grep -q 'closing a new HTTP connection' "$logfile"
# The log file and standard error (where libevent wrote its own warnings before issue 14).
lines=$(cat "$logfile" "$BV_TEST_DIR/agent.log" | wc -l)
bytes=$(cat "$logfile" "$BV_TEST_DIR/agent.log" | wc -c)
check "the log stays small ($lines lines, $bytes bytes)" test "$lines" -lt 500 -a "$bytes" -lt 200000

agent_term; rc=$?
check_eq "SIGTERM: exit 0" "$rc" 0
check "verify: archive is sound" "$BV_BIN" verify --archive "$archive"
mkdir -p "$BV_TEST_DIR/fetched"
check "fetch the whole archive" "$BV_BIN" fetch --archive "$archive" --to "$BV_TEST_DIR/fetched"
check "fetched binlogs are byte-identical to the server's" compare_fetched src "$BV_TEST_DIR/fetched"
