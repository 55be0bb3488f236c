# Fault: the spool's file system full (a 24 MiB tmpfs, in a mount namespace of this test's own:
# re-executed under `unshare -m`), under a workload of incompressible rows, with --spool-max-bytes
# far above it so that the disk fills first: (a) the store refuses every upload (503) until the
# spool's disk is full; (b) uploads work but something else takes the disk's space. The agent
# must drop what it could not seal, report it (log, /healthz 503 naming the spool, /metrics
# binvault_spool_full 1), wait, and resume by itself when space returns, losing nothing; it is
# also SIGKILLed and restarted while the disk is full.
if [ -z "${BV_FAULT_MNTNS:-}" ]; then
    exec env BV_FAULT_MNTNS=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$BV_ROOT/tests/faults/_common.sh"
. "$BV_ROOT/tests/lib/swift.sh"
spool="$BV_TEST_DIR/spool"
BLOB_PID=
trap '[ -n "$BLOB_PID" ] && { pkill -TERM -P "$BLOB_PID"; kill "$BLOB_PID"; } 2>/dev/null; wl_continuous_stop; agent_kill;
      faultproxy_stop; s3_stop_all; mdb_stop_all; umount "$spool" 2>/dev/null' EXIT

mkdir -p "$spool"
mount -t tmpfs -o size=24m bvspool "$spool" || { fail "mount a 24 MiB tmpfs for the spool"; exit 1; }
s3_start || { fail "start swift"; exit 1; }
mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
faultproxy_start 127.0.0.1 "${S3_ENDPOINT##*:}" || { fail "start the fault proxy"; exit 1; }
archive="s3://$S3_BUCKET/spool"
HTTP_PORT=$(free_port)
export BINVAULT_S3_STALL_TIMEOUT=3
opts=(--s3-endpoint "http://127.0.0.1:$FAULT_PORT" --s3-uri-style path --http "127.0.0.1:$HTTP_PORT"
      "${FAULT_AGENT_OPTS[@]}" --segment-size 256K --spool-max-bytes 1G)
s3opts=(--s3-endpoint "$S3_ENDPOINT" --s3-uri-style path)

# Rows of 16 KiB of random bytes, 8 per transaction, about 4 MB/s.
blob_start() {
    mdb_sql src "CREATE DATABASE IF NOT EXISTS big; CREATE TABLE IF NOT EXISTS big.b (id INT AUTO_INCREMENT PRIMARY KEY, v MEDIUMBLOB) ENGINE=InnoDB"
    ( trap 'exit 0' TERM
      row="CONCAT($(for _ in $(seq 1 16); do printf 'RANDOM_BYTES(1024),'; done | sed 's/,$//'))"
      while :; do
          while :; do
              echo "BEGIN;"; for _ in 1 2 3 4 5 6 7 8; do echo "INSERT INTO big.b (v) VALUES ($row);"; done
              echo "COMMIT; SELECT SLEEP(0.03);"
          done | mariadb --defaults-file="$(mdb_cnf src)" -uroot --force > /dev/null 2>&1
          sleep 0.2
      done ) &
    BLOB_PID=$!
}
blob_stop() { [ -n "$BLOB_PID" ] && { pkill -TERM -P "$BLOB_PID"; kill "$BLOB_PID"; wait "$BLOB_PID"; } 2>/dev/null; BLOB_PID=; }
spool_free_kb() { df -k --output=avail "$spool" | tail -n 1 | tr -d ' '; }
failures() { grep -c "spool '.*' failed" "$BV_TEST_DIR/agent.log"; }
# Wait until the agent reports the spool failing for lack of space (at least $1 reports).
wait_no_space() {
    for _ in $(seq 1 120); do
        [ "$(grep -c "spool '.*' failed (no space left)" "$BV_TEST_DIR/agent.log")" -ge "$1" ] && return 0
        sleep 0.25
    done
    return 1
}
resumed() { grep -c "takes writes again: resuming the stream" "$BV_TEST_DIR/agent.log"; }
wait_resumed() {
    for _ in $(seq 1 240); do [ "$(resumed)" -gt "$1" ] && return 0; sleep 0.25; done
    return 1
}
# wait_running N: resumed more than N times, or neither paused nor failing (one /metrics scrape).
wait_running() {
    local m
    for _ in $(seq 1 240); do
        [ "$(resumed)" -gt "$1" ] && return 0
        m=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics")
        grep -q '^binvault_spool_full 0$' <<< "$m" && grep -q '^binvault_spool_failing 0$' <<< "$m" && return 0
        sleep 0.25
    done
    return 1
}

