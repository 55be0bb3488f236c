# Timelines (docs/FORMAT.md "Timelines", docs/RECOVERY.md "Recovering across a failover"): an
# archive that follows a failover, end to end with real servers. The agent archives a primary P;
# its replica R stops replicating 3 transactions into a burst of 9, the other 6 P commits (and 1 after them) are
# never received by R (lost in the failover; the fork lies inside a segment), then R is promoted and
# writes its own history. R's binlogs are imported with `import --new-timeline`: timeline 2 forks
# where R's history meets P's, and P's last 7 transactions stay in the archive as a diverged
# branch, reported by import, list and verify.
# Recovered into fresh servers: a GTID after the fork gives R's tables (P's history up to the
# fork, then R's), the end of the main line gives R's end, `--timeline 1` gives P's state at its
# last archived transaction. verify passes, and catches a segment whose gtid_end label was
# altered (trailer and index line re-checksummed, so that only the content tells).
# Base backups of P, one before the fork (B1) and one after its diverged transactions (B2):
# `restore` of the main line skips B2 (it holds transactions the main line never had) for B1 with a
# note and reaches R's end; `restore --timeline 1` takes B2 and reaches P's last transaction;
# `--backup B2` of the main line is refused. `log` and `fetch --timeline 1` show P's branch.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/agent.sh"
T=$BV_TEST_DIR
archive="file://$T/archive"
trap 'agent_kill; mdb_stop_all' EXIT
export BINVAULT_INTO_PASSWORD=
chmod 0711 "$T" # the private server of restore runs as another account and must reach its DIR
mkdir -p "$T/tmp"
BACKUP_PASSWORD=bk-secret-3

MDB_SERVER_ID=1 mdb_start pri log_slave_updates=ON || { fail "start the primary"; exit 1; }
MDB_SERVER_ID=2 mdb_start rep log_slave_updates=ON || { fail "start the replica"; exit 1; }
repl_user pri
mdb_sql pri "GRANT SLAVE MONITOR ON *.* TO 'repl'@'127.0.0.1'"
mdb_sql rep "RESET MASTER"
mdb_sql rep "CHANGE MASTER TO master_host='127.0.0.1', master_port=$(mdb_port pri), master_user='repl',
             master_password='$REPL_PASSWORD', master_use_gtid=slave_pos; START SLAVE"

mdb_sql pri "CREATE DATABASE f; CREATE TABLE f.t (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB"
mdb_sql pri "CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY '$BACKUP_PASSWORD';
             GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'backup'@'127.0.0.1'"
# bvbackup: binvault backup of the primary into the archive; the new backup's id echoed.
bvbackup() {
    local before
    before=$(ls "$T/archive/backups" 2>/dev/null)
    if ! BINVAULT_SOURCE_PASSWORD=$BACKUP_PASSWORD "$BV_BIN" backup --archive "$archive" --tmp-dir "$T/tmp" --no-progress \
        --source "mysql://backup@127.0.0.1:$(mdb_port pri)" --part-size 256K > "$T/bvbackup.log" 2>&1; then
        tail -n 5 "$T/bvbackup.log" | sed 's/^/# /' >&2
        return 1
    fi
    ls "$T/archive/backups" | grep -vxF -e "${before:-/}"
}
for i in $(seq 1 60); do echo "INSERT INTO f.t VALUES ($i, REPEAT('p', $i));"; done | mdb_sql pri "$(cat)"

