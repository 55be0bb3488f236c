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
# The privileges docs/OPERATIONS.md lists for the backup user, and no more. Not binlogged: MariaDB
# logs CREATE USER with its password in clear, and the check below looks for the password in every
# file of the archive (the source's binlogs included, whatever lz4 makes of them).
mdb_sql src "SET sql_log_bin = 0; CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY 'bk-secret \"1\\\\';
             GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'backup'@'127.0.0.1'; SET sql_log_bin = 1"
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
check_rss "backup: peak RSS ${rss} KiB stays under 64 MiB" "$rss"
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

# ---- the catalog shows it ------------------------------------------------------------------------
wl_continuous_stop
agent_wait_caught_up src "$archive" 60 || fail "agent caught up"
out=$("$BV_BIN" list --archive "$archive" 2>&1); rc=$?
check_rc "list: exit 0" "$rc" 0 "$out"
check "list: the backup, its point and its restorable window to the archive's end" \
    grep -q "^backup $id1: mariadb-backup .*consistent at $bfile:$bpos, gtid $bgtid; restorable from seq [0-9]* to the archive's end" <<< "$out"
"$BV_BIN" list --archive "$archive" --json > "$BV_TEST_DIR/list.json" 2>&1
check_eq "list --json: the backup and how far the binlogs take it" \
    "$(python3 -c "import json,sys; b=json.load(open(sys.argv[1]))['backups']; print(len(b), b[0]['id'], b[0]['gtid_state'], b[0]['restorable']['kind'])" "$BV_TEST_DIR/list.json")" \
    "1 $id1 $bgtid end"
out=$("$BV_BIN" verify --archive "$archive" 2>&1); rc=$?
check_rc "verify: the archive and its backup verify" "$rc" 0 "$out"
check "verify: the backup was read" grep -q "; 1 base backups, $(manifest_field "$m1" "['stream_len']") bytes" <<< "$out"

# ---- the backup, rolled forward with the archive, is the source -----------------------------------
# A server restored from the stored backup (extracted, prepared above), then `binvault recover`
# from the archive to its end: every table as on the source, which the workload wrote all along.
snapshot() { mdb_sql "$1" "CHECKSUM TABLE cw.s, cw.s2"; }
if MDB_SERVER_ID=1 mdb_start restored > /dev/null; then
    mdb_stop restored
    rm -rf "$(mdb_dir restored)/data"
    if mariadb-backup --copy-back --target-dir "$BV_TEST_DIR/restore1" --datadir "$(mdb_dir restored)/data" \
        > "$BV_TEST_DIR/copyback.log" 2>&1 && mdb_start restored; then
        ok "restore: a server starts on the stored backup"
        out=$("$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port restored)" \
              --base-dir "$BV_TEST_DIR/restore1" --until-end 2>&1); rc=$?
        check_rc "restore: recover from the backup's point to the archive's end: exit 0" "$rc" 0 "$out"
        check_eq "restore: every table as on the source" "$(snapshot restored)" "$(snapshot src)"
        mdb_stop restored
    else
        fail "restore: a server starts on the stored backup" "$(tail -n 5 "$BV_TEST_DIR/copyback.log")"
    fi
else
    fail "restore: start a server to restore into"
fi

# ---- status: the age of the newest backup -------------------------------------------------------
out=$("$BV_BIN" status --archive "$archive" --warn-backup-age 1h 2>&1); rc=$?
check_rc "status --warn-backup-age 1h: OK" "$rc" 0 "$out"
sleep 2
out=$("$BV_BIN" status --archive "$archive" --warn-backup-age 1 --json 2>&1); rc=$?
check_rc "status --warn-backup-age 1 (s): WARNING" "$rc" 1 "$out"
check "status: the summary says the backup is old" grep -q "newest base backup .* h old" <<< "$out"
check_eq "status --json: the backups" "$(python3 -c "import json,sys; b=json.loads(sys.stdin.read())['backups']; print(b['count'], b['restorable'], b['old'], b['reaches_archive_start'])" <<< "$out")" "1 True True False"
check "status: says that the archive's oldest segments precede every backup" \
    grep -q "no base backup reaches the archive's start: segments before seq [0-9]* precede every backup" <<< "$out"

