# binvault pull against a live MariaDB server: the pulled files are the server's binlogs byte for
# byte (except the in-use flag of the FDE of the file still open on the server), across
# rotations, checksum changes, compressed events and a 20 MiB row event; starts from a position
# and from a GTID; clear errors for a wrong password, a missing grant and purged binlogs.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
trap mdb_stop_all EXIT

mdb_start src "max_allowed_packet=64M" || { fail "start mariadb"; exit 1; }
port=$(mdb_port src)
data=$(mdb_dir src)/data
pw='pull-test-Pw1'
src="mysql://repl@127.0.0.1:$port"

# Minimum grant for pull: REPLICATION SLAVE (COM_REGISTER_SLAVE, COM_BINLOG_DUMP).
mdb_sql src "CREATE USER repl@'127.0.0.1' IDENTIFIED BY '$pw'; GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1';
    CREATE USER nogrant@'127.0.0.1' IDENTIFIED BY '$pw';"

pull() { BINVAULT_SOURCE_PASSWORD=$pw "$BV_BIN" pull "$@"; }

# Workload: DDL, DML, multi-statement transactions, XA, several domains, compressed events,
# files without checksums, rotations; then a transaction with a 20 MiB row (several 16 MiB
# protocol packets) and more rotations.
wl_mixed src
mdb_sql src "CREATE TABLE wl.big (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB;
    BEGIN; INSERT INTO wl.big VALUES (1, REPEAT('a', 20*1024*1024)); INSERT INTO wl.big VALUES (2, 'small'); COMMIT;
    CREATE TABLE wl.edge (id INT PRIMARY KEY AUTO_INCREMENT, v LONGTEXT) ENGINE=InnoDB;
    INSERT INTO wl.edge (v) VALUES (REPEAT('e', 16777172));
    FLUSH BINARY LOGS;"
gtid_mid=$(mdb_sql src "SELECT @@gtid_binlog_pos")
mid_file=$(mdb_sql src "SHOW MASTER STATUS" | cut -f1)
mid_pos=$(mdb_sql src "SHOW MASTER STATUS" | cut -f2)
mdb_sql src "BEGIN; UPDATE wl.big SET b = 'shrunk' WHERE id = 1; DELETE FROM wl.big WHERE id = 2; COMMIT;
    INSERT INTO wl.t1 (id,v,n) VALUES (100, 'after mid', 1);
    FLUSH BINARY LOGS; INSERT INTO wl.t1 (id,v,n) VALUES (101, 'in the open file', 2);"
