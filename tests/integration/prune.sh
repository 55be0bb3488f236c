# binvault prune against a live archive: an agent archives a MariaDB under a continuous workload,
# a mariadb-backup base backup is taken mid-workload, then prune deletes what neither the kept
# window nor the base backup needs - while the agent keeps archiving. A prune killed with SIGKILL
# in the middle leaves an archive that verify accepts, and a second prune finishes it; the agent
# resumes on the pruned archive; the range the base backup needs is still fetchable.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
adir=$BV_TEST_DIR/archive
archive="file://$adir"
spool="$BV_TEST_DIR/spool"
base=$BV_TEST_DIR/base
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

# check_rc WHAT RC WANT OUTPUT: pass when the exit code is WANT, else show the output.
check_rc() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "exit $2, want $3:
$4"; fi; }
segments() { find "$adir/segments" -name '*.bvs' | wc -l; }
first_seq() { find "$adir/segments" -name '*.bvs' -printf '%f\n' | sort | head -n 1 | cut -c1-16 | sed 's/^0*//'; }

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
opts=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s)

# ---- the command line --------------------------------------------------------------------------
out=$("$BV_BIN" prune --archive "$archive" --keep-days 1 --bogus 2>&1); rc=$?
check_eq "unknown option: exit 64" "$rc" 64
check "unknown option: named" grep -q "bogus" <<< "$out"
out=$("$BV_BIN" prune --archive "$archive" 2>&1); rc=$?
check_eq "no retention rule: exit 64" "$rc" 64
check "no retention rule: the rules are named" grep -q -- "--keep-days N, --before-time T or --before-gtid" <<< "$out"
check_eq "two retention rules: exit 64" "$("$BV_BIN" prune --archive "$archive" --keep-days 1 --before-gtid 0-1-1 >/dev/null 2>&1; echo $?)" 64
out=$("$BV_BIN" prune --archive "$archive" --before-time yesterday 2>&1); rc=$?
check_eq "bad --before-time: exit 64" "$rc" 64
check "bad --before-time: the accepted forms are named" grep -q "2026-11-21T04:30:00Z" <<< "$out"
check_eq "bad --keep-days: exit 64" "$("$BV_BIN" prune --archive "$archive" --keep-days -3 >/dev/null 2>&1; echo $?)" 64
check_eq "not an archive: exit 66" "$("$BV_BIN" prune --archive "$archive" --keep-days 1 >/dev/null 2>&1; echo $?)" 66

# ---- archive, with a base backup taken mid-workload ---------------------------------------------
wl_continuous_start src
agent_start src "$archive" "$spool" "${opts[@]}"
sleep 4
if mariadb-backup --backup --target-dir="$base" --user=root --socket="$(mdb_sock src)" > "$BV_TEST_DIR/backup.log" 2>&1 &&
   mariadb-backup --prepare --target-dir="$base" >> "$BV_TEST_DIR/backup.log" 2>&1; then
    ok "mariadb-backup: base backup taken mid-workload and prepared"
else
    fail "mariadb-backup: base backup taken mid-workload and prepared" "$(tail -n 20 "$BV_TEST_DIR/backup.log")"
fi
info=$base/mariadb_backup_binlog_info
[ -f "$info" ] || info=$base/xtrabackup_binlog_info
read -r base_file base_pos base_gtid < "$info"
check "base backup records its binlog position" test -n "$base_file" -a -n "$base_pos"
sleep 4
mdb_sql src "FLUSH BINARY LOGS"
sleep 2

