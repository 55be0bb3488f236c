# The agent's HTTP endpoint and operations against a live MariaDB: /metrics passes promtool and
# its values move under a workload; RPO is small while streaming and 0 once caught up (also in
# checkpoint.json's caught_up_us); /healthz turns 503 when the source stops and 200 when it is
# back; /status JSON; JSON logs, the start-up line without secrets, SIGHUP reopens the log file,
# SIGTERM under load exits 0 with everything received archived.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
port=$(free_port)
http="127.0.0.1:$port"
logfile=$BV_TEST_DIR/agent-json.log
opts=(--segment-interval 1s --heartbeat 500ms --reconnect-max 1s --source-poll 1s --purge-check 2s
      --http "$http" --log-format json --log-file "$logfile")

metric() { curl -s "http://$http/metrics" | awk -v m="binvault_$1" '$1 == m {print $2}'; }
healthz() { curl -s -o /dev/null -w '%{http_code}' "http://$http/healthz"; }
wait_health() {
    local want=$1 secs=$2
    for _ in $(seq 1 $((secs * 5))); do [ "$(healthz)" = "$want" ] && return 0; sleep 0.2; done
    return 1
}
# float comparison: fcmp A OP B
fcmp() { python3 -c "import sys; a,op,b=float(sys.argv[1]),sys.argv[2],float(sys.argv[3]); sys.exit(0 if eval('a'+op+'b') else 1)" "$@"; }

agent_start src "$archive" "$spool" "${opts[@]}"
check "healthz 200 once streaming" wait_health 200 20

wl_continuous_start src
sleep 3
curl -s "http://$http/metrics" > "$BV_TEST_DIR/metrics1"
check "/metrics passes promtool check metrics" promtool check metrics < "$BV_TEST_DIR/metrics1"
check "every metric has HELP and TYPE lines" python3 - "$BV_TEST_DIR/metrics1" <<'PY'
import sys
helps, types, names = set(), set(), set()
for line in open(sys.argv[1]):
    p = line.split()
    if line.startswith("# HELP "): helps.add(p[2])
    elif line.startswith("# TYPE "): types.add(p[2])
    elif p: names.add(p[0].split("{")[0])
assert names and all(n.startswith("binvault_") for n in names), names
assert names <= helps and names <= types, names - helps - types
need = {"archive_rpo_seconds", "spool_rpo_seconds", "last_archived_commit_timestamp_seconds", "source_connected",
        "received_bytes_total", "received_events_total", "received_transactions_total", "uploaded_segments_total",
        "uploaded_bytes_total", "upload_errors_total", "upload_retries_total", "upload_backlog_segments",
        "upload_backlog_bytes", "spool_bytes", "source_lag_bytes", "purge_guard_state", "build_info"}
missing = {"binvault_" + n for n in need} - names
assert not missing, missing
PY
t1=$(metric received_transactions_total); s1=$(metric uploaded_segments_total); c1=$(metric last_archived_commit_timestamp_seconds)
sleep 3
t2=$(metric received_transactions_total); s2=$(metric uploaded_segments_total); c2=$(metric last_archived_commit_timestamp_seconds)
check "received transactions move under the workload ($t1 -> $t2)" fcmp "${t2:-0}" '>' "${t1:-0}"
check "uploaded segments move under the workload ($s1 -> $s2)" fcmp "${s2:-0}" '>' "${s1:-0}"
check "last archived commit time moves ($c1 -> $c2)" fcmp "${c2:-0}" '>' "${c1:-0}"
r=$(metric archive_rpo_seconds)
check "archive RPO under load is small ($r s, segment interval 1 s)" fcmp "${r:-99}" '<' 4
check "source connected" test "$(metric source_connected)" = 1
lag=$(metric source_lag_bytes)
check "source position lag is sampled ($lag bytes)" fcmp "${lag:-NaN}" '>=' 0
curl -s "http://$http/status" > "$BV_TEST_DIR/status.json"
check "/status: JSON with source position and GTID, checkpoint, received GTID" python3 - "$BV_TEST_DIR/status.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["healthy"] is True and d["health"] == "ok", d["health"]
assert d["source"]["connected"] and d["source"]["file"].startswith("mariadb-bin.") and d["source"]["gtid"].startswith("0-1-")
assert d["received"]["gtid"].startswith("0-1-") and d["received"]["transactions"] > 0
assert d["archive"]["checkpoint"]["seq"] > 0 and d["archive"]["checkpoint"]["gtid_end"].startswith("0-1-")
assert "archive_seconds" in d["rpo"] and "spool_seconds" in d["rpo"]
PY

