# Step 1 of the runbook (issue 12): "the archive has everything up to the accident" when the
# primary is gone. An agent with a long --segment-interval (60 s) holds the last transactions in
# its open segment; the primary is then killed for good (SIGKILL, never restarted). The agent must
# seal the whole transactions it received as soon as the stream breaks, not keep them unarchived
# while it tries to reconnect: the archive then holds the last one, `binvault status` names it
# as the last commit, and a recovery reaches it.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/agent.sh"

T=$BV_TEST_DIR
archive="file://$T/archive"
trap 'agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start the source"; exit 1; }
repl_user src
start=$(mdb_sql src "SELECT @@gtid_binlog_pos")
agent_start src "$archive" "$T/spool" --segment-interval 60s --heartbeat 500ms --reconnect-max 1s --http off
mdb_sql src "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY) ENGINE=InnoDB"
check "the archive catches up" agent_wait_caught_up src "$archive" 60
for i in 1 2 3 4 5; do mdb_sql src "INSERT INTO d.t VALUES ($i)"; done
last=$(mdb_sql src "SELECT @@gtid_binlog_pos")
sleep 2 # the agent receives them (they sit in its open segment: the interval is 60 s)
mdb_kill src

found=no
for _ in $(seq 1 50); do
    if "$BV_BIN" log --archive "$archive" --json 2>/dev/null | grep -q "\"gtid\":\"$last\""; then found=yes; break; fi
    sleep 0.2
done
check_eq "within 10 s of the primary's death, the archive holds its last transaction ($last)" "$found" yes
check "the agent is still running (it keeps trying to reconnect)" kill -0 "$AGENT_PID"
check "the agent said it sealed nothing in error" test -z "$(grep 'unable to seal the transactions received' "$T/agent.log")"
"$BV_BIN" status --archive "$archive" > "$T/status.txt" 2>&1
check "status: the checkpoint's gtid is the last transaction" grep -q "gtid '$last'" "$T/status.txt"
agent_term
check "the agent stops on SIGTERM while the source is gone" test -z "${AGENT_PID:-}"

MDB_SERVER_ID=2 mdb_start tgt || { fail "start the target"; exit 1; }
BINVAULT_INTO_PASSWORD= "$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port tgt)" \
    --from-gtid "$start" --until-end > "$T/recover.txt" 2>&1
rc=$?
check_eq "a recovery to the end: exit 0" "$rc" 0 || tail -n 5 "$T/recover.txt"
check_eq "... it holds every row the dead primary committed" "$(mdb_sql tgt "SELECT COUNT(*) FROM d.t" 2>&1)" 5
