# binvault backup against a real MariaDB 10.11 with mariadb-backup: an agent archives the server under
# a continuous workload while `binvault backup` (a least-privilege user) stores a base backup in the
# archive; the stored stream, extracted part by part, is a backup that mbstream unpacks and
# mariadb-backup prepares, consistent at the point the manifest records. A backup SIGKILLed midway
# leaves nothing listed, and the next backup removes it and succeeds. A corrupt part is named by
# verify. Peak RSS of the backup stays under 64 MiB. The same on Swift's S3 API.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
adir=$BV_TEST_DIR/archive
archive="file://$adir"
spool="$BV_TEST_DIR/spool"
tmp=$BV_TEST_DIR/tmp
mkdir -p "$tmp"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT

BACKUP_PASSWORD='bk-secret "1\'
check_rc() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "exit $2, want $3:
$4"; fi; }

# backup ARCHIVE [options...]: binvault backup as the least-privilege user.
backup() {
    local a=$1; shift
    BINVAULT_SOURCE_PASSWORD=$BACKUP_PASSWORD "$BV_BIN" backup --archive "$a" \
        --source "mysql://backup@127.0.0.1:$(mdb_port src)" --tmp-dir "$tmp" --no-progress "$@"
}

# extract DIR ID OUT: the stream of backup ID of the directory archive DIR, from its parts (magic,
# lz4 frame, trailer), as a reader that does not use binvault would.
extract() {
    python3 - "$1" "$2" <<'PY' | while read -r part frame; do tail -c +9 "$part" | head -c "$frame" | lz4 -dc; done > "$3"
import json, os, struct, sys
root, bid = sys.argv[1], sys.argv[2]
for line in open(os.path.join(root, "backups", bid, "parts.bvi")):
    p = json.loads(line)
    path = os.path.join(root, p["name"])
    with open(path, "rb") as f:
        f.seek(-16, 2)
        tlen = struct.unpack("<I", f.read(4))[0]
    print(path, os.path.getsize(path) - 8 - tlen - 16)
PY
}

manifest_field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d' + sys.argv[2]))" "$1" "$2"; }

mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
# The privileges docs/OPERATIONS.md lists for the backup user, and no more.
mdb_sql src "CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY 'bk-secret \"1\\\\';
             GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'backup'@'127.0.0.1'"
check_eq "least-privilege user: its grants" "$(mdb_sql src "SHOW GRANTS FOR 'backup'@'127.0.0.1'" | head -n 1 | sed 's/ IDENTIFIED.*//')" \
    "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO \`backup\`@\`127.0.0.1\`"

# ---- a backup while the workload runs ----------------------------------------------------------
wl_continuous_start src
agent_start src "$archive" "$spool" --segment-size 64K --segment-interval 300ms
sleep 3
# ---- the command line ------------------------------------------------------------------------------
out=$("$BV_BIN" backup --archive "$archive" --source "mysql://backup@127.0.0.1:1" --bogus 2>&1); rc=$?
check_rc "unknown option: exit 64" "$rc" 64 "$out"
out=$("$BV_BIN" backup --archive "$archive" --source-password x --source "mysql://backup@127.0.0.1:1" 2>&1); rc=$?
check_rc "password on the command line: exit 64" "$rc" 64 "$out"
out=$(backup "$archive" --tool /nonexistent/mariadb-backup 2>&1); rc=$?
check_rc "a backup tool that cannot run: exit 78" "$rc" 78 "$out"
check "a backup tool that cannot run: named" grep -q "/nonexistent/mariadb-backup" <<< "$out"
out=$(BINVAULT_SOURCE_PASSWORD=wrong "$BV_BIN" backup --archive "$archive" --tmp-dir "$tmp" \
      --source "mysql://backup@127.0.0.1:$(mdb_port src)" 2>&1); rc=$?
check_rc "wrong password: exit 77" "$rc" 77 "$out"

backup "$archive" --json --part-size 1M > "$BV_TEST_DIR/backup1.json" 2> "$BV_TEST_DIR/backup1.err"
rc=$?
check_rc "backup under a workload: exit 0" "$rc" 0 "$(cat "$BV_TEST_DIR/backup1.err")"
id1=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$BV_TEST_DIR/backup1.json" 2>/dev/null)
check "backup: --json names the backup" test -n "$id1"
m1=$adir/backups/$id1/manifest.json
check "backup: the manifest is written" test -f "$m1"
rss=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['peak_rss_kib'])" "$BV_TEST_DIR/backup1.json")
check "backup: peak RSS ${rss} KiB stays under 64 MiB" test "$rss" -lt 65536
check "backup: nothing is left in the temporary directory" test -z "$(ls -A "$tmp")"
check "backup: the password is in no file left behind" bash -c "! grep -rqF 'bk-secret' '$BV_TEST_DIR/tmp' '$adir'"

extract "$adir" "$id1" "$BV_TEST_DIR/stream1"
check_eq "backup: the parts hold stream_len bytes" "$(stat -c %s "$BV_TEST_DIR/stream1")" "$(manifest_field "$m1" "['stream_len']")"
mkdir -p "$BV_TEST_DIR/restore1"
if mbstream -x -C "$BV_TEST_DIR/restore1" < "$BV_TEST_DIR/stream1" &&
   mariadb-backup --prepare --target-dir="$BV_TEST_DIR/restore1" > "$BV_TEST_DIR/prepare.log" 2>&1; then
    ok "backup: the stored stream unpacks with mbstream and prepares with mariadb-backup"
else
    fail "backup: the stored stream unpacks with mbstream and prepares with mariadb-backup" "$(tail -n 20 "$BV_TEST_DIR/prepare.log")"
fi
info=$BV_TEST_DIR/restore1/mariadb_backup_binlog_info
[ -f "$info" ] || info=$BV_TEST_DIR/restore1/xtrabackup_binlog_info
read -r bfile bpos bgtid < "$info"
check_eq "backup: the manifest records the backup's own binlog point" \
    "$(manifest_field "$m1" "['binlog']['file']") $(manifest_field "$m1" "['binlog']['pos']") $(manifest_field "$m1" "['binlog']['gtid_state']")" \
    "$bfile $bpos $bgtid"
check_eq "backup: tool and version" "$(manifest_field "$m1" "['tool']") $(manifest_field "$m1" "['tool_version']")" \
    "mariadb-backup $(mariadb-backup --version 2>&1 | grep -o '[0-9]*\.[0-9]*\.[0-9]*' | head -n 1)"
