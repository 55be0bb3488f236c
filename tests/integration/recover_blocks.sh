# binvault recover over a range of many catalog blocks (issue #13, docs/DESIGN.md "Recovery
# planning per block"): an archive of 6000 real segments (bench/mkarchive: one `CREATE DATABASE IF
# NOT EXISTS` transaction each, GTIDs 0-11-1001.., five summarised blocks and a tail) is planned a
# block at a time. The dry run lists, verifies and writes its JSON as the range streams; a real
# recovery applies the range to a MariaDB server in two runs (to a GTID in the fourth block, then
# on to the end as a continuation), served a block at a time; a segment removed from a summarised
# block in the middle is caught by the dry run's verification and stops a real recovery at the
# end of the segment before it. The same across a fork (a forked archive, the main line planned
# a block at a time along the path). Each run's peak RSS stays under 64 MiB.
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
gone=$(seg_names "$ARCHIVE" | grep -E '(^|/)0000000000003000-')
mv "$ARCHIVE/segments/$gone" "$T/gone.bvs"
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
mv "$T/gone.bvs" "$ARCHIVE/segments/$gone"

# ---- across a fork (issue #13, "Recovery planning per block", round 7) ----
# A forked archive of 6000 segments: timeline 2 (server 12) from seq 3001, seqs 2901-3000 a
# diverged branch of timeline 1 (0-11-3901..0-11-4000, lost in the failover), the fork after seq
# 2900 (0-11-3900), in the block of seqs 2049-3072. The main line from seq 101 crosses it: planned a
# block at a time along the path, the diverged segments left out, in bounded memory.
ARCHIVE=$T/forked
mdb_sql tgt "SET GLOBAL gtid_slave_pos = ''"
check "a forked archive of $N segments" "$MK" "$ARCHIVE" "$N" --per-file 1000 --fork-at 3001 --diverged 100
rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-end --dry-run)
check_eq "forked: dry run across the fork: exit 0" "$rc" 0; [ "$rc" = 0 ] || tail -n 20 "$T/out"
check "forked: the plan is seqs 101-$N less the diverged branch" grep -q "plan: 5800 segments (seq 101-$N)" "$T/out"
check "forked: every segment verified" grep -q "dry run: every segment of the plan verified" "$T/out"
check_rss "forked: dry run peak RSS $(cat "$T/peak") KiB under 64 MiB" "$(cat "$T/peak")"
rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-end --dry-run --json)
check_eq "forked: dry run --json: every segment of the main line listed, none of the diverged branch" \
    "$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["plan"]; s=[o["seq"] for o in p["objects"]]; print(p["segments"], len(s), s[0], s[-1], [q for q in s if 2900 < q < 3001], p["until"])' "$T/stdout" 2>&1)" \
    "5800 5800 101 $N [] 0-12-$((1000 + N - 100))"
# A time between the fork and the failover: its first commit in the whole archive is on the
# diverged branch; on the main line the plan stops at the fork.
rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-time '2026-11-30 01:42:30' --dry-run)
check_eq "forked: dry run to a time on the diverged branch: exit 0" "$rc" 0; [ "$rc" = 0 ] || tail -n 20 "$T/out"
check "forked: it stops at the fork" grep -q "until gtid position: '0-11-3900'" "$T/out"
check_rss "forked: time target peak RSS $(cat "$T/peak") KiB under 64 MiB" "$(cat "$T/peak")"
# Applied for real, across the fork, to the end of the main line.
rc=$(recover --into "$INTO" --from-gtid 0-11-1100 --until-end --log-level debug)
check_eq "forked: recover across the fork: exit 0" "$rc" 0; [ "$rc" = 0 ] || tail -n 20 "$T/out"
check "forked: the main line applied, 5800 transactions" grep -q "plan: 5800 segments (seq 101-$N).* 5800 transactions" "$T/out"
check "forked: planned a block at a time, two block catalogs held at most" \
    grep -Eq "plan over seqs [0-9]+-$N: [0-9]+ block chunk reads, [12] held at most" "$T/out"
check_eq "forked: the target is at the main line's end" "$(mdb_sql tgt 'SELECT @@gtid_slave_pos')" \
    "0-12-$((1000 + N - 100))"
check_rss "forked: recover peak RSS $(cat "$T/peak") KiB under 64 MiB" "$(cat "$T/peak")"
