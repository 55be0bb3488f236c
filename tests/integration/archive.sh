# The archive without the agent: a live server's binlog files are imported (import), listed (list),
# verified (verify) and written back out (fetch), whole and in sub-ranges by GTID and position,
# and compared with the server's own files byte for byte and through mariadb-binlog. Corruptions
# of the archive (a flipped bit, a deleted segment, a truncated segment) are each found by verify.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
trap mdb_stop_all EXIT

T=$BV_TEST_DIR
ARC=$T/archive
mkdir -p "$ARC"

mdb_start src || { fail "start mariadb"; exit 1; }
wl_mixed src
# Enough rows for several segments per file at the small segment size used here.
mdb_sql src "CREATE TABLE wl.big (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;
    INSERT INTO wl.big SELECT seq, REPEAT(CONCAT('row ', seq), 20) FROM wl.seq_1_to_200;
    UPDATE wl.big SET v = CONCAT(v, '!') WHERE id % 3 = 0;"
for i in $(seq 1 20); do mdb_sql src "INSERT INTO wl.t1 (id, v, n) VALUES ($((100 + i)), 'loop $i', $i)"; done
mdb_sql src "FLUSH BINARY LOGS"
mapfile -t files < <(mdb_binlog_files src)
check "server wrote several binlog files" test "${#files[@]}" -ge 4
active=${files[${#files[@]}-1]}

# --- import: in two steps, the second continuing the first ---------------------------------------
out=$("$BV_BIN" import --archive "$ARC" --segment-size 4096 "${files[0]}" "${files[1]}" 2>&1); rc=$?
check_eq "import of the first two files exits 0" "$rc" 0
[ $rc -eq 0 ] || echo "$out" | sed 's/^/    /'
out=$("$BV_BIN" import --archive "$ARC" --segment-size 4096 "${files[@]}" 2>&1); rc=$?
check_eq "import of every file exits 0" "$rc" 0
check "the second import skips the files already archived" grep -q "skipping.*already holds" <<< "$out"
# The active file grows; a third import resumes inside it.
for i in $(seq 1 10); do mdb_sql src "INSERT INTO wl.t1 (id, v, n) VALUES ($((200 + i)), 'after import $i', $i)"; done
out=$("$BV_BIN" import --archive "$ARC" --segment-size 4096 "${files[@]}" 2>&1); rc=$?
check_eq "import resuming inside the active file exits 0" "$rc" 0
check "import resumed with new segments" grep -q "imported [1-9]" <<< "$out"
# MariaDB appends BINLOG_CHECKPOINT events asynchronously after commits: let them land and be
# imported, then an import of the same files has nothing to do.
sleep 1
"$BV_BIN" import --archive "$ARC" "${files[@]}" > /dev/null 2>&1
out=$("$BV_BIN" import --archive "$ARC" "${files[@]}" 2>&1)
check "import with nothing new says so" grep -q "nothing to import" <<< "$out"
# binlogs of another flavour are refused
check_fails "a mysql binlog is refused by a mariadb archive" \
    "$BV_BIN" import --archive "$ARC" "$BV_FIXTURES/mysql-8.0.45-gtid.000001.binlog"
"$BV_BIN" import --archive "$ARC" "$BV_FIXTURES/mysql-8.0.45-gtid.000001.binlog" >/dev/null 2>&1
check_eq "flavour refusal exits 78" "$?" 78

# --- list ------------------------------------------------------------------------------------------
"$BV_BIN" list --archive "$ARC" > "$T/list.txt" 2>&1
check_eq "list exits 0" "$?" 0
check "list prints the summary and window" grep -qE "^[0-9]+ segments, [0-9]+ bytes.*transactions" "$T/list.txt"
check "list prints the window" grep -q "^window seq 1-" "$T/list.txt"
check "list: no prune line for an archive never pruned" bash -c '! grep -q "^pruned:" "$1"' _ "$T/list.txt"
# The summary shows the last segments; --all every one, streamed.
nseg=$(sed -nE 's/^([0-9]+) segments, .*/\1/p' "$T/list.txt")
check "list: more than 10 segments here" test "${nseg:-0}" -gt 10
check "list: says it shows the last 10 of them" grep -q "^the last 10 of $nseg segments ('list --all' prints every one):" "$T/list.txt"
check_eq "list: 10 segment rows, the last ones" "$(grep -cE '^ +[0-9]+  mariadb-bin' "$T/list.txt")" 10
check "list: the last row is the last segment" grep -qE "^ +$nseg  mariadb-bin" "$T/list.txt"
"$BV_BIN" list --archive "$ARC" --all > "$T/list-all.txt" 2>&1
check_eq "list --all: one row per segment" "$(grep -cE '^ +[0-9]+  mariadb-bin' "$T/list-all.txt")" "$nseg"
check "list --all: ends with the same summary" diff <(grep -E '^[0-9]+ segments|^window' "$T/list.txt") \
    <(grep -E '^[0-9]+ segments|^window' "$T/list-all.txt")
"$BV_BIN" list --archive "$ARC" --json > "$T/list.json"
summary=$(python3 - "$T/list.json" "${#files[@]}" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
segs = d["segments"]
ok = (len(segs) == d["summary"]["segments"] == d["summary"]["contiguous_seq"]
      and [s["seq"] for s in segs] == list(range(1, len(segs) + 1))
      and not d["gaps"] and not d["problems"] and len(d["windows"]) == 1 and d["pruned"] is None
      and all(s["indexed"] and s["stored"] for s in segs)
      and len({s["file"] for s in segs}) == int(sys.argv[2]))
print("ok" if ok else "bad: %d segments, gaps %s, problems %s" % (len(segs), d["gaps"], d["problems"]))
EOF
)
check_eq "list --json: segments 1..N, contiguous, one window, every file" "$summary" ok
nseg=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["segments"]))' "$T/list.json")
check "several segments per file were cut" test "$nseg" -gt "${#files[@]}"

# --- verify ----------------------------------------------------------------------------------------
"$BV_BIN" verify --archive "$ARC" > "$T/verify.txt" 2>&1
check_eq "verify of a sound archive exits 0" "$?" 0
check "verify says OK" grep -q ": OK$" "$T/verify.txt"
check "verify prints the restorable window" grep -q "^restorable window: seq 1-$nseg" "$T/verify.txt"
want_end=$(mdb_sql src "SELECT @@gtid_binlog_pos")
check "the window ends at the server's gtid_binlog_pos" grep -q "gtid state $want_end;" "$T/verify.txt"
"$BV_BIN" verify --archive "$ARC" --json > "$T/verify.json"
check_eq "verify --json ok" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ok"], d["segments"])' "$T/verify.json")" "True $nseg"

# --- fetch the whole range and compare with the server's files ----------------------------------
# A fetched file must equal the server's over the archived range: the whole file for closed files,
# a prefix for the active one, with the FDE's in-use flag (bit 0 of byte 21) clear.
cat > "$T/same.py" <<'EOF'
import sys
fetched, server = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
full = len(sys.argv) > 3 and sys.argv[3] == "full"
if full and len(fetched) != len(server):
    sys.exit("length %d, server file %d" % (len(fetched), len(server)))
s = bytearray(server[:len(fetched)])
s[21] &= 0xFE
if bytes(s) != fetched:
    at = next(i for i in range(len(fetched)) if i >= len(s) or s[i] != fetched[i])
    sys.exit("differs at offset %d" % at)
EOF
"$BV_BIN" fetch --archive "$ARC" --to "$T/all" > "$T/fetch.txt" 2>&1
check_eq "fetch of the whole archive exits 0" "$?" 0
for f in "${files[@]}"; do
    name=$(basename "$f")
    if [ "$f" = "$active" ]; then
        check "$name (active): fetched bytes are the server's" python3 "$T/same.py" "$T/all/$name" "$f"
    else
        check "$name: fetched file is byte-identical" python3 "$T/same.py" "$T/all/$name" "$f" full
        TZ=UTC mariadb-binlog "$f" > "$T/$name.server.txt" 2>&1
        TZ=UTC mariadb-binlog "$T/all/$name" > "$T/$name.fetched.txt" 2>&1
        check "$name: mariadb-binlog reads it as the server's" cmp -s "$T/$name.server.txt" "$T/$name.fetched.txt"
    fi
done

# --- fetch sub-ranges: by GTID and by position ------------------------------------------------------
for f in "${files[@]}"; do "$BV_BIN" inspect --transactions --json "$f"; done > "$T/txns.json"
# Expected bytes of a range [file_a:start, file_b:end): per file, magic + FDE + the server's bytes.
cat > "$T/range.py" <<'EOF'
import os, struct, sys
outdir, files, start_file, start, end_file, end = sys.argv[1], sys.argv[2].split(), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
names = [os.path.basename(f) for f in files]
a, b = names.index(start_file), names.index(end_file)
got = sorted(os.listdir(outdir))
if got != names[a:b + 1]:
    sys.exit("files %s, expected %s" % (got, names[a:b + 1]))
for i in range(a, b + 1):
    server = open(files[i], "rb").read()
    fde_len = struct.unpack_from("<I", server, 4 + 9)[0]
    lo = start if i == a else 4 + fde_len
    hi = end if i == b else len(server)
    want = bytearray(server[:4 + fde_len] + server[lo:hi])
    want[21] &= 0xFE
    if open(os.path.join(outdir, names[i]), "rb").read() != bytes(want):
        sys.exit("%s differs from the server's bytes %d-%d" % (names[i], lo, hi))
EOF
# GTIDs of transactions in the first and third files (positions from inspect).
pick() { python3 - "$T/txns.json" "$1" "$2" <<'EOF'
import json, sys
txns = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
file, k = sys.argv[2], int(sys.argv[3])
mine = [t for t in txns if t["file"].endswith("/" + file) and t["gtid"].startswith("0-")]
t = mine[k]
print(t["gtid"], t["start_pos"], t["end_pos"])
EOF
}
f0=$(basename "${files[0]}"); f2=$(basename "${files[2]}")
read -r g_from s_from _ <<< "$(pick "$f0" 2)"
read -r g_until _ e_until <<< "$(pick "$f2" 1)"
"$BV_BIN" fetch --archive "$ARC" --from-gtid "$g_from" --until-gtid "$g_until" --to "$T/bygtid" > "$T/fetch2.txt" 2>&1
check_eq "fetch --from-gtid $g_from --until-gtid $g_until exits 0" "$?" 0
check "gtid range: the server's bytes from $f0:$s_from to $f2:$e_until" \
    python3 "$T/range.py" "$T/bygtid" "${files[*]}" "$f0" "$s_from" "$f2" "$e_until"
first_gtid=$("$BV_BIN" inspect --transactions --json "$T/bygtid/$f0" | head -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["gtid"])')
check_eq "gtid range starts with the from transaction" "$first_gtid" "$g_from"
TZ=UTC mariadb-binlog --start-position="$s_from" "${files[0]}" 2>&1 | grep -v '^# at ' | sed 's/end_log_pos.*//' > "$T/srv.sub.txt"
TZ=UTC mariadb-binlog "$T/bygtid/$f0" 2>&1 | grep -v '^# at ' | sed 's/end_log_pos.*//' > "$T/fet.sub.txt"
check "gtid range: mariadb-binlog output of $f0 matches the server's from $s_from" cmp -s "$T/srv.sub.txt" "$T/fet.sub.txt"

# By position: from the middle of a transaction, until the middle of another (cut out to whole
# transactions on both sides).
read -r _ s_mid e_mid <<< "$(pick "$f0" 4)"
read -r _ s_u e_u <<< "$(pick "$f2" 0)"
"$BV_BIN" fetch --archive "$ARC" --from-position "$f0:$((s_mid + 30))" --until-position "$f2:$((s_u + 10))" \
    --to "$T/bypos" > "$T/fetch3.txt" 2>&1
check_eq "fetch --from-position/--until-position exits 0" "$?" 0
check "position range: whole transactions $f0:$s_mid to $f2:$e_u" \
    python3 "$T/range.py" "$T/bypos" "${files[*]}" "$f0" "$s_mid" "$f2" "$e_u"
# From a file boundary to the end: whole files.
f1=$(basename "${files[1]}")
"$BV_BIN" fetch --archive "$ARC" --from-position "$f1:4" --to "$T/fromfile" > /dev/null 2>&1
check_eq "fetch --from-position FILE:4 exits 0" "$?" 0
check "from a file's start: its whole bytes" cmp -s "$T/fromfile/$f1" "${files[1]}"

# Ranges outside the archive are refused with what it holds.
out=$("$BV_BIN" fetch --archive "$ARC" --from-gtid 0-1-999999 --to "$T/none" 2>&1); rc=$?
check "a gtid after the archive is refused" test $rc -ne 0
check "the refusal prints the window" grep -q "the archive holds seq 1-$nseg" <<< "$out"
check "nothing written for a refused range" test ! -e "$T/none/$f0"
check_fails "an unknown binlog file is refused" "$BV_BIN" fetch --archive "$ARC" --from-position mariadb-bin.999999:4 --to "$T/none"
check_fails "fetch never overwrites" "$BV_BIN" fetch --archive "$ARC" --to "$T/all"

# --- corruptions, each found by verify with the object named ---------------------------------------
# A new archive is format 3: segments/<group>/<name> (docs/FORMAT.md "Format 3").
segs=("$ARC"/segments/*/*.bvs)
check "the segments are in group directories" test -f "${segs[0]}"
victim=${segs[$((${#segs[@]} / 2))]}
vname=${victim#"$ARC/"}

corrupt() { rm -rf "$T/c"; cp -a "$ARC" "$T/c"; }

corrupt
python3 - "$T/c/$vname" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 3] ^= 0x04
open(p, "wb").write(b)
EOF
out=$("$BV_BIN" verify --archive "$T/c" 2>&1); rc=$?
check_eq "flipped bit: verify exits 65" "$rc" 65
check "flipped bit: the segment is named" grep -q "BAD $vname" <<< "$out"
check "flipped bit: the layer is named" grep -qE "BAD $vname: segment '$vname': (lz4 frame|content sha256|'mariadb-bin)" <<< "$out"
check_fails "flipped bit: fetch refuses it" "$BV_BIN" fetch --archive "$T/c" --to "$T/c-out"
check "flipped bit: fetch left nothing behind" test -z "$(ls -A "$T/c-out" 2>/dev/null)"

corrupt
rm "$T/c/$vname"
out=$("$BV_BIN" verify --archive "$T/c" 2>&1); rc=$?
check_eq "deleted segment: verify exits 65" "$rc" 65
check "deleted segment: named as missing" grep -q "BAD $vname: missing from the store" <<< "$out"
vseq=$((10#$(basename "$vname" | cut -d- -f1)))
check "deleted segment: list --all flags it MISSING" grep -qE "^ +$vseq  .*  MISSING$" \
    < <("$BV_BIN" list --archive "$T/c" --all 2>&1)
check "deleted segment: list --json says it is not stored" python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if [s["seq"] for s in d["segments"] if not s["stored"]] == [int(sys.argv[1])] else 1)' "$vseq" \
    < <("$BV_BIN" list --archive "$T/c" --json)

corrupt
truncate -s -100 "$T/c/$vname"
out=$("$BV_BIN" verify --archive "$T/c" 2>&1); rc=$?
check_eq "truncated segment: verify exits 65" "$rc" 65
check "truncated segment: size named" grep -q "BAD $vname: object is [0-9]* bytes in the store, the index says" <<< "$out"
check "truncated segment: trailer named" grep -q "BAD $vname: segment '$vname': trailer: end magic" <<< "$out"

# A segment gone together with its index line: a hole in the sequence.
corrupt
cat > "$T/unindex.py" <<'PY'
# Rewrite the index chunk holding `name` as two chunks around it.
import glob, json, os, sys
root, name = sys.argv[1], sys.argv[2]
for chunk in glob.glob(root + "/index/*.bvi"):
    lines = open(chunk).read().splitlines(True)
    seqs = [json.loads(l)["seq"] for l in lines]
    at = [i for i, l in enumerate(lines) if json.loads(l)["name"] == name]
    if not at:
        continue
    os.remove(chunk)
    for part in (lines[:at[0]], lines[at[0] + 1:]):
        if part:
            a, b = json.loads(part[0])["seq"], json.loads(part[-1])["seq"]
            open("%s/index/%016d-%016d.bvi" % (root, a, b), "w").write("".join(part))
PY
python3 "$T/unindex.py" "$T/c" "$vname"
rm "$T/c/$vname"
out=$("$BV_BIN" verify --archive "$T/c" 2>&1); rc=$?
check_eq "hole in the sequence: verify exits 65" "$rc" 65
check "hole in the sequence: the missing seq is named" grep -qE "BAD segments/.*: seq [0-9]+ missing between" <<< "$out"
out=$("$BV_BIN" fetch --archive "$T/c" --to "$T/c-out2" 2>&1); rc=$?
check "fetch across the hole is refused" test $rc -ne 0
check "fetch across the hole says so" grep -q "crosses a gap" <<< "$out"

corrupt
other=${segs[0]}
cp "$T/c/${other#"$ARC/"}" "$T/c/$vname"
out=$("$BV_BIN" verify --archive "$T/c" 2>&1); rc=$?
check_eq "swapped segment: verify exits 65" "$rc" 65
check "swapped segment: named" grep -q "BAD $vname" <<< "$out"
