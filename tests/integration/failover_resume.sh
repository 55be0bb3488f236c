# The agent resumes by GTID and never mixes two servers' histories (docs/OPERATIONS.md "Failover").
# A primary and a replica with the same binlog names and offsets (same log_bin base name, the
# replica replicating from the start): after a failover that lost the primary's last transactions,
# the agent pointed at the promoted replica follows it as timeline 2 from the fork point found by
# GTID (not from the old end position, an event boundary on it too) and reports the lost ones; a
# server that shares nothing with the archive is refused (exit 65, the archive unchanged, no
# reconnect storm); restarted against the primary it resumes by GTID with no gap and no duplicate. --start-gtid and --start-position on an empty
# archive frame from the start they name. A replica without log_slave_updates is refused.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'agent_kill; mdb_stop_all' EXIT
opts=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s)

MDB_SERVER_ID=1 mdb_start pri log_slave_updates=ON || { fail "start the primary"; exit 1; }
MDB_SERVER_ID=2 mdb_start rep log_slave_updates=ON || { fail "start the replica"; exit 1; }
for s in pri rep; do repl_user "$s"; mdb_sql "$s" "GRANT SLAVE MONITOR ON *.* TO 'repl'@'127.0.0.1'"; done
# The replica's binlog is the primary's history from the start, as in a replica built so.
mdb_sql rep "RESET MASTER"
mdb_sql rep "CHANGE MASTER TO master_host='127.0.0.1', master_port=$(mdb_port pri), master_user='repl',
             master_password='$REPL_PASSWORD', master_use_gtid=slave_pos; START SLAVE"

mdb_sql pri "CREATE DATABASE f; CREATE TABLE f.t (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=InnoDB"
for i in $(seq 1 40); do echo "INSERT INTO f.t VALUES ($i, REPEAT('a', $i));"; done | mdb_sql pri "$(cat)"

# --- the agent archives the primary
agent_start pri "$archive" "$spool" "${opts[@]}"
check "archive catches up with the primary" agent_wait_caught_up pri "$archive" 60

