# A replication topology for failover tests (sourced after mariadb.sh, agent.sh): one primary and
# replicas, MariaDB GTID replication in strict mode with log_slave_updates, so that every server's
# binlog holds the whole history (its binlog names and offsets those of the primary it was built
# from, as a replica set up from the start is).
#
#   topo_start NAME...                 start the servers (server_id 1, 2, ...), the first the primary
#   topo_primary                       the current primary's name
#   topo_candidates                    --source options naming every server (for agent_start_topo)
#   agent_start_topo ARCHIVE SPOOL [options...]   an agent given every server as a candidate
#   topo_wait_replicas                 until every running replica has applied the primary's binlog
#   topo_switchover NEW                planned: old primary read-only, replicas caught up, NEW
#                                      promoted, the others (the old primary too) replicate from it
#   topo_crash_failover NEW LOST       the primary commits LOST transactions that no replica receives
#                                      (its GTID state then in $BV_TEST_DIR/topo-lost-gtid),
#                                      then is killed (-9); NEW is promoted with what it had; the other
#                                      replicas replicate from it; the old primary stays down
#   topo_rebuild NAME                  a dead or diverged server rebuilt as a replica of the primary
#                                      from a copy of its data (what a DBA does after a failover
#                                      that lost transactions); no writes may run meanwhile
#   topo_gtid_pos NAME                 @@gtid_binlog_pos of NAME
#   topo_checksum NAME                 CHECKSUM TABLE of the test tables, one line
#   topo_recover_check ARCHIVE         check: a fresh server recovered from ARCHIVE to its end (the
#                                      main line) has the current primary's tables
#   topo_wait_archived ARCHIVE [SECONDS]   until the archive's checkpoint is at the primary's GTID
#                                      state (by GTID: after a failover the old and the new primary
#                                      may end at the same file and position)
#   topo_archived_gtids ARCHIVE        the GTIDs of the archive's main line (binvault log), one a line
#   topo_own_bytes NAME DIR            check: every binlog file in DIR (binvault fetch's output) is
#                                      NAME's own bytes over its range (below)
#   topo_recover_into NAME ARCHIVE [recover options...]   a fresh server NAME recovered from the
#                                      archive's start (binvault recover --from-gtid ''); its
#                                      output in $BV_TEST_DIR/NAME.out
#   topo_start_datadir NAME DIR        a server (as root) on the data directory that
#                                      binvault restore --user root left
#   topo_http_url / topo_status EXPR   the agent's endpoint (from agent.log); a Python expression of
#                                      its /status document `d`

TOPO_NAMES=()
TOPO_BACKUP_PASSWORD=bk-secret-3
TOPO_PRIMARY_FILE=$BV_TEST_DIR/topo-primary

topo_primary() { cat "$TOPO_PRIMARY_FILE"; }

_topo_grants() {
    mdb_sql "$1" "SET SESSION sql_log_bin=0;
        CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY '$REPL_PASSWORD';
        GRANT REPLICATION SLAVE, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'repl'@'127.0.0.1';
        CREATE USER IF NOT EXISTS 'app'@'127.0.0.1' IDENTIFIED BY 'app-secret-1';
        CREATE USER IF NOT EXISTS 'app'@'localhost' IDENTIFIED BY 'app-secret-1';
        GRANT SELECT, INSERT, UPDATE, DELETE ON topo.* TO 'app'@'127.0.0.1';
        GRANT SELECT, INSERT, UPDATE, DELETE ON topo.* TO 'app'@'localhost';
        CREATE USER IF NOT EXISTS 'backup'@'127.0.0.1' IDENTIFIED BY '$TOPO_BACKUP_PASSWORD';
        GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'backup'@'127.0.0.1'"
}

_topo_replicate() {
    local s=$1 from=$2
    mdb_sql "$s" "STOP SLAVE; RESET SLAVE ALL;
        CHANGE MASTER TO master_host='127.0.0.1', master_port=$(mdb_port "$from"), master_user='repl',
        master_password='$REPL_PASSWORD', master_use_gtid=slave_pos, master_connect_retry=1;
        START SLAVE"
}

topo_start() {
    local id=1 s
    TOPO_NAMES=("$@")
    for s in "$@"; do
        MDB_SERVER_ID=$id mdb_start "$s" log_slave_updates=ON "report_host=127.0.0.1" || return 1
        _topo_grants "$s"
        mdb_sql "$s" "RESET MASTER"
        id=$((id + 1))
    done
    echo "$1" > "$TOPO_PRIMARY_FILE"
    for s in "${@:2}"; do
        mdb_sql "$s" "SET GLOBAL read_only=1"
        _topo_replicate "$s" "$1"
    done
}

topo_candidates() {
    local s
    for s in "${TOPO_NAMES[@]}"; do
        printf -- '--source\nmysql://repl@127.0.0.1:%s\n' "$(mdb_port "$s")"
    done
}

