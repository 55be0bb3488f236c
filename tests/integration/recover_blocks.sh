# binvault recover over a range of many catalog blocks (issue #13, docs/DESIGN.md "Recovery
# planning per block"): an archive of 6000 real segments (bench/mkarchive: one `CREATE DATABASE IF
# NOT EXISTS` transaction each, GTIDs 0-11-1001.., five summarised blocks and a tail) is planned a
# block at a time. The dry run lists, verifies and writes its JSON as the range streams; a real
# recovery applies the range to a MariaDB server in two runs (to a GTID in the fourth block, then
# on to the end as a continuation), served a block at a time; a segment removed from a summarised
# block in the middle is caught by the dry run's verification and stops a real recovery at the
# end of the segment before it. Each run's peak RSS stays under 64 MiB.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"

T=$BV_TEST_DIR
N=6000
ARCHIVE=$T/archive
trap 'mdb_stop_all' EXIT
export BINVAULT_INTO_PASSWORD=

MK=$BV_ROOT/build/release/mkarchive
[ -x "$MK" ] || make -C "$BV_ROOT" --no-print-directory build/release/mkarchive > /dev/null 2>&1
check "bench/mkarchive is built" test -x "$MK"
check "an archive of $N segments" "$MK" "$ARCHIVE" "$N"

# recover ARGS...: run binvault recover, its output in $T/out, its peak RSS (KiB) in $T/peak; echoes
# the exit code.
recover() {
    local rc
    /usr/bin/time -f %M -o "$T/peak" "$BV_BIN" recover --archive "file://$ARCHIVE" --tmpdir "$T/tmp" "$@" \
        > "$T/stdout" 2> "$T/stderr"
    rc=$?
    sed -i '/^Command exited/d' "$T/peak"
    cat "$T/stdout" "$T/stderr" > "$T/out"
    echo $rc
}
mkdir -p "$T/tmp"

MDB_SERVER_ID=2 mdb_start tgt || { fail "start the target"; exit 1; }
INTO="mysql://root@127.0.0.1:$(mdb_port tgt)"

# ---- the dry run ----
rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-end --dry-run)
check_eq "dry run over six blocks: exit 0" "$rc" 0; [ "$rc" = 0 ] || tail -n 20 "$T/out"
check "dry run: the plan is seqs 101-$N (0-11-1100, in seq 100, is the start's)" \
    grep -q "plan: 5900 segments (seq 101-$N)" "$T/out"
check "dry run: the listing shows the last segment" grep -q "seq $N " "$T/out"
check "dry run: every segment verified" grep -q "dry run: every segment of the plan verified" "$T/out"
check_rss "dry run: peak RSS $(cat "$T/peak") KiB under 64 MiB" "$(cat "$T/peak")"

rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-end --dry-run --json)
check_eq "dry run --json: exit 0" "$rc" 0; [ "$rc" = 0 ] || tail -n 20 "$T/out"
check_eq "dry run --json: one document, every segment listed" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["plan"]; print(d["ok"], p["segments"], len(p["objects"]), p["objects"][0]["seq"], p["objects"][-1]["seq"], p["until"])' "$T/stdout" 2>&1)" \
    "True 5900 5900 101 $N 0-11-$((1000 + N))"

# ---- a real recovery, in two runs ----
rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-gtid 0-11-4500)
check_eq "recover to 0-11-4500 (the fourth block): exit 0" "$rc" 0; [ "$rc" = 0 ] || tail -n 20 "$T/out"
check_eq "the target is at 0-11-4500" "$(mdb_sql tgt 'SELECT @@gtid_slave_pos')" "0-11-4500"
check_rss "recover: peak RSS $(cat "$T/peak") KiB under 64 MiB" "$(cat "$T/peak")"
rc=$(recover --into "$INTO" --until-end)
check_eq "continue to the end: exit 0" "$rc" 0; [ "$rc" = 0 ] || tail -n 20 "$T/out"
check "continue: from the target's gtid_slave_pos" grep -q "continuing an earlier recovery" "$T/out"
check_eq "the target is at the archive's end" "$(mdb_sql tgt 'SELECT @@gtid_slave_pos')" "0-11-$((1000 + N))"
check "the target has the database the transactions create" test -n "$(mdb_sql tgt "SHOW DATABASES LIKE 'bvbench'")"

# ---- a segment missing from a summarised block (the target as restored again: no position) ----
mdb_sql tgt "SET GLOBAL gtid_slave_pos = ''"
gone=$(ls "$ARCHIVE/segments" | grep '^0000000000003000-')
mv "$ARCHIVE/segments/$gone" "$T/$gone"
rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-end --dry-run)
check "dry run: a segment removed in the third block is refused" test "$rc" -ne 0
check "dry run: the refusal names it" grep -q "$gone" "$T/out"
rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-end --dry-run --json)
check_eq "dry run --json: the plan written while it streamed, then the refusal, in one document" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ok"], d["error"]["code"], len(d["plan"]["objects"]), sys.argv[2] in d["error"]["message"])' "$T/stdout" "$gone" 2>&1)" \
    "False checksum 5900 True"
rc=$(recover --into "$INTO" --from-gtid 0-11-2000 --until-end)
check "recover across it: refused" test "$rc" -ne 0
check_eq "recover across it: the target stops at the end of the segment before it" \
    "$(mdb_sql tgt 'SELECT @@gtid_slave_pos')" "0-11-3999"
mv "$T/$gone" "$ARCHIVE/segments/$gone"
