# binvault agent into an encrypted S3 archive through the fault-injecting proxy. S3 takes an
# encrypted segment with no temporary copy: the encrypted object is made twice from the spooled
# file with one header (a pass for its digests, then the body), and again for a body curl sends
# once more; the uploader's retry takes a fresh header. Through resets mid-body, lost responses,
# 503s and SIGKILLs, the archive is complete, encrypted, byte-identical to the server's binlogs,
# with no object refused as different content (a lost response: the object found stored is
# compared decrypted). That no copy is made is encrypt.sh's (a put with nowhere to write one).
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
archive="s3://$S3_BUCKET/agent-enc"
head -c 32 /dev/urandom > "$BV_TEST_DIR/key"; chmod 600 "$BV_TEST_DIR/key"
export BINVAULT_KEY_FILE=$BV_TEST_DIR/key BINVAULT_S3_STALL_TIMEOUT=3
opts=(--s3-endpoint "http://127.0.0.1:$FAULT_PORT" --s3-uri-style path --segment-size 64K
      --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s --upload-workers 4 --purge-check 0)
direct=(--s3-endpoint "$S3_ENDPOINT" --s3-uri-style path)

wl_continuous_start src
BINVAULT_ENCRYPT=1 agent_start src "$archive" "$BV_TEST_DIR/spool" "${opts[@]}"
sleep 2
for f in "reset 4 PUT" "lost 4 PUT" "status 4 503 PUT"; do
    fault "$f"
    for _ in $(seq 1 60); do [ "$(faults_pending)" = 0 ] && break; sleep 0.5; done
done
check_eq "every queued fault was injected" "$(faults_pending)" 0
for i in 1 2 3; do
    fault "lost 1 PUT"
    sleep "0.$((RANDOM % 8 + 2))"
    agent_kill
    agent_start src "$archive" "$BV_TEST_DIR/spool" "${opts[@]}"
done
sleep 1
wl_continuous_stop
mdb_sql src "FLUSH BINARY LOGS"
check "the encrypted archive catches up with the server through the faults" \
    agent_wait_caught_up_any src "$archive" 180
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "uploads were retried" grep -q "retrying in" "$BV_TEST_DIR/agent.log"
check "no object was refused as different content" test -z "$(grep -i 'different content' "$BV_TEST_DIR/agent.log")"

seg=$("$BV_BIN" storage --archive "$archive" "${direct[@]}" list segments/ | head -n 1 | cut -f1)
s3_request GET "/$S3_BUCKET/agent-enc/$seg" > /dev/null
check_eq "segments are stored encrypted" "$(head -c 5 "$S3_DIR/last-response")" BVENC
check "verify with the key: the archive is sound" "$BV_BIN" verify --archive "$archive" "${direct[@]}"
mkdir -p "$BV_TEST_DIR/fetched"
check "fetch from S3" "$BV_BIN" fetch --archive "$archive" "${direct[@]}" --to "$BV_TEST_DIR/fetched"
check "fetched binlogs are byte-identical to the server's" compare_fetched src "$BV_TEST_DIR/fetched"
