# Running binvault agents in integration tests (sourced after mariadb.sh).
#
#   repl_user SERVER                  create user repl with the grants the agent needs
#   agent_start SERVER ARCHIVE SPOOL [options...]   start an agent in the background (AGENT_PID)
#   agent_kill / agent_term           SIGKILL / SIGTERM and wait (agent_term returns its exit code)
#   agent_wait_caught_up SERVER ARCHIVE [SECONDS]   until checkpoint.json reaches the server's end

REPL_PASSWORD=repl-secret-1

repl_user() {
    mdb_sql "$1" "CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY '$REPL_PASSWORD';
                  GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'repl'@'127.0.0.1'"
}

# An endpoint on a free port unless the test names one: an agent that cannot listen stops.
agent_start() {
    local s=$1 archive=$2 spool=$3; shift 3
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$(mdb_port "$s")" \
        --archive "$archive" --spool "$spool" --log-level "${AGENT_LOG_LEVEL:-info}" --http 127.0.0.1:0 "$@" \
        >> "$BV_TEST_DIR/agent.log" 2>&1 &
    AGENT_PID=$!
}

agent_kill() {
    [ -n "${AGENT_PID:-}" ] || return 0
    kill -9 "$AGENT_PID" 2>/dev/null
    wait "$AGENT_PID" 2>/dev/null
    AGENT_PID=
}

agent_term() {
    local rc
    [ -n "${AGENT_PID:-}" ] || return 0
    kill -TERM "$AGENT_PID" 2>/dev/null
    wait "$AGENT_PID"
    rc=$?
    AGENT_PID=
    return $rc
}

# The checkpoint's end position as "file:pos", or empty.
archive_checkpoint_pos() {
    local dir=${1#file://}
    [ -f "$dir/checkpoint.json" ] || return 0
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print("%s:%d" % (c["file"], c["end_pos"]))' \
        "$dir/checkpoint.json" 2>/dev/null
}

agent_wait_caught_up() {
    local s=$1 archive=$2 secs=${3:-120} want got
    for _ in $(seq 1 $((secs * 5))); do
        want=$(mdb_sql "$s" "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
        got=$(archive_checkpoint_pos "$archive")
        [ -n "$got" ] && [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    echo "archive checkpoint '$got' did not reach the server's '$want' in ${secs}s" >&2
    return 1
}

# Compare the server's binlog files with those fetched from the archive: every closed file
# byte-identical; the open (last) one may have grown since (the server appends, e.g. a late
# BINLOG_CHECKPOINT event): the fetched copy must be a prefix of it, the FDE in-use flag (byte
# 22, offset 21) aside.
compare_fetched() {
    local s=$1 fetched=$2 f name n=0 bad=0 files size
    mapfile -t files < <(mdb_binlog_files "$s")
    for f in "${files[@]}"; do
        name=$(basename "$f")
        n=$((n + 1))
        if [ ! -f "$fetched/$name" ]; then echo "missing $name"; bad=1; continue; fi
        if [ "$n" -eq "${#files[@]}" ]; then
            size=$(stat -c %s "$fetched/$name")
            if ! cmp -s <(head -c 21 "$f") <(head -c 21 "$fetched/$name") ||
               ! cmp -s <(head -c "$size" "$f" | tail -c +23) <(tail -c +23 "$fetched/$name"); then
                echo "differs: $name (open file)"; bad=1
            fi
        elif ! cmp -s "$f" "$fetched/$name"; then
            echo "differs: $name"; cmp "$f" "$fetched/$name" | head -n 1; bad=1
        fi
    done
    return $bad
}

# The id of the source's Binlog Dump thread serving the agent, waiting up to $2 seconds.
# With $3 (ids separated by spaces), only a thread not among them counts: a SIGKILLed agent's
# dump thread can linger on the server until it next writes to the dead socket.
dump_thread_id() {
    local s=$1 secs=${2:-15} skip=" ${3:-} " id
    for _ in $(seq 1 $((secs * 5))); do
        for id in $(mdb_sql "$s" "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%' ORDER BY id"); do
            case "$skip" in *" $id "*) continue ;; esac
            echo "$id"
            return 0
        done
        sleep 0.2
    done
    return 1
}

# The ids of all Binlog Dump threads now, separated by spaces.
dump_thread_ids() {
    mdb_sql "$1" "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'" | tr '\n' ' '
}

# The checkpoint of an archive in any store, as "file:pos" (uses `binvault storage`).
archive_checkpoint_any() {
    "$BV_BIN" storage --archive "$1" get checkpoint.json 2>/dev/null |
        python3 -c 'import json,sys; c=json.load(sys.stdin); print("%s:%d" % (c["file"], c["end_pos"]))' 2>/dev/null
}

agent_wait_caught_up_any() {
    local s=$1 archive=$2 secs=${3:-120} want got
    for _ in $(seq 1 $((secs * 2))); do
        want=$(mdb_sql "$s" "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
        got=$(archive_checkpoint_any "$archive")
        [ -n "$got" ] && [ "$got" = "$want" ] && return 0
        sleep 0.5
    done
    echo "archive checkpoint '$got' did not reach the server's '$want' in ${secs}s" >&2
    return 1
}

# Start the fault-injecting proxy in front of host:port; sets FAULT_PORT and FAULT_CONTROL.
faultproxy_start() {
    local up_host=$1 up_port=$2 tls=("${@:3}")
    FAULT_CONTROL=$BV_TEST_DIR/faults
    : > "$FAULT_CONTROL"
    FAULT_PORT=$(free_port)
    setsid python3 "$BV_ROOT/tests/tools/faultproxy.py" "$FAULT_PORT" "$up_host" "$up_port" "$FAULT_CONTROL" "${tls[@]}" \
        > "$BV_TEST_DIR/faultproxy.log" 2>&1 < /dev/null &
    FAULT_PID=$!
    for _ in $(seq 1 50); do
        grep -q listening "$BV_TEST_DIR/faultproxy.log" && return 0
        sleep 0.1
    done
    return 1
}

faultproxy_stop() {
    [ -n "${FAULT_PID:-}" ] && kill "$FAULT_PID" 2>/dev/null
    FAULT_PID=
}

# Queue faults: fault "status 5 503 PUT" etc. (see tests/tools/faultproxy.py).
fault() { echo "$*" >> "$FAULT_CONTROL"; }
faults_pending() { grep -c . "$FAULT_CONTROL" 2>/dev/null || true; }
