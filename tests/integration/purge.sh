# A purged binlog, and verify next to a running agent.
#
# verify run 20 times while the agent archives a workload: every run OK (checkpoint and index are
# read as one snapshot). Then the agent is stopped, the binlog it needs next is purged on the
# source, and the agent restarted: it stops with exit 65 and a diagnosis naming the binlog and
# --accept-gap (instead of reconnecting forever); a start option alone is refused (64); with
# --accept-gap --start-position it goes on, the gap is recorded in the archive, verify and list
# report it as accepted (exit 0), recovery refuses to cross it; the same options again are refused
# (64: nothing to skip). An agent started at a binlog the source never had exits 65 too.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
adir=$BV_TEST_DIR/archive
archive="file://$adir"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

# wait_exit SECONDS: the agent's exit code once it exits by itself (124: still running, killed).
wait_exit() {
    local secs=$1 rc
    for _ in $(seq 1 $((secs * 5))); do
        if ! kill -0 "$AGENT_PID" 2>/dev/null; then
            wait "$AGENT_PID"; rc=$?; AGENT_PID=; return $rc
        fi
        sleep 0.2
    done
    agent_kill
    return 124
}

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
opts=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s --purge-check 0)

# ---- verify while the agent archives -------------------------------------------------------------
wl_continuous_start src
agent_start src "$archive" "$spool" "${opts[@]}"
sleep 3
bad=0
for i in $(seq 1 20); do
    if ! out=$("$BV_BIN" verify --archive "$archive" 2>&1); then
        bad=$((bad + 1)); echo "verify run $i: $out" | head -n 5 >&2
    fi
    sleep 0.2
done
check_eq "verify during a workload: 20 of 20 runs OK" "$bad" 0
wl_continuous_stop
check "archive catches up with the server" agent_wait_caught_up src "$archive" 120
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0

# ---- purge what the archive needs next --------------------------------------------------------
needed=$(mdb_sql src "SHOW MASTER STATUS" | awk '{print $1}')
mdb_sql src "CREATE TABLE IF NOT EXISTS cw.lost (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO cw.lost VALUES (1), (2);
             FLUSH BINARY LOGS; INSERT INTO cw.lost VALUES (3); FLUSH BINARY LOGS"
# The server keeps a binlog that InnoDB's crash recovery may still need (its binlog checkpoint):
# purge again until it is gone.
for _ in $(seq 1 30); do
    newest=$(mdb_sql src "SHOW MASTER STATUS" | awk '{print $1}')
    mdb_sql src "PURGE BINARY LOGS TO '$newest'" 2>> "$BV_TEST_DIR/purge.log"
    [ -z "$(mdb_sql src "SHOW BINARY LOGS" | awk -v f="$needed" '$1 == f')" ] && break
    sleep 1
    mdb_sql src "FLUSH BINARY LOGS"
done
check "the source no longer has '$needed'" test -z "$(mdb_sql src "SHOW BINARY LOGS" | awk -v f="$needed" '$1 == f')"

: > "$BV_TEST_DIR/agent.log"
agent_start src "$archive" "$spool" "${opts[@]}"
wait_exit 60; rc=$?
check_eq "purged binlog: the agent exits 65 (not a reconnection loop)" "$rc" 65
check "purged binlog: the diagnosis names the binlog" grep -q "no longer has.*$needed" "$BV_TEST_DIR/agent.log"
check "purged binlog: the diagnosis says what to do" grep -q -- "--accept-gap --start-position" "$BV_TEST_DIR/agent.log"
reconnects=$(grep -c "reconnecting to the source" "$BV_TEST_DIR/agent.log")
check "purged binlog: no reconnection attempts ($reconnects)" test "$reconnects" -eq 0

out=$(BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD timeout 60 "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$(mdb_port src)" \
      --archive "$archive" --spool "$spool" --http off --start-position "$newest:4" "${opts[@]}" 2>&1); rc=$?
check_eq "a start option on a non-empty archive without --accept-gap: exit 64" "$rc" 64
check "  and the refusal names --accept-gap" grep -q -- "--accept-gap" <<< "$out"

# ---- accept the gap ---------------------------------------------------------------------------
mdb_sql src "INSERT INTO cw.lost VALUES (4), (5)"
agent_start src "$archive" "$spool" "${opts[@]}" --accept-gap --start-position "$newest:4"
check "--accept-gap: the agent goes on and catches up" agent_wait_caught_up src "$archive" 60
agent_term; check_eq "--accept-gap: SIGTERM, exit 0" "$?" 0
check "--accept-gap: the gap is recorded in the archive" test -n "$(ls "$adir/gaps/" 2>/dev/null)"
check "--accept-gap: the agent logged it" grep -q "accepting a gap after segment" "$BV_TEST_DIR/agent.log"

out=$("$BV_BIN" verify --archive "$archive" 2>&1); rc=$?
check_eq "verify: an accepted gap is not a problem (exit 0)" "$rc" 0
check "verify: the accepted gap is reported" grep -q "accepted gap" <<< "$out"
out=$("$BV_BIN" list --archive "$archive" 2>&1); rc=$?
check_eq "list: exit 0" "$rc" 0
check "list: reports the accepted gap with its positions" grep -q "^accepted gap: .*from $needed:[0-9]* .* to $newest:4" <<< "$out"
check "list --json: the gap is accepted, with its record" python3 -c '
import json, sys
d = json.load(sys.stdin)
g = [g for g in d["gaps"] if g["accepted"]]
sys.exit(0 if len(g) == 1 and g[0]["record"]["to"]["file"] == sys.argv[1] and len(d["windows"]) == 2 else 1)' "$newest" \
    < <("$BV_BIN" list --archive "$archive" --json)

from=$("$BV_BIN" list --archive "$archive" --json | python3 -c 'import json,sys; w=json.load(sys.stdin)["windows"][0]; print("%s:%d" % (w["from_file"], w["from_pos"]))')
out=$("$BV_BIN" recover --archive "$archive" --from-position "$from" --until-end --dry-run 2>&1); rc=$?
check_eq "recover across the accepted gap: refused with exit 65" "$rc" 65
check "  saying it is an accepted gap" grep -q "accepted with --accept-gap" <<< "$out"

out=$(BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD timeout 60 "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$(mdb_port src)" \
      --archive "$archive" --spool "$spool" --http off --accept-gap --start-position "$newest:4" "${opts[@]}" 2>&1); rc=$?
check_eq "--accept-gap again once past the gap: exit 64 (nothing to skip)" "$rc" 64
check "  saying so" grep -q "no gap to accept" <<< "$out"

# ---- a start the source never had ---------------------------------------------------------------
: > "$BV_TEST_DIR/agent.log"
agent_start src "file://$BV_TEST_DIR/archive2" "$BV_TEST_DIR/spool2" "${opts[@]}" --start-position "nosuch-bin.000099:4"
wait_exit 60; rc=$?
check_eq "--start-position at a binlog the source never had: exit 65" "$rc" 65
check "  naming it" grep -q "nosuch-bin.000099" "$BV_TEST_DIR/agent.log"