agent_start_topo() {
    local archive=$1 spool=$2 src; shift 2
    mapfile -t src < <(topo_candidates)
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" agent "${src[@]}" \
        --archive "$archive" --spool "$spool" --log-level "${AGENT_LOG_LEVEL:-info}" --http 127.0.0.1:0 "$@" \
        >> "$BV_TEST_DIR/agent.log" 2>&1 &
    AGENT_PID=$!
}

topo_gtid_pos() { mdb_sql "$1" "SELECT @@gtid_binlog_pos"; }

_topo_running() { [ -s "$(mdb_dir "$1")/mysqld.pid" ]; }

# Whether GTID position $1 has reached $2 (each domain's seq at least $2's).
topo_reached() {
    python3 -c '
import sys
def pos(t):
    return {int(g.split("-")[0]): int(g.split("-")[2]) for g in t.split(",") if g}
have, want = pos(sys.argv[1]), pos(sys.argv[2])
sys.exit(0 if all(have.get(d, -1) >= n for d, n in want.items()) else 1)' "$1" "$2"
}

topo_wait_replicas() {
    local p s want
    p=$(topo_primary)
    want=$(topo_gtid_pos "$p")
    for s in "${TOPO_NAMES[@]}"; do
        [ "$s" = "$p" ] && continue
        _topo_running "$s" || continue
        for _ in $(seq 1 300); do
            topo_reached "$(mdb_sql "$s" "SELECT @@gtid_slave_pos")" "$want" && break
            sleep 0.1
        done
        topo_reached "$(mdb_sql "$s" "SELECT @@gtid_slave_pos")" "$want" || {
            echo "replica $s did not reach '$want'" >&2; return 1; }
    done
}

# Make NEW the primary (it stops replicating, becomes writable); the others replicate from it.
_topo_promote() {
    local new=$1 s
    mdb_sql "$new" "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0"
    echo "$new" > "$TOPO_PRIMARY_FILE"
    for s in "${TOPO_NAMES[@]}"; do
        [ "$s" = "$new" ] && continue
        _topo_running "$s" || continue
        mdb_sql "$s" "SET GLOBAL read_only=1"
        _topo_replicate "$s" "$new"
    done
}

topo_switchover() {
    local new=$1 old
    old=$(topo_primary)
    mdb_sql "$old" "SET GLOBAL read_only=1"
    topo_wait_replicas || return 1
    # The old primary continues as a replica from where its own binlog ends.
    mdb_sql "$old" "SET GLOBAL gtid_slave_pos=@@gtid_binlog_pos"
    _topo_promote "$new"
}

topo_crash_failover() {
    local new=$1 lost=$2 old s i
    old=$(topo_primary)
    topo_wait_replicas || return 1
    for s in "${TOPO_NAMES[@]}"; do
        [ "$s" = "$old" ] && continue
        _topo_running "$s" && mdb_sql "$s" "STOP SLAVE IO_THREAD"
    done
    for i in $(seq 1 "$lost"); do
        mdb_sql "$old" "INSERT INTO topo.lost (note) VALUES ('lost in the failover $i')"
    done
    topo_gtid_pos "$old" > "$BV_TEST_DIR/topo-lost-gtid"
    [ -n "${TOPO_BEFORE_KILL:-}" ] && "$TOPO_BEFORE_KILL"
    mdb_kill "$old"
    _topo_promote "$new"
}

topo_rebuild() {
    local s=$1 dir p state pos
    dir=$(mdb_dir "$s")
    p=$(topo_primary)
    mdb_stop "$s"
    rm -rf "$dir/data" "$dir/tmp"
    mkdir -p "$dir/data" "$dir/tmp"
    mariadb-install-db --defaults-file="$dir/my.cnf" --auth-root-authentication-method=normal \
        --skip-test-db > "$dir/install.log" 2>&1 || return 1
    mdb_start "$s" || return 1
    _topo_grants "$s"
    # A copy of the primary's data (no writes run meanwhile), not logged: the rebuilt server's
    # binlog starts at the primary's GTID state, which it takes as its own.
    state=$(mdb_sql "$p" "SELECT @@gtid_binlog_state")
    pos=$(topo_gtid_pos "$p")
    mariadb-dump --defaults-file="$(mdb_cnf "$p")" -uroot --single-transaction --databases topo |
        mariadb --defaults-file="$dir/my.cnf" -uroot --init-command="SET SESSION sql_log_bin=0" || return 1
    mdb_sql "$s" "RESET MASTER; SET GLOBAL gtid_binlog_state='$state'; SET GLOBAL gtid_slave_pos='$pos';
        SET GLOBAL read_only=1"
    _topo_replicate "$s" "$p"
}

topo_checksum() {
    mdb_sql "$1" "CHECKSUM TABLE topo.t, topo.lost" | awk '{print $2}' | tr '\n' ' '
}