mapfile -t names < <(mdb_sql src "SHOW BINARY LOGS" | cut -f1)
last=${names[${#names[@]}-1]}
last_size=$(mdb_sql src "SHOW MASTER STATUS" | cut -f2)
check "server wrote at least 5 binlog files" test "${#names[@]}" -ge 5

# ---- full pull from the first binlog -------------------------------------------------------------
out=$BV_TEST_DIR/pull1
if pull --source "$src" --to "$out" --stop-at-end > "$BV_TEST_DIR/pull1.out" 2> "$BV_TEST_DIR/pull1.err"; then
    ok "pull --stop-at-end exits 0"
else
    fail "pull --stop-at-end exits 0" "$(cat "$BV_TEST_DIR/pull1.err")"
fi
check_eq "pulled the server's files, named as on the server" "$(ls "$out" | tr '\n' ' ')" "$(printf '%s ' "${names[@]}")"
check_eq "one output line per file" "$(cut -f1 "$BV_TEST_DIR/pull1.out" | tr '\n' ' ')" "$(printf '%s ' "${names[@]}")"
for n in "${names[@]}"; do
    if [ "$n" != "$last" ]; then
        check "$n: byte-identical to the server's file" cmp "$out/$n" "$data/$n"
    fi
done
# The open file: compared over the pulled length (the server may append a checkpoint event);
# the one documented difference is the FDE's in-use flag, byte 22 (offset 21), set on the server.
size=$(stat -c %s "$out/$last")
check "$last: holds everything up to the position before the pull" test "$size" -ge "$last_size"
check_eq "$last: only the FDE's in-use flag differs" "$(cmp -l -n "$size" "$out/$last" "$data/$last" | tr -s ' ')" " 22 0 1"
# (the row is in the insert's file, and in the next one as the before image of an update)
big=$(find "$out" -size +20M | wc -l)
check "the 20 MiB row events arrived whole (files over 20 MiB, compared above)" test "$big" -ge 1
# A row event of 16777214 bytes: with the OK byte, a packet of exactly 0xffffff bytes followed by
# an empty one, the edge case of the protocol's packet splitting.
sizes=$(mariadb-binlog "$out"/* 2>/dev/null | awk '/^# at /{at=$3} /end_log_pos/{for(i=1;i<=NF;i++) if($i=="end_log_pos") print $(i+1)-at}')
check "an event of exactly 16777214 bytes came through" grep -qx 16777214 <<< "$sizes"
check "pulled files pass binvault inspect (every checksum)" "$BV_BIN" inspect --quiet "$out"/*
check "mariadb-binlog reads the pulled files" mariadb-binlog "$out"/*

# Never overwrite: a second pull into the same directory stops at the first existing file.
pull --source "$src" --to "$out" --stop-at-end > /dev/null 2> "$BV_TEST_DIR/again.err"
rc=$?
check_eq "pull refuses to overwrite an existing file (exit 73)" "$rc" 73
check "... and names it" grep -q "already exists" "$BV_TEST_DIR/again.err"

# A symbolic link planted as NAME.tmp for every file (issue 14: pull, run as root, overwrote the
# link's target with binlog bytes): pull writes to temporary names of its own, never through a link.
out=$BV_TEST_DIR/pull-planted
mkdir -p "$out"
printf 'precious\n' > "$BV_TEST_DIR/victim"
for n in "${names[@]}"; do ln -s "$BV_TEST_DIR/victim" "$out/$n.tmp"; done
check "pull into a directory with planted NAME.tmp links" pull --source "$src" --to "$out" --stop-at-end
check_eq "the links' target is untouched" "$(cat "$BV_TEST_DIR/victim")" "precious"
check "the first file is the server's" cmp "$out/${names[0]}" "$data/${names[0]}"
check_eq "no temporary file is left, the planted links are" \
    "$(find "$out" -name '*.tmp*' -type f | wc -l) $(find "$out" -name '*.tmp' -type l | wc -l)" "0 ${#names[@]}"

# ---- start inside a file: magic + the file's FDE + the events from the start position ------------
out=$BV_TEST_DIR/pull2
check "pull --start-position $mid_file:$mid_pos" pull --source "$src" --to "$out" --stop-at-end \
    --start-position "$mid_file:$mid_pos"
fde_len=$(od -An -tu4 -j13 -N4 "$data/$mid_file" | tr -d ' ')
cmp -s <(tail -c +$((4 + fde_len + 1)) "$out/$mid_file") <(tail -c +$((mid_pos + 1)) "$data/$mid_file") \
    && ok "$mid_file from $mid_pos: events byte-identical after the FDE" \
    || fail "$mid_file from $mid_pos: events byte-identical after the FDE"
for n in "${names[@]}"; do
    if [[ "$n" > "$mid_file" && "$n" != "$last" ]]; then
        check "$n (after the start file): byte-identical" cmp "$out/$n" "$data/$n"
    fi
done

# ---- start from a GTID: the first transaction pulled is the one after it ------------------------
out=$BV_TEST_DIR/pull3
check "pull --start-gtid $gtid_mid" pull --source "$src" --to "$out" --stop-at-end --start-gtid "$gtid_mid"
d0=$(echo "$gtid_mid" | tr ',' '\n' | grep '^0-')
seq=${d0##*-}
first=$(mariadb-binlog "$out"/* 2>/dev/null | grep -o 'GTID 0-1-[0-9]*' | head -n 1)
check_eq "first GTID pulled in domain 0 follows $d0" "$first" "GTID 0-1-$((seq + 1))"
check_eq "nothing up to the start GTID" "$(mariadb-binlog "$out"/* 2>/dev/null | grep -c "GTID $d0 ")" 0
check_eq "pulled the files from the GTID's file on" "$(ls "$out" | head -n 1)" "$mid_file"

# ---- errors ------------------------------------------------------------------------------------------
BINVAULT_SOURCE_PASSWORD=wrong "$BV_BIN" pull --source "$src" --to "$BV_TEST_DIR/e1" --stop-at-end 2> "$BV_TEST_DIR/e1.err"
rc=$?
check_eq "wrong password: exit 77" "$rc" 77
check_eq "wrong password: clear message" "$(cat "$BV_TEST_DIR/e1.err")" \
    "binvault: unable to connect to '$src': access denied for user 'repl' (check BINVAULT_SOURCE_PASSWORD)"

pull --source "mysql://nogrant@127.0.0.1:$port" --to "$BV_TEST_DIR/e2" --stop-at-end 2> "$BV_TEST_DIR/e2.err"
rc=$?
check_eq "missing grant: exit 77" "$rc" 77
check "missing grant: the message names REPLICATION SLAVE" grep -q "lacks the REPLICATION SLAVE privilege" "$BV_TEST_DIR/e2.err"

"$BV_BIN" pull --source "mysql://repl:$pw@127.0.0.1:$port" --to "$BV_TEST_DIR/e3" 2> "$BV_TEST_DIR/e3.err"
rc=$?
check_eq "password in the URL: exit 64" "$rc" 64
check "password in the URL: refused, pointing to the environment" grep -q "BINVAULT_SOURCE_PASSWORD" "$BV_TEST_DIR/e3.err"
check_fails "password in the URL: not repeated in the message" grep -q "$pw" "$BV_TEST_DIR/e3.err"

first_gtid=$(mariadb-binlog "$data/${names[0]}" 2>/dev/null | grep -o 'GTID 0-1-[0-9]*' | head -n 1 | cut -d' ' -f2)
mdb_sql src "PURGE BINARY LOGS TO '$mid_file'"
pull --source "$src" --to "$BV_TEST_DIR/e4" --stop-at-end --start-position "${names[0]}:4" 2> "$BV_TEST_DIR/e4.err"
rc=$?
check_eq "purged binlog: exit 65 (gap)" "$rc" 65
check "purged binlog: the message names the file and the gap" \
    grep -q "no longer has binlog '${names[0]}' at position 4.*the archive now has a gap" "$BV_TEST_DIR/e4.err"
pull --source "$src" --to "$BV_TEST_DIR/e5" --stop-at-end --start-gtid "$first_gtid" 2> "$BV_TEST_DIR/e5.err"
rc=$?
check_eq "purged GTID: exit 65 (gap)" "$rc" 65
check "purged GTID: the message names the GTID and the gap" \
    grep -q "no longer has the binlogs after GTID position '$first_gtid'.*the archive now has a gap" "$BV_TEST_DIR/e5.err"
