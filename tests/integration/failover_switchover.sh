# Planned switchovers while a workload runs (docs/OPERATIONS.md "Failover"): a primary and two
# replicas (MariaDB GTID strict mode, log_slave_updates). The agent, given the three servers as
# candidates, archives the writable primary; after each switchover it starts the next timeline at
# the fork point (the archive's end: nothing diverged) and continues from the new primary. Then
# the same through one address that moves (a port-forwarding proxy re-pointed at the new primary).
# Each time: every transaction archived once, in order (the archive's transactions are the current
# primary's binlog history), verify passes. Each server's part of the main line, fetched, is its
# own binlog's bytes; a base backup of the old primary taken before the switchover, restored to a
# GTID written on the new primary, has the new primary's tables at that GTID.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
. "$BV_ROOT/tests/lib/topology.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
WL_PID= VIP_PID=
trap '[ -n "$WL_PID" ] && kill "$WL_PID" 2>/dev/null; agent_kill; [ -n "$VIP_PID" ] && kill "$VIP_PID"; mdb_stop_all' EXIT
opts=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s)

topo_start s1 s2 s3 || { fail "start a primary and two replicas"; exit 1; }
topo_schema
topo_write 30 before
check "the replicas follow the primary" topo_wait_replicas

primary_gtids() { topo_gtids $(mdb_binlog_files "$(topo_primary)"); }
# The archive holds the current primary's history, each transaction once and in order.
same_history() {
    local a p
    a=$(topo_archived_gtids "$1" | tr '\n' ' ')
    p=$(primary_gtids | tr '\n' ' ')
    [ "$a" = "$p" ] || { echo "archive:  $a" | tail -c 400; echo "primary:  $p" | tail -c 400; false; }
}
workload_start() {
    ( while [ ! -f "$BV_TEST_DIR/wl-stop" ]; do topo_write 1 "$1"; sleep 0.02; done ) &
    WL_PID=$!
}
workload_stop() {
    touch "$BV_TEST_DIR/wl-stop"; wait "$WL_PID" 2>/dev/null; WL_PID=; rm -f "$BV_TEST_DIR/wl-stop"
}

# --- the candidate list
agent_start_topo "$archive" "$spool" "${opts[@]}"
check "the agent archives the writable primary s1" agent_wait_caught_up s1 "$archive" 60
check "  and says which candidate it chose" grep -q "archiving candidate 1 of 3, .* (the writable primary)" "$BV_TEST_DIR/agent.log"
BINVAULT_SOURCE_PASSWORD=$TOPO_BACKUP_PASSWORD check "binvault backup of s1" "$BV_BIN" backup --archive "$archive" \
    --source "mysql://backup@127.0.0.1:$(mdb_port s1)" --tmp-dir "$BV_TEST_DIR" --no-progress
workload_start a
sleep 1
check "switchover to s2 under load" topo_switchover s2
sleep 1.5
workload_stop
# A transaction of the new primary, and its tables then (nothing else writes meanwhile).
marker_gtid=$(mdb_sql s2 "INSERT INTO topo.t (v) VALUES ('marker on s2'); SELECT @@last_gtid")
marker_pos=$(topo_gtid_pos s2)
marker_sum=$(topo_checksum s2)
check "the archive catches up with s2" topo_wait_archived "$archive"
check "  the agent followed s2 as timeline 2" grep -q "following a new source: timeline 2 from .* (server_id 1 -> 2)" "$BV_TEST_DIR/agent.log"
check "  every transaction archived once, in order (the new primary's history)" same_history "$archive"
check_eq "  /status: timeline 2, nothing diverged" "$(topo_status 'd["timeline"]["current"], d["timeline"]["diverged"]')" "2 None"
check_eq "  /healthz 200 ok" "$(curl -s "$(topo_http_url)/healthz")" "ok"
check "  the metric says timeline 2" grep -q "^binvault_timeline 2" <(curl -s "$(topo_http_url)/metrics")

workload_start b
sleep 1
check "switchover back to s1 under load" topo_switchover s1
sleep 1.5
workload_stop
topo_write 5 after
check "the archive catches up with s1 again" topo_wait_archived "$archive"
check "  every transaction archived once, in order" same_history "$archive"
check_eq "  /status: timeline 3, two failovers" "$(topo_status 'd["timeline"]["current"], d["timeline"]["failovers"]')" "3 2"
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "verify passes" "$BV_BIN" verify --archive "$archive"
check_eq "the records of timelines 2 and 3 (timeline 1 is implicit)" "$(ls "$BV_TEST_DIR/archive/timelines" | tr '\n' ' ')" \
    "00000002.json 00000003.json "
