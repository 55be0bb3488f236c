# Encryption at rest against a live server: its binlogs imported into an encrypted directory
# archive (raw key and passphrase), listed, verified and fetched back byte-identical with the key;
# refused without the key, with a wrong one or a loose key file; no plaintext in the stored
# objects, which an independent decryptor (Python, from docs/FORMAT.md alone) reads; a tampered,
# swapped or truncated segment named by verify; an unencrypted archive still readable; the agent
# archiving encrypted with BINVAULT_KEY_FILE + BINVAULT_ENCRYPT=1; and the same against S3.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
. "$BV_ROOT/tests/lib/swift.sh"
cleanup() { agent_kill; s3_stop_all; mdb_stop_all; }
trap cleanup EXIT
unset BINVAULT_KEY_FILE BINVAULT_ENCRYPT

T=$BV_TEST_DIR
ENC=$T/enc
PLAIN=$T/plain
MARKER=binvault-encryption-marker-7f3a9c
bv() { "$BV_BIN" "$@"; }
# Run binvault with stdout in $T/out, stderr in $T/err; echo the exit code.
run() { "$BV_BIN" "$@" > "$T/out" 2> "$T/err"; echo $?; }

mdb_start src || { fail "start mariadb"; exit 1; }
wl_mixed src
mdb_sql src "CREATE TABLE wl.secret (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB;
    INSERT INTO wl.secret SELECT seq, CONCAT('$MARKER ', REPEAT('s', seq)) FROM wl.seq_1_to_300;
    FLUSH BINARY LOGS;
    INSERT INTO wl.secret VALUES (1000, '$MARKER in the active file');"
mapfile -t files < <(mdb_binlog_files src)
check "the server wrote several binlog files" test "${#files[@]}" -ge 4
check "the workload's marker is in the server's binlogs" grep -qa "$MARKER" "${files[@]}"

head -c 32 /dev/urandom > "$T/key"
chmod 600 "$T/key"
head -c 32 /dev/urandom > "$T/wrong"
chmod 600 "$T/wrong"
printf 'a long passphrase for the archive\n' > "$T/pass"
chmod 600 "$T/pass"

# A fetched file must equal the server's: the whole file for closed files, a prefix for the active
# one, with the FDE's in-use flag (bit 0 of byte 21) clear.
cat > "$T/same.py" <<'EOF'
import sys
fetched, server = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
full = len(sys.argv) > 3 and sys.argv[3] == "full"
if full and len(fetched) != len(server):
    sys.exit("length %d, server file %d" % (len(fetched), len(server)))
s = bytearray(server[:len(fetched)])
s[21] &= 0xFE
if bytes(s) != fetched:
    sys.exit("differs")
EOF
compare_all() {
    local dir=$1 what=$2 f name bad=0
    for f in "${files[@]}"; do
        name=$(basename "$f")
        if [ "$f" = "${files[${#files[@]}-1]}" ]; then
            python3 "$T/same.py" "$dir/$name" "$f" || bad=1
        else
            python3 "$T/same.py" "$dir/$name" "$f" full || bad=1
        fi
    done
    check_eq "$what: every fetched file is the server's, byte for byte" "$bad" 0
}

# --- an encrypted archive with a raw key ---------------------------------------------------------
rc=$(run import --archive "$ENC" --encrypt --key-file "$T/key" --segment-size 8192 "${files[@]}")
check_eq "import --encrypt --key-file exits 0" "$rc" 0
[ "$rc" = 0 ] || sed 's/^/    /' "$T/err"
check "binvault.json says the archive is encrypted" \
    grep -q '"encryption":{"version":1,"cipher":"aes-256-gcm","kdf":"none","salt":"[0-9a-f]\{32\}","key_check":"[0-9a-f]\{64\}"}' "$ENC/binvault.json"
nobj=$(find "$ENC" -type f ! -name binvault.json | wc -l)
check "segments, index and checkpoint were stored" test "$nobj" -ge 6
check_eq "no stored object holds the workload's plaintext" "$(grep -rla "$MARKER" "$ENC" | wc -l)" 0
check_eq "no stored object holds a segment magic in clear" "$(grep -rla 'BVSEG' "$ENC" | wc -l)" 0
notenc=0
while IFS= read -r f; do
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 4256454e4300010a ] || { notenc=$((notenc + 1)); echo "    not encrypted: $f"; }
done < <(find "$ENC" -type f ! -name binvault.json)
check_eq "every object but binvault.json starts with the encrypted-object magic" "$notenc" 0