# The replica stops replicating; the primary commits transactions the replica never receives
# (a failover loses them), then the replica is promoted and the primary demoted.
replica_caught_up() {
    for _ in $(seq 1 150); do
        [ "$(mdb_sql "$1" "SELECT @@gtid_slave_pos")" = "$(mdb_sql pri "SELECT @@gtid_binlog_pos")" ] && return 0
        sleep 0.2
    done
    return 1
}
check "the replica replicates the primary" replica_caught_up rep
mdb_sql rep "STOP SLAVE"
for i in $(seq 41 45); do mdb_sql pri "INSERT INTO f.t VALUES ($i, 'lost at the failover')"; done
check "archive holds the primary's last transactions" agent_wait_caught_up pri "$archive" 60
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
mdb_sql pri "SET GLOBAL read_only=1"
mdb_sql rep "RESET SLAVE ALL"
# The same statements' sizes: the new primary's binlog reaches the old one's end position.
for i in $(seq 41 45); do mdb_sql rep "INSERT INTO f.t VALUES ($i, 'kept by new primary!')"; done
pri_end=$(mdb_sql pri "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
rep_names=$(mdb_sql rep "SHOW BINARY LOGS" | awk '{print $1}' | tr '\n' ' ')
pri_names=$(mdb_sql pri "SHOW BINARY LOGS" | awk '{print $1}' | tr '\n' ' ')
check_eq "both servers name their binlogs alike" "$rep_names" "$pri_names"
# The primary's end is an event boundary in the new primary's binlog: resuming there by position
# would silently continue with the other server's history.
check "the old primary's end position is an event boundary on the new primary" \
    test "$(mdb_sql rep "SELECT BINLOG_GTID_POS('${pri_end%:*}', ${pri_end#*:}) IS NOT NULL")" = 1

# A copy of the archive follows the promoted replica (the original goes on with the primary
# below): its history lacks the primary's last 5 transactions, whose position is yet a valid event
# boundary on it; the agent finds the fork by GTID, reports the 5 as a diverged branch and goes
# on from the new primary as timeline 2.
fo="file://$BV_TEST_DIR/archive-fo"
cp -r "$BV_TEST_DIR/archive" "$BV_TEST_DIR/archive-fo"
cp -r "$spool" "$BV_TEST_DIR/spool-fo"
: > "$BV_TEST_DIR/agent.log"
agent_start rep "$fo" "$BV_TEST_DIR/spool-fo" "${opts[@]}"
check "agent against the promoted replica: the archive follows it" agent_wait_caught_up rep "$fo" 60
check "  as timeline 2, naming the server_id that changed" \
    grep -q "following a new source: timeline 2 from .* (server_id 1 -> 2)" "$BV_TEST_DIR/agent.log"
check "  the primary's 5 last transactions reported lost, by GTID" \
    grep -q "5 transactions committed on the old source were lost in the failover: 0-1-.*\.\.0-1-" "$BV_TEST_DIR/agent.log"
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "verify: the followed archive is sound" "$BV_BIN" verify --archive "$fo"

# A server that shares nothing with the archive's history is refused, and the archive unchanged.
snapshot() {
    (cd "$BV_TEST_DIR/archive-fo" && sha256sum binvault.json checkpoint.json $(find segments -type f | sort) timelines/*)
    "$BV_BIN" list --archive "$fo" --json
}
before=$(snapshot)
MDB_SERVER_ID=7 mdb_start other || { fail "start a third server"; exit 1; }
repl_user other
mdb_sql other "CREATE DATABASE o; CREATE TABLE o.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO o.t VALUES (1)"
conns_before=$(mdb_sql other "SHOW GLOBAL STATUS LIKE 'Connections'" | awk '{print $2}')
: > "$BV_TEST_DIR/agent.log"
agent_start other "$fo" "$BV_TEST_DIR/spool-fo" "${opts[@]}"
wait "$AGENT_PID"; rc=$?; AGENT_PID=
check_eq "agent against a server of another history: refused, exit 65" "$rc" 65
check "the refusal says it holds none of the archive's transactions" \
    grep -q "refusing to archive .*its history holds none of the transactions the archive holds" "$BV_TEST_DIR/agent.log"
conns_after=$(mdb_sql other "SHOW GLOBAL STATUS LIKE 'Connections'" | awk '{print $2}')
check "no reconnect storm: at most 3 connections to it" test $((conns_after - conns_before)) -le 4
check_eq "the archive is unchanged" "$(snapshot)" "$before"

# check: the FORMAT_DESCRIPTION event of the first file fetched in DIR is server NAME's own (the
# in-use flag aside), its 'created' field included, which is not 0 there (the first binlog after
# the server's start): a stream that starts inside a file receives that FDE with 'created' zeroed,
# and the agent reads the file's own apart.
own_first_fde() {
    python3 - "$(mdb_dir "$1")/data" "$2" <<'EOF'
import os, struct, sys
data, fetched = sys.argv[1], sys.argv[2]
name = sorted(os.listdir(fetched))[0]
f = open(os.path.join(fetched, name), "rb").read()
s = open(os.path.join(data, name), "rb").read()
end = struct.unpack_from("<I", s, 4 + 13)[0]
created = lambda b: struct.unpack_from("<I", b, 4 + 19 + 2 + 50)[0]
if created(s) == 0:
    sys.exit("%s: the server's FDE has 'created' 0: not the first binlog after its start" % name)
if f[:21] != s[:21] or f[22:end] != s[22:end]:
    sys.exit("%s: the fetched FDE differs from the server's ('created' %d, the server's %d)" % (name, created(f),
             created(s)))
EOF
}
gtids() { "$BV_BIN" inspect --transactions --json "$@" | python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]'; }

# --- back to the primary: it holds the archive's end position at the archive's end state
mdb_sql pri "SET GLOBAL read_only=0"
: > "$BV_TEST_DIR/agent.log"
agent_start pri "$archive" "$spool" "${opts[@]}"
sleep 1
for i in $(seq 200 260); do mdb_sql pri "INSERT INTO f.t VALUES ($i, 'after the restart')"; done
mdb_sql pri "FLUSH BINARY LOGS"
mdb_sql pri "INSERT INTO f.t VALUES (300, 'in the next file')"
check "archive catches up after the restart" agent_wait_caught_up pri "$archive" 60
check "the agent continued where the source has the archive's end state" \
    grep -q "the source's GTID state there is where the archive resumes" "$BV_TEST_DIR/agent.log"
# A broken stream resumes the same way.
id=$(dump_thread_id pri 15) && mdb_sql pri "KILL $id"
mdb_sql pri "INSERT INTO f.t VALUES (301, 'after the kill')"
check "archive catches up after the dump thread was killed" agent_wait_caught_up pri "$archive" 60
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
check "verify: archive is sound" "$BV_BIN" verify --archive "$archive"
rm -rf "$BV_TEST_DIR/fetched"; mkdir -p "$BV_TEST_DIR/fetched"
check "fetch the whole archive" "$BV_BIN" fetch --archive "$archive" --to "$BV_TEST_DIR/fetched"
check "fetched binlogs are byte-identical to the primary's (no gap, no duplicate)" \
    compare_fetched pri "$BV_TEST_DIR/fetched"

mapfile -t files < <(mdb_binlog_files pri)

# --- --start-gtid on an empty archive: the first segment starts at the next transaction
start=$(gtids "${files[@]}" | sed -n 20p)
: > "$BV_TEST_DIR/agent.log"
agent_start pri "file://$BV_TEST_DIR/a2" "$BV_TEST_DIR/spool2" "${opts[@]}" --start-gtid "$start"
check "--start-gtid: archive catches up" agent_wait_caught_up pri "file://$BV_TEST_DIR/a2" 60
agent_term; check_eq "--start-gtid: agent exits 0" "$?" 0
check "--start-gtid: verify passes" "$BV_BIN" verify --archive "file://$BV_TEST_DIR/a2"
rm -rf "$BV_TEST_DIR/f2"; mkdir -p "$BV_TEST_DIR/f2"
"$BV_BIN" fetch --archive "file://$BV_TEST_DIR/a2" --to "$BV_TEST_DIR/f2" > /dev/null 2>&1
check_eq "--start-gtid: the archive holds exactly the transactions after it" \
    "$(gtids "$BV_TEST_DIR"/f2/* | tr '\n' ' ')" "$(gtids "${files[@]}" | sed -n '21,$p' | tr '\n' ' ')"
first=$("$BV_BIN" list --archive "file://$BV_TEST_DIR/a2" --json 2>/dev/null |
    python3 -c 'import sys,json; d=json.load(sys.stdin); s=d["segments"][0]; print(s["gtid_start"], s["first_gtid"])' 2>/dev/null)
check_eq "--start-gtid: the first segment starts at the state it names" "$first" "$start $(gtids "${files[@]}" | sed -n 21p)"
check "--start-gtid: the first file's FDE is the server's own, 'created' included" own_first_fde pri "$BV_TEST_DIR/f2"

# --- --start-position on an empty archive: the first segment's gtid_start is the state there
startpos=$("$BV_BIN" inspect --transactions --json "${files[0]}" |
    python3 -c 'import sys,json; l=[json.loads(x) for x in sys.stdin][9]; print("%s:%d" % (sys.argv[1], l["start_pos"]))' "$(basename "${files[0]}")")
state=$(mdb_sql pri "SELECT BINLOG_GTID_POS('${startpos%:*}', ${startpos#*:})")
agent_start pri "file://$BV_TEST_DIR/a3" "$BV_TEST_DIR/spool3" "${opts[@]}" --start-position "$startpos"
check "--start-position: archive catches up" agent_wait_caught_up pri "file://$BV_TEST_DIR/a3" 60
agent_term; check_eq "--start-position: agent exits 0" "$?" 0
check "--start-position: verify passes" "$BV_BIN" verify --archive "file://$BV_TEST_DIR/a3"
first=$("$BV_BIN" list --archive "file://$BV_TEST_DIR/a3" --json 2>/dev/null |
    python3 -c 'import sys,json; d=json.load(sys.stdin); print(d["segments"][0]["gtid_start"])' 2>/dev/null)
check_eq "--start-position: the first segment's gtid_start is the state at that position" "$first" "$state"
rm -rf "$BV_TEST_DIR/f3"; mkdir -p "$BV_TEST_DIR/f3"
"$BV_BIN" fetch --archive "file://$BV_TEST_DIR/a3" --to "$BV_TEST_DIR/f3" > /dev/null 2>&1
check "--start-position: the first file's FDE is the server's own, 'created' included" own_first_fde pri "$BV_TEST_DIR/f3"

# --- a replica that does not log what it replicates
MDB_SERVER_ID=3 mdb_start nolog log_slave_updates=OFF || { fail "start a replica without log_slave_updates"; exit 1; }
repl_user nolog
mdb_sql nolog "GRANT SLAVE MONITOR ON *.* TO 'repl'@'127.0.0.1'; RESET MASTER"
mdb_sql nolog "CHANGE MASTER TO master_host='127.0.0.1', master_port=$(mdb_port pri), master_user='repl',
               master_password='$REPL_PASSWORD', master_use_gtid=slave_pos; START SLAVE"
: > "$BV_TEST_DIR/agent.log"
agent_start nolog "file://$BV_TEST_DIR/a4" "$BV_TEST_DIR/spool4" "${opts[@]}"
wait "$AGENT_PID"; rc=$?; AGENT_PID=
check_eq "replica with log_slave_updates=OFF: refused (exit 78)" "$rc" 78
check "the refusal names log_slave_updates" grep -q "is a replica with log_slave_updates=OFF" "$BV_TEST_DIR/agent.log"

# --- a replica that logs what it replicates: archived; its stopped replication is reported
sed -i 's/^log_slave_updates=OFF$/log_slave_updates=ON/' "$(mdb_cnf nolog)"
mdb_restart nolog
mdb_sql nolog "START SLAVE"
: > "$BV_TEST_DIR/agent.log"
agent_start nolog "file://$BV_TEST_DIR/a5" "$BV_TEST_DIR/spool5" "${opts[@]}" --source-poll 300ms
http_port() { sed -n 's/.*serving .* (port \([0-9]*\)).*/\1/p' "$BV_TEST_DIR/agent.log" | head -n 1; }
for _ in $(seq 1 50); do [ -n "$(http_port)" ] && break; sleep 0.2; done
url="http://127.0.0.1:$(http_port)"
replica_state() { curl -s "$url/status" | python3 -c 'import sys,json; r=json.load(sys.stdin)["source"]["replica"]; print(r if not isinstance(r, dict) else "io=%s sql=%s" % (r["io_running"], r["sql_running"]))'; }
wait_state() { for _ in $(seq 1 50); do [ "$(replica_state 2>/dev/null)" = "$1" ] && return 0; sleep 0.2; done; replica_state; return 1; }
check "a replica source: /status reports its replication running" wait_state "io=True sql=True"
mdb_sql pri "INSERT INTO f.t VALUES (500, 'through the replica')"
check "a replica source: archive catches up" agent_wait_caught_up nolog "file://$BV_TEST_DIR/a5" 60
check_eq "a replica source: /healthz 200" "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" 200
mdb_sql nolog "STOP SLAVE"
check "a stopped replica: /status reports it stopped" wait_state "io=False sql=False"
check_eq "a stopped replica: /healthz 503" "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz")" 503
check "  saying its replication is stopped" grep -q "replica whose replication is stopped" <(curl -s "$url/healthz")
check "a stopped replica: the metric says so" grep -q "^binvault_source_replica_sql_running 0" <(curl -s "$url/metrics")
sleep 1.2
rpo=$(curl -s "$url/metrics" | awk '$1 == "binvault_archive_rpo_seconds" {print $2}')
check "a stopped replica: the RPO is not 0 ($rpo)" python3 -c "import sys; sys.exit(0 if float('$rpo') >= 1 else 1)"
agent_term; check_eq "a replica source: agent exits 0" "$?" 0

# --- a replica source whose replication state the agent cannot read (no SLAVE MONITOR): only
# --primary tells that its primary committed what the stream never received
mdb_sql nolog "START SLAVE"
mdb_sql nolog "REVOKE SLAVE MONITOR ON *.* FROM 'repl'@'127.0.0.1'"
rpo_after_stop() {
    : > "$BV_TEST_DIR/agent.log"
    agent_start nolog "file://$BV_TEST_DIR/a5" "$BV_TEST_DIR/spool5" "${opts[@]}" --source-poll 300ms "$@"
    for _ in $(seq 1 50); do [ -n "$(http_port)" ] && break; sleep 0.2; done
    url="http://127.0.0.1:$(http_port)"
    agent_wait_caught_up nolog "file://$BV_TEST_DIR/a5" 60 > /dev/null
    mdb_sql nolog "STOP SLAVE"
    mdb_sql pri "INSERT INTO f.t VALUES ($((700 + RANDOM % 200)), 'not replicated')"
    sleep 2
    curl -s "$url/metrics" | awk '$1 == "binvault_archive_rpo_seconds" {print $2}'
    agent_term
    mdb_sql nolog "START SLAVE"
}
rpo=$(rpo_after_stop)
check "without --primary: the RPO of a stopped replica it cannot see stays 0 ($rpo)" \
    python3 -c "import sys; sys.exit(0 if float('$rpo') < 1 else 1)"
rpo=$(rpo_after_stop --primary "mysql://repl@127.0.0.1:$(mdb_port pri)")
check "with --primary: the RPO counts what the primary committed ($rpo)" \
    python3 -c "import sys; sys.exit(0 if float('$rpo') >= 1 else 1)"

# --- the archive's last binlog purged on the source (its ROTATE not archived yet, every
# transaction after it in the next file): resumed by GTID, in the file the source picks
agent_start pri "$archive" "$spool" "${opts[@]}"
check "before the purge: archive catches up" agent_wait_caught_up pri "$archive" 60
agent_term
gone=$(mdb_sql pri "SHOW MASTER STATUS" | awk '{print $1}')
mdb_sql pri "FLUSH BINARY LOGS"
last=$(mdb_sql pri "SHOW MASTER STATUS" | awk '{print $1}')
mdb_sql pri "INSERT INTO f.t VALUES (400, 'in the next file')"
mapfile -t files < <(mdb_binlog_files pri)
all=$(gtids "${files[@]}")
# The server keeps a binlog that InnoDB's crash recovery may still need: purge until it is gone.
for _ in $(seq 1 30); do
    mdb_sql pri "PURGE BINARY LOGS TO '$last'" 2> /dev/null
    [ -z "$(mdb_sql pri "SHOW BINARY LOGS" | awk -v f="$gone" '$1 == f')" ] && break
    sleep 1
    mdb_sql pri "FLUSH BINARY LOGS"
done
check "the source no longer has '$gone'" test -z "$(mdb_sql pri "SHOW BINARY LOGS" | awk -v f="$gone" '$1 == f')"
: > "$BV_TEST_DIR/agent.log"
agent_start pri "$archive" "$spool" "${opts[@]}"
check "after the purge: archive catches up" agent_wait_caught_up pri "$archive" 60
agent_term; check_eq "after the purge: agent exits 0" "$?" 0
logged() { grep -q "$1" "$BV_TEST_DIR/agent.log" || { grep -v DEBUG "$BV_TEST_DIR/agent.log" | tail -n 15; false; }; }
check "after the purge: the agent resumed by GTID" logged "after GTID state '0-1-"
check "after the purge: verify passes" "$BV_BIN" verify --archive "$archive"
rm -rf "$BV_TEST_DIR/fetched"; mkdir -p "$BV_TEST_DIR/fetched"
"$BV_BIN" fetch --archive "$archive" --to "$BV_TEST_DIR/fetched" > /dev/null 2>&1
check_eq "after the purge: every transaction archived once, in order" \
    "$(gtids "$BV_TEST_DIR"/fetched/* | tail -n "$(echo "$all" | wc -l)" | tr '\n' ' ')" "$(echo "$all" | tr '\n' ' ')"
check_eq "after the purge: no transaction archived twice" \
    "$(gtids "$BV_TEST_DIR"/fetched/* | sort | uniq -d | wc -l)" 0

# --- the primary's gtid_domain_id changed: archived on, with a warning
mdb_sql pri "SET GLOBAL gtid_domain_id=5"
: > "$BV_TEST_DIR/agent.log"
agent_start pri "$archive" "$spool" "${opts[@]}"
for _ in $(seq 1 50); do grep -q "streaming from" "$BV_TEST_DIR/agent.log" && break; sleep 0.2; done
mdb_sql pri "INSERT INTO f.t VALUES (600, 'in domain 5')"
check "another gtid_domain_id: archive catches up" agent_wait_caught_up pri "$archive" 60
agent_term; check_eq "another gtid_domain_id: agent exits 0" "$?" 0
check "another gtid_domain_id: the agent warns" logged "writes in gtid_domain_id 5, but the archive's end"
mdb_sql pri "SET GLOBAL gtid_domain_id=0"
