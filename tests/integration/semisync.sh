# Zero RPO with semi-synchronous replication: the source (rpl_semi_sync_master_enabled=ON,
# wait_point=AFTER_SYNC) waits for the agent's ACK, which it sends only once the transaction is
# fdatasync'd in its spool. The agent is killed with SIGKILL at random moments during the workload,
# 20 times; after each kill, before it runs again, every transaction whose COMMIT had returned OK
# to the client is in the spool or the archive: `binvault agent --drain` (which never connects to
# the source) archives the spool, and the archive then holds the last GTID the client saw
# committed. Semi-sync stayed on throughout (no commit without an ACK); at the end the archive is
# byte-identical to the server's binlogs.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
acked=$BV_TEST_DIR/acked.log
CLIENT_PID=
trap 'wl_continuous_stop; [ -n "$CLIENT_PID" ] && kill $CLIENT_PID 2>/dev/null; agent_kill; mdb_stop_all' EXIT

mdb_start src rpl_semi_sync_master_wait_point=AFTER_SYNC rpl_semi_sync_master_timeout=120000 ||
    { fail "start mariadb"; exit 1; }
# The user first: with semi-sync on and no replica yet, each commit waits for the whole timeout.
repl_user src
mdb_sql src "SET GLOBAL rpl_semi_sync_master_enabled = ON"
opts=(--semi-sync --segment-size 64K --segment-interval 500ms --heartbeat 500ms --reconnect-max 1s --purge-check 0
      --http off)
status_var() { mdb_sql src "SHOW GLOBAL STATUS LIKE '$1'" | awk '{print $2}'; }
gtid_seq() { sed -E 's/.*(^|,)0-[0-9]+-([0-9]+).*/\2/' <<< "$1"; }

AGENT_LOG_LEVEL=debug agent_start src "$archive" "$spool" "${opts[@]}"
for _ in $(seq 1 50); do [ "$(status_var Rpl_semi_sync_master_clients)" = 1 ] && break; sleep 0.2; done
check_eq "the agent is a semi-sync replica of the source" "$(status_var Rpl_semi_sync_master_clients)" 1
# A plain connection: the stream is read from the socket past libmariadb, so the ACKs below also
# check the packet numbering the source restarts after each event it waits an ACK for.
check "the stream is read from the socket directly" grep -q "reading the socket directly" "$BV_TEST_DIR/agent.log"
no0=$(status_var Rpl_semi_sync_master_no_tx)
yes0=$(status_var Rpl_semi_sync_master_yes_tx)

# The client: one transaction per statement; after each COMMIT returns OK it prints the GTID it
# got (unbuffered), so the last line is always a transaction the client saw committed.
mdb_sql src "CREATE DATABASE ss; CREATE TABLE ss.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB"
( i=0; while :; do i=$((i + 1)); echo "INSERT INTO ss.t (v) VALUES (REPEAT('s', $((i % 150))));"; echo "SELECT @@last_gtid;"; done ) |
    mariadb --defaults-file="$(mdb_cnf src)" -uroot -N -B --unbuffered > "$acked" 2>&1 &
CLIENT_PID=$!
wl_continuous_start src
sleep 2

bad=0 kills=0 max_seen=0
for i in $(seq 1 "${SEMISYNC_KILLS:-20}"); do
    sleep "0.$((RANDOM % 9 + 1))"
    agent_kill
    kills=$((kills + 1))
    last=$(grep -E '^0-[0-9]+-[0-9]+$' "$acked" | tail -n 1)
    # Archive what the dead agent left, without the source: spool + journal only.
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD timeout 60 "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$(mdb_port src)" \
        --archive "$archive" --spool "$spool" --drain --http off >> "$BV_TEST_DIR/drain.log" 2>&1
    rc=$?
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gtid_end"])' "$BV_TEST_DIR/archive/checkpoint.json" 2>/dev/null)
    if [ $rc -ne 0 ] || [ -z "$last" ] || [ -z "$got" ] || [ "$(gtid_seq "$got")" -lt "$(gtid_seq "$last")" ]; then
        bad=$((bad + 1))
        echo "# kill $i: drain exit $rc, client saw '$last' committed, archive holds up to '$got'"
    fi
    [ -n "$last" ] && max_seen=$(gtid_seq "$last")
    agent_start src "$archive" "$spool" "${opts[@]}"
done
check_eq "agent killed at random moments" "$kills" "${SEMISYNC_KILLS:-20}"
check_eq "after every kill, each COMMIT the client saw is in the spool or the archive" "$bad" 0
check "the client kept committing through the kills ($max_seen transactions)" test "$max_seen" -gt 200
check "the open segment was recovered from the journal after kills" grep -q "recovered [0-9]* events of the open segment from the semi-sync journal" "$BV_TEST_DIR/drain.log" "$BV_TEST_DIR/agent.log"

kill "$CLIENT_PID" 2>/dev/null; wait "$CLIENT_PID" 2>/dev/null; CLIENT_PID=
wl_continuous_stop
check_eq "semi-sync stayed on" "$(status_var Rpl_semi_sync_master_status)" ON
check_eq "no commit returned without the agent's ACK (Rpl_semi_sync_master_no_tx unchanged)" \
    "$(status_var Rpl_semi_sync_master_no_tx)" "$no0"
yes1=$(status_var Rpl_semi_sync_master_yes_tx)
check "commits acknowledged by the agent ($((yes1 - yes0)))" test $((yes1 - yes0)) -gt 200

mdb_sql src "FLUSH BINARY LOGS"
check "archive catches up with the server" agent_wait_caught_up src "$archive" 120
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check_eq "no journal left behind" "$(ls "$spool/journal" | grep -c 'bvj$')" 0
check "verify: archive is sound" "$BV_BIN" verify --archive "$archive"
mkdir -p "$BV_TEST_DIR/fetched"
check "fetch the whole archive" "$BV_BIN" fetch --archive "$archive" --to "$BV_TEST_DIR/fetched"
check "fetched binlogs are byte-identical to the server's" compare_fetched src "$BV_TEST_DIR/fetched"
mapfile -t files < <(mdb_binlog_files src)
"$BV_BIN" inspect --transactions --json "$BV_TEST_DIR"/fetched/* |
    python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]' > "$BV_TEST_DIR/archive.gtids"
check_eq "no transaction archived twice" "$(sort "$BV_TEST_DIR/archive.gtids" | uniq -d | wc -l)" 0
