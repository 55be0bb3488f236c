# The S3 driver against a real S3 server (Swift with s3api, tests/lib/swift.sh), through
# `binvault storage`: put/get/head/list/rm, ranges, multipart, listing pages, immutability and
# idempotent re-puts, refused credentials, bodies whose digests do not match, leftovers of
# interrupted multipart uploads, credentials files, and the error classes the uploader relies on.
set -u
. "$BV_ROOT/tests/lib/swift.sh"
. "$BV_ROOT/tests/lib/assert.sh"
trap s3_stop_all EXIT

s3_start || { fail "start swift"; exit 1; }
ok "swift with s3api is up at $S3_ENDPOINT"

T=$BV_TEST_DIR
A="s3://$S3_BUCKET/arch/v1"
bv() { "$BV_BIN" storage --archive "$A" "$@"; }
# Run binvault, keep stdout in $T/out, stderr in $T/err, and echo the exit code.
run() { "$BV_BIN" storage "$@" > "$T/out" 2> "$T/err"; echo $?; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

head -c 1000 /dev/urandom > "$T/small"
head -c 1000 /dev/urandom > "$T/small2"
: > "$T/empty"

# --- put, get, head, list ------------------------------------------------------------------
check_eq "put prints name, size, sha256" "$(bv put seg/000001 "$T/small" 2>/dev/null)" \
    "$(printf 'seg/000001\t1000\t%s' "$(sha "$T/small")")"
check "get returns the bytes stored" cmp <(bv get seg/000001) "$T/small"
check_eq "head gives the size" "$(bv head seg/000001 | cut -f1,2)" "$(printf 'seg/000001\t1000')"
check_eq "head gives the modification time" \
    "$(bv head seg/000001 | cut -f3 | grep -cE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$')" 1
bv put seg/empty "$T/empty" > /dev/null 2>&1
check_eq "an empty object" "$(bv get seg/empty | wc -c)" 0
check_eq "list with a prefix" "$(bv list seg/0)" "$(printf 'seg/000001\t1000')"
check_eq "list everything" "$(bv list | cut -f1 | tr '\n' ' ')" "seg/000001 seg/empty "
check_eq "a missing object: head exits 66" "$(run --archive "$A" head seg/none)" 66
check_eq "a missing object: get exits 66" "$(run --archive "$A" get seg/none)" 66
check "... naming the object and the store" grep -q "unable to read 'seg/none' from '$A': no such object" "$T/err"

# --- ranges -----------------------------------------------------------------------------------
check "ranged get (offset and length)" cmp <(bv get seg/000001 --offset 100 --length 50) \
    <(tail -c +101 "$T/small" | head -c 50)
check "ranged get to the end" cmp <(bv get seg/000001 --offset 990) <(tail -c 10 "$T/small")
check_eq "a range past the end exits 65" "$(run --archive "$A" get seg/000001 --offset 990 --length 11)" 65
check "... and says so" grep -q "past the end (1000 bytes)" "$T/err"
check_eq "a range ending at the end is fine" "$(bv get seg/000001 --offset 1000 | wc -c)" 0

# --- immutability -----------------------------------------------------------------------------
# A PUT whose response was lost is retried: the store already has the object, so the retry is a
# HEAD that finds the same size and SHA-256 (x-amz-meta-sha256) and sends nothing.
rc=$(run --archive "$A" --log-level debug put seg/000001 "$T/small")
check_eq "re-put of identical content succeeds" "$rc" 0
check_eq "... with a HEAD and no upload" "$(grep -cE 's3: (PUT|POST) ' "$T/err")" 0
check_eq "re-put of different content exits 73 (exists)" "$(run --archive "$A" put seg/000001 "$T/small2")" 73
check "... naming both digests" grep -q "already exists with different content (sha256 $(sha "$T/small") vs $(sha "$T/small2"))" "$T/err"
check "... and the object is untouched" cmp <(bv get seg/000001) "$T/small"
# An object without our SHA-256 metadata (written by another tool): compared by reading it.
s3_request PUT "/$S3_BUCKET/arch/v1/foreign/empty" > /dev/null
check_eq "put over a foreign object with the same content succeeds" "$(run --archive "$A" put foreign/empty "$T/empty")" 0
check_eq "put over a foreign object with other content exits 73" "$(run --archive "$A" put foreign/empty "$T/small")" 73
# The one mutable object.
printf 'checkpoint 1' > "$T/cp1"; printf 'checkpoint two' > "$T/cp2"
bv put --replace checkpoint "$T/cp1" > /dev/null 2>&1
check_eq "put --replace replaces" "$(bv put --replace checkpoint "$T/cp2" > /dev/null 2>&1; bv get checkpoint)" "checkpoint two"

# --- corrupted bodies -------------------------------------------------------------------------
# The store checks Content-MD5: a body that does not match the MD5 sent is refused.
rc=$(run --archive "$A" put seg/badmd5 "$T/small" --md5 00112233445566778899aabbccddeeff)
check_eq "a body not matching its Content-MD5 is refused (exit 65)" "$rc" 65
check "... by the store (BadDigest)" grep -q "BadDigest (400)" "$T/err"
check_eq "... and not stored" "$(run --archive "$A" head seg/badmd5)" 66
# A file that does not match its SHA-256 is never completed on the store.
rc=$(run --archive "$A" put seg/badsha "$T/small" --sha256 "$(sha "$T/small2")")
check_eq "a file not matching its sha256 is refused (exit 65)" "$rc" 65
check "... saying so" grep -q "does not match its description: sha256 $(sha "$T/small")" "$T/err"
check_eq "... and not stored" "$(run --archive "$A" head seg/badsha)" 66

# --- multipart --------------------------------------------------------------------------------
head -c $((12 * 1024 * 1024 + 4321)) /dev/urandom > "$T/big"
export BINVAULT_S3_MULTIPART_THRESHOLD=8M BINVAULT_S3_PART_SIZE=5M
rc=$(run --archive "$A" --log-level debug put seg/big "$T/big")
check_eq "multipart put of 12 MiB" "$rc" 0
check_eq "... in 3 parts" "$(grep -c 's3: PUT .*partNumber=' "$T/err")" 3
check "... completed" grep -q 's3: POST .*uploadId=.*HTTP 200' "$T/err"
check "multipart object reads back" cmp <(bv get seg/big) "$T/big"
check_eq "... with its size" "$(bv head seg/big | cut -f2)" $((12 * 1024 * 1024 + 4321))
check "ranged get across parts" cmp <(bv get seg/big --offset $((5 * 1024 * 1024 - 3)) --length $((6 * 1024 * 1024))) \
    <(tail -c +$((5 * 1024 * 1024 - 2)) "$T/big" | head -c $((6 * 1024 * 1024)))
check_eq "re-put of the multipart object is a no-op" "$(run --archive "$A" put seg/big "$T/big")" 0
cp "$T/big" "$T/big2"; printf 'X' | dd of="$T/big2" bs=1 seek=$((11 * 1024 * 1024)) conv=notrunc 2>/dev/null
check_eq "multipart put of different content exits 73" "$(run --archive "$A" put seg/big "$T/big2")" 73
rc=$(run --archive "$A" --log-level debug put seg/bigbad "$T/big" --sha256 "$(sha "$T/big2")")
check_eq "a multipart file not matching its sha256 is refused (exit 65)" "$rc" 65
check_eq "... before its last part is sent" "$(grep -c 's3: PUT .*partNumber=' "$T/err")" 2
check "... and the upload is aborted" grep -q 's3: DELETE .*uploadId=' "$T/err"
unset BINVAULT_S3_MULTIPART_THRESHOLD BINVAULT_S3_PART_SIZE

# --- listing pages, concurrency -----------------------------------------------------------------
args=()
for i in $(seq 1 30); do
    printf 'object %d\n' "$i" > "$T/obj$i"
    args+=("many/$(printf '%04x' $((i * 37)))" "$T/obj$i")
done
check "30 puts with 8 threads" bv put --jobs 8 "${args[@]}"
check_eq "... all stored" "$(bv list many/ | wc -l)" 30
rc=$(BINVAULT_S3_LIST_PAGE=7 run --archive "$A" --log-level debug list many/)
check_eq "a listing in pages of 7" "$rc" 0
check_eq "... follows the continuation tokens" "$(grep -c 's3: GET .*continuation-token=' "$T/err")" 4
check_eq "... and lists each object once, in byte order" "$(cut -f1 "$T/out" | tr '\n' ' ')" \
    "$(for i in $(seq 1 30); do printf 'many/%04x\n' $((i * 37)); done | LC_ALL=C sort | tr '\n' ' ')"
# Keys that are not valid names (another tool's, or temporary ones) are not listed.
s3_request PUT "/$S3_BUCKET/arch/v1/many/x.tmp.1" > /dev/null
s3_request PUT "/$S3_BUCKET/arch/v1/many/a%20b" > /dev/null
check_eq "invalid names are skipped" "$(bv list many/ 2>/dev/null | wc -l)" 30
check_eq "a store without a prefix sees the keys of the bucket" \
    "$("$BV_BIN" storage --archive "s3://$S3_BUCKET" list arch/v1/seg/0 | cut -f1)" "arch/v1/seg/000001"

# Virtual-host addressing (https://BUCKET.endpoint/KEY, what AWS uses): the same objects.
export BINVAULT_S3_URI_STYLE=host AWS_ENDPOINT_URL="http://localhost:${S3_ENDPOINT##*:}"
rc=$(run --archive "$A" --log-level debug list seg/0)
check_eq "virtual-host style: list" "$rc" 0
check_eq "... through the bucket's host name" "$(grep -c "GET http://$S3_BUCKET.localhost:[0-9]*/?list-type=2" "$T/err")" 1
check_eq "... the same objects" "$(cut -f1 "$T/out")" "seg/000001"
check "virtual-host style: get" cmp <(bv get seg/000001) "$T/small"
check_eq "virtual-host style: put" "$(run --archive "$A" put vhost/one "$T/small2")" 0
export BINVAULT_S3_URI_STYLE=path AWS_ENDPOINT_URL=$S3_ENDPOINT
check "... seen in path style" cmp <(bv get vhost/one) "$T/small2"
unset BINVAULT_S3_URI_STYLE

# --- removal, interrupted uploads -------------------------------------------------------------
check "rm" bv rm seg/empty
check_eq "... the object is gone" "$(run --archive "$A" head seg/empty)" 66
check "rm of a missing object is fine" bv rm seg/empty
s3_request POST "/$S3_BUCKET/arch/v1/seg/interrupted?uploads" > /dev/null
s3_request POST "/$S3_BUCKET/elsewhere/interrupted?uploads" > /dev/null
check_eq "clean keeps a recent interrupted upload" "$(bv clean --min-age 3600 2>/dev/null)" "removed 0"
check_eq "clean --min-age 0 aborts it" "$(bv clean --min-age 0 2>/dev/null)" "removed 1"
s3_request GET "/$S3_BUCKET?uploads" > /dev/null
check "... and only that one (other prefixes are not ours)" grep -q "<Key>elsewhere/interrupted</Key>" "$S3_DIR/last-response"
check "... it is gone" bash -c "! grep -q 'arch/v1/seg/interrupted' '$S3_DIR/last-response'"

# --- refusals and their classes ---------------------------------------------------------------
rc=$(AWS_SECRET_ACCESS_KEY=wrong run --archive "$A" put seg/000002 "$T/small")
check_eq "a wrong secret key exits 77 (auth, not retried)" "$rc" 77
check "... naming SignatureDoesNotMatch" grep -q "SignatureDoesNotMatch (403)" "$T/err"
check "... and what to check" grep -q "check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" "$T/err"
check "... without the secret" bash -c "! grep -q wrong '$T/err'"
rc=$(AWS_SECRET_ACCESS_KEY=wrong run --archive "$A" list)
check_eq "a listing with a wrong secret exits 77" "$rc" 77
rc=$(run --archive "s3://binvault-missing/x" list)
check_eq "a missing bucket exits 78 (config)" "$rc" 78
check "... NoSuchBucket, with advice" grep -q "NoSuchBucket (404): .*check the bucket name ('binvault-missing')" "$T/err"
rc=$(AWS_ENDPOINT_URL=http://127.0.0.1:1 run --archive "$A" head seg/000001)
check_eq "an endpoint that refuses connections exits 75 (storage: retried)" "$rc" 75
check "... curl error 7" grep -q "curl error 7 (couldn't connect to server)" "$T/err"
rc=$(AWS_ENDPOINT_URL=https://127.0.0.1:${S3_ENDPOINT##*:} run --archive "$A" head seg/000001)
check_eq "https to a plain http endpoint fails (TLS)" "$rc" 75
rc=$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$BV_BIN" storage --archive "$A" list 2> "$T/err" > /dev/null; echo $?)
check_eq "no credentials exits 78" "$rc" 78
check "... saying where they come from" grep -q "no S3 credentials: set AWS_ACCESS_KEY_ID" "$T/err"

# --- credentials file -------------------------------------------------------------------------
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$T/credentials"
chmod 644 "$T/credentials"
rc=$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY BINVAULT_S3_CREDENTIALS_FILE="$T/credentials" \
    "$BV_BIN" storage --archive "$A" list > /dev/null 2> "$T/err"; echo $?)
check_eq "a credentials file readable by others is refused (78)" "$rc" 78
check "... with the fix" grep -q "chmod 600" "$T/err"
chmod 600 "$T/credentials"
check_eq "a 0600 credentials file works" \
    "$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY BINVAULT_S3_CREDENTIALS_FILE="$T/credentials" \
        "$BV_BIN" storage --archive "$A" list seg/0 | cut -f1)" "seg/000001"