rc=$(run list --archive "$ENC" --key-file "$T/key" --json)
check_eq "list with the key exits 0" "$rc" 0
nseg=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["segments"]) if not d["gaps"] and not d["problems"] else -1)' "$T/out")
check "list shows the segments, no gap, no problem" test "$nseg" -gt "${#files[@]}"
check_eq "list shows plaintext sizes (those of the index)" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(all(s["size"] > 0 for s in d["segments"]))' "$T/out")" True
rc=$(run verify --archive "$ENC" --key-file "$T/key")
check_eq "verify with the key exits 0" "$rc" 0
check "verify says OK" grep -q ": OK$" "$T/out"
rc=$(run fetch --archive "$ENC" --key-file "$T/key" --to "$T/fetched")
check_eq "fetch with the key exits 0" "$rc" 0
compare_all "$T/fetched" "encrypted archive"
BINVAULT_KEY_FILE=$T/key bv verify --archive "$ENC" > /dev/null 2>&1
check_eq "the key from BINVAULT_KEY_FILE works as well" "$?" 0
# A second import continues the archive (reads the index and trailers through the decryption).
mdb_sql src "INSERT INTO wl.secret VALUES (1001, '$MARKER after the import')"
rc=$(run import --archive "$ENC" --key-file "$T/key" --segment-size 8192 "${files[@]}")
check_eq "a second import continues the encrypted archive" "$rc" 0
check "... with new segments" grep -q "imported [1-9]" "$T/out"
check_eq "... still no plaintext in the store" "$(grep -rla "$MARKER" "$ENC" | wc -l)" 0
rc=$(run verify --archive "$ENC" --key-file "$T/key")
check_eq "verify after the second import exits 0" "$rc" 0

# --- without the key, with a wrong key, with a loose key file -----------------------------------
for cmd in list verify "fetch --to $T/nokey"; do
    # shellcheck disable=SC2086
    rc=$(run $cmd --archive "$ENC")
    check_eq "$cmd without a key exits 78" "$rc" 78
    check "... saying the archive is encrypted and naming --key-file" grep -q "is encrypted: give its key with --key-file" "$T/err"
    # shellcheck disable=SC2086
    rc=$(run $cmd --archive "$ENC" --key-file "$T/wrong")
    check_eq "$cmd with a wrong key exits 77" "$rc" 77
    check "... wrong key (key check failed)" grep -q "wrong key for archive 'file://$ENC' (key check failed)" "$T/err"
done
check "nothing was fetched without the key" test ! -e "$T/nokey"
chmod 644 "$T/wrong"
rc=$(run list --archive "$ENC" --key-file "$T/wrong")
check_eq "a key file others can read is refused (78)" "$rc" 78
check "... with the chmod advice" grep -q "chmod 600" "$T/err"
chmod 600 "$T/wrong"
rc=$(run list --archive "$ENC" --key-file "$T/pass")
check_eq "a passphrase for a raw-key archive is a wrong key (77)" "$rc" 77

# --- the format, read by an independent implementation -----------------------------------------
if python3 -c 'import cryptography' 2>/dev/null; then
    cat > "$T/decrypt.py" <<'EOF'
# Decrypt an object of an encrypted archive from docs/FORMAT.md alone.
import hashlib, hmac, json, struct, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
root, keyfile, name = sys.argv[1:4]
enc = json.load(open(root + "/binvault.json"))["encryption"]
secret = open(keyfile, "rb").read()
salt = bytes.fromhex(enc["salt"])
if enc["kdf"] == "none":
    key = secret
else:
    if secret.endswith(b"\n"): secret = secret[:-1]
    if secret.endswith(b"\r"): secret = secret[:-1]
    key = hashlib.pbkdf2_hmac("sha256", secret, salt, enc["iterations"], 32)
