# Fault: a source that encrypts its binlogs (encrypt_binlog=ON), archived into an encrypted archive
# under a continuous workload while the agent is SIGKILLed at random moments (at a file's start,
# where the stream sends the file's START_ENCRYPTION, and in the middle of files, where a resumed
# stream sends it again with log_pos 0) and the source restarts once. The archive must hold every
# transaction once, at the server's positions, and a fresh server recovered from it alone must
# match the source.
. "$BV_ROOT/tests/faults/_common.sh"
archive="file://$BV_TEST_DIR/archive"
spool="$BV_TEST_DIR/spool"
key="$BV_TEST_DIR/archive.key"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT
FAULT_SOURCE_ENCRYPTED=1
export BINVAULT_KEY_FILE=$key # every command below, and the harness's catch-up check, read the archive with it

printf '1;%s\n' "$(openssl rand -hex 32)" > "$BV_TEST_DIR/keys.txt"
head -c 32 /dev/urandom > "$key"; chmod 600 "$key"
mdb_start src plugin_load_add=file_key_management "file_key_management_filename=$BV_TEST_DIR/keys.txt" \
    encrypt_binlog=ON max_binlog_size=262144 || { fail "start mariadb with encrypt_binlog"; exit 1; }
repl_user src
opts=("${FAULT_AGENT_OPTS[@]}" --encrypt)
fault_wl_start src
agent_start src "$archive" "$spool" "${opts[@]}"
sleep 1
n=${FAULT_KILLS_RANDOM:-8}
for i in $(seq 1 "$n"); do
    fault_rand_sleep 20 120
    fault_kill_agent
    if [ "$i" = $((n / 2)) ]; then
        mdb_restart src > /dev/null || fail "restart the source"
        fault_count "source restart" 1
    fi
    agent_start src "$archive" "$spool" "${opts[@]}"
done
check_eq "$FAULT_SCENARIO: agent SIGKILLed at random moments" "$FAULT_KILLS" "$n"
sleep 1
wl_continuous_stop
check_fails "$FAULT_SCENARIO: no warning about an unencrypted archive" grep -q "is not encrypted" "$BV_TEST_DIR/agent.log"
fault_final_checks src "$archive"
