# Fault: the network to the source and to the store (S3: Swift) cut and restored, inside a network
# namespace of this test's own (re-executed under `unshare -n`, where only loopback exists), with
# nftables rules: silent drops (a cable pulled: established streams hang, connections time out),
# TCP resets, both links at once, links flapping, and a bandwidth limit (tc tbf). The agent's
# links only are cut: it reaches the source at 127.0.0.2 while the workload uses 127.0.0.1. The
# agent is also SIGKILLed during cuts (its start-up then waits for the store). It must reconnect
# and catch up by itself.
if [ -z "${BV_FAULT_NETNS:-}" ]; then
    exec env BV_FAULT_NETNS=1 unshare -n bash "$0" "$@"
fi
. "$BV_ROOT/tests/faults/_common.sh"
. "$BV_ROOT/tests/lib/swift.sh"
ip link set lo up || { fail "bring up loopback in the test's network namespace"; exit 1; }
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; s3_stop_all; mdb_stop_all' EXIT

s3_start || { fail "start swift"; exit 1; }
mdb_start src bind-address=0.0.0.0 || { fail "start mariadb"; exit 1; }
repl_user src
archive="s3://$S3_BUCKET/network"
s3opts=(--s3-endpoint "$S3_ENDPOINT" --s3-uri-style path)
SRC_PORT=$(mdb_port src)
STORE_PORT=${S3_ENDPOINT##*:}

net_agent_start() {
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD BINVAULT_S3_STALL_TIMEOUT=3 "$BV_BIN" agent \
        --source "mysql://repl@127.0.0.2:$SRC_PORT" --archive "$archive" --spool "$spool" "${s3opts[@]}" \
        --connect-timeout 2s --http off "${FAULT_AGENT_OPTS[@]}" >> "$BV_TEST_DIR/agent.log" 2>&1 &
    AGENT_PID=$!
}

# cut LINK [drop|reset]: LINK is "source" (the agent's connections to 127.0.0.2:SRC_PORT) or
# "store" (every connection to the S3 endpoint); `uncut LINK` restores it.
cut() {
    local link=$1 verdict=drop match_out match_in
    [ "${2:-drop}" = reset ] && verdict="reject with tcp reset"
    if [ "$link" = source ]; then
        match_out="ip daddr 127.0.0.2 tcp dport $SRC_PORT" match_in="ip saddr 127.0.0.2 tcp sport $SRC_PORT"
    else
        match_out="tcp dport $STORE_PORT" match_in="tcp sport $STORE_PORT"
    fi
    nft add table inet "bv_$link" &&
        nft add chain inet "bv_$link" out '{ type filter hook output priority 0; }' &&
        nft add rule inet "bv_$link" out "$match_out" "$verdict" &&
        nft add rule inet "bv_$link" out "$match_in" "$verdict" || fail "nft: cut $link"
}
uncut() { nft delete table inet "bv_$1" || fail "nft: restore $1"; }

# Archived transactions so far: the GTID sequence of the checkpoint (domain 0).
archived_seq() {
    "$BV_BIN" storage --archive "$archive" "${s3opts[@]}" get checkpoint.json 2>/dev/null |
        python3 -c 'import json,sys,re; m=re.search(r"0-\d+-(\d+)", json.load(sys.stdin)["gtid_end"]); print(m.group(1) if m else 0)' 2>/dev/null || echo 0
}
# Wait until the archive holds more than it did: the agent recovered by itself.
progressed() {
    local before=$1 now
    for _ in $(seq 1 120); do
        now=$(archived_seq)
        [ "${now:-0}" -gt "$before" ] && return 0
        sleep 0.5
    done
    return 1
}

fault_wl_start src
net_agent_start
sleep 2
cuts_source=0 cuts_store=0 resets=0 flaps=0 throttles=0

before=$(archived_seq)
cut source; cuts_source=$((cuts_source + 1)); sleep 6; uncut source
check "source cut for 6 s (drop): the agent reconnects and archives again" progressed "$before"

before=$(archived_seq)
cut store; cuts_store=$((cuts_store + 1)); sleep 6; uncut store
check "store cut for 6 s (drop): uploads resume" progressed "$before"

before=$(archived_seq)
cut source; cut store; cuts_source=$((cuts_source + 1)); cuts_store=$((cuts_store + 1))
sleep 2; fault_kill_agent; net_agent_start; sleep 4
uncut source; uncut store
check "both cut, agent SIGKILLed and restarted during the cut: it catches up" progressed "$before"

before=$(archived_seq)
cut source reset; cut store reset; resets=$((resets + 2)); sleep 3; uncut source; uncut store
check "both reset (TCP RST) for 3 s: the agent recovers" progressed "$before"

before=$(archived_seq)
for _ in 1 2 3 4 5; do
    cut source; cut store; flaps=$((flaps + 1)); fault_rand_sleep 50 150; uncut source; uncut store
    fault_rand_sleep 50 150
done
fault_kill_agent; net_agent_start
check "links flapping 5 times, then a SIGKILL: the agent recovers" progressed "$before"

before=$(archived_seq)
tc qdisc add dev lo root tbf rate 4mbit burst 32kb latency 300ms && throttles=$((throttles + 1)) ||
    fail "tc: limit the loopback bandwidth"
sleep 3; fault_kill_agent; net_agent_start; sleep 5
tc qdisc del dev lo root
check "bandwidth limited to 4 Mbit/s for 8 s, SIGKILL meanwhile: the agent keeps up" progressed "$before"

fault_count "network cut: source (drop)" "$cuts_source"
fault_count "network cut: store (drop)" "$cuts_store"
fault_count "network reset: source and store (TCP RST)" "$resets"
fault_count "network flap: source and store" "$flaps"
fault_count "bandwidth limit (tbf 4 Mbit/s)" "$throttles"
check "the agent saw the source stream interrupted" grep -q "source stream interrupted\|reconnecting to the source" \
    "$BV_TEST_DIR/agent.log"
check "uploads were retried" grep -q "unable to store segment .* retrying in" "$BV_TEST_DIR/agent.log"
sleep 1
wl_continuous_stop
fault_final_checks src "$archive" "${s3opts[@]}"
