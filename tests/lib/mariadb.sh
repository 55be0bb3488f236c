# Throwaway MariaDB servers on loopback for integration tests (sourced by bash scripts).
#
#   mdb_start NAME [my.cnf lines...]   start server NAME under $BV_TEST_DIR/NAME; sets MDB_PORT
#   mdb_port NAME / mdb_sock NAME / mdb_dir NAME
#   mdb_sql NAME "SQL"                 run SQL as root, tab-separated output without headers
#   mdb_stop NAME                      clean shutdown;  mdb_kill NAME: SIGKILL
#   mdb_restart NAME                   stop and start again with the same data and config
#   mdb_stop_all                       stop every server this shell started (trap EXIT calls it)
#
# Each server gets a private port, socket and data directory, log_bin with ROW format and CRC32
# checksums, gtid_strict_mode and a fixed server_id. They are started with setsid so they
# survive the caller's process group, and always stopped at the end.

: "${BV_TEST_DIR:?BV_TEST_DIR must be set}"
MDB_NAMES=()

. "$(dirname "${BASH_SOURCE[0]}")/port.sh"

mdb_dir() { echo "$BV_TEST_DIR/$1"; }
mdb_port() { cat "$BV_TEST_DIR/$1/port"; }
mdb_sock() { echo "$BV_TEST_DIR/$1/mysqld.sock"; }
mdb_cnf() { echo "$BV_TEST_DIR/$1/my.cnf"; }

mdb_start() {
    local name=$1; shift
    local dir; dir=$(mdb_dir "$name")
    local port
    if [ ! -f "$dir/my.cnf" ]; then
        mkdir -p "$dir/data" "$dir/tmp"
        port=$(free_port) || { echo "mdb_start: no free port" >&2; return 1; }
        echo "$port" > "$dir/port"
        {
            echo "[client]"
            echo "socket=$dir/mysqld.sock"
            echo "port=$port"
            echo "host=127.0.0.1"
            echo "[mariadbd]"
            echo "user=$(id -un)"
            echo "datadir=$dir/data"
            echo "tmpdir=$dir/tmp"
            echo "socket=$dir/mysqld.sock"
            echo "pid-file=$dir/mysqld.pid"
            echo "port=$port"
            echo "bind-address=127.0.0.1"
            echo "log-error=$dir/error.log"
            echo "server_id=${MDB_SERVER_ID:-1}"
            echo "log_bin=$dir/data/mariadb-bin"
            echo "binlog_format=ROW"
            echo "binlog_checksum=CRC32"
            echo "gtid_strict_mode=ON"
            echo "skip-name-resolve"
            echo "innodb_buffer_pool_size=64M"
            echo "innodb_log_file_size=48M"
            echo "innodb_flush_log_at_trx_commit=2"
            echo "sync_binlog=0"
            echo "max_connections=50"
            echo "performance_schema=OFF"
            for line in "$@"; do echo "$line"; done
        } > "$dir/my.cnf"
        mariadb-install-db --defaults-file="$dir/my.cnf" --auth-root-authentication-method=normal \
            --skip-test-db > "$dir/install.log" 2>&1 \
            || { echo "mdb_start: mariadb-install-db failed, see $dir/install.log" >&2; return 1; }
    fi
    local attempt
    for attempt in 1 2 3; do
        port=$(mdb_port "$name")
        setsid mariadbd --defaults-file="$dir/my.cnf" >> "$dir/stdout.log" 2>&1 < /dev/null &
        local found=0 n
        for n in "${MDB_NAMES[@]}"; do [ "$n" = "$name" ] && found=1; done
        [ $found = 1 ] || MDB_NAMES+=("$name")
        for _ in $(seq 1 300); do
            if mariadb --defaults-file="$dir/my.cnf" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
                MDB_PORT=$port
                return 0
            fi
            # Another process took the port between the check and the bind: pick another.
            if tail -n 5 "$dir/error.log" 2>/dev/null | grep -q "Address already in use"; then
                local newport
                newport=$(free_port) || break
                sed -i "s/^port=$port\$/port=$newport/" "$dir/my.cnf"
                echo "$newport" > "$dir/port"
                echo "# mdb_start: port $port was taken, retrying '$name' on $newport" >&2
                : > "$dir/error.log"
                continue 2
            fi
            sleep 0.1
        done
        break
    done
    echo "mdb_start: server '$name' did not become ready; last lines of $dir/error.log:" >&2
    tail -n 20 "$dir/error.log" >&2
    return 1
}

mdb_sql() {
    local name=$1; shift
    mariadb --defaults-file="$(mdb_cnf "$name")" -uroot -N -B -e "$*"
}

_mdb_pid() {
    local f; f="$(mdb_dir "$1")/mysqld.pid"
    [ -s "$f" ] && cat "$f"
}

mdb_stop() {
    local name=$1 pid
    pid=$(_mdb_pid "$name") || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$(mdb_dir "$name")/mysqld.pid"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    rm -f "$(mdb_dir "$name")/mysqld.pid"
}

mdb_kill() {
    local name=$1 pid
    pid=$(_mdb_pid "$name") || return 0
    kill -9 "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$(mdb_dir "$name")/mysqld.pid"
}

mdb_restart() {
    mdb_stop "$1"
    mdb_start "$1"
}

# Every server of the test: those this shell started, and those a subshell started (a server
# started inside `check ... CMD` or `$(...)` is not in this shell's MDB_NAMES): any directory of
# $BV_TEST_DIR with a server's pid file.
mdb_stop_all() {
    local n d
    for n in "${MDB_NAMES[@]}"; do mdb_stop "$n"; done
    for d in "$BV_TEST_DIR"/*/mysqld.pid; do
        [ -e "$d" ] || continue
        n=$(basename "$(dirname "$d")")
        [ "$(mdb_dir "$n")/mysqld.pid" = "$d" ] && mdb_stop "$n"
    done
}
