# binvault status against real situations: each monitoring exit code from a real archive and
# source. 3 UNKNOWN: no archive; 0 OK: caught up (from the archive alone, and with --source:
# nothing missing, RPO exactly 0); 1 WARNING then 2 CRITICAL: the agent stopped while the source
# keeps writing (both from the archive alone and measured from the source's binlog); the summary
# comes first; --json. A commit dated a day ahead (SET TIMESTAMP) before the agent stops must not
# make the archive look current (issue 14): the bound starts at the agent's own clock
# (confirmed_us), not at the data's commit time.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
export BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD
source_url="mysql://repl@127.0.0.1:$(mdb_port src)"
limits=(--warn-rpo 4 --max-rpo 12)

# st ARGS...: runs status, keeps its output in $out, returns its exit code
st() { out=$("$BV_BIN" status "$@" 2>&1); return $?; }

st --archive "file://$BV_TEST_DIR/nothing-here"; rc=$?
check_eq "no archive: exit 3 UNKNOWN" "$rc" 3
check "UNKNOWN summary first" grep -q "^BINVAULT UNKNOWN: no archive at" <<< "$(head -n 1 <<< "$out")"

agent_start src "$archive" "$BV_TEST_DIR/spool" --segment-interval 1s --heartbeat 500ms --http off
mdb_sql src "CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT); INSERT INTO s.t (v) VALUES (1),(2)"
check "archive catches up" agent_wait_caught_up src "$archive" 60
sleep 1.5

st --archive "$archive" "${limits[@]}"; rc=$?
check_eq "caught up, archive alone: exit 0 OK" "$rc" 0
check "OK summary first, with perfdata" grep -qE "^BINVAULT OK: archive RPO <= [0-9.]+ s .*\| rpo=" <<< "$(head -n 1 <<< "$out")"
st --archive "$archive" --source "$source_url" "${limits[@]}"; rc=$?
check_eq "caught up, with the source: exit 0 OK" "$rc" 0
check "with the source: RPO exactly 0, nothing missing" grep -q "archive RPO 0.0 s .*0 transactions, 0 bytes not archived" <<< "$out"

# The agent stops; the source keeps writing.
agent_term
wl_continuous_start src
sleep 6
st --archive "$archive" "${limits[@]}"; rc=$?
check_eq "agent stopped 6 s, archive alone: exit 1 WARNING" "$rc" 1
st --archive "$archive" --source "$source_url" "${limits[@]}" --json; rc=$?
check_eq "agent stopped 6 s, with the source: exit 1 WARNING" "$rc" 1
check "--json: transactions and bytes not archived, oldest from the source's binlog" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["status"] == "WARNING" and d["exit"] == 1 and d["rpo_exact"] is True, d
s = d["source"]
assert s["ok"] and s["unarchived_transactions"] > 0 and s["unarchived_bytes"] > 0, s
assert s["oldest_unarchived_gtid"].startswith("0-1-") and 4 <= d["rpo_seconds"] < 12, d' "$out"
sleep 8
st --archive "$archive" "${limits[@]}"; rc=$?
check_eq "agent stopped 14 s, archive alone: exit 2 CRITICAL" "$rc" 2
st --archive "$archive" --source "$source_url" "${limits[@]}"; rc=$?
check_eq "agent stopped 14 s, with the source: exit 2 CRITICAL" "$rc" 2
check "CRITICAL summary first" grep -q "^BINVAULT CRITICAL: archive RPO [0-9.]* s" <<< "$(head -n 1 <<< "$out")"

# An unreachable source: the archive's bound still stands, and it is at least a warning.
st --archive "$archive" --source "mysql://repl@127.0.0.1:1" --warn-rpo 1000 --max-rpo 2000; rc=$?
check_eq "source unreachable: exit 1 WARNING" "$rc" 1
check "says the source was not checked" grep -q "source not checked" <<< "$out"

# The agent back: caught up again, OK again.
wl_continuous_stop
agent_start src "$archive" "$BV_TEST_DIR/spool" --segment-interval 1s --heartbeat 500ms --http off
check "archive catches up again" agent_wait_caught_up src "$archive" 60
st --archive "$archive" --source "$source_url" "${limits[@]}"; rc=$?
check_eq "caught up again: exit 0 OK" "$rc" 0

# A commit dated a day ahead, archived; then the agent stops and the source keeps writing.
mdb_sql src "SET TIMESTAMP=UNIX_TIMESTAMP()+86400; INSERT INTO s.t (v) VALUES (99)"
check "the future-dated commit is archived" agent_wait_caught_up src "$archive" 60
check "checkpoint.json has the agent's clock (confirmed_us) and the future commit time" python3 -c '
import json, sys, time
c = json.load(open(sys.argv[1]))
now = time.time() * 1e6
assert c["last_time_us"] > now + 3600e6 and now - 30e6 < c["confirmed_us"] <= now + 1e6, c' "$BV_TEST_DIR/archive/checkpoint.json"
agent_term
wl_continuous_start src
sleep 6
st --archive "$archive" "${limits[@]}" --json; rc=$?
check_eq "future commit, agent stopped 6 s, archive alone: exit 1 WARNING (not OK)" "$rc" 1
check "--json: RPO from the agent's clock, the future commit time not trusted" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["status"] == "WARNING" and d["future_commit"] is True and 4 <= d["rpo_seconds"] < 12, d' "$out"
st --archive "$archive" --source "$source_url" "${limits[@]}"; rc=$?
check "future commit, agent stopped, with the source: not OK" test "$rc" -ge 1
wl_continuous_stop

# A checkpoint that cannot be read: UNKNOWN.
agent_term
echo "not json" > "$BV_TEST_DIR/archive/checkpoint.json"
st --archive "$archive"; rc=$?
check_eq "unreadable checkpoint: exit 3 UNKNOWN" "$rc" 3