# ---- dry run: nothing changes --------------------------------------------------------------------
before=$(segments)
out=$("$BV_BIN" prune --archive "$archive" --keep-days 0 --dry-run 2>&1); rc=$?
check_rc "dry run without base backup: exit 0" "$rc" 0 "$out"
check "dry run: lists the segments it would delete" grep -q "^would delete segment segments/000000000000/0000000000000001-" <<< "$out"
check "dry run: says where the archive would start" grep -q "^the archive would start at seq" <<< "$out"
check "dry run: nothing deleted (the agent only adds)" test "$(segments)" -ge "$before" -a "$(first_seq)" -eq 1
check "dry run: no prune record" test ! -e "$adir/prune"
out=$("$BV_BIN" prune --archive "$archive" --keep-days 0 --base-dir "$base" --dry-run 2>&1)
if grep -q "base backup $base ($base_file:$base_pos" <<< "$out"; then ok "dry run with the base backup: it is placed"
else fail "dry run with the base backup: it is placed" "$out"; fi

# ---- a prune killed in the middle, while the agent archives -----------------------------------------
out=$(BINVAULT_TEST_PRUNE_CRASH_AFTER=5 "$BV_BIN" prune --archive "$archive" --keep-days 0 --base-dir "$base" 2>&1); rc=$?
check_rc "prune killed with SIGKILL after 5 changes" "$rc" 137 "$out"
check "the killed prune had deleted objects" grep -q "^delete " <<< "$out"
record=$(ls "$adir/prune" 2>/dev/null | head -n 1 | cut -c1-16 | sed 's/^0*//')
check "the killed prune wrote its record first" test -n "$record"
check "the killed prune left segments below the record's seq" test "$(first_seq)" -lt "${record:-0}"
wl_continuous_stop
mdb_sql src "FLUSH BINARY LOGS"
check "archive catches up with the server" agent_wait_caught_up src "$archive" 120
check "verify accepts the archive of the interrupted prune" "$BV_BIN" verify --archive "$archive"

# ---- a second prune finishes, again while the agent archives -------------------------------------------
wl_continuous_start src
sleep 1
before=$(segments)
out=$("$BV_BIN" prune --archive "$archive" --keep-days 0 --base-dir "$base" 2>&1); rc=$?
check_rc "second prune: exit 0" "$rc" 0 "$out"
check "second prune: deletes the rest" grep -q "^delete segment" <<< "$out"
check "segments were deleted" test "$(segments)" -lt "$before"
k=$(first_seq)
check "the archive starts after seq 1" test "$k" -gt 1
check "one prune record, for the first kept seq" test "$(ls "$adir/prune")" = "$(printf '%016d.json' "$k")"
check "no index chunk reaches below the first kept seq" \
    bash -c 'for f in "$1"/index/*.bvi; do n=$(basename "$f" | cut -c1-16 | sed "s/^0*//"); [ "$n" -ge "$2" ] || exit 1; done' _ "$adir" "$k"
sleep 2
wl_continuous_stop
mdb_sql src "FLUSH BINARY LOGS"
check "archive catches up after the prune" agent_wait_caught_up src "$archive" 120
check "verify: pruned archive is sound" "$BV_BIN" verify --archive "$archive"
out=$("$BV_BIN" verify --archive "$archive" 2>&1)
check "verify: the window starts at the first kept seq" grep -q "restorable window: seq $k-" <<< "$out"
check "verify: names the prune point" grep -q "^pruned: segments before seq $k deleted on purpose" <<< "$out"
out=$("$BV_BIN" list --archive "$archive" 2>&1)
check "list: names the prune point" grep -q "^pruned: segments before seq $k deleted on purpose" <<< "$out"
check "list --json: the prune record" python3 -c '
import json, sys
d = json.loads(sys.argv[1]); p = d["pruned"]
assert p["first_seq"] == int(sys.argv[2]) and p["file"] and p["start_pos"] >= 4, p
assert d["segments"][0]["seq"] == p["first_seq"], (d["segments"][0]["seq"], p)' \
    "$("$BV_BIN" list --archive "$archive" --json)" "$k"
check "verify --json: the prune record" python3 -c '
import json, sys
d = json.loads(sys.argv[1]); assert d["ok"] and d["pruned"]["first_seq"] == int(sys.argv[2]), d["pruned"]' \
    "$("$BV_BIN" verify --archive "$archive" --json)" "$k"

