# A spool commit that fails right after its state moved (as when the directory sync after
# state.json fails), as a semi-sync replica under a continuous workload: the agent thinks the
# segment unsealed while the spool's state names it. It must resync with the state ("in the spool
# after all") before sealing anything: never seal that seq again from its journal with other
# content (which once left a transaction out of the archive). The test hook fails every 4th
# commit after its state moved and the commit after it before its state moved (the double failure
# that made the gap); afterwards the archive holds the server's binlogs byte for byte, every GTID
# once. Without the spool's commit guard, verify finds a gap here.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src rpl_semi_sync_master_enabled=ON rpl_semi_sync_master_wait_point=AFTER_SYNC \
    rpl_semi_sync_master_timeout=1000 || { fail "start mariadb"; exit 1; }
repl_user src
export BINVAULT_TEST_SPOOL_FAIL_AFTER_STATE=4
AGENT_LOG_LEVEL=debug agent_start src "$archive" "$spool" --semi-sync --segment-size 64K --segment-interval 300ms \
    --heartbeat 300ms --reconnect-max 500ms --purge-check 0 --http off
unset BINVAULT_TEST_SPOOL_FAIL_AFTER_STATE
wl_continuous_start src
# The workload runs until the test hook has failed commits and the agent has recovered from them
# (the counts checked below), 60 s at most.
spool_seen() { [ "$(grep -c "$1" "$BV_TEST_DIR/agent.log")" -ge "$2" ]; }
for _ in $(seq 1 300); do
    spool_seen BINVAULT_TEST_SPOOL_FAIL_AFTER_STATE 6 && spool_seen "is in the spool after all" 3 &&
        spool_seen "is already committed to spool" 1 && break
    sleep 0.2
done
wl_continuous_stop
mdb_sql src "FLUSH BINARY LOGS"
check "archive catches up with the server" agent_wait_caught_up src "$archive" 120
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
n=$(grep -c "BINVAULT_TEST_SPOOL_FAIL_AFTER_STATE" "$BV_TEST_DIR/agent.log")
check "commits failed by the test hook ($n)" test "$n" -ge 6
n=$(grep -c "is in the spool after all" "$BV_TEST_DIR/agent.log")
check "the agent found segments committed after all ($n times)" test "$n" -ge 3
check "journals replayed after those failures were refused, not sealed again" \
    grep -q "is already committed to spool" "$BV_TEST_DIR/agent.log"

check "verify: archive is sound" "$BV_BIN" verify --archive "$archive"
mkdir -p "$BV_TEST_DIR/fetched"
check "fetch the whole archive" "$BV_BIN" fetch --archive "$archive" --to "$BV_TEST_DIR/fetched"
check "fetched binlogs are byte-identical to the server's" compare_fetched src "$BV_TEST_DIR/fetched"
mapfile -t files < <(mdb_binlog_files src)
"$BV_BIN" inspect --transactions --json "${files[@]}" | python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]' > "$BV_TEST_DIR/server.gtids"
"$BV_BIN" inspect --transactions --json "$BV_TEST_DIR"/fetched/* | python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]' > "$BV_TEST_DIR/archive.gtids"
check "server wrote transactions ($(wc -l < "$BV_TEST_DIR/server.gtids"))" test "$(wc -l < "$BV_TEST_DIR/server.gtids")" -gt 500
check "archive transactions == server transactions, in order" cmp -s "$BV_TEST_DIR/server.gtids" "$BV_TEST_DIR/archive.gtids"