# The test schema, on the primary.
topo_schema() {
    mdb_sql "$(topo_primary)" "CREATE DATABASE topo;
        CREATE TABLE topo.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB;
        CREATE TABLE topo.lost (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB"
}

# SQL as the application's user, which read_only stops (root has READ_ONLY ADMIN).
# Bounded: a statement sent to a server that a switchover is demoting can wait for its read lock
# (lock_wait_timeout is a year by default), and a workload loop must stop when it is told to.
topo_app_sql() {
    local s=$1; shift
    timeout 15 mariadb --defaults-file="$(mdb_cnf "$s")" -uapp -papp-secret-1 --connect-timeout=5 -N -B \
        -e "SET SESSION lock_wait_timeout = 10; $*"
}

# N single-row transactions on the current primary (a workload that follows it: a statement that
# fails during a switchover, the old primary read-only or gone, is retried on the primary of the
# moment).
topo_write() {
    local n=$1 tag=${2:-w} i
    for i in $(seq 1 "$n"); do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            topo_app_sql "$(topo_primary)" "INSERT INTO topo.t (v) VALUES ('$tag $i')" 2>/dev/null && break
            sleep 0.2
        done
    done
}

# The GTIDs of every transaction in binlog files, one a line.
topo_gtids() {
    "$BV_BIN" inspect --transactions --json "$@" |
        python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]'
}

topo_recover_into() {
    local name=$1 archive=$2; shift 2
    MDB_SERVER_ID=9 mdb_start "$name" > /dev/null || { echo "cannot start a recovery target '$name'"; return 1; }
    "$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port "$name")" --from-gtid "" "$@" \
        > "$BV_TEST_DIR/$name.out" 2>&1 || { tail -n 5 "$BV_TEST_DIR/$name.out"; return 1; }
}

topo_recover_check() {
    check "recover to the end" topo_recover_into target "$1" --until-end
    check_eq "the recovered tables are the current primary's" "$(topo_checksum target)" \
        "$(topo_checksum "$(topo_primary)")"
}

topo_start_datadir() {
    local name=$1 data=$2 dir port
    dir=$(mdb_dir "$name")
    mkdir -p "$dir/tmp"
    port=$(free_port) || return 1
    echo "$port" > "$dir/port"
    printf '%s\n' "[client]" "socket=$dir/mysqld.sock" "port=$port" "host=127.0.0.1" "[mariadbd]" "user=root" \
        "datadir=$data" "tmpdir=$dir/tmp" "socket=$dir/mysqld.sock" "pid-file=$dir/mysqld.pid" "port=$port" \
        "bind-address=127.0.0.1" "log-error=$dir/error.log" "server_id=8" "skip-name-resolve" \
        "innodb_buffer_pool_size=64M" "performance_schema=OFF" > "$dir/my.cnf"
    mdb_start "$name"
}

# A file binvault fetch writes is the binlog magic, the server's FORMAT_DESCRIPTION event (its
# in-use flag, in byte 21, cleared), then the server's bytes over the range: from the file's
# start, or from inside it when the range starts there (at the offset the first event's own header
# names: its end position minus its size). Each must be the server's file's bytes at that offset,
# the FDE's 'created' field and checksum included, also when the archive's stream of the file
# started inside it (a new timeline, by GTID: the agent reads the file's own FDE).
topo_own_bytes() {
    python3 - "$(mdb_dir "$1")/data" "$2" <<'EOF'
import os, struct, sys
data, fetched = sys.argv[1], sys.argv[2]
files = sorted(os.listdir(fetched))
if not files:
    sys.exit("nothing fetched in " + fetched)
for name in files:
    f = open(os.path.join(fetched, name), "rb").read()
    s = open(os.path.join(data, name), "rb").read()
    fde_end = 4 + struct.unpack_from("<I", f, 4 + 9)[0]
    same = lambda a, b: f[a:b] == s[a:b]
    # The in-use flag is the server's live state (MariaDB's FDE checksum leaves it out).
    if not same(0, 21) or f[21] & ~1 != s[21] & ~1 or not same(22, fde_end):
        sys.exit("%s: the magic and format description differ from the server's" % name)
    rest = f[fde_end:]
    if len(rest) < 19:
        sys.exit("%s: no event after the format description" % name)
    size, end = struct.unpack_from("<II", rest, 9)
    at = end - size
    if at < fde_end or s[at:at + len(rest)] != rest:
        sys.exit("%s: the %d bytes from offset %d are not the server's" % (name, len(rest), at))
    print("%s: bytes %d..%d as on the server" % (name, at, at + len(rest)))
EOF
}

topo_archived_gtids() {
    "$BV_BIN" log --archive "$1" --json | python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]'
}

topo_http_url() {
    echo "http://127.0.0.1:$(sed -n 's/.*serving .* (port \([0-9]*\)).*/\1/p' "$BV_TEST_DIR/agent.log" | tail -n 1)"
}

topo_status() {
    curl -s "$(topo_http_url)/status" | python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"
}

topo_wait_archived() {
    local dir=${1#file://} secs=${2:-60} want got
    for _ in $(seq 1 $((secs * 5))); do
        want=$(topo_gtid_pos "$(topo_primary)")
        got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gtid_end"])' "$dir/checkpoint.json" 2>/dev/null)
        [ -n "$got" ] && [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    echo "archive checkpoint at '$got', the primary at '$want' after ${secs}s" >&2
    return 1
}