# ---- the agent archives the primary; the replica falls behind; the primary goes on alone ----------
agent_start pri "$archive" "$T/spool" --segment-size 64K --segment-interval 300ms --heartbeat 500ms
replica_caught_up() {
    for _ in $(seq 1 150); do
        [ "$(mdb_sql rep "SELECT @@gtid_slave_pos")" = "$(mdb_sql pri "SELECT @@gtid_binlog_pos")" ] && return 0
        sleep 0.2
    done
    return 1
}
check "the replica replicates the primary" replica_caught_up
# (the agent has created the archive: a backup needs its binvault.json)
check "the archive holds the primary's first transactions" agent_wait_caught_up pri "$archive" 60
B1=$(bvbackup); check "binvault backup of the primary before the fork: $B1" test -n "$B1"
# The replica takes 3 of the next 9 transactions, which the primary commits at once: the fork lies
# inside a segment, whose last 6 transactions diverged (then 1 more, after a backup).
# A pause first, longer than the segment interval, so that the burst starts a later segment than the
# first transactions (a prune below keeps from it).
sleep 1
seq=$(mdb_sql pri "SELECT @@gtid_binlog_pos" | cut -d- -f3)
burst_gtid="0-1-$((seq + 1))"
mdb_sql rep "STOP SLAVE; START SLAVE UNTIL master_gtid_pos='0-1-$((seq + 3))'"
{
    for i in $(seq 61 68); do echo "INSERT INTO f.t VALUES ($i, 'lost in the failover');"; done
    echo "UPDATE f.t SET v = 'changed on the old primary' WHERE id <= 3;"
} | mdb_sql pri "$(cat)"
replica_at() {
    for _ in $(seq 1 150); do
        [ "$(mdb_sql rep "SELECT @@gtid_slave_pos")" = "0-1-$1" ] && return 0
        sleep 0.2
    done
    return 1
}
check "the replica stops 3 transactions on" replica_at $((seq + 3))
mdb_sql rep "STOP SLAVE"
fork=$(mdb_sql rep "SELECT @@gtid_binlog_pos")
B2=$(bvbackup); check "binvault backup of the primary after its diverged transactions: $B2" test "$B2" != "$B1"
mdb_sql pri "UPDATE f.t SET v = 'after the second backup' WHERE id = 4"
check "the archive holds the primary's last transactions" agent_wait_caught_up pri "$archive" 60
agent_term; check_eq "the agent stops cleanly" "$?" 0
old_end=$(mdb_sql pri "CHECKSUM TABLE f.t")
old_gtid=$(mdb_sql pri "SELECT @@gtid_binlog_pos")

# ---- the replica is promoted: a new binlog file from the fork, its own transactions ---------------
mdb_sql rep "RESET SLAVE ALL; FLUSH BINARY LOGS"
newfile=$(mdb_sql rep "SHOW MASTER STATUS" | awk '{print $1}')
for i in $(seq 61 70); do mdb_sql rep "REPLACE INTO f.t VALUES ($i, 'written by the new primary')"; done
mid_gtid=$(mdb_sql rep "SELECT @@gtid_binlog_pos")
mid=$(mdb_sql rep "CHECKSUM TABLE f.t")
mdb_sql rep "DELETE FROM f.t WHERE id BETWEEN 10 AND 20; UPDATE f.t SET v = 'new primary' WHERE id > 50"
for i in $(seq 71 80); do mdb_sql rep "INSERT INTO f.t VALUES ($i, 'later on the new primary')"; done
mdb_sql rep "FLUSH BINARY LOGS"
new_end=$(mdb_sql rep "CHECKSUM TABLE f.t")
new_gtid=$(mdb_sql rep "SELECT @@gtid_binlog_pos")
check "the two histories differ" test "$old_end" != "$new_end"

# ---- import --new-timeline ------------------------------------------------------------------------
out=$("$BV_BIN" import --archive "$archive" --segment-size 4K "$(mdb_dir rep)/data/$newfile" 2>&1); rc=$?
check_eq "import without --new-timeline refuses another server's binlogs (exit 65)" "$rc" 65
check "the refusal says how to follow the new primary" grep -q -- "--new-timeline" <<< "$out"
out=$("$BV_BIN" import --archive "$archive" --segment-size 4K --new-timeline --source-host "127.0.0.1:$(mdb_port rep)" \
      "$(mdb_dir rep)/data/$newfile" 2>&1); rc=$?
check_eq "import --new-timeline exits 0" "$rc" 0
[ "$rc" = 0 ] || echo "$out" | tail -n 5 | sed 's/^/# /'
check "it started timeline 2" grep -q "started timeline 2" <<< "$out"
check "it reports the 7 lost transactions loudly, with their GTIDs" \
    grep -q "warning: 7 transactions of timeline 1 committed after the fork at '$fork' were lost.*0-1-[0-9]*\.\.0-1-[0-9]*" \
    <<< "$out"
check "the record says where timeline 2 forks" python3 - "$T/archive/timelines/00000002.json" "$fork" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["timeline"] == 2 and r["parent"] == 1, r
assert r["fork"]["gtid_state"] == sys.argv[2], r["fork"]
assert r["source"]["server_id"] == 2, r["source"]
assert r["diverged"]["transactions"] == 7, r["diverged"]
assert r["diverged"]["first_seq"] == r["fork"]["seq"], "the fork is not inside a segment: %s" % r
EOF

