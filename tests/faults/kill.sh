# Fault: the agent SIGKILLed at random moments under a continuous workload: during start-up
# (archive load, spool resubmission), while streaming and sealing, while uploading and indexing,
# and during a SIGTERM shutdown. Every run resumes from the spool and the archive by itself.
. "$BV_ROOT/tests/faults/_common.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
fault_wl_start src
agent_start src "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}"
sleep 1
n=${FAULT_KILLS_RANDOM:-32}
for i in $(seq 1 "$n"); do
    case $((i % 8)) in
    0) fault_rand_sleep 1 15 ;;                                     # during start-up
    1) fault_rand_sleep 50 150; kill -TERM "$AGENT_PID" 2>/dev/null
       fault_rand_sleep 0 20 ;;                                     # during a SIGTERM shutdown
    *) fault_rand_sleep 10 90 ;;                                    # streaming, sealing, uploading
    esac
    fault_kill_agent
    agent_start src "$archive" "$spool" "${FAULT_AGENT_OPTS[@]}"
done
check_eq "agent SIGKILLed at random moments" "$FAULT_KILLS" "$n"
sleep 1
wl_continuous_stop
fault_final_checks src "$archive"
