# binvault agent --lz4-acceleration: the same binlogs archived at acceleration 1 and 8 verify and
# fetch back byte-identical to the server's; 8 stores more bytes than 1 (it trades size for CPU);
# a value outside 1-64 is a usage error (exit 64) naming the option.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
trap 'agent_kill; mdb_stop_all' EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
wl_mixed src
# Rows lz4 has work on: hex digests, partly repeated.
check "write 40,000 rows of hex digests" mdb_sql src "USE wl; CREATE TABLE h (id INT PRIMARY KEY, a CHAR(32), b VARCHAR(200)) ENGINE=InnoDB;
    INSERT INTO h SELECT seq, MD5(seq), CONCAT(REPEAT(MD5(seq DIV 7), 3), 'binvault') FROM seq_1_to_40000;
    FLUSH BINARY LOGS"

# archive_size DIR: bytes of the segments in a directory archive.
archive_size() {
    du -sb "$1/segments" | cut -f1
}

for accel in 1 8; do
    archive="file://$BV_TEST_DIR/archive-$accel"
    agent_start src "$archive" "$BV_TEST_DIR/spool-$accel" --lz4-acceleration "$accel" --segment-interval 300ms
    check "acceleration $accel: the archive catches up with the server" agent_wait_caught_up src "$archive" 60
    agent_term; check_eq "acceleration $accel: SIGTERM: agent exits 0" "$?" 0
    check "acceleration $accel: verify: archive is sound" "$BV_BIN" verify --archive "$archive"
    mkdir -p "$BV_TEST_DIR/fetched-$accel"
    check "acceleration $accel: fetch the whole archive" "$BV_BIN" fetch --archive "$archive" --to "$BV_TEST_DIR/fetched-$accel"
    check "acceleration $accel: fetched binlogs are byte-identical to the server's" \
        compare_fetched src "$BV_TEST_DIR/fetched-$accel"
done
size1=$(archive_size "$BV_TEST_DIR/archive-1")
size8=$(archive_size "$BV_TEST_DIR/archive-8")
echo "# segments: $size1 bytes at acceleration 1, $size8 at 8"
check "acceleration 8 stores more bytes than 1" test "$size8" -gt "$size1"

for bad in 0 65; do
    BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$(mdb_port src)" \
        --archive "file://$BV_TEST_DIR/archive-bad" --spool "$BV_TEST_DIR/spool-bad" --lz4-acceleration "$bad" \
        > "$BV_TEST_DIR/bad.log" 2>&1
    check_eq "--lz4-acceleration $bad: usage error (exit 64)" "$?" 64
    check "--lz4-acceleration $bad: the error names the option" grep -q "lz4-acceleration" "$BV_TEST_DIR/bad.log"
done
