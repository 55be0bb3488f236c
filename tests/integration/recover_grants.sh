# recover with a least-privilege target user, through a unix socket, and a cleanup that fails
# (issue 12). A MariaDB 10.11 source is archived in three stretches; the target (restored by hand,
# with the source's server_id, so that recovery changes it for the run) is recovered:
#  1. by a user with REPLICATION SLAVE ADMIN only (an empty password is named as set and empty,
#     not as unset): --dry-run lists every missing privilege in one run (exit 77) with the GRANT
#     that adds them, and a real run is refused the same way before anything changes; with that
#     GRANT, the dry run passes and the recovery works;
#  2. while the applier waits on a lock, binvault's session is killed and the account locked: the
#     cleanup cannot reconnect, recover exits 79 with the statements to run, which clean up;
#  2b. with --parallel 4, interrupted (SIGINT) while the applier waits: slave_parallel_threads is
#     restored with the rest;
#  3. as root through the target's unix socket, with unix_socket authentication (the Debian
#     default) and BINVAULT_INTO_PASSWORD unset: the rest, with --parallel 4, whose settings are
#     restored after.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/agent.sh"

T=$BV_TEST_DIR
archive="file://$T/archive"
LOCKER=
cleanup() {
    [ -n "$LOCKER" ] && kill "$LOCKER" 2>/dev/null
    agent_kill
    mdb_stop_all
}
trap cleanup EXIT
unset BINVAULT_INTO_PASSWORD

mdb_start src || { fail "start the source"; exit 1; }
mdb_start tgt || { fail "start the target"; exit 1; }
repl_user src
agent_start src "$archive" "$T/spool" --segment-interval 300ms --heartbeat 500ms --http off

schema="CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB"
mdb_sql src "$schema"
start=$(mdb_sql src "SELECT @@gtid_binlog_pos")
mdb_sql tgt "SET sql_log_bin=0; $schema"
sum() { mdb_sql "$1" "CHECKSUM TABLE d.t" | cut -f2; }
mdb_sql src "USE d; INSERT INTO d.t SELECT seq, seq FROM seq_1_to_200"
mid=$(mdb_sql src "SELECT @@gtid_binlog_pos") sum_mid=$(sum src)
mdb_sql src "UPDATE d.t SET v = v + 1 WHERE id <= 100"
mdb_sql src "INSERT INTO d.t VALUES (1000, 1)"
end=$(mdb_sql src "SELECT @@gtid_binlog_pos")
for i in $(seq 1 20); do mdb_sql src "INSERT INTO d.t VALUES ($((2000 + i)), $i); UPDATE d.t SET v = v * 2 WHERE id = $i"; done
sum_final=$(sum src)
check "the archive catches up" agent_wait_caught_up src "$archive" 60
agent_term

tgt_tcp="mysql://lp@127.0.0.1:$(mdb_port tgt)"
target_state() {
    echo "pos=$(mdb_sql tgt "SELECT @@gtid_slave_pos") id=$(mdb_sql tgt "SELECT @@server_id")" \
        "connections=$(mdb_sql tgt "SHOW ALL SLAVES STATUS" | wc -l) sum=$(sum tgt)"
}
# lp ARGS...: recover as lp over TCP; stdout+stderr in $T/out, exit code echoed.
lp() {
    BINVAULT_INTO_PASSWORD=lp-secret "$BV_BIN" recover --archive "$archive" --into "$tgt_tcp" "$@" > "$T/out" 2>&1
    echo $?
}

# ---- 1. a least-privilege user -------------------------------------------------------------------
mdb_sql tgt "SET sql_log_bin=0; CREATE USER lp@'127.0.0.1' IDENTIFIED BY 'lp-secret';
             GRANT REPLICATION SLAVE ADMIN ON *.* TO lp@'127.0.0.1'"
before=$(target_state)
BINVAULT_INTO_PASSWORD= "$BV_BIN" recover --archive "$archive" --into "$tgt_tcp" --from-gtid "$start" --until-end \
    --dry-run > "$T/out-empty" 2>&1