# ---- a backup SIGKILLed midway ----------------------------------------------------------------------
# 8 MiB that lz4 cannot shrink, so that the backup has a hundred more 64 KiB parts to store after
# the third: with only the small tables left, it could write its last parts and its manifest
# between the poll that saw three parts and the SIGKILL.
mdb_sql src "CREATE DATABASE bulk; CREATE TABLE bulk.b (id INT PRIMARY KEY, b VARBINARY(1024)) ENGINE=InnoDB;
             INSERT INTO bulk.b SELECT seq, RANDOM_BYTES(1024) FROM bulk.seq_1_to_8192"
BINVAULT_SOURCE_PASSWORD=$BACKUP_PASSWORD "$BV_BIN" backup --archive "$archive" --tmp-dir "$tmp" --no-progress \
    --source "mysql://backup@127.0.0.1:$(mdb_port src)" --part-size 64K --parallel 1 > "$BV_TEST_DIR/backup2.out" 2>&1 &
bpid=$!
# Up to 120 s: the tool starts slowly when the machine is loaded (parallel tests, sanitizers).
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
    [ "$(find "$adir/backups" -name '*.bvp' -newer "$m1" 2>/dev/null | wc -l)" -ge 3 ] && break
    sleep 0.05
done
kill -9 "$bpid"; wait "$bpid" 2>/dev/null
# The interrupted backup is the one whose parts were stored after m1. (Not its directory '-newer
# "$m1"': the rename that published m1 sets the first backup's directory's mtime after m1's own, a
# clock tick later at times, and that picked the first backup.)
id2=$(find "$adir/backups" -name '*.bvp' -newer "$m1" 2>/dev/null | head -n 1 | sed 's|.*/backups/\([^/]*\)/parts/.*|\1|')
check "SIGKILL: the first backup is not taken for the killed one" test "$id2" != "$id1"
check "SIGKILL: the killed backup had stored parts" test -n "$id2" -a -d "$adir/backups/$id2/parts"
check "SIGKILL: it has no manifest" test ! -e "$adir/backups/$id2/manifest.json"
for _ in $(seq 1 100); do pgrep -f "[b]invault-backup-$id2.work" > /dev/null || break; sleep 0.1; done
check "SIGKILL: the backup tool died with it" bash -c "! pgrep -f '[b]invault-backup-$id2.work' > /dev/null"
check "SIGKILL: the password left the disk once the tool streamed" test ! -e "$tmp/binvault-backup-$id2.cnf"
out=$("$BV_BIN" list --archive "$archive" --json 2>&1)
check_eq "SIGKILL: list shows only the complete backup, and one incomplete" \
    "$(python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print([b['id'] for b in d['backups']], d['incomplete_backups'])" <<< "$out")" \
    "['$id1'] 1"
out=$("$BV_BIN" verify --archive "$archive" 2>&1); rc=$?
check_rc "SIGKILL: verify accepts the archive, the interrupted backup is a note" "$rc" 0 "$out"
check "SIGKILL: verify names the interrupted backup" grep -q "note: backup '$id2' is incomplete" <<< "$out"
out=$(backup "$archive" 2>&1); rc=$?
check_rc "SIGKILL: the next backup succeeds" "$rc" 0 "$out"
check "SIGKILL: the next backup removes the interrupted one" grep -q "removed the interrupted backup '$id2'" <<< "$out"
# (A put the SIGKILL cut short leaves the store's own temporary file, which 'storage clean-temp' removes.)
check_eq "SIGKILL: no object of it is left" "$(find "$adir/backups/$id2" -type f -not -name '*.tmp.*' 2>/dev/null | wc -l)" 0
id3=$(sed -n 's/^backup \([^ ]*\) stored in .*/\1/p' <<< "$out")
check "SIGKILL: the next backup removes what it left in the temporary directory" test -z "$(ls -A "$tmp")"
check "SIGKILL: the next backup is listed" bash -c "'$BV_BIN' list --archive '$archive' | grep -q '^backup $id3:'"