# ---- list and verify report the diverged branch; verify passes ------------------------------------
out=$("$BV_BIN" list --archive "$archive" 2>&1)
check "list names the timelines and the diverged branch" grep -q "7 transactions of timeline 1 committed after the fork" <<< "$out"
check "list marks the segment of the fork" grep -q "  fork (on the main line up to it)$" <<< "$out"
total=$(sed -n 's/^[0-9]* segments, .* bytes of binlog), \([0-9]*\) transactions.*/\1/p' <<< "$out")
check "list counts the main line's transactions apart from the diverged branch" \
    grep -q "^[0-9]* segments, .* $total transactions ($((total - 7)) on the main line, 7 on diverged branches)$" <<< "$out"
check "list's window counts the main line's transactions" \
    grep -q "^window seq .*, $((total - 7)) transactions of the main line$" <<< "$out"
check_eq "list --json: the main line's transactions" \
    "$("$BV_BIN" list --json --archive "$archive" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["summary"]["main_line_transactions"], d["windows"][-1]["transactions"])')" \
    "$((total - 7)) $((total - 7))"
out=$("$BV_BIN" verify --archive "$archive" 2>&1); rc=$?
check_eq "verify passes" "$rc" 0
[ "$rc" = 0 ] || echo "$out" | grep BAD | head -n 5 | sed 's/^/# /'
check "verify reports the diverged branch" grep -q "warning: .*7 transactions of timeline 1 committed after the fork" <<< "$out"
check "its restorable window is the main line's, one run to the new primary's last transaction" \
    grep -q "^  to .*last transaction $(cut -d, -f1 <<< "$new_gtid") at" <<< "$out"
out=$("$BV_BIN" status --archive "$archive" 2>&1)
check "status warns of the diverged branch" grep -q "warning: 7 transactions of an old primary diverged at 1 failover" <<< "$out"
lost=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["diverged"]["first_gtid"])' \
       "$T/archive/timelines/00000002.json")
out=$("$BV_BIN" log --archive "$archive" 2>&1)
check "log follows the main line: the new primary's transactions" grep -q "^0-2-" <<< "$out"
check_eq "and none of the diverged branch" "$(grep -c "^$lost " <<< "$out")" 0

# ---- recovery follows the main line; --timeline 1 reaches the lost transactions -------------------
recover_into() {
    local tgt=$1; shift
    "$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port "$tgt")" "$@" > "$T/rec.out" 2>&1
}
MDB_SERVER_ID=3 mdb_start tgt1 || { fail "start a target"; exit 1; }
recover_into tgt1 --from-gtid "" --until-gtid "$mid_gtid"; rc=$?
check_eq "recover to a GTID of the new primary exits 0" "$rc" 0
[ "$rc" = 0 ] || tail -n 5 "$T/rec.out" | sed 's/^/# /'
check "it says it follows the main line" grep -q "timelines: following the main line, timeline 2" "$T/rec.out"
check_eq "it holds the new primary's table at that GTID" "$(mdb_sql tgt1 "CHECKSUM TABLE f.t")" "$mid"
check_eq "and not one transaction of the diverged branch" \
    "$(mdb_sql tgt1 "SELECT COUNT(*) FROM f.t WHERE v LIKE 'lost%' OR v LIKE 'changed on the old%'")" 0
recover_into tgt1 --until-end; rc=$?
check_eq "recover on to the end of the main line exits 0" "$rc" 0
check_eq "it holds the new primary's end" "$(mdb_sql tgt1 "CHECKSUM TABLE f.t")" "$new_end"
check_eq "at the new primary's GTID state" "$(mdb_sql tgt1 "SELECT @@gtid_slave_pos")" "$new_gtid"

MDB_SERVER_ID=3 mdb_start tgt2 || { fail "start a target"; exit 1; }
recover_into tgt2 --from-gtid "" --until-end --timeline 1; rc=$?
check_eq "recover --timeline 1 exits 0" "$rc" 0
[ "$rc" = 0 ] || tail -n 5 "$T/rec.out" | sed 's/^/# /'
check_eq "it holds the old primary's state at its last archived transaction" "$(mdb_sql tgt2 "CHECKSUM TABLE f.t")" "$old_end"
check_eq "at the old primary's GTID state" "$(mdb_sql tgt2 "SELECT @@gtid_slave_pos")" "$old_gtid"
out=$("$BV_BIN" recover --archive "$archive" --from-gtid "" --until-end --timeline 3 --dry-run 2>&1); rc=$?
check_eq "recover --timeline 3 of an archive with 2: exit 66" "$rc" 66
check "it names the timelines there are" grep -q "no timeline 3: its timelines are 1 to 2" <<< "$out"

