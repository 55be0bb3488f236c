# binvault agent against a live MariaDB under a continuous workload: killed with SIGKILL at
# random moments (20 times), the source restarted, the dump connection killed; afterwards the
# archive holds exactly the server's binlog: same events byte for byte, every GTID once.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
opts=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s --purge-check 2s)

wl_continuous_start src
agent_start src "$archive" "$spool" "${opts[@]}"
sleep 2
kills=0
for i in $(seq 1 "${AGENT_KILLS:-20}"); do
    sleep "0.$((RANDOM % 9 + 1))"
    agent_kill
    kills=$((kills + 1))
    before=$(dump_thread_ids src)
    agent_start src "$archive" "$spool" "${opts[@]}"
    if [ "$i" -eq 7 ]; then mdb_restart src; fi
    if [ "$i" -eq 5 ]; then
        # Cut the new agent's connection from the server side (not the killed agent's lingering
        # one); it must reconnect by itself.
        id=$(dump_thread_id src 15 "$before") && mdb_sql src "KILL $id"
        new=$(dump_thread_id src 15 "$before ${id:-}")
        check "the agent reconnected by itself after its dump thread was killed" test -n "${id:-}" -a -n "${new:-}"
    fi
done
sleep 1
wl_continuous_stop
mdb_sql src "FLUSH BINARY LOGS"
check_eq "agent killed at random moments" "$kills" "${AGENT_KILLS:-20}"
check "archive catches up with the server" agent_wait_caught_up src "$archive" 120
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "log shows the reconnection after the dump thread was killed" grep -q "source stream interrupted" "$BV_TEST_DIR/agent.log"
# Every restart and reconnection checked the source against the archive's end (GTID state at the
# end position) and never refused the one server it archives.
check "restarts resumed where the source proved the archive's end GTID state" \
    grep -q "the source's GTID state there is where the archive resumes" "$BV_TEST_DIR/agent.log"
check_fails "the source was never refused" grep -q "refusing to archive" "$BV_TEST_DIR/agent.log"

check "verify: archive is sound" "$BV_BIN" verify --archive "$archive"
mkdir -p "$BV_TEST_DIR/fetched"
check "fetch the whole archive" "$BV_BIN" fetch --archive "$archive" --to "$BV_TEST_DIR/fetched"
check "fetched binlogs are byte-identical to the server's" compare_fetched src "$BV_TEST_DIR/fetched"

# Same transactions, same order, none missing, none twice.
mapfile -t files < <(mdb_binlog_files src)
"$BV_BIN" inspect --transactions --json "${files[@]}" | python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]' > "$BV_TEST_DIR/server.gtids"
"$BV_BIN" inspect --transactions --json "$BV_TEST_DIR"/fetched/* | python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]' > "$BV_TEST_DIR/archive.gtids"
n=$(wc -l < "$BV_TEST_DIR/server.gtids")
check "server wrote thousands of transactions" test "$n" -gt 2000
check "archive transactions == server transactions, in order" cmp -s "$BV_TEST_DIR/server.gtids" "$BV_TEST_DIR/archive.gtids"
check_eq "no transaction archived twice" "$(sort "$BV_TEST_DIR/archive.gtids" | uniq -d | wc -l)" 0