# ---- a corrupt part is named by verify -----------------------------------------------------------
part=$(find "$adir/backups/$id1/parts" -name '*.bvp' | sort | sed -n 2p)
cp "$part" "$BV_TEST_DIR/part.bak"
python3 - "$part" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(200); b = f.read(1); f.seek(200); f.write(bytes([b[0] ^ 0x55]))
PY
out=$("$BV_BIN" verify --archive "$archive" 2>&1); rc=$?
check_rc "corrupt part: verify fails with exit 65" "$rc" 65 "$out"
check "corrupt part: verify names it" grep -q "backups/$id1/parts/$(basename "$part")" <<< "$out"
cp "$BV_TEST_DIR/part.bak" "$part"
check "corrupt part: restored, verify passes" "$BV_BIN" verify --archive "$archive"

# ---- retention: prune --keep-backups 1 keeps exactly what the newest backup needs ------------------
mdb_sql src "FLUSH BINARY LOGS"
sleep 2
"$BV_BIN" list --archive "$archive" --json > "$BV_TEST_DIR/list2.json"
need=$(python3 -c "import json,sys; b=json.load(open(sys.argv[1]))['backups']; print(b[-1]['restorable']['from_seq'], b[-1]['id'])" "$BV_TEST_DIR/list2.json")
read -r need_seq newest <<< "$need"
check_eq "prune: the newest backup is the one taken after the SIGKILL" "$newest" "$id3"
out=$("$BV_BIN" prune --archive "$archive" --keep-backups 1 --dry-run 2>&1); rc=$?
check_rc "prune --keep-backups 1 --dry-run: exit 0" "$rc" 0 "$out"
check "prune --dry-run: would delete the older backup" grep -q "^would delete backup $id1" <<< "$out"
check "prune --dry-run: nothing deleted" test -f "$m1"
out=$("$BV_BIN" prune --archive "$archive" --keep-backups 1 2>&1); rc=$?
check_rc "prune --keep-backups 1: exit 0" "$rc" 0 "$out"
check "prune: says what the kept backup needs" grep -q "^backup $id3 .* needs seq $need_seq and later" <<< "$out"
"$BV_BIN" list --archive "$archive" --json > "$BV_TEST_DIR/list3.json"
check_eq "prune: one backup left, the newest, still restorable to the archive's end" \
    "$(python3 -c "import json,sys; b=json.load(open(sys.argv[1]))['backups']; print(len(b), b[0]['id'], b[0]['restorable']['kind'], b[0]['restorable']['from_seq'])" "$BV_TEST_DIR/list3.json")" \
    "1 $id3 end $need_seq"
check_eq "prune: the archive now starts at the segment the newest backup needs" \
    "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['segments'][0]['seq'])" "$BV_TEST_DIR/list3.json")" "$need_seq"
check_eq "prune: no object of the deleted backup is left" "$(find "$adir/backups/$id1" -type f 2>/dev/null | wc -l)" 0
out=$("$BV_BIN" verify --archive "$archive" 2>&1); rc=$?
check_rc "prune: verify accepts the pruned archive and its backup" "$rc" 0 "$out"
out=$("$BV_BIN" status --archive "$archive" --json 2>&1)
check_eq "prune: status says the newest backup now reaches the archive's start" \
    "$(python3 -c "import json,sys; b=json.loads(sys.stdin.read())['backups']; print(b['reaches_archive_start'], b['first_restorable_seq'])" <<< "$out")" "True $need_seq"
