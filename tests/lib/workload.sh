# Workloads for integration tests (sourced after tests/lib/mariadb.sh).

# A mixed workload on server $1 covering what the codec must frame: DDL, DML, multi-statement
# transactions, savepoints, XA, a non-transactional table, several GTID domains, compressed
# events, both checksum settings and binlog rotations.
wl_mixed() {
    local s=$1
    mdb_sql "$s" "CREATE DATABASE IF NOT EXISTS wl;
        CREATE TABLE wl.t1 (id INT PRIMARY KEY, v VARCHAR(200), n DECIMAL(10,2)) ENGINE=InnoDB;
        CREATE TABLE wl.m1 (id INT PRIMARY KEY, v TEXT) ENGINE=MyISAM;
        INSERT INTO wl.t1 VALUES (1,'one',1.5),(2,'two',2.5);
        BEGIN; INSERT INTO wl.t1 VALUES (3,'three',3); UPDATE wl.t1 SET n=n+1 WHERE id=1;
               SAVEPOINT s1; DELETE FROM wl.t1 WHERE id=2; ROLLBACK TO SAVEPOINT s1; COMMIT;
        INSERT INTO wl.m1 VALUES (1, REPEAT('m', 300));
        XA START 'xa1'; INSERT INTO wl.t1 VALUES (4,'xa',4); XA END 'xa1'; XA PREPARE 'xa1'; XA COMMIT 'xa1';
        SET SESSION gtid_domain_id=2; CREATE TABLE wl.t2 (k BIGINT PRIMARY KEY, b BLOB) ENGINE=InnoDB;
        INSERT INTO wl.t2 VALUES (1, REPEAT('x', 5000)); SET SESSION gtid_domain_id=0;
        FLUSH BINARY LOGS;
        SET GLOBAL log_bin_compress=ON; SET GLOBAL log_bin_compress_min_len=10;"
    # log_bin_compress applies to new sessions
    mdb_sql "$s" "INSERT INTO wl.t1 VALUES (5, REPEAT('compressed ', 10), 5);
        UPDATE wl.t1 SET v=REPEAT('y', 150) WHERE id=5; ALTER TABLE wl.t1 ADD COLUMN c INT;
        SET GLOBAL log_bin_compress=OFF; SET GLOBAL binlog_checksum='NONE';"
    mdb_sql "$s" "INSERT INTO wl.t1 (id,v,n) VALUES (6,'no checksum',6);
        BEGIN; INSERT INTO wl.t1 (id,v,n) VALUES (7,'a',7),(8,'b',8); DELETE FROM wl.t1 WHERE id=7; COMMIT;
        SET GLOBAL binlog_checksum='CRC32';"
    mdb_sql "$s" "SET SESSION gtid_domain_id=3; INSERT INTO wl.t2 VALUES (2, NULL); SET SESSION gtid_domain_id=0;
        DROP TABLE wl.m1; FLUSH BINARY LOGS; INSERT INTO wl.t1 (id,v,n) VALUES (9,'after flush',9);"
}

# The binlog files of server $1, oldest first, as absolute paths.
mdb_binlog_files() {
    local s=$1 dir
    dir=$(mdb_dir "$s")/data
    mdb_sql "$s" "SHOW BINARY LOGS" | awk -v d="$dir" '{print d "/" $1}'
}

# An endless stream of SQL for a continuous workload: single-row inserts, multi-statement
# transactions, DDL now and then, and a binlog rotation every few hundred statements.
wl_sql_stream() {
    local i=0
    echo "CREATE DATABASE IF NOT EXISTS cw; CREATE TABLE IF NOT EXISTS cw.s (id BIGINT AUTO_INCREMENT PRIMARY KEY, v TEXT, t DATETIME(6)) ENGINE=InnoDB;"
    echo "CREATE TABLE IF NOT EXISTS cw.s2 (id BIGINT PRIMARY KEY) ENGINE=InnoDB;"
    while :; do
        i=$((i + 1))
        echo "INSERT INTO cw.s (v, t) VALUES (REPEAT('x', $((i % 700))), NOW(6));"
        if ((i % 5 == 0)); then
            echo "BEGIN; UPDATE cw.s SET v = CONCAT(v, 'u') WHERE id = LAST_INSERT_ID() - 2; INSERT IGNORE INTO cw.s2 VALUES ($RANDOM$i); DELETE FROM cw.s WHERE id = LAST_INSERT_ID() - 4; COMMIT;"
        fi
        if ((i % 151 == 0)); then
            echo "CREATE TABLE IF NOT EXISTS cw.d$((i % 4)) (a INT) ENGINE=InnoDB; DROP TABLE IF EXISTS cw.d$(((i + 2) % 4));"
        fi
        if ((i % 700 == 0)); then echo "FLUSH BINARY LOGS;"; fi
        if ((i % 20 == 0)); then echo "SELECT SLEEP(0.02);"; fi
    done
}

# Run wl_sql_stream against server $1 in the background until wl_continuous_stop; survives
# server restarts (the client is restarted).
wl_continuous_start() {
    local s=$1 cnf
    cnf=$(mdb_cnf "$s")
    ( trap 'exit 0' TERM
      while :; do
          wl_sql_stream | mariadb --defaults-file="$cnf" -uroot > /dev/null 2>&1
          sleep 0.2
      done ) &
    WL_PID=$!
}

wl_continuous_stop() {
    [ -n "${WL_PID:-}" ] || return 0
    pkill -TERM -P "$WL_PID" 2>/dev/null
    kill "$WL_PID" 2>/dev/null
    wait "$WL_PID" 2>/dev/null
    WL_PID=
}
