# binvault inspect on binlogs written by a live MariaDB server: events, positions and GTIDs
# agree with mariadb-binlog; transactions frame the same GTIDs at the same positions.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
trap mdb_stop_all EXIT

mdb_start src || { fail "start mariadb"; exit 1; }
wl_mixed src
mdb_sql src "FLUSH BINARY LOGS"
mapfile -t files < <(mdb_binlog_files src)
check "server wrote several binlog files" test "${#files[@]}" -ge 4
# The server may still append to its last file (its background thread writes Binlog_checkpoint
# events late): once that file's size holds still, both tools read one snapshot of every file.
prev=-1
for _ in $(seq 1 50); do
    size=$(stat -c %s "${files[-1]}")
    [ "$size" = "$prev" ] && break
    prev=$size
    sleep 0.2
done
mkdir -p "$BV_TEST_DIR/snapshot"
cp "${files[@]}" "$BV_TEST_DIR/snapshot/"
mapfile -t files < <(printf '%s\n' "$BV_TEST_DIR"/snapshot/*)

total=0
for f in "${files[@]}"; do
    name=$(basename "$f")
    TZ=UTC mariadb-binlog "$f" > "$BV_TEST_DIR/$name.txt" 2>/dev/null
    if "$BV_BIN" inspect --json "$f" > "$BV_TEST_DIR/$name.events.json" 2> "$BV_TEST_DIR/$name.err"; then
        check "$name: events agree with mariadb-binlog" \
            python3 "$BV_ROOT/tests/lib/compare.py" events "$BV_TEST_DIR/$name.events.json" "$BV_TEST_DIR/$name.txt"
    else
        fail "$name: inspect failed" "$(cat "$BV_TEST_DIR/$name.err")"
    fi
    if "$BV_BIN" inspect --transactions --json "$f" > "$BV_TEST_DIR/$name.txn.json" 2> "$BV_TEST_DIR/$name.err"; then
        check "$name: transactions agree with mariadb-binlog" \
            python3 "$BV_ROOT/tests/lib/compare.py" transactions "$BV_TEST_DIR/$name.txn.json" "$BV_TEST_DIR/$name.txt"
    else
        fail "$name: inspect --transactions failed" "$(cat "$BV_TEST_DIR/$name.err")"
    fi
    total=$((total + $(grep -c . "$BV_TEST_DIR/$name.txn.json")))
done

# Every GTID the server logged is framed exactly once.
want=$(mdb_sql src "SELECT @@gtid_binlog_state" | tr ',' '\n' | awk -F- '{s+=$3} END {print s}')
check_eq "transactions framed == sum of sequence numbers in gtid_binlog_state" "$total" "$want"

# The features the workload is meant to cover are really there.
all=$(cat "$BV_TEST_DIR"/*.events.json)
for t in Query_compressed Xid XA_prepare Gtid_list Binlog_checkpoint Rotate Annotate_rows; do
    if grep -q "\"type\":\"$t\"" <<< "$all"; then ok "workload produced $t events"; else fail "workload produced no $t event"; fi
done
grep -q '"gtid":"2-1-' <<< "$all" && ok "second gtid domain seen" || fail "no domain 2 gtid"
kinds=$(cat "$BV_TEST_DIR"/*.txn.json | python3 -c 'import sys,json; print(" ".join(sorted({json.loads(l)["kind"] for l in sys.stdin})))')
check_eq "transaction kinds" "$kinds" "statement transaction xa-prepare"

# A corrupted copy is refused with the file, the offset and a non-zero exit.
cp "${files[0]}" "$BV_TEST_DIR/bad.bin"
printf '\xff' | dd of="$BV_TEST_DIR/bad.bin" bs=1 seek=400 conv=notrunc 2>/dev/null
out=$("$BV_BIN" inspect "$BV_TEST_DIR/bad.bin" 2>&1 >/dev/null); rc=$?
check "corrupt copy: non-zero exit" test $rc -ne 0
check "corrupt copy: error names file and offset" grep -q "bad.bin.*offset" <<< "$out"
head -c 1000 "${files[0]}" > "$BV_TEST_DIR/short.bin"
out=$("$BV_BIN" inspect "$BV_TEST_DIR/short.bin" 2>&1 >/dev/null); rc=$?
check "truncated copy: non-zero exit and says truncated" test $rc -ne 0 -a -n "$(grep truncated <<< "$out")"