check "timeline 2's record: a fork with nothing diverged" python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
assert r["parent"] == 1 and r["source"]["server_id"] == 2 and "diverged" not in r, r' \
    "$BV_TEST_DIR/archive/timelines/00000002.json"

# Each server's part of the main line is its own binlog's bytes: s1's (timeline 1) up to the
# fork, s2's (timeline 2) from there up to the next fork, s1's again (timeline 3) to the end,
# each fetched (binvault fetch, GTID to GTID) and compared with that server's files over its range.
fork_gtid() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fork"]["gtid"])' \
    "$BV_TEST_DIR/archive/timelines/0000000$1.json"; }
fork2=$(fork_gtid 2) fork3=$(fork_gtid 3)
# The archived GTIDs after $1 (none: from the first) through $2 (none: to the last).
part_gtids() {
    topo_archived_gtids "$archive" |
        awk -v a="$1" -v b="$2" 'a == "" { on = 1 } on && !done { print } $0 == a { on = 1 } on && $0 == b { done = 1 }'
}
# fetch_part N SERVER AFTER UNTIL: the part of timeline N, fetched, is SERVER's own bytes.
fetch_part() {
    local n=$1 server=$2 want range=()
    want=$(part_gtids "$3" "$4")
    [ -n "$3" ] && range+=(--from-gtid "$(head -n 1 <<< "$want")")
    [ -n "$4" ] && range+=(--until-gtid "$4")
    rm -rf "$BV_TEST_DIR/f$n"
    check "fetch timeline $n's part ($(wc -l <<< "$want") transactions)" "$BV_BIN" fetch --archive "$archive" \
        "${range[@]}" --to "$BV_TEST_DIR/f$n"
    check_eq "  its transactions are those of the main line's part" "$(topo_gtids "$BV_TEST_DIR/f$n"/*)" "$want"
    check "  they are $server's own binlog bytes" topo_own_bytes "$server" "$BV_TEST_DIR/f$n"
}
fetch_part 1 s1 "" "$fork2"
fetch_part 2 s2 "$fork2" "$fork3"
fetch_part 3 s1 "$fork3" ""

# A base backup of the old primary, restored to a GTID that the new primary wrote.
mkdir "$BV_TEST_DIR/restored"
check "restore s1's backup to s2's '$marker_gtid'" "$BV_BIN" restore --archive "$archive" --datadir "$BV_TEST_DIR/restored" \
    --tmpdir "$BV_TEST_DIR" --user root --until-gtid "$marker_gtid"
if topo_start_datadir restored "$BV_TEST_DIR/restored"; then
    check_eq "  it has s2's tables at that GTID" "$(topo_checksum restored)" "$marker_sum"
    check_eq "  and s2's GTID state then" "$(mdb_sql restored "SELECT @@gtid_slave_pos")" "$marker_pos"
    mdb_stop restored
else
    fail "  the restored directory starts"
fi

# --- one address that moves: a proxy in front of the primary, re-pointed at the switchover
proxy_port=$(free_port)
echo "$(mdb_port s1)" > "$BV_TEST_DIR/vip"
setsid python3 "$BV_ROOT/tests/lib/tcpforward.py" "$proxy_port" "$BV_TEST_DIR/vip" > "$BV_TEST_DIR/vip.log" 2>&1 < /dev/null &
VIP_PID=$!
for _ in $(seq 1 50); do grep -q listening "$BV_TEST_DIR/vip.log" && break; sleep 0.1; done
: > "$BV_TEST_DIR/agent.log"
BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$proxy_port" \
    --archive "$archive" --spool "$spool" --http 127.0.0.1:0 "${opts[@]}" >> "$BV_TEST_DIR/agent.log" 2>&1 &
AGENT_PID=$!
topo_write 10 proxy
check "through the proxy: the archive catches up with s1" agent_wait_caught_up s1 "$archive" 60
check "  the same server at another address is not a new timeline" \
    grep -q "is timeline 3's server_id 1 (reached at '127.0.0.1:$(mdb_port s1)' before)" "$BV_TEST_DIR/agent.log"
workload_start c
sleep 1
check "switchover to s3 under load" topo_switchover s3
echo "$(mdb_port s3)" > "$BV_TEST_DIR/vip"
sleep 1.5
workload_stop
check "through the moved address: the archive catches up with s3" topo_wait_archived "$archive"
check "  the agent followed s3 as timeline 4" grep -q "following a new source: timeline 4 from .* (server_id 1 -> 3)" "$BV_TEST_DIR/agent.log"
check "  every transaction archived once, in order" same_history "$archive"
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "verify passes" "$BV_BIN" verify --archive "$archive"