# ---- what the base backup needs is still there ----------------------------------------------------------
rm -rf "$BV_TEST_DIR/fetched"; mkdir -p "$BV_TEST_DIR/fetched"
check "fetch from the base backup's binlog position to the end" \
    "$BV_BIN" fetch --archive "$archive" --from-position "$base_file:$base_pos" --to "$BV_TEST_DIR/fetched"
check "the fetched range starts in the base backup's binlog file" test -f "$BV_TEST_DIR/fetched/$base_file"
n=$(find "$BV_TEST_DIR/fetched" -type f | wc -l)
check "the fetched range reaches the server's last binlog" \
    test -f "$BV_TEST_DIR/fetched/$(mdb_sql src 'SHOW MASTER STATUS' | awk '{print $1}')"
check "fetched binlogs read back" "$BV_BIN" inspect --quiet "$BV_TEST_DIR"/fetched/*
[ "$n" -gt 0 ] || fail "fetched files"

# ---- nothing more to prune; the agent resumes on the pruned archive ----------------------------------
out=$("$BV_BIN" prune --archive "$archive" --keep-days 3650 --base-dir "$base" 2>&1)
check "with everything recent there is nothing to prune" grep -q "^nothing to prune" <<< "$out"
agent_term; check_eq "SIGTERM: agent exits 0" "$?" 0
agent_start src "$archive" "$spool" "${opts[@]}"
mdb_sql src "CREATE DATABASE IF NOT EXISTS after_prune; CREATE TABLE after_prune.t (a INT) ENGINE=InnoDB;
             INSERT INTO after_prune.t VALUES (1),(2),(3); FLUSH BINARY LOGS; INSERT INTO after_prune.t VALUES (4)"
check "restarted agent archives on the pruned archive" agent_wait_caught_up src "$archive" 120
agent_term
check "verify after the restart" "$BV_BIN" verify --archive "$archive"
check "agent log: resumed without a gap" bash -c '! grep -q "has a gap" "$1"' _ "$BV_TEST_DIR/agent.log"

# ---- --before-gtid prunes up to a transaction ------------------------------------------------------------
gtid=$(mdb_sql src "SELECT @@gtid_binlog_pos")
out=$("$BV_BIN" prune --archive "$archive" --before-gtid "$gtid" 2>&1); rc=$?
check_rc "--before-gtid of the last transaction: exit 0" "$rc" 0 "$out"
check "--before-gtid: the last segment is kept" test "$(segments)" -ge 1
check "verify after --before-gtid" "$BV_BIN" verify --archive "$archive"
check_eq "--before-gtid of a future transaction: refused (exit 66)" \
    "$("$BV_BIN" prune --archive "$archive" --before-gtid 0-1-99999999 >/dev/null 2>&1; echo $?)" 66

# ---- a symbolic link inside the archive is never followed (issue 14) ----------------------------------
# The previous release's archive (tests/fixtures/archive-v1/plain, segments 1-8) with its segments/
# moved elsewhere and replaced by a symbolic link: prune fails on the first segment it would delete
# (the directory store refuses a name through a link below its root), and the link's target keeps
# every file.
linked=$BV_TEST_DIR/linked
cp -a "$BV_ROOT/tests/fixtures/archive-v1/plain" "$linked"
mv "$linked/segments" "$BV_TEST_DIR/elsewhere"
ln -s "$BV_TEST_DIR/elsewhere" "$linked/segments"
n_else=$(find "$BV_TEST_DIR/elsewhere" -type f | wc -l)
out=$("$BV_BIN" prune --archive "file://$linked" --keep-days 0 2>&1); rc=$?
check_rc "symlinked segments/: prune fails with a storage error" "$rc" 75 "$out"
check "symlinked segments/: the link is named" grep -q "segments' is a symbolic link" <<< "$out"
check_eq "symlinked segments/: every file of the link's target survives ($n_else)" \
    "$(find "$BV_TEST_DIR/elsewhere" -type f | wc -l)" "$n_else"
check "symlinked segments/: the link itself is still there" test -L "$linked/segments"