check = hmac.new(key, b"binvault key check v1" + salt, hashlib.sha256).digest()
assert check.hex() == enc["key_check"], "key check"
data = open(root + "/" + name, "rb").read()
h = data[:48]
assert h[:8] == b"BVENC\x00\x01\n" and h[8] == 1 and h[9] == 16 and h[12:20] == check[:8]
okey = HKDF(hashes.SHA256(), 32, h[20:36], b"binvault object key v1").derive(key)
aead, body, out, i = AESGCM(okey), data[48:], b"", 0
while True:
    sealed, body = body[:65536 + 16], body[65536 + 16:]
    final = len(body) == 0
    nonce = h[36:43] + struct.pack(">IB", i, final)
    ad = h + struct.pack("<QB", i, final) + name.encode()
    out += aead.decrypt(nonce, sealed, ad)
    i += 1
    if final: break
sys.stdout.buffer.write(out)
EOF
    seg=$(seg_names "$ENC" | head -n 1)
    python3 "$T/decrypt.py" "$ENC" "$T/key" "segments/$seg" > "$T/seg.plain" 2> "$T/py.err"
    check_eq "an independent decryptor reads a segment from the documented format" "$?" 0
    check "... which is a segment" test "$(head -c 8 "$T/seg.plain" | od -An -c | tr -d ' ')" = 'BVSEG\0001\n'
    check "... equal to what binvault get returns" cmp "$T/seg.plain" \
        <(bv storage --archive "$ENC" --key-file "$T/key" get "segments/$seg")
    idx=$(cd "$ENC" && ls index | head -n 1)
    python3 "$T/decrypt.py" "$ENC" "$T/key" "index/$idx" > "$T/idx.plain" 2>> "$T/py.err"
    check "... and an index chunk: JSON lines" python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/idx.plain"
else
    ok "python3 cryptography not installed: independent decryption skipped"
fi

# --- tampering: verify names the object -----------------------------------------------------------
mapfile -t segs < <(seg_names "$ENC")
cp -a "$ENC" "$T/bad1"
bad=segments/${segs[2]}
printf '\x5a' | dd of="$T/bad1/$bad" bs=1 seek=200 conv=notrunc 2>/dev/null
rc=$(run verify --archive "$T/bad1" --key-file "$T/key")
check_eq "verify of a segment with a flipped byte exits 65" "$rc" 65
check "... naming it: does not authenticate" grep -q "^BAD $bad: .*does not authenticate" "$T/out"
rc=$(run fetch --archive "$T/bad1" --key-file "$T/key" --to "$T/badfetch")
check_eq "fetch across it fails (65)" "$rc" 65
check_eq "... and leaves no file" "$(find "$T/badfetch" -type f 2>/dev/null | wc -l)" 0
cp -a "$ENC" "$T/bad2"
cp "$T/bad2/segments/${segs[3]}" "$T/bad2/segments/${segs[4]}"
rc=$(run verify --archive "$T/bad2" --key-file "$T/key")
check_eq "verify of a segment swapped for another exits 65" "$rc" 65
check "... naming the swapped one" grep -q "^BAD segments/${segs[4]}: " "$T/out"
rc=$(run storage --archive "$T/bad2" --key-file "$T/key" get "segments/${segs[4]}")
check_eq "reading the swapped segment fails (65)" "$rc" 65
check "... because it was stored under another name" grep -q "stored under another name" "$T/err"
cp -a "$ENC" "$T/bad3"
size=$(stat -c %s "$T/bad3/segments/${segs[1]}")
truncate -s $((size - 20)) "$T/bad3/segments/${segs[1]}"
rc=$(run verify --archive "$T/bad3" --key-file "$T/key")
check_eq "verify of a truncated segment exits 65" "$rc" 65
check "... naming it" grep -q "^BAD segments/${segs[1]}: " "$T/out"

# --- a passphrase ---------------------------------------------------------------------------------
rc=$(run import --archive "$T/encp" --encrypt --key-file "$T/pass" "${files[0]}" "${files[1]}")
check_eq "import into an archive keyed by a passphrase exits 0" "$rc" 0
check "binvault.json names PBKDF2 with 600000 iterations" \
    grep -q '"kdf":"pbkdf2-hmac-sha256","iterations":600000' "$T/encp/binvault.json"
check_eq "... and holds no passphrase" "$(grep -c 'long passphrase' "$T/encp/binvault.json")" 0
rc=$(run verify --archive "$T/encp" --key-file "$T/pass")
check_eq "verify with the passphrase exits 0" "$rc" 0
printf 'a long passphrase for the archivE\n' > "$T/pass2"
chmod 600 "$T/pass2"
rc=$(run verify --archive "$T/encp" --key-file "$T/pass2")
check_eq "a wrong passphrase exits 77" "$rc" 77
check "... key check failed" grep -q "(key check failed)" "$T/err"

