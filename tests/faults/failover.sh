# Fault: failovers back and forth under load (docs/OPERATIONS.md "Failover"). A primary and two
# replicas; the agent is given the three as candidates. FAULT_FAILOVERS times (default 10, at
# least 10 in `make faults`), the primary changes: a planned switchover while the workload writes,
# or (every third time) a kill -9 of the primary after it committed transactions that no replica
# received, which the agent had archived (a diverged branch; the dead server is then rebuilt as a
# replica). After each: the agent follows the new primary as the next timeline, reports exactly
# the lost transactions as diverged, and the archive's main line ends at the new primary's GTID
# state and holds its binlog's transactions, once each, in order. At the end: verify passes, and a
# server recovered from the archive to its end has the current primary's tables.
. "$BV_ROOT/tests/faults/_common.sh"
. "$BV_ROOT/tests/lib/topology.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
WL=
trap '[ -n "$WL" ] && kill "$WL" 2>/dev/null; agent_kill; mdb_stop_all' EXIT

topo_start f1 f2 f3 || { fail "start a primary and two replicas"; exit 1; }
topo_schema
topo_write 20 before
agent_start_topo "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}" --source-poll 500ms

wl_start() { ( trap 'exit 0' TERM; while :; do topo_write 1 load; sleep 0.01; done ) & WL=$!; }
wl_stop() { [ -n "$WL" ] && kill "$WL" 2>/dev/null; wait "$WL" 2>/dev/null; WL=; }
# The primary's binlog (all of its history since it was built) ends the archive's main line.
main_line_is_primary() {
    local a p
    a=$(topo_archived_gtids "$archive" | tr '\n' ' ')
    p=$(topo_gtids $(mdb_binlog_files "$(topo_primary)") | tr '\n' ' ')
    case "$a" in *"$p") ;; *) echo "archive: ${a: -300}"; echo "primary: ${p: -300}"; return 1 ;; esac
    [ "$(topo_archived_gtids "$archive" | sort | uniq -d | wc -l)" = 0 ] || { echo "a transaction archived twice"; return 1; }
}
cp_gtid() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gtid_end"])' "$BV_TEST_DIR/archive/checkpoint.json"; }
diverged() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); d=r.get("diverged"); print("%d %s" % (d["transactions"], d["last_gtid"]) if d else "0 -")' "$BV_TEST_DIR/archive/timelines/$(printf %08d "$1").json"; }

n=${FAULT_FAILOVERS:-10}
lost_total=0 crashes=0 bad=0
for i in $(seq 1 "$n"); do
    old=$(topo_primary)
    # Either replica, in turn.
    others=()
    for s in f1 f2 f3; do [ "$s" != "$old" ] && others+=("$s"); done
    new=${others[$(( (i / 2) % 2 ))]}
    wl_start
    fault_rand_sleep 50 150
    if [ $((i % 3)) = 0 ]; then
        wl_stop
        lost=$((1 + RANDOM % 4))
        TOPO_BEFORE_KILL=""
        topo_crash_failover "$new" "$lost" || { fail "failover $i: crash of $old"; bad=1; break; }
        want_lost="$lost $(cat "$BV_TEST_DIR/topo-lost-gtid")"
        lost_total=$((lost_total + lost)) crashes=$((crashes + 1))
        wl_start
        fault_rand_sleep 50 100
    else
        topo_switchover "$new" || { fail "failover $i: switchover to $new"; bad=1; break; }
        want_lost="0 -"
        fault_rand_sleep 50 100
    fi
    wl_stop
    if ! topo_wait_archived "$archive" 90; then fail "failover $i: the archive catches up with $new"; bad=1; break; fi
    tl=$((i + 1))
    check_eq "failover $i ($old -> $new): timeline $tl, diverged: $want_lost" "$(diverged "$tl")" "$want_lost"
    check_eq "failover $i: the archive ends at $new's GTID state" "$(cp_gtid)" "$(topo_gtid_pos "$new")"
    check "failover $i: the main line holds $new's history, once, in order" main_line_is_primary
    # A crashed primary comes back as a replica, rebuilt from the new primary's data.
    if ! mdb_sql "$old" "SELECT 1" > /dev/null 2>&1; then
        topo_rebuild "$old" || { fail "failover $i: rebuild $old"; bad=1; break; }
        topo_wait_replicas || { fail "failover $i: $old replicates $new"; bad=1; break; }
    fi
done
check_eq "$n failovers, $crashes with lost transactions" "$bad" 0
fault_count "failovers" "$n"
fault_count "primary SIGKILL" "$crashes"
fault_count "transactions lost in failovers (diverged)" "$lost_total"
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "verify passes" "$BV_BIN" verify --archive "$archive"
topo_recover_check "$archive"
