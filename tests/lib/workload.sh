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
