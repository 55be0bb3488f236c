# binvault agent into an S3 archive (OpenStack Swift with s3api) through a fault-injecting
# proxy: runs of 500/503, connections reset mid-body, hung transfers, responses lost after the
# store committed the object, and SIGKILLs during uploads. Afterwards the archive is complete and
# byte-identical to the server's binlog, with no object stored twice or overwritten.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
. "$BV_ROOT/tests/lib/swift.sh"
trap 'wl_continuous_stop; agent_kill; faultproxy_stop; s3_stop_all; mdb_stop_all' EXIT

s3_start || { fail "start swift"; exit 1; }
mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
faultproxy_start 127.0.0.1 "${S3_ENDPOINT##*:}" || { fail "start fault proxy"; exit 1; }
archive="s3://$S3_BUCKET/agent-test"
export BINVAULT_S3_STALL_TIMEOUT=3
opts=(--s3-endpoint "http://127.0.0.1:$FAULT_PORT" --s3-uri-style path --segment-size 64K
      --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s --upload-workers 4 --purge-check 0)

# A wrong secret: a clear error naming the cause, and nothing lost (nothing was read yet).
out=$(AWS_SECRET_ACCESS_KEY=wrong BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD timeout 60 "$BV_BIN" agent \
      --source "mysql://repl@127.0.0.1:$(mdb_port src)" --archive "$archive" --spool "$BV_TEST_DIR/spool" \
      "${opts[@]}" 2>&1); rc=$?
check "wrong secret: non-zero exit" test "$rc" -ne 0 -a "$rc" -ne 124
check "wrong secret: the error names the refusal" grep -Eq "SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId" <<< "$out"

wl_continuous_start src
agent_start src "$archive" "$BV_TEST_DIR/spool" "${opts[@]}"
sleep 2
# Faults on uploads (PUTs), one kind after the other, while the workload runs.
for f in "status 6 503 PUT" "status 4 500 PUT" "status 3 429 PUT" "reset 4 PUT" "hang 2 20 PUT" "lost 4 PUT"; do
    fault "$f"
    for _ in $(seq 1 60); do [ "$(faults_pending)" = 0 ] && break; sleep 0.5; done
done
check_eq "every queued fault was injected" "$(faults_pending)" 0
# SIGKILL during uploads, with lost responses still being injected.
kills=0
for i in 1 2 3 4 5; do
    fault "lost 1 PUT"
    sleep "0.$((RANDOM % 8 + 2))"
    agent_kill; kills=$((kills + 1))
    agent_start src "$archive" "$BV_TEST_DIR/spool" "${opts[@]}"
done
sleep 1
wl_continuous_stop
mdb_sql src "FLUSH BINARY LOGS"
check "archive catches up with the server through the faults" agent_wait_caught_up_any src "$archive" 180
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
injected=$(wc -l < "$FAULT_CONTROL.log")
check "faults were injected (${injected})" test "$injected" -ge 20
check "uploads were retried" grep -q "retrying in" "$BV_TEST_DIR/agent.log"
check "no object was refused as different content" test -z "$(grep -i 'different content' "$BV_TEST_DIR/agent.log")"

# No segment stored twice under two names: one object per seq, and they match the index.
"$BV_BIN" storage --archive "$archive" list segments/ > "$BV_TEST_DIR/objects" 2>&1
seqs=$(awk '{print $1}' "$BV_TEST_DIR/objects" | sed -E 's|.*segments/([0-9]{12}/)?([0-9]{16})-.*|\2|' | sort)
check_eq "one object per segment seq" "$(uniq -d <<< "$seqs" | wc -l)" 0
check "verify: archive is sound" "$BV_BIN" verify --archive "$archive" --s3-endpoint "$S3_ENDPOINT" --s3-uri-style path
list=$("$BV_BIN" list --archive "$archive" --s3-endpoint "$S3_ENDPOINT" --s3-uri-style path --json)
nlist=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["segments"]))' <<< "$list")
check_eq "the index lists every stored segment" "$nlist" "$(wc -l <<< "$seqs")"
mkdir -p "$BV_TEST_DIR/fetched"
check "fetch from S3" "$BV_BIN" fetch --archive "$archive" --s3-endpoint "$S3_ENDPOINT" --s3-uri-style path \
    --to "$BV_TEST_DIR/fetched"
check "fetched binlogs are byte-identical to the server's" compare_fetched src "$BV_TEST_DIR/fetched"
mapfile -t files < <(mdb_binlog_files src)
"$BV_BIN" inspect --transactions --json "${files[@]}" | python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]' > "$BV_TEST_DIR/server.gtids"
"$BV_BIN" inspect --transactions --json "$BV_TEST_DIR"/fetched/* | python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]' > "$BV_TEST_DIR/archive.gtids"
check "archive transactions == server transactions, in order" cmp -s "$BV_TEST_DIR/server.gtids" "$BV_TEST_DIR/archive.gtids"

# The store fails just as the agent, having reached the source, checks the archive's identity
# (binvault.json): it waits for the store and goes on, as at the archive's first read. It exited
# there before (faults/network.sh's TCP resets caught it: the agent was down until restarted).
mv "$BV_TEST_DIR/agent.log" "$BV_TEST_DIR/agent-faults.log"
mdb_stop src
agent_start src "$archive" "$BV_TEST_DIR/spool" "${opts[@]}"
for _ in $(seq 1 100); do grep -q "unable to reach the source" "$BV_TEST_DIR/agent.log" && break; sleep 0.1; done
check "identity: the agent waits for the stopped source" grep -q "unable to reach the source" "$BV_TEST_DIR/agent.log"
fault "reset 3 GET"
mdb_start src
check "identity: the agent archives once the store answers again" agent_wait_caught_up_any src "$archive" 60
check "identity: the store's failure was retried" grep -q "unable to check the archive's identity, retrying in" \
    "$BV_TEST_DIR/agent.log"
check_eq "identity: the resets were injected" "$(faults_pending)" 0
agent_term; check_eq "identity: SIGTERM: agent exits 0" "$?" 0