# Idle and caught up: RPO 0, and the checkpoint says when it was last confirmed.
wl_continuous_stop
check "archive catches up" agent_wait_caught_up src "$archive" 60
zero=0
for _ in $(seq 1 25); do
    r=$(metric archive_rpo_seconds)
    fcmp "${r:-1}" '==' 0 && { zero=1; break; }
    sleep 0.2
done
check_eq "idle, caught-up source: archive RPO 0 (not the time since the last write)" "$zero" 1
sleep 7
check "checkpoint.json caught_up_us is refreshed while idle (within 7 s)" python3 -c '
import json, sys, time
c = json.load(open(sys.argv[1]))
age = time.time() - c["caught_up_us"] / 1e6
assert c["caught_up_us"] > c["last_time_us"] and age < 7, age' "$BV_TEST_DIR/archive/checkpoint.json"
check_eq "still RPO 0 after 7 idle seconds" "$(metric archive_rpo_seconds)" "0.000000"

# The source stops: 503 with the reason; the RPO bound grows; back: 200.
mdb_stop src
check "healthz turns 503 when the source is stopped" wait_health 503 10
reason=$(curl -s "http://$http/healthz")
check "503 names the reason ($reason)" grep -q "not connected to the source" <<< "$reason"
check_eq "source_connected 0" "$(metric source_connected)" 0
sleep 2
r=$(metric archive_rpo_seconds)
check "RPO bound grows while the source cannot be seen ($r s)" fcmp "${r:-0}" '>' 1
mdb_start src
check "healthz back to 200 when the source is back" wait_health 200 20
check "reconnects counted" fcmp "$(metric source_reconnects_total)" '>=' 1

# Logs: JSON lines, the start-up line with version and settings and no secret; SIGHUP reopens.
check "log lines are JSON with time, level, msg" python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    d = json.loads(line); assert {"time", "level", "msg"} <= d.keys(); n += 1
assert n > 3' "$logfile"
start=$(grep -m1 'agent starting' "$logfile")
check "start-up line has the version and effective settings" grep -qE '"binvault [0-9.]+ agent starting: source=mysql://repl@.* segment-interval=1000ms .*http=127\.0\.0\.1:[0-9]+ semi-sync=false' <<< "$start"
check_fails "no secret in the log" grep -q "$REPL_PASSWORD" "$logfile"
mv "$logfile" "$logfile.1"
kill -HUP "$AGENT_PID"
for _ in $(seq 1 25); do [ -s "$logfile" ] && break; sleep 0.2; done
check "SIGHUP reopens the log file" grep -q "log file reopened" "$logfile"

# SIGTERM under load: seals, finishes uploads, exits 0; the archive holds what the spool held.
wl_continuous_start src
sleep 2
t0=$(date +%s)
agent_term; rc=$?
check_eq "SIGTERM under load: exit 0" "$rc" 0
check "SIGTERM: stopped within 10 s" test $(( $(date +%s) - t0 )) -le 10
wl_continuous_stop
check_eq "SIGTERM: nothing left in the spool" "$(ls "$spool/ready" | wc -l)" 0
state=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("%s:%d" % (s["file"], s["end_pos"]))' "$spool/state.json")
check_eq "SIGTERM: the checkpoint reached the last sealed segment" "$(archive_checkpoint_pos "$archive")" "$state"
check "verify: archive is sound" "$BV_BIN" verify --archive "$archive"