# --- unencrypted archives stay readable -----------------------------------------------------------
rc=$(run import --archive "$PLAIN" --segment-size 8192 "${files[@]}")
check_eq "import without --encrypt exits 0" "$rc" 0
check "the unencrypted archive holds plaintext (as before)" grep -qla "$MARKER" -r "$PLAIN/segments"
rc=$(run verify --archive "$PLAIN")
check_eq "verify of the unencrypted archive without a key exits 0" "$rc" 0
rc=$(BINVAULT_KEY_FILE=$T/key run verify --archive "$PLAIN")
check_eq "... and with BINVAULT_KEY_FILE set (warning only)" "$rc" 0
check "... which says the key is not used" grep -q "is not encrypted: the key of '$T/key' is not used" "$T/err"
rc=$(run fetch --archive "$PLAIN" --key-file "$T/key" --to "$T/plainfetch")
check_eq "fetch of the unencrypted archive with a key exits 0" "$rc" 0
compare_all "$T/plainfetch" "unencrypted archive"
rc=$(run import --archive "$PLAIN" --encrypt --key-file "$T/key" "${files[@]}")
check_eq "--encrypt on an existing unencrypted archive is refused (78)" "$rc" 78
rc=$(run import --archive "$T/keynoenc" --key-file "$T/key" "${files[0]}")
check_eq "a key without --encrypt for a new archive is refused (78)" "$rc" 78
check "... asking for --encrypt" grep -q "add --encrypt" "$T/err"
rc=$(run import --archive "$T/nokeyenc" --encrypt "${files[0]}")
check_eq "--encrypt without a key is a usage error (64)" "$rc" 64

# --- the agent, keyed from the environment -------------------------------------------------------
repl_user src
AG=$T/agent-archive
BINVAULT_KEY_FILE=$T/key BINVAULT_ENCRYPT=1 agent_start src "$AG" "$T/spool" --segment-size 64K --segment-interval 300ms --heartbeat 500ms
export BINVAULT_KEY_FILE=$T/key
for i in $(seq 1 30); do mdb_sql src "INSERT INTO wl.secret VALUES ($((2000 + i)), '$MARKER agent $i')"; done
mdb_sql src "FLUSH BINARY LOGS; INSERT INTO wl.secret VALUES (3000, '$MARKER agent after flush')"
if agent_wait_caught_up_any src "$AG" 120; then
    ok "the agent with BINVAULT_KEY_FILE + BINVAULT_ENCRYPT=1 caught up"
else
    fail "the agent with BINVAULT_KEY_FILE + BINVAULT_ENCRYPT=1 caught up" "$(tail -n 20 "$T/agent.log")"
fi
agent_term
unset BINVAULT_KEY_FILE
check "the agent's archive is encrypted" grep -q '"encryption":{' "$AG/binvault.json"
check_eq "... and holds no plaintext" "$(grep -rla "$MARKER" "$AG" | wc -l)" 0
check_eq "... nor did the spool keep encrypted copies" "$(find "$T/spool" -name '*.tmp' | wc -l)" 0
rc=$(run verify --archive "$AG" --key-file "$T/key")
check_eq "verify of the agent's archive with the key exits 0" "$rc" 0
rc=$(run fetch --archive "$AG" --key-file "$T/key" --to "$T/agentfetch")
check_eq "fetch of the agent's archive exits 0" "$rc" 0
mapfile -t files < <(mdb_binlog_files src)
out=$(compare_fetched src "$T/agentfetch" 2>&1)
check_eq "the agent's archive fetches back the server's binlogs" "$?" 0
[ -n "$out" ] && echo "$out" | sed 's/^/    /'
rc=$(run list --archive "$AG")
check_eq "the agent's archive without the key: 78" "$rc" 78