# ---- log and fetch of timeline 1: the old primary's branch ----------------------------------------
out=$("$BV_BIN" log --archive "$archive" --timeline 1 2>&1); rc=$?
check_eq "log --timeline 1 exits 0" "$rc" 0
check "log --timeline 1 shows the diverged transactions" grep -q "^$lost " <<< "$out"
check_eq "and none of the new primary's" "$(grep -c "^0-2-" <<< "$out")" 0
# The GTIDs of the binlog files in DIR, each file read alone (mariadb-binlog checks that files
# given together continue each other's GTID state, and timeline 2's file starts from the fork).
gtids_in() { for f in "$1"/*; do mariadb-binlog "$f"; done 2>/dev/null | sed -n 's/.*\tGTID \([0-9-]*\) .*/\1/p'; }
out=$("$BV_BIN" fetch --archive "$archive" --from-gtid "$fork" --timeline 1 --to "$T/fetch1" 2>&1); rc=$?
check_eq "fetch --timeline 1 from the fork exits 0" "$rc" 0
[ "$rc" = 0 ] || echo "$out" | tail -n 3 | sed 's/^/# /'
check "the fetched binlogs hold the diverged transactions" grep -qx "$lost" <<< "$(gtids_in "$T/fetch1")"
check_eq "and none of the new primary's" "$(gtids_in "$T/fetch1" | grep -c '^0-2-')" 0
out=$("$BV_BIN" fetch --archive "$archive" --from-gtid "$fork" --to "$T/fetch2" 2>&1); rc=$?
check_eq "fetch of the main line from the fork exits 0" "$rc" 0
check "the main line's binlogs hold the new primary's transactions" grep -q '^0-2-' <<< "$(gtids_in "$T/fetch2")"
check_eq "and none of the diverged ones" "$(gtids_in "$T/fetch2" | grep -cx "$lost")" 0

# ---- restore: the backup must be on the history followed ---------------------------------------
restore() { "$BV_BIN" restore --archive "$archive" --tmpdir "$T/tmp" "$@" > "$T/restore.out" 2>&1; }
restore --datadir "$T/r-main" --until-end; rc=$?
check_eq "restore of the main line exits 0" "$rc" 0
[ "$rc" = 0 ] || tail -n 5 "$T/restore.out" | sed 's/^/# /'
check "it restores the backup taken before the fork" grep -q "^backup $B1: " "$T/restore.out"
check "it says why the newer backup was skipped" \
    grep -q "^note: backup $B2 skipped: taken on timeline 1 after the history followed (timeline 2) left it" "$T/restore.out"
check "it reaches the new primary's end" grep -q "^restored: '$T/r-main' at gtid state '$new_gtid'" "$T/restore.out"
restore --datadir "$T/r-tl1" --until-end --timeline 1; rc=$?
check_eq "restore --timeline 1 exits 0" "$rc" 0
[ "$rc" = 0 ] || tail -n 5 "$T/restore.out" | sed 's/^/# /'
check "it restores the old primary's newest backup" grep -q "^backup $B2: " "$T/restore.out"
check "it applies the old primary's transaction after that backup, to its last archived transaction" \
    grep -q "^restored: '$T/r-tl1' at gtid state '$old_gtid', 1 transactions applied" "$T/restore.out"
[ "$rc" = 0 ] && grep -q "^restored: '$T/r-tl1' at gtid state '$old_gtid'" "$T/restore.out" ||
    grep "^restored\|^plan" "$T/restore.out" | sed 's/^/# /'
out=$("$BV_BIN" list --archive "$archive" 2>&1)
check "list says the newer backup is off the main line" \
    grep -q "^backup $B2: .*: off the main line (restore --timeline 1 uses it)$" <<< "$out"
check "and the older one restorable to the end" grep -q "^backup $B1: .*restorable from seq .* to the archive's end" <<< "$out"
restore --datadir "$T/r-b2" --until-end --backup "$B2" --dry-run; rc=$?
check_eq "restore --backup of a backup off the main line: exit 64" "$rc" 64
check "it says to give --timeline 1" grep -q "give --timeline 1 to restore that timeline" "$T/restore.out"

# ---- prune never deletes the diverged branch silently (issue #11) --------------------------------
nseg() { find "$1/segments" -name '*.bvs' | wc -l; }
div_first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["diverged"]["first_seq"])' \
            "$T/archive/timelines/00000002.json")
