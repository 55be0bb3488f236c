# Fault: the store (S3: Swift) misbehaving, through tests/tools/faultproxy.py: runs of 500 and 503
# answers, hung transfers, connections reset mid-transfer, answers lost after the store committed
# the object, a trickling upload; and the agent SIGKILLed while uploads are failing and while
# its start-up reads of the archive fail. Uploads retry with backoff; nothing is stored twice or
# overwritten, and the archive ends complete.
. "$BV_ROOT/tests/faults/_common.sh"
. "$BV_ROOT/tests/lib/swift.sh"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; faultproxy_stop; s3_stop_all; mdb_stop_all' EXIT

s3_start || { fail "start swift"; exit 1; }
mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
faultproxy_start 127.0.0.1 "${S3_ENDPOINT##*:}" || { fail "start the fault proxy"; exit 1; }
archive="s3://$S3_BUCKET/store"
export BINVAULT_S3_STALL_TIMEOUT=2
opts=(--s3-endpoint "http://127.0.0.1:$FAULT_PORT" --s3-uri-style path --upload-workers 4 --http off
      "${FAULT_AGENT_OPTS[@]}" --segment-interval 1s)
s3opts=(--s3-endpoint "$S3_ENDPOINT" --s3-uri-style path)
# Wait until every queued fault was consumed (the agent made the requests).
consumed() { for _ in $(seq 1 80); do [ "$(faults_pending)" = 0 ] && return 0; sleep 0.25; done; return 1; }

fault_wl_start src
agent_start src "$archive" "$spool" "${opts[@]}"
sleep 2
for f in "status 8 503 PUT" "status 6 500 PUT" "reset 6 PUT" "hang 3 10 PUT" "lost 6 PUT" "slow 2 20000 PUT"; do
    fault "$f"
    consumed || fail "the agent consumed the fault '$f'"
done
# SIGKILLs: with uploads failing, and with the start-up's reads of the archive failing.
for i in 1 2 3 4 5; do
    if [ $((i % 2)) = 1 ]; then fault "status 4 503 PUT"; else fault "lost 1 PUT"; fi
    fault_rand_sleep 30 100
    fault_kill_agent
    [ "$i" = 3 ] && fault "status 3 503 GET"
    [ "$i" = 4 ] && fault "reset 2 GET"
    agent_start src "$archive" "$spool" "${opts[@]}"
done
consumed
sleep 1
wl_continuous_stop
: > "$FAULT_CONTROL"
while read -r mode method; do
    echo "$mode $method"
done < "$FAULT_CONTROL.log" | sort | uniq -c | while read -r n mode method; do
    case $mode in
    status) what="store answers 5xx ($method)" ;;
    reset) what="store resets mid-transfer ($method)" ;;
    hang) what="store hangs ($method)" ;;
    lost) what="store answer lost after commit ($method)" ;;
    slow) what="store trickles the transfer ($method)" ;;
    *) what="$mode ($method)" ;;
    esac
    fault_count "$what" "$n"
done
injected=$(grep -c . "$FAULT_CONTROL.log")
check "store faults were injected ($injected)" test "$injected" -ge 40
check "uploads were retried" grep -q "unable to store segment .* retrying in" "$BV_TEST_DIR/agent.log"
check "no object was refused as different content" test -z "$(grep -i 'different content' "$BV_TEST_DIR/agent.log")"
"$BV_BIN" storage --archive "$archive" "${s3opts[@]}" list segments/ > "$BV_TEST_DIR/objects" 2>&1
seqs=$(awk '{print $1}' "$BV_TEST_DIR/objects" | sed -E 's|.*segments/([0-9]{12}/)?([0-9]{16})-.*|\2|' | sort)
check_eq "one object per segment seq" "$(uniq -d <<< "$seqs" | wc -l)" 0
fault_final_checks src "$archive" "${s3opts[@]}"
