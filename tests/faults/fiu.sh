# Fault: fsync and write failures injected into the agent with libfiu (fiu-run -x: the POSIX
# preload), at random, under a continuous workload: (1) as a semi-sync replica, fdatasync of its
# journal, fsync and write(2) failing with EIO, (2) fsync failing with EIO, (3) write(2) failing
# with ENOSPC, (4) both with EIO; in each phase the agent is also SIGKILLed and restarted under
# the faults. They hit the spool (segments, their metadata, state.json, the journal), the directory
# store (segment objects, index chunks, checkpoint.json) and everything else the agent writes.
# binvault must survive them (retry, or drop what is not durable and resume) or, where it cannot,
# exit with a clear error; the test restarts it then. Nothing may ever be archived wrong, and no
# semi-sync ACK may be sent for what is not durable (the journal is never found bad).
if [ -z "${BV_FAULT_MNTNS:-}" ]; then
    exec env BV_FAULT_MNTNS=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$BV_ROOT/tests/faults/_common.sh"
command -v fiu-run > /dev/null || { fail "fiu-run is not installed (BV_DEPS_EXTRA=fault scripts/deps.sh)"; exit 1; }
# libfiu's preload can deadlock with a dlopen() in another thread (its wrappers resolve symbols
# lazily while holding its own lock). The agent's only one is glibc loading the NSS "db" module for
# libmariadb's getservbyname("mysql") at its first connection: in this test's own mount namespace,
# such lookups use the built-in "files" module.
sed -E 's/^(protocols|services|ethers|rpc|netgroup):.*/\1: files/' /etc/nsswitch.conf > "$BV_TEST_DIR/nsswitch.conf"
mount --bind "$BV_TEST_DIR/nsswitch.conf" /etc/nsswitch.conf || { fail "bind-mount a private nsswitch.conf"; exit 1; }
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all; umount /etc/nsswitch.conf 2>/dev/null' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
FIU=()        # the failure points of the current phase, as fiu-run -c arguments
FIU_OFF=()    # the same, disabling them (fiu-ctrl)
EXTRA=()      # agent options of the phase
exits=0       # the agent exited by itself on an error (and was restarted)
fiu_agent_start() {
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD fiu-run -x "${FIU[@]}" "$BV_BIN" agent \
        --source "mysql://repl@127.0.0.1:$(mdb_port src)" --archive "$archive" --spool "$spool" --http off \
        --log-level "${AGENT_LOG_LEVEL:-info}" "${FAULT_AGENT_OPTS[@]}" "${EXTRA[@]}" >> "$BV_TEST_DIR/agent.log" 2>&1 &
    AGENT_PID=$!
}
# Run for $1 seconds, restarting the agent whenever it exits by itself.
fiu_watch() {
    local end=$((SECONDS + $1)) rc
    while [ $SECONDS -lt $end ]; do
        if ! kill -0 "$AGENT_PID" 2> /dev/null; then
            wait "$AGENT_PID"; rc=$?
            exits=$((exits + 1))
            echo "# the agent exited ($rc): $(grep -E 'binvault: |error' "$BV_TEST_DIR/agent.log" | tail -n 1 | cut -c1-200)"
            fiu_agent_start
        fi
        sleep 0.2
    done
}
# phase SECONDS KILLS POINT...: POINT is "name,probability,errno".
phase() {
    local secs=$1 kills=$2 p name prob errno; shift 2
    FIU=() FIU_OFF=()
    for p in "$@"; do
        IFS=, read -r name prob errno <<< "$p"
        FIU+=(-c "enable_random name=$name,probability=$prob,failinfo=$errno")
        FIU_OFF+=(-c "disable name=$name")
    done
    fault_kill_agent; fiu_agent_start
    for _ in $(seq 1 "$kills"); do
        fiu_watch $((secs / (kills + 1)))
        fault_kill_agent; fiu_agent_start
    done
    fiu_watch $((secs / (kills + 1)))
}

# The source waits for the agent's ACK of each commit (up to 1 s, then goes on without it until
# the agent has caught up again).
mdb_sql src "SET GLOBAL rpl_semi_sync_master_timeout = 1000; SET GLOBAL rpl_semi_sync_master_enabled = ON"
EXTRA=(--semi-sync)
fault_wl_start src
fiu_agent_start
sleep 1
EIO=5 ENOSPC=28
phase 10 1 "posix/io/sync/fdatasync,0.05,$EIO" "posix/io/sync/fsync,0.02,$EIO" "posix/io/rw/write,0.005,$EIO"
acks=$(mdb_sql src "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_yes_tx'" | awk '{print $2}')
mdb_sql src "SET GLOBAL rpl_semi_sync_master_enabled = OFF"
EXTRA=()
phase 9 1 "posix/io/sync/fsync,0.05,$EIO"
phase 9 1 "posix/io/rw/write,0.01,$ENOSPC"
phase 10 2 "posix/io/sync/fsync,0.05,$EIO" "posix/io/rw/write,0.01,$EIO"
# Faults off in the running agent (its signal handling writes too), then the final checks.
if ! fiu-ctrl "${FIU_OFF[@]}" "$AGENT_PID"; then
    fault_kill_agent; FIU=(); fiu_agent_start
fi
FIU=()
fiu_watch 1

log=$BV_TEST_DIR/agent.log
fsyncs=$(grep -cE "unable to (fsync|fdatasync) " "$log")
writes=$(grep -cE "unable to write '[^']*': (No space left on device|Input/output error)" "$log")
spool_failures=$(grep -c "spool '.*' failed" "$log")
store_retries=$(grep -c "unable to store segment .* retrying in" "$log")
archive_retries=$(grep -cE "unable to write the archive (index|checkpoint) \(will retry\)" "$log")
resumes=$(grep -c "takes writes again: resuming the stream" "$log")
fault_count "fsync failures reported (EIO)" "$fsyncs"
fault_count "write failures reported (ENOSPC, EIO)" "$writes"
fault_count "spool failures survived (segment dropped, stream resumed)" "$resumes"
fault_count "store failures retried (segment uploads)" "$store_retries"
fault_count "archive index/checkpoint writes retried" "$archive_retries"
fault_count "agent exited on an error and was restarted" "$exits"
fault_count "semi-sync ACKs sent under the faults" "${acks:-0}"
echo "# reported: $fsyncs fsync and $writes write failures; spool failures $spool_failures (resumed $resumes),"\
     "upload retries $store_retries, index/checkpoint retries $archive_retries, exits $exits"
check "fsync failures were injected and reported ($fsyncs)" test "$fsyncs" -gt 5
check "write failures were injected and reported ($writes)" test "$writes" -gt 5
check "the stream survived spool failures by itself ($resumes)" test "$resumes" -gt 0
check "no object was refused as different content" test -z "$(grep -i 'different content' "$log")"
check "semi-sync: commits acknowledged by the agent under the faults ($acks)" test "${acks:-0}" -gt 0
check "semi-sync: no journal found bad" test -z "$(grep 'from the semi-sync journal (kept as' "$log"; ls "$spool/journal" | grep bad)"
sleep 1
wl_continuous_stop
fault_final_checks src "$archive"