fault_wl_start src
blob_start
agent_start src "$archive" "$spool" "${opts[@]}"
sleep 2

# (a) The store refuses every upload: the spool's disk fills up.
fault "status 1000000 503 PUT"
check "(a) store refusing uploads: the spool's disk fills and the agent reports it" wait_no_space 1
code=$(curl -s -o "$BV_TEST_DIR/healthz" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")
check_eq "(a) /healthz answers 503" "$code" 503
echo "# /healthz: $(cut -c1-300 "$BV_TEST_DIR/healthz")"
check "(a) ... naming the spool and the lack of space" \
    grep -q "spool '$spool' failed (no space left)" "$BV_TEST_DIR/healthz"
check "(a) ... as a spool that cannot be written" grep -q "the spool cannot be written" "$BV_TEST_DIR/healthz"
metrics=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics")
check "(a) /metrics: binvault_spool_full 1" grep -q '^binvault_spool_full 1$' <<< "$metrics"
check "(a) /metrics: binvault_spool_failing 1" grep -q '^binvault_spool_failing 1$' <<< "$metrics"
check "(a) /metrics: binvault_spool_errors_total counts the failures" \
    awk '$1 == "binvault_spool_errors_total" && $2 > 0 { ok = 1 } END { exit !ok }' <<< "$metrics"
check "(a) the spool's disk is full (less than 1 MiB free: $(spool_free_kb) KiB)" test "$(spool_free_kb)" -lt 1024
# SIGKILL while the disk is full: the new agent starts on a full spool.
fault_kill_agent
agent_start src "$archive" "$spool" "${opts[@]}"
sleep 3
r=$(resumed)
: > "$FAULT_CONTROL"
check "(a) uploads work again: the spool drains and the agent resumes by itself" wait_resumed "$r"
# While the disk is nearly full the stream may fail and resume a few times: wait for one scrape
# that has both back to 0.
nofull=0
for _ in $(seq 1 80); do
    metrics=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics")
    grep -q '^binvault_spool_full 0$' <<< "$metrics" && grep -q '^binvault_spool_failing 0$' <<< "$metrics" &&
        { nofull=1; break; }
    sleep 0.25
done
check_eq "(a) /metrics: binvault_spool_full and binvault_spool_failing back to 0" "$nofull" 1

# (b) Uploads work, but other files take the disk's space (and what uploads free) for 4 s.
sleep 2
n=$(grep -c "spool '.*' failed (no space left)" "$BV_TEST_DIR/agent.log")
end=$((SECONDS + 4)) i=0
while [ $SECONDS -lt $end ]; do
    free=$(spool_free_kb)
    [ "$free" -gt 0 ] && { fallocate -l "$((free * 1024))" "$spool/ballast.$i" 2> /dev/null; i=$((i + 1)); }
    sleep 0.05
done
check "(b) the spool's disk taken by other files: the agent reports it" wait_no_space $((n + 1))
r=$(resumed)
rm -f "$spool"/ballast.*
# The agent may have found room and resumed while the files still held the disk (uploads free
# space too): then it is running already, with nothing left to resume from.
check "(b) space returns: the agent resumes by itself" wait_running "$r"
fault_count "spool disk full: store refusing uploads (503 PUT)" "$(grep -c . "$FAULT_CONTROL.log")"
fault_count "spool disk full: taken by another file" 1
fault_count "spool write failures reported by the agent (ENOSPC)" "$(failures)"
blob_stop
sleep 1
wl_continuous_stop
fault_final_checks src "$archive" "${s3opts[@]}"