# --- S3 ---------------------------------------------------------------------------------------------
if s3_start; then
    ok "swift with s3api is up at $S3_ENDPOINT"
    S3A="s3://$S3_BUCKET/enc/a1"
    mapfile -t files < <(mdb_binlog_files src)
    rc=$(run import --archive "$S3A" --encrypt --key-file "$T/key" --segment-size 8192 "${files[@]}")
    check_eq "S3: import --encrypt exits 0" "$rc" 0
    [ "$rc" = 0 ] || sed 's/^/    /' "$T/err"
    rc=$(run verify --archive "$S3A" --key-file "$T/key")
    check_eq "S3: verify with the key exits 0" "$rc" 0
    rc=$(run fetch --archive "$S3A" --key-file "$T/key" --to "$T/s3fetch")
    check_eq "S3: fetch exits 0" "$rc" 0
    compare_all "$T/s3fetch" "S3"
    rc=$(run import --archive "$S3A" --key-file "$T/key" --segment-size 8192 "${files[@]}")
    check_eq "S3: importing again is a no-op success" "$rc" 0
    # Re-storing an existing segment (a retried upload): identical plaintext is a no-op, although the
    # stored ciphertext and its SHA-256 metadata differ from a fresh encryption.
    seg=$(bv storage --archive "$S3A" --key-file "$T/key" list segments/ | head -n 1 | cut -f1)
    bv storage --archive "$S3A" --key-file "$T/key" get "$seg" > "$T/s3seg"
    rc=$(run storage --archive "$S3A" --key-file "$T/key" put "$seg" "$T/s3seg")
    check_eq "S3: re-put of an identical segment succeeds" "$rc" 0
    printf 'x' >> "$T/s3seg"
    rc=$(run storage --archive "$S3A" --key-file "$T/key" put "$seg" "$T/s3seg")
    check_eq "S3: re-put of other content exits 73" "$rc" 73
    rc=$(run storage --archive "$S3A" get "$seg")
    check_eq "S3: without the key: 78" "$rc" 78
    rc=$(run list --archive "$S3A" --key-file "$T/wrong")
    check_eq "S3: wrong key: 77" "$rc" 77
    check "... wrong key for archive 's3://...' (key check failed)" grep -q "wrong key for archive '$S3A' (key check failed)" "$T/err"
    # Multipart: the encrypted object is made twice from the file (a first pass for its digests,
    # then each part again by offset), with no temporary copy: a copy would be made beside the file
    # (whose name leaves no room for the copy's suffix) or else in TMPDIR (which does not exist).
    mkdir -p "$T/bigdir"
    big=$T/bigdir/$(printf 'b%.0s' $(seq 1 250))
    head -c $((12 * 1024 * 1024 + 4321)) /dev/urandom > "$big"
    rc=$(TMPDIR=$T/nonexistent BINVAULT_S3_MULTIPART_THRESHOLD=8M BINVAULT_S3_PART_SIZE=5M \
        run storage --archive "$S3A" --key-file "$T/key" --log-level debug put segments/big "$big")
    check_eq "S3: encrypted multipart put of 12 MiB, with nowhere to write a temporary copy" "$rc" 0
    [ "$rc" = 0 ] || tail -n 3 "$T/err" | sed 's/^/    /'
    check_eq "... in 3 parts" "$(grep -c 's3: PUT .*partNumber=' "$T/err")" 3
    check "... reads back" cmp <(bv storage --archive "$S3A" --key-file "$T/key" get segments/big) "$big"
    check_eq "... is stored encrypted" "$(s3_request GET "/$S3_BUCKET/enc/a1/segments/big" > /dev/null; head -c 5 "$S3_DIR/last-response")" BVENC
    rc=$(BINVAULT_S3_MULTIPART_THRESHOLD=8M BINVAULT_S3_PART_SIZE=5M run storage --archive "$S3A" --key-file "$T/key" \
        --log-level debug put segments/big2 "$big" --sha256 "$(sha256sum "$T/s3seg" | cut -d' ' -f1)")
    check_eq "S3: an encrypted put of a file not matching its sha256 is refused (65)" "$rc" 65
    check_eq "... before any part is sent" "$(grep -c 's3: PUT .*partNumber=' "$T/err")" 0
    s3_request GET "/$S3_BUCKET/enc/a1/$seg" > /dev/null
    check_eq "S3: the raw object holds no plaintext" "$(grep -ca "$MARKER" "$S3_DIR/last-response")" 0
    check "S3: the raw object is encrypted" test "$(head -c 5 "$S3_DIR/last-response")" = BVENC
else
    fail "start swift for the S3 part"
fi