check_eq "an empty BINVAULT_INTO_PASSWORD for a user that has one: refused, exit 77" "$?" 77
check "... the message says the variable is set and empty" grep -q "check BINVAULT_INTO_PASSWORD (set, empty)" "$T/out-empty"
"$BV_BIN" recover --archive "$archive" --into "$tgt_tcp" --from-gtid "$start" --until-end --dry-run > "$T/out-unset" 2>&1
check "... and that it is not set when it is not" grep -q "check BINVAULT_INTO_PASSWORD (not set)" "$T/out-unset"
rc=$(lp --from-gtid "$start" --until-gtid "$mid" --dry-run)
check_eq "--dry-run with only REPLICATION SLAVE ADMIN: exit 77" "$rc" 77
for p in "SLAVE MONITOR" "RELOAD" "REPLICATION MASTER ADMIN"; do
    check "--dry-run names the missing $p and what it is for" grep -q "$p (" "$T/out"
done
check "--dry-run still prints the plan" grep -q "^plan: " "$T/out"
grant=$(grep -o "run GRANT [^(]* ON \*\.\* TO '[^']*'@'[^']*'" "$T/out" | sed 's/^run //')
check_eq "one GRANT statement adds every missing privilege" "$grant" \
    "GRANT SLAVE MONITOR, RELOAD, REPLICATION MASTER ADMIN ON *.* TO 'lp'@'127.0.0.1'"
rc=$(lp --from-gtid "$start" --until-gtid "$mid")
check_eq "a real run with the same user: refused before anything changes, exit 77" "$rc" 77
check_eq "... the target is as it was" "$(target_state)" "$before"

mdb_sql tgt "SET sql_log_bin=0; $grant"
rc=$(lp --from-gtid "$start" --until-gtid "$mid" --dry-run)
check_eq "--dry-run with the grants: exit 0" "$rc" 0
check "--dry-run says the user holds what it needs" \
    grep -q "privileges: user 'lp'@'127.0.0.1' holds what the recovery needs (REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD, REPLICATION MASTER ADMIN)" "$T/out"
rc=$(lp --from-gtid "$start" --until-gtid "$mid")
check_eq "recover as the least-privilege user: exit 0" "$rc" 0 || cat "$T/out"
check_eq "... the table is the source's at that point" "$(sum tgt)" "$sum_mid"
check_eq "... nothing left behind (connection, server_id)" \
    "$(mdb_sql tgt "SHOW ALL SLAVES STATUS" | wc -l) $(mdb_sql tgt "SELECT @@server_id")" "0 1"

# ---- 2. a cleanup that fails ---------------------------------------------------------------------
# The applier waits on a table lock; meanwhile binvault's session is killed and its account locked.
mariadb --defaults-file="$(mdb_cnf tgt)" -uroot -e "LOCK TABLES d.t WRITE; SELECT SLEEP(120)" > /dev/null 2>&1 &
LOCKER=$!
BINVAULT_INTO_PASSWORD=lp-secret "$BV_BIN" recover --archive "$archive" --into "$tgt_tcp" --until-gtid "$end" \
    > "$T/out2" 2>&1 &
rpid=$!
waiting=no
for _ in $(seq 1 150); do
    [ "$(mdb_sql tgt "SELECT COUNT(*) FROM information_schema.processlist
                      WHERE command = 'Slave_SQL' AND state = 'Waiting for table metadata lock'")" = 1 ] &&
        { waiting=yes; break; }
    sleep 0.2
done
check_eq "the applier waits on the lock" "$waiting" yes
mdb_sql tgt "ALTER USER lp@'127.0.0.1' ACCOUNT LOCK"
for id in $(mdb_sql tgt "SELECT id FROM information_schema.processlist WHERE user = 'lp'"); do
    mdb_sql tgt "KILL $id"