out=$("$BV_BIN" prune --archive "$archive" --keep-backups 1 2>&1); rc=$?
check_rc "prune again: exit 0" "$rc" 0 "$out"
check "prune again: nothing more to delete" grep -q "^nothing to prune" <<< "$out"
# The pruned archive still restores: the newest backup, to the archive's end, as the source.
wl_continuous_stop
agent_wait_caught_up src "$archive" 60 || fail "prune: the agent caught up"
# As root, the restored server runs as mysql: a data directory it cannot reach is refused at once,
# before anything is unpacked (it used to fail only when the private server started).
chmod 0711 "$BV_TEST_DIR"
mkdir -m 0700 "$BV_TEST_DIR/locked"
out=$("$BV_BIN" restore --archive "$archive" --until-end --datadir "$BV_TEST_DIR/locked/dir" 2>&1); rc=$?
check_rc "restore into a directory the server's account cannot reach: exit 78" "$rc" 78 "$out"
check "and says why, naming the directory in the way" grep -q "cannot reach .*'$BV_TEST_DIR/locked' is mode 0700" <<< "$out"
check_eq "and nothing was unpacked" "$(ls -A "$BV_TEST_DIR/locked")" ""
out=$("$BV_BIN" restore --archive "$archive" --until-end --datadir "$BV_TEST_DIR/pruned-restore" 2>&1); rc=$?
check_rc "prune: restore --until-end from the pruned archive: exit 0" "$rc" 0 "$out"
check "prune: restore used the kept backup" grep -q "$id3" <<< "$out"
if MDB_SERVER_ID=6 mdb_start prunedr > /dev/null; then
    mdb_stop prunedr
    rm -rf "$(mdb_dir prunedr)/data"
    mv "$BV_TEST_DIR/pruned-restore" "$(mdb_dir prunedr)/data"
    if mdb_start prunedr > /dev/null; then
        check_eq "prune: the restored server has the source's tables" "$(snapshot prunedr)" "$(snapshot src)"
        mdb_stop prunedr
    else
        fail "prune: a server starts on the restored data directory"
    fi
fi

# ---- an encrypted archive: parts are encrypted like every object ------------------------------------
head -c 32 /dev/urandom > "$BV_TEST_DIR/key"; chmod 600 "$BV_TEST_DIR/key"
"$BV_BIN" import --archive "$BV_TEST_DIR/enc" --encrypt --key-file "$BV_TEST_DIR/key" \
    "$(mdb_binlog_files src | head -n 1)" > /dev/null 2>&1 || fail "import into an encrypted archive"
out=$(backup "$BV_TEST_DIR/enc" --key-file "$BV_TEST_DIR/key" --part-size 4M 2>&1); rc=$?
check_rc "encrypted archive: backup exit 0" "$rc" 0 "$out"
encid=$(sed -n 's/^backup \([^ ]*\) stored in .*/\1/p' <<< "$out")
check "encrypted archive: no part is stored in plaintext" \
    bash -c "! grep -l 'BVPRT' '$BV_TEST_DIR/enc/backups/$encid/parts/'*.bvp"
out=$("$BV_BIN" verify --archive "$BV_TEST_DIR/enc" --key-file "$BV_TEST_DIR/key" 2>&1); rc=$?
check_rc "encrypted archive: verify reads the backup with the key" "$rc" 0 "$out"
check "encrypted archive: the backup was read" grep -q "; 1 base backups" <<< "$out"
mdb_start other "server_id=77" > /dev/null 2>&1 && mdb_sql other "CREATE USER 'backup'@'127.0.0.1' IDENTIFIED BY 'bk-secret \"1\\\\'"
out=$(BINVAULT_SOURCE_PASSWORD=$BACKUP_PASSWORD "$BV_BIN" backup --archive "$archive" --tmp-dir "$tmp" \
      --source "mysql://backup@127.0.0.1:$(mdb_port other)" 2>&1); rc=$?
check_rc "the archive of another server: exit 78" "$rc" 78 "$out"
check "the archive of another server: said" grep -q "holds the binlogs of mariadb server_id 1, not of the source (mariadb server_id 77)" <<< "$out"
mdb_stop other

