# A 1 GiB transaction goes whole into one segment, streamed to disk: the agent's peak RSS
# stays under 64 MiB, and the archive holds the transaction byte for byte.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
trap 'agent_kill; mdb_stop_all' EXIT

mb=${BIGTXN_MB:-1024}
mdb_start src "max_allowed_packet=64M" "binlog_cache_size=1M" "max_binlog_cache_size=4G" "max_binlog_size=64M" \
    || { fail "start mariadb"; exit 1; }
repl_user src
agent_start src "$archive" "$BV_TEST_DIR/spool" --segment-size 16M --segment-interval 1s --purge-check 0
# One transaction of $mb MiB: rows of 1 MiB inserted in a single INSERT ... SELECT.
mdb_sql src "CREATE DATABASE big; CREATE TABLE big.t (id INT PRIMARY KEY, v LONGBLOB) ENGINE=InnoDB;
             INSERT INTO big.t SELECT seq, REPEAT(SHA2(seq, 256), 16384) FROM big.seq_1_to_$mb;
             INSERT INTO big.t VALUES (0, 'after')"
mdb_sql src "FLUSH BINARY LOGS"
peak=0
ok_wait=0
for _ in $(seq 1 1800); do
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$AGENT_PID/status" 2>/dev/null)
    [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
    want=$(mdb_sql src "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
    if [ "$(archive_checkpoint_pos "$archive")" = "$want" ]; then ok_wait=1; break; fi
    sleep 0.2
done
check_eq "archive caught up after the ${mb} MiB transaction" "$ok_wait" 1
if [ "${BV_SANITIZED:-}" = 1 ]; then
    ok "peak RSS not measured under sanitizers"
else
    check "agent peak RSS $((peak / 1024)) MiB < 64 MiB" test "$peak" -lt $((64 * 1024))
fi
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
# The big transaction is whole in one segment.
big=$("$BV_BIN" list --archive "$archive" --json | python3 -c '
import json,sys
d = json.load(sys.stdin)
segs = d["segments"] if isinstance(d, dict) else d
print(max(s["content_len"] for s in segs))')
check "one segment holds the whole transaction (${big} bytes)" test "${big:-0}" -gt $((mb * 1024 * 1024))
check "verify: archive is sound" "$BV_BIN" verify --archive "$archive"
mkdir -p "$BV_TEST_DIR/fetched"
check "fetch" "$BV_BIN" fetch --archive "$archive" --to "$BV_TEST_DIR/fetched"
check "fetched binlogs are byte-identical to the server's" compare_fetched src "$BV_TEST_DIR/fetched"
