# The replication stream read from the socket past libmariadb (mysql/stream.c, a plain
# connection) ends as libmariadb's path did: the source stops sending (its process stopped) ->
# the read timeout with the same message; its dump thread killed -> the
# connection lost; a binlog that is not there -> the refusal (ERR_GAP, exit 65) with the server's
# message. After the first two the agent reconnects by itself and the archive stays whole.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
pid=
trap '[ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
mdb_sql src "CREATE DATABASE t; CREATE TABLE t.a (i INT PRIMARY KEY); INSERT INTO t.a VALUES (1)"
rm -f "$BV_TEST_DIR/agent.log"
AGENT_LOG_LEVEL=debug agent_start src "$archive" "$BV_TEST_DIR/spool" --segment-interval 300ms --heartbeat 500ms \
    --reconnect-max 1s --purge-check 0 --http off
check "the agent catches up" agent_wait_caught_up src "$archive" 30
check "a plain connection's stream is read from the socket directly" \
    grep -q "reading the socket directly" "$BV_TEST_DIR/agent.log"

# The source stops: no heartbeat within the agent's read timeout.
pid=$(cat "$(mdb_dir src)/mysqld.pid")
kill -STOP "$pid"
for _ in $(seq 1 50); do grep -q "no data from" "$BV_TEST_DIR/agent.log" && break; sleep 0.2; done
kill -CONT "$pid"
pid=
check "the read timeout ends the stream with libmariadb's path's message" grep -Eq \
    "source stream interrupted: no data from 'mysql://repl@127\.0\.0\.1:[0-9]+' for [0-9]+ s \(read timeout, heartbeats missing\) at 'mariadb-bin\.[0-9]+' position [0-9]+: the source or the network is down" \
    "$BV_TEST_DIR/agent.log"
mdb_sql src "INSERT INTO t.a VALUES (2)"
check "the agent reconnects and catches up after the timeout" agent_wait_caught_up src "$archive" 60

# The dump thread killed from the server's side.
before=$(dump_thread_ids src)
id=$(dump_thread_id src 15)
mdb_sql src "KILL $id"
new=$(dump_thread_id src 30 "$before")
check "the agent reconnects after its dump thread was killed" test -n "${new:-}"
check "the kill ends the stream as a lost connection or the server's error" grep -Eq \
    "source stream interrupted: (lost the connection to 'mysql://repl@127\.0\.0\.1:[0-9]+' while streaming at 'mariadb-bin\.[0-9]+' position [0-9]+: Lost connection to server during query|'mysql://repl@127\.0\.0\.1:[0-9]+' ended the binlog stream at .*\(error [0-9]+\))" \
    "$BV_TEST_DIR/agent.log"
mdb_sql src "INSERT INTO t.a VALUES (3)"
check "the agent catches up after the kill" agent_wait_caught_up src "$archive" 60
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "the archive verifies" "$BV_BIN" verify --archive "$archive"

# A binlog the source does not have: the server's error packet, read from the socket, gives the
# refusal of binlogStreamRefusal() with the server's message (pull: no reconnection).
out=$(BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" pull --source "mysql://repl@127.0.0.1:$(mdb_port src)" \
      --to "$BV_TEST_DIR/pulled" --start-position mariadb-bin.999999:4 --stop-at-end 2>&1); rc=$?
check_eq "a missing binlog: exit 65 (gap)" "$rc" 65
check "a missing binlog: the refusal names the file and quotes the server" grep -q \
    "no longer has binlog 'mariadb-bin.999999' at position 4 (its binlogs were purged, or the file never existed).*server said: Could not find first log file name in binary log index file" <<< "$out"