# ---- memory: a bigger database, default part size --------------------------------------------------
# About 160 MiB of incompressible rows: the stream is cut into 64 MiB parts, compressed and stored 4
# at a time; binvault's own peak RSS stays far below 64 MiB whatever the size.
mdb_sql src "CREATE TABLE cw.big (id INT PRIMARY KEY, b BLOB) ENGINE=InnoDB;
             USE cw; INSERT INTO cw.big SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_160000"
out=$(backup "$archive" --json 2>"$BV_TEST_DIR/big.err"); rc=$?
check_rc "big: backup exit 0" "$rc" 0 "$(cat "$BV_TEST_DIR/big.err")"
read -r big_parts big_len big_rss <<< "$(python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print(d['parts'], d['stream_len'], d['peak_rss_kib'])" <<< "$out")"
check "big: a stream of $big_len bytes in $big_parts parts of 64 MiB" test "${big_parts:-0}" -ge 3
check_rss "big: peak RSS ${big_rss} KiB stays under 64 MiB" "$big_rss"
check "big: nothing is left in the temporary directory" test -z "$(ls -A "$tmp")"
mdb_sql src "DROP TABLE cw.big"

# ---- the same on S3 (Swift with s3api) ----------------------------------------------------------------
. "$BV_ROOT/tests/lib/swift.sh"
trap 'wl_continuous_stop; agent_kill; s3_stop_all; mdb_stop_all' EXIT
if s3_start; then
    agent_kill
    s3archive="s3://$S3_BUCKET/backup-test"
    s3opts=(--s3-endpoint "$S3_ENDPOINT" --s3-uri-style path)
    agent_start src "$s3archive" "$BV_TEST_DIR/spool-s3" "${s3opts[@]}" --segment-size 64K --segment-interval 300ms
    wl_continuous_start src
    sleep 3
    out=$(backup "$s3archive" "${s3opts[@]}" --part-size 1M --json 2>&1); rc=$?
    check_rc "S3: backup under a workload: exit 0" "$rc" 0 "$out"
    s3id=$(python3 -c "import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])['id'])" <<< "$out" 2>/dev/null)
    wl_continuous_stop
    # The agent archives the backup's point within a few segment intervals.
    for _ in $(seq 1 120); do
        out=$("$BV_BIN" list --archive "$s3archive" "${s3opts[@]}" 2>&1)
        grep -q "^backup $s3id: .*restorable from" <<< "$out" && break
        sleep 0.5
    done
    check "S3: list shows the backup, restorable to the archive's end" \
        grep -q "^backup $s3id: .*restorable from seq [0-9]* to the archive's end" <<< "$out"
    out=$("$BV_BIN" verify --archive "$s3archive" "${s3opts[@]}" 2>&1); rc=$?
    check_rc "S3: verify reads the backup: exit 0" "$rc" 0 "$out"
    check "S3: verify read the backup" grep -q "; 1 base backups" <<< "$out"
    # The stream read back from S3 is the one mariadb-backup wrote: mbstream unpacks it.
    mkdir -p "$BV_TEST_DIR/s3copy/backups/$s3id/parts"
    "$BV_BIN" storage --archive "$s3archive" "${s3opts[@]}" get "backups/$s3id/parts.bvi" > "$BV_TEST_DIR/s3copy/backups/$s3id/parts.bvi"
    while read -r name; do
        "$BV_BIN" storage --archive "$s3archive" "${s3opts[@]}" get "$name" > "$BV_TEST_DIR/s3copy/$name"
    done < <(python3 -c "import json,sys; [print(json.loads(l)['name']) for l in open(sys.argv[1])]" "$BV_TEST_DIR/s3copy/backups/$s3id/parts.bvi")
    extract "$BV_TEST_DIR/s3copy" "$s3id" "$BV_TEST_DIR/s3stream"
    mkdir -p "$BV_TEST_DIR/s3restore"
    check "S3: the stored stream unpacks with mbstream" bash -c "mbstream -x -C '$BV_TEST_DIR/s3restore' < '$BV_TEST_DIR/s3stream' && test -s '$BV_TEST_DIR/s3restore/xtrabackup_checkpoints'"

    # binvault restore from the S3 archive: a fresh data directory, to the archive's end, started
    # as it is, holds the source's tables.
    check "S3: the agent catches up" agent_wait_caught_up_any src "$s3archive" 120
    out=$("$BV_BIN" restore --archive "$s3archive" "${s3opts[@]}" --backup "$s3id" --until-end \
          --datadir "$BV_TEST_DIR/s3restored" 2>&1); rc=$?
    check_rc "S3: restore --until-end from the S3 archive: exit 0" "$rc" 0 "$out"
    if MDB_SERVER_ID=5 mdb_start s3r > /dev/null; then
        mdb_stop s3r
        rm -rf "$(mdb_dir s3r)/data"
        mv "$BV_TEST_DIR/s3restored" "$(mdb_dir s3r)/data"
        if mdb_start s3r > /dev/null; then
            check_eq "S3: the restored server has the source's tables" "$(snapshot s3r)" "$(snapshot src)"
            mdb_stop s3r
        else
            fail "S3: a server starts on the restored data directory"
        fi
    else
        fail "S3: start a server for the restored data directory"
    fi

    # SIGKILL midway: nothing listed; the next backup removes it.
    BINVAULT_SOURCE_PASSWORD=$BACKUP_PASSWORD "$BV_BIN" backup --archive "$s3archive" "${s3opts[@]}" --tmp-dir "$tmp" \
        --no-progress --source "mysql://backup@127.0.0.1:$(mdb_port src)" --part-size 64K --parallel 1 \
        > "$BV_TEST_DIR/backup-s3kill.out" 2>&1 &
    bpid=$!
    deadline=$((SECONDS + 120))
    while [ $SECONDS -lt $deadline ]; do
        [ "$("$BV_BIN" storage --archive "$s3archive" "${s3opts[@]}" list backups/ 2>/dev/null | grep -v "$s3id" | grep -c '\.bvp')" -ge 3 ] && break
        sleep 0.1
    done
    kill -9 "$bpid"; wait "$bpid" 2>/dev/null
    out=$("$BV_BIN" list --archive "$s3archive" "${s3opts[@]}" --json 2>&1)
    check_eq "S3 SIGKILL: list shows only the complete backup, and one incomplete" \
        "$(python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print([b['id'] for b in d['backups']], d['incomplete_backups'])" <<< "$out")" \
        "['$s3id'] 1"
    out=$(backup "$s3archive" "${s3opts[@]}" 2>&1); rc=$?
    check_rc "S3 SIGKILL: the next backup succeeds" "$rc" 0 "$out"
    check "S3 SIGKILL: and removes the interrupted one" grep -q "removed the interrupted backup" <<< "$out"
    out=$("$BV_BIN" list --archive "$s3archive" "${s3opts[@]}" --json 2>&1)
    check_eq "S3 SIGKILL: two complete backups, none incomplete" \
        "$(python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print(len(d['backups']), d['incomplete_backups'])" <<< "$out")" "2 0"

    # A corrupt part (replaced in the store behind binvault's back) is named by verify.
    pname=backups/$s3id/parts/00000002.bvp
    "$BV_BIN" storage --archive "$s3archive" "${s3opts[@]}" get "$pname" > "$BV_TEST_DIR/s3part"
    python3 -c "
import sys
d = bytearray(open(sys.argv[1], 'rb').read()); d[300] ^= 0x55; open(sys.argv[1], 'wb').write(d)" "$BV_TEST_DIR/s3part"
    "$BV_BIN" storage --archive "$s3archive" "${s3opts[@]}" put "$pname" "$BV_TEST_DIR/s3part" --replace > /dev/null 2>&1
    out=$("$BV_BIN" verify --archive "$s3archive" "${s3opts[@]}" 2>&1); rc=$?
    check_rc "S3 corrupt part: verify exit 65" "$rc" 65 "$out"
    check "S3 corrupt part: verify names it" grep -q "$pname" <<< "$out"
else
    fail "start swift"
fi
