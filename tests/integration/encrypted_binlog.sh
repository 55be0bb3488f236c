# A source that encrypts its binlogs (encrypt_binlog=ON with file_key_management), end to end.
#
# The agent archives the mixed workload and a continuous one (killed with SIGKILL and restarted in
# the middle of a file): it warns that the archive is not encrypted, stores every file's
# START_ENCRYPTION as an ignorable event of the same length (positions stay the server's: the
# archive's end is the server's end), marks the segment that holds it source_encrypted, and
# verify, recover --dry-run, fetch (read by mariadb-binlog), log and recover all work: a fresh
# server recovered to the end has the source's tables. An agent writing to an encrypted archive
# does not warn. `import` of the server's own (encrypted) binlog files is refused with exit 65
# and says why.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
T=$BV_TEST_DIR
archive="file://$T/archive"
trap 'wl_continuous_stop; agent_kill; mdb_stop_all' EXIT
opts=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --purge-check 0)

printf '1;%s\n' "$(openssl rand -hex 32)" > "$T/keys.txt"
mdb_start src plugin_load_add=file_key_management "file_key_management_filename=$T/keys.txt" \
    encrypt_binlog=ON || { fail "start mariadb with encrypt_binlog"; exit 1; }
repl_user src
check_eq "the source encrypts its binlogs" "$(mdb_sql src "SELECT @@encrypt_binlog")" 1
MDB_SERVER_ID=2 mdb_start target > /dev/null || { fail "start target"; exit 1; }

# ---- archive: a mixed workload, then a continuous one with a SIGKILL in the middle -------------
wl_mixed src
mdb_sql src "CREATE USER secretive@localhost IDENTIFIED BY 'not-in-clear-text'"
agent_start src "$archive" "$T/spool" "${opts[@]}"
wl_continuous_start src
sleep 3
agent_kill
sleep 1
agent_start src "$archive" "$T/spool" "${opts[@]}"
sleep 2
wl_continuous_stop
mdb_sql src "INSERT INTO wl.t1 (id,v,n) VALUES (1000,'last',1)"
check "archive catches up with the server" agent_wait_caught_up src "$archive" 120
agent_term

check "the agent warned that the archive is not encrypted" \
    grep -q "encrypts its binlogs (encrypt_binlog=ON) but archive '$archive' is not encrypted" "$T/agent.log"
check_eq "the warning is given once per run" "$(grep -c 'encrypts its binlogs' "$T/agent.log")" 2
out=$("$BV_BIN" verify --archive "$archive" 2>&1)
check_eq "verify passes" "$?" 0
echo "$out" | tail -n 3

# The first segment of every file holds its START_ENCRYPTION, replaced.
"$BV_BIN" list --archive "$archive" --json > "$T/list.json"
read -r files marked first_at_256 < <(python3 - "$T/list.json" <<'EOF'
import json, sys
segs = json.load(open(sys.argv[1]))["segments"]
files = {s["file"] for s in segs}
first = {}
for s in segs:
    first.setdefault(s["file"], s)
marked = [s for s in segs if s.get("source_encrypted")]
print(len(files), len(marked), sum(1 for s in first.values() if s["start_pos"] == 256 and s.get("source_encrypted")))
EOF
)
check "the archive holds several files" test "${files:-0}" -ge 3
check_eq "one segment per file is marked source_encrypted" "$marked" "$files"
check_eq "it is the file's first segment (from 256, after the FDE)" "$first_at_256" "$files"