cp -r "$T/archive" "$T/pruned"
# Without the backups of the restore checks above: a prune never deletes what a kept backup needs,
# which would stop every prune below before the branch.
rm -rf "$T/pruned/backups"
before=$(nseg "$T/pruned")
out=$("$BV_BIN" prune --archive "file://$T/pruned" --before-gtid "$mid_gtid" 2>&1); rc=$?
check_eq "a prune past the diverged branch is refused (exit 64)" "$rc" 64
check "the refusal names the branch, and --drop-diverged" \
    grep -q "would delete the diverged branch of timeline 1 .*7 transactions of timeline 1 .*--drop-diverged" <<< "$out"
check_eq "and nothing was deleted" "$(nseg "$T/pruned")" "$before"
check_eq "no prune record was written" "$(find "$T/pruned" -path '*prune/*' | wc -l)" 0
out=$("$BV_BIN" prune --archive "file://$T/pruned" --before-gtid "$mid_gtid" --dry-run 2>&1); rc=$?
check_eq "--dry-run is refused the same (exit 64)" "$rc" 64
out=$("$BV_BIN" prune --archive "file://$T/pruned" --before-gtid "$burst_gtid" 2>&1); rc=$?
check_eq "a prune that stops before the diverged branch needs no flag (exit 0)" "$rc" 0
check "it deleted segments" test "$(nseg "$T/pruned")" -lt "$before"
check_eq "and kept the diverged branch" "$(grep -c "diverged" <<< "$out")" 0
out=$("$BV_BIN" prune --archive "file://$T/pruned" --before-gtid "$mid_gtid" --drop-diverged --dry-run 2>&1); rc=$?
check_eq "--drop-diverged --dry-run exits 0" "$rc" 0
check "it says which branch it would delete" grep -q "^would delete the diverged branch of timeline 1 (seqs $div_first-" <<< "$out"
out=$("$BV_BIN" prune --archive "file://$T/pruned" --before-gtid "$mid_gtid" --drop-diverged 2>&1); rc=$?
check_eq "prune --drop-diverged exits 0" "$rc" 0
check "it says which branch it deletes" grep -q "^delete the diverged branch of timeline 1 (seqs $div_first-" <<< "$out"
check "the prune record says so" grep -q "drop-diverged" "$T"/pruned/prune/*.json
out=$("$BV_BIN" list --archive "file://$T/pruned" 2>&1)
check "list notes the pruned branch" grep -q "^note: the diverged branch of timeline 1 at the fork of timeline 2 (7 transactions, seqs $div_first-[0-9]*) was pruned$" <<< "$out"
check_eq "and no longer warns of it" "$(grep -c "^warning: .*recover --timeline 1 reaches them" <<< "$out")" 0
out=$("$BV_BIN" status --archive "file://$T/pruned" 2>&1)
check_eq "status no longer warns of it" "$(grep -c "diverged at 1 failover" <<< "$out")" 0
out=$("$BV_BIN" verify --archive "file://$T/pruned" 2>&1); rc=$?
check_eq "verify passes after the branch was pruned" "$rc" 0
[ "$rc" = 0 ] || echo "$out" | grep -E "BAD|error" | head -n 5 | sed 's/^/# /'
out=$("$BV_BIN" prune --archive "file://$T/pruned" --before-gtid "$new_gtid" 2>&1); rc=$?
check_eq "a prune into timeline 2, past its first segment, exits 0" "$rc" 0
out=$("$BV_BIN" verify --archive "file://$T/pruned" 2>&1); rc=$?
check_eq "verify passes after it (timeline 2's first segment was pruned)" "$rc" 0
[ "$rc" = 0 ] || echo "$out" | grep -E "BAD|error" | head -n 5 | sed 's/^/# /'

# ---- a segment whose gtid_end label was altered, trailer and index re-checksummed -----------------
# alter.py: the index lines of the archive given as its argument (`lines`, by seq) and alter(),
# for the forgeries below.
cat > "$T/alter.py" <<'EOF'
import glob, hashlib, json, os, struct, sys, zlib
root = sys.argv[1]
lines = {}
for chunk in sorted(glob.glob(os.path.join(root, "index", "*.bvi"))):
    for line in open(chunk):
        m = json.loads(line)
        lines[m["seq"]] = m


def alter(seq, member, value):
    """Set a trailer member of segment seq, its CRC recomputed, and its index lines to match."""
    path = os.path.join(root, lines[seq]["name"])
    obj = open(path, "rb").read()
    tlen = struct.unpack("<I", obj[-16:-12])[0]
    trailer = json.loads(obj[-16 - tlen:-16])
    trailer[member] = value
    t = json.dumps(trailer, separators=(",", ":")).encode()
    new = obj[:-16 - tlen] + t + struct.pack("<II", len(t), zlib.crc32(t) & 0xffffffff) + b"BVSEGEND"
    os.chmod(path, 0o644)
    open(path, "wb").write(new)
    for chunk in glob.glob(os.path.join(root, "index", "*.bvi")):
        out = []
        for line in open(chunk):
            m = json.loads(line)
            if m["seq"] == seq:
                m.update({member: value, "size": len(new), "sha256": hashlib.sha256(new).hexdigest()})
                line = json.dumps(m, separators=(",", ":")) + "\n"
            out.append(line)
        os.chmod(chunk, 0o644)
        open(chunk, "w").write("".join(out))
EOF
cp -r "$T/archive" "$T/altered"
check "alter the gtid_end of a segment of the new timeline" python3 - "$T/altered" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1] + "/..")
from alter import lines, alter

# A segment of timeline 2 with transactions, not the last (the checkpoint names the last): its
# gtid_end with another server id, and the next segment starting there, as a forger would.
seq = sorted(s for s, m in lines.items() if m.get("timeline") == 2 and m["transactions"] > 0)[0]
d, s, n = lines[seq]["gtid_end"].split(",")[0].split("-")
forged = "%s-%d-%s" % (d, int(s) + 7, n)
alter(seq, "gtid_end", forged)
alter(seq + 1, "gtid_start", forged)
EOF
out=$("$BV_BIN" verify --archive "file://$T/altered" 2>&1); rc=$?
check_eq "verify of the altered archive fails (exit 65)" "$rc" 65
check "it names the label the content contradicts" grep -q "BAD segments/.*gtid_end says '0-[0-9]*-[0-9]*' but its transactions end at" <<< "$out"
check_eq "and nothing else: the trailer, the index and continuity agree with the forgery" \
    "$(grep BAD <<< "$out" | grep -vc "gtid_end says")" 0

# ---- a break inside the diverged branch: the branch's, not the main line's -------------------------
# The diverged segment after the fork's (the transaction after B2) starts one transaction early, as
# if one were missing: verify reports it as the branch's (exit 65: archived data is missing), and
# the main line's restorable window stays one run; list prints it as the branch's.
cp -r "$T/archive" "$T/branchgap"
check "a diverged segment after the fork's starts at a forged state" python3 - "$T/branchgap" <<'EOF'
import json, os, sys
sys.path.insert(0, sys.argv[1] + "/..")
from alter import lines, alter

r = json.load(open(os.path.join(sys.argv[1], "timelines", "00000002.json")))
seq = r["diverged"]["last_seq"]
assert seq > r["fork"]["seq"], "the diverged branch is all in the fork's segment: %s" % r
d, s, n = lines[seq]["gtid_start"].split(",")[0].split("-")
alter(seq, "gtid_start", "%s-%s-%d" % (d, s, int(n) - 1))
EOF
out=$("$BV_BIN" verify --archive "file://$T/branchgap" 2>&1); rc=$?
check_eq "verify of an archive with a break in its diverged branch fails (exit 65)" "$rc" 65
check "it reports the break as the diverged branch's" \
    grep -q "^BAD .*in timeline 1's diverged branch (off the main line, not restored by default): " <<< "$out"
check "the main line's restorable window is one run to the new primary's last transaction" \
    grep -q "^  to .*last transaction $(cut -d, -f1 <<< "$new_gtid") at" <<< "$out"
check_eq "one window" "$(grep -c "^window\|^restorable window" <<< "$out")" 1
out=$("$BV_BIN" list --archive "file://$T/branchgap" 2>&1)
check "list prints the break as the diverged branch's" grep -q "^gap in timeline 1's diverged branch: " <<< "$out"
check_eq "list shows no break of the main line" "$(grep -c "^gap: " <<< "$out")" 0
check_eq "list --json: the break among the branch's, none among the main line's" \
    "$("$BV_BIN" list --json --archive "file://$T/branchgap" |
       python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["gaps"]), [g["timeline"] for g in d["branch_gaps"]])')" \
    "0 [1]"