done
wait "$rpid"
rc=$?
check_eq "a cleanup that fails: exit 79" "$rc" 79
check "... it prints the statements to run" grep -q "run STOP SLAVE 'binvault'; RESET SLAVE 'binvault' ALL; SET GLOBAL server_id = 1;" "$T/out2"
kill "$LOCKER" 2>/dev/null
wait "$LOCKER" 2>/dev/null
LOCKER=
statements=$(grep -o "run STOP SLAVE 'binvault'.*" "$T/out2" | head -1 | sed 's/^run //')
check "the printed statements run" mdb_sql tgt "$statements"
check_eq "... and leave nothing behind" \
    "$(mdb_sql tgt "SHOW ALL SLAVES STATUS" | wc -l) $(mdb_sql tgt "SELECT @@server_id")" "0 1"

# ---- 2b. Ctrl-C with --parallel --------------------------------------------------------------------
# The applier waits on the lock again; SIGINT: the cleanup restores slave_parallel_threads too.
mdb_sql tgt "SET GLOBAL slave_parallel_threads = 0"
mariadb --defaults-file="$(mdb_cnf tgt)" -uroot -e "LOCK TABLES d.t WRITE; SELECT SLEEP(120)" > /dev/null 2>&1 &
LOCKER=$!
BINVAULT_INTO_PASSWORD= "$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port tgt)" \
    --until-end --parallel 4 > "$T/out-int" 2>&1 &
rpid=$!
threads=
for _ in $(seq 1 150); do
    threads=$(mdb_sql tgt "SELECT @@slave_parallel_threads")
    [ "$threads" = 4 ] && [ "$(mdb_sql tgt "SELECT COUNT(*) FROM information_schema.processlist
                                             WHERE state = 'Waiting for table metadata lock'")" -ge 1 ] && break
    sleep 0.2
done
check_eq "--parallel 4: the target applies with 4 threads (and waits on the lock)" "$threads" 4
kill -INT "$rpid"
sleep 1
kill "$LOCKER" 2>/dev/null
wait "$LOCKER" 2>/dev/null
LOCKER=
wait "$rpid"
rc=$?
check_eq "Ctrl-C during --parallel 4: exit 69 (interrupted)" "$rc" 69
check "... it says so" grep -q "interrupted" "$T/out-int"
check_eq "... slave_parallel_threads, server_id and the connection are as before" \
    "$(mdb_sql tgt "SELECT @@slave_parallel_threads, @@server_id") $(mdb_sql tgt "SHOW ALL SLAVES STATUS" | wc -l)" \
    "$(printf '0\t1') 0"

# ---- 3. root through the unix socket ------------------------------------------------------------
# unix_socket authentication logs in the operating system's user of the same name: root, as on
# Debian, when the tests run as root.
me=$(id -un)
if [ "$me" = root ]; then
    mdb_sql tgt "SET sql_log_bin=0; ALTER USER root@localhost IDENTIFIED VIA unix_socket"
else
    mdb_sql tgt "SET sql_log_bin=0; CREATE USER '$me'@localhost IDENTIFIED VIA unix_socket;
                 GRANT ALL PRIVILEGES ON *.* TO '$me'@localhost"
fi
mdb_sql tgt "SET GLOBAL slave_parallel_threads = 0"
sock="mysql://$me@localhost/?socket=$(mdb_sock tgt)"
"$BV_BIN" recover --archive "$archive" --into "$sock" --until-end --parallel 4 > "$T/out3" 2>&1
rc=$?
check_eq "root through the socket (unix_socket authentication, no password set), --parallel 4: exit 0" "$rc" 0
check "... the target is named by its socket" grep -q "target mysql://$me@localhost/?socket=$(mdb_sock tgt): " "$T/out3"
check_eq "... the table is the source's at the end" "$(sum tgt)" "$sum_final"
check "... it applied with 4 parallel threads" grep -q "applies with 4 parallel threads" "$T/out3"
check_eq "... and slave_parallel_threads is 0 again" "$(mdb_sql tgt "SELECT @@slave_parallel_threads")" 0
[ "$rc" = 0 ] || tail -n 20 "$T/out3"