# ---- fetch: every byte at the server's position, read by mariadb-binlog -------------------------
mkdir -p "$T/fetched"
check "fetch" "$BV_BIN" fetch --archive "$archive" --to "$T/fetched"
bad=0
for f in "$T"/fetched/*; do
    name=$(basename "$f")
    src_size=$(stat -c %s "$(mdb_dir src)/data/$name")
    [ "$(stat -c %s "$f")" = "$src_size" ] || { echo "# $name: $(stat -c %s "$f") bytes, server $src_size"; bad=1; }
    mariadb-binlog "$f" > "$T/decoded.sql" 2> "$T/decoded.err" || { echo "# mariadb-binlog $name:"; cat "$T/decoded.err"; bad=1; }
done
check_eq "fetched files have the server's sizes and mariadb-binlog reads them" "$bad" 0
check "the fetched files hold type 28 where START_ENCRYPTION was" \
    grep -q "Ignorable event type 28" < <(mariadb-binlog "$T/fetched/mariadb-bin.000001")
check_fails "no fetched file holds a START_ENCRYPTION event" \
    grep -q "Start_encryption" < <(for f in "$T"/fetched/*; do mariadb-binlog "$f"; done)
check "the archived events are the plaintext (the secret is readable: hence the warning)" \
    grep -q "not-in-clear-text" < <(for f in "$T"/fetched/*; do mariadb-binlog "$f"; done)

# ---- pull gives the same plain binlogs, and they import ------------------------------------------
mkdir -p "$T/pulled"
check "pull --stop-at-end" env BINVAULT_SOURCE_PASSWORD="$REPL_PASSWORD" "$BV_BIN" pull \
    --source "mysql://repl@127.0.0.1:$(mdb_port src)" --to "$T/pulled" --stop-at-end
bad=0
for f in "$T"/fetched/*; do
    cmp -s "$f" "$T/pulled/$(basename "$f")" || { echo "# pulled $(basename "$f") differs from fetched"; bad=1; }
done
check_eq "pulled files equal the fetched ones (START_ENCRYPTION stored the same way)" "$bad" 0
check "the pulled files import" "$BV_BIN" import --archive "file://$T/from-pull" "$T"/pulled/*

# ---- log and recover ---------------------------------------------------------------------------
check "log finds the last insert" grep -q "wl.t1" < <("$BV_BIN" log --archive "$archive" --grep "last")
out=$("$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port target)" --until-end \
      --from-gtid "" --dry-run 2>&1)
rc=$?
check_eq "recover --dry-run accepts the archive" "$rc" 0
[ "$rc" = 0 ] || echo "$out" | tail -n 5
out=$(BINVAULT_INTO_PASSWORD= "$BV_BIN" recover --archive "$archive" --into "mysql://root@127.0.0.1:$(mdb_port target)" \
      --until-end --from-gtid "" 2>&1)
rc=$?
check_eq "recover to the end exits 0" "$rc" 0
[ "$rc" = 0 ] || echo "$out" | tail -n 5
tables="wl.t1, wl.t2"
check_eq "the recovered server has the source's tables" "$(mdb_sql target "CHECKSUM TABLE $tables")" \
    "$(mdb_sql src "CHECKSUM TABLE $tables")"
check_eq "and its rows" "$(mdb_sql target "SELECT COUNT(*), MAX(id) FROM wl.t1")" \
    "$(mdb_sql src "SELECT COUNT(*), MAX(id) FROM wl.t1")"

# ---- an encrypted archive: no warning ----------------------------------------------------------
head -c 32 /dev/urandom > "$T/archive.key"; chmod 600 "$T/archive.key"
: > "$T/agent.log"
agent_start src "file://$T/encrypted" "$T/spool2" "${opts[@]}" --encrypt --key-file "$T/archive.key"
check "the encrypted archive catches up" env BINVAULT_KEY_FILE="$T/archive.key" \
    bash -c ". '$BV_ROOT/tests/lib/mariadb.sh'; . '$BV_ROOT/tests/lib/agent.sh'; agent_wait_caught_up_any src 'file://$T/encrypted' 60"
agent_term
check_fails "no warning with an encrypted archive" grep -q "is not encrypted" "$T/agent.log"
check "it says the archive encrypts them with its own key" grep -q "stores them encrypted with its own key" "$T/agent.log"

# ---- import of the server's encrypted files is refused -----------------------------------------
out=$("$BV_BIN" import --archive "file://$T/imported" "$(mdb_dir src)/data/mariadb-bin.000001" 2>&1)
check_eq "import of an encrypted binlog exits 65" "$?" 65
check "and says it is encrypted and what to do" grep -q "encrypted with the source server.s key.*binvault agent" <<< "$out"

# ---- recover --dry-run reads what applying would: a damaged segment is refused -----------------
cp -r "$T/archive" "$T/damaged"
seg=$(seg_names "$T/damaged" | sed -n 5p)
python3 - "$T/damaged/segments/$seg" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 3] ^= 0x55; open(p, 'wb').write(bytes(b))
PY
out=$("$BV_BIN" recover --archive "file://$T/damaged" --until-end --from-gtid "" --dry-run 2>&1)
rc=$?
check_eq "recover --dry-run of a plan over a damaged segment exits 65" "$rc" 65
check "and names the segment" grep -q "segments/$seg" <<< "$out"
