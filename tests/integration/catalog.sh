# The format-2 catalog (docs/FORMAT.md "Catalog: aligned blocks and summaries") with a real agent,
# a real MariaDB and a real S3 store (Swift): the agent archives more than a block (1024 segments);
# as it goes, block chunks and a catalog summary replace the small index chunks; a restarted agent
# asks the store for the tail only (ListObjectsV2 with start-after, counted in its debug log, never
# a listing of all of index/ or segments/); verify and fetch read it all. A format-1 archive of the
# same binlogs is upgraded by `binvault upgrade` and reads the same.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"
. "$BV_ROOT/tests/lib/swift.sh"
trap 'agent_kill; s3_stop_all; mdb_stop_all' EXIT

T=$BV_TEST_DIR
s3_start || { fail "start swift"; exit 1; }
mdb_start src || { fail "start mariadb"; exit 1; }
repl_user src
archive="s3://$S3_BUCKET/cat"
opts=(--s3-uri-style path --segment-size 64K --segment-interval 2s --heartbeat 500ms --purge-check 0)
bvs() { "$BV_BIN" storage --archive "$archive" --s3-uri-style path "$@"; }
count() { bvs list "$1" 2>/dev/null | grep -c .; }

# 1100 transactions of 70 KB: a 64K segment each.
mdb_sql src "CREATE DATABASE cat; CREATE TABLE cat.t (id INT PRIMARY KEY, v LONGTEXT) ENGINE=InnoDB"
python3 -c 'for i in range(1, 1101): print("INSERT INTO cat.t VALUES (%d, REPEAT(\"x%d\", 35000));" % (i, i % 10))' |
    mariadb --defaults-file="$(mdb_cnf src)" -uroot
want=$(mdb_sql src "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')

# The checkpoint's file:end_pos of the S3 archive.
s3_checkpoint() {
    bvs get checkpoint.json 2>/dev/null |
        python3 -c 'import json,sys; c=json.load(sys.stdin); print("%s:%d" % (c["file"], c["end_pos"]))' 2>/dev/null
}
wait_for() { # SECONDS COMMAND...: until the command succeeds
    local secs=$1; shift
    for _ in $(seq 1 $((secs * 5))); do "$@" && return 0; sleep 0.2; done
    return 1
}
caught_up() { [ "$(s3_checkpoint)" = "$want" ]; }

AGENT_LOG_LEVEL=debug agent_start src "$archive" "$T/spool" "${opts[@]}"
check "the agent archives 1100 transactions of 70 KB" wait_for 240 caught_up
last_seq=$(bvs get checkpoint.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
check "more than a block of segments" test "$last_seq" -gt 1024
block0=index/0000000000000001-0000000000001024.bvi
summary=catalog/1/0000000000000001-0000000000001024.bvc
check "the first block's chunk is stored" wait_for 60 bvs head "$block0"
check "its catalog summary is stored" wait_for 60 bvs head "$summary"
few_chunks() { [ "$(count index/)" -le 20 ]; }
check "the small chunks the block chunk replaces are deleted as the agent goes" wait_for 120 few_chunks
check_eq "one level-1 summary" "$(count catalog/)" 1
check_eq "a new archive is created at format 3" \
    "$(bvs get binvault.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" 3
agent_term
check_eq "the agent stops with exit 0" "$?" 0

# A restart: the agent reads the summary and lists index/ and segments/ from the tail only.
: > "$T/agent.log"
AGENT_LOG_LEVEL=debug agent_start src "$archive" "$T/spool2" "${opts[@]}"
mdb_sql src "INSERT INTO cat.t VALUES (5000, 'after the restart')"
want=$(mdb_sql src "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
check "the restarted agent archives what came after" wait_for 120 caught_up
agent_term
grep -E 's3: GET [^ ]*list-type=2' "$T/agent.log" > "$T/lists.txt"
check "the restarted agent listed the store" test -s "$T/lists.txt"
whole=$(grep -E 'prefix=cat%2F(index|segments)%2F' "$T/lists.txt" | grep -vc 'start-after=')
check_eq "no listing of all of index/ or segments/ (every one starts after a name)" "$whole" 0
check "index/ is listed from the tail's block" grep -Eq 'prefix=cat%2Findex%2F.*start-after=cat%2Findex%2F0000000000001024' "$T/lists.txt"

# The commands asked about the archive's recent end ask the store about it only: each lists index/
# and segments/ from a name (the tail, the block it needs), never the whole prefix, and reads a few
# objects, not the 1024 segments of the summarised block (BINVAULT_LOG_LEVEL=debug logs each
# request). recover --dry-run plans the last five transactions into the source itself. (Each object
# read is one ranged GET: 21-26 requests for list, recover and fetch; a HEAD before each GET made 44-46.)
s3_requests() { # NAME ARGS...: the command's requests into $T/NAME.req; its exit code
    local name=$1 rc; shift
    BINVAULT_LOG_LEVEL=debug "$BV_BIN" "$@" --archive "$archive" --s3-uri-style path > "$T/$name.out" 2> "$T/$name.log"
    rc=$?
    grep -E 's3: [A-Z]+ ' "$T/$name.log" > "$T/$name.req"
    return $rc
}
ds=$(mdb_sql src "SELECT CONCAT(@@gtid_domain_id, '-', @@server_id)")
lastn=$(mdb_sql src "SELECT @@gtid_binlog_pos"); lastn=${lastn##*-}
s3_requests list list; check_eq "list on S3: exit 0" "$?" 0
s3_requests status status
export BINVAULT_INTO_PASSWORD=
s3_requests recover recover --into "mysql://root@127.0.0.1:$(mdb_port src)" --dry-run \
    --from-gtid "$ds-$((lastn - 5))" --until-end
check_eq "recover --dry-run of the last transactions on S3: exit 0" "$?" 0
s3_requests fetch fetch --from-gtid "$ds-$((lastn - 5))" --to "$T/fetch-last"
check_eq "fetch of the last transactions on S3: exit 0" "$?" 0
for c in list status recover fetch; do
    check "$c on S3: logs its requests" test -s "$T/$c.req" -o "$c" = status
    # A listing from a name (the tail, a block), or from the prefix's start for the first block
    # (one page of 1000 keys, of the 1101 segments: it stops past the block), never paged on.
    check_eq "$c on S3: no listing of all of index/ or segments/" \
        "$(grep -E 'list-type=2' "$T/$c.req" | grep -E 'prefix=cat%2F(index|segments)%2F' | grep 'continuation-token=' | sed 's/.*s3: //')" ""
    check "$c on S3: reads no segment of the summarised block" \
        bash -c "! grep -Eq 'GET [^ ]*cat/segments/(000000000000/)?000000000000(0[0-9]{3}|10[01][0-9]|102[0-4])-' '$T/$c.req'"
    n=$(grep -c . "$T/$c.req")
    [ "$n" -lt 40 ] && ok "$c on S3: fewer than 40 requests ($n)" ||
        fail "$c on S3: fewer than 40 requests" "$(sed -E 's/.*s3: ([A-Z]+) [^ ]*(cat[^ ?]*)[^ ]* .*/\1 \2/' "$T/$c.req")"
done
# recover plans the last transactions on the view's tail as its open read it: prune/, gaps/ and the
# tail's index chunks read once (24 requests when the range was loaded again, 18 now).
check_eq "recover on S3: prune/ listed once" "$(grep -c 'prefix=cat%2Fprune%2F' "$T/recover.req")" 1
check_eq "recover on S3: no index chunk read twice" \
    "$(grep -oE 'GET [^ ]*cat/index/[0-9-]*\.bvi' "$T/recover.req" | sort | uniq -d)" ""
n=$(grep -c . "$T/recover.req")
[ "$n" -le 20 ] && ok "recover on S3: at most 20 requests ($n)" ||
    fail "recover on S3: at most 20 requests" "$(sed -E 's/.*s3: ([A-Z]+) [^ ]*(cat[^ ?]*)[^ ]* .*/\1 \2/' "$T/recover.req")"

# Every reader still reads it all: verify, and fetch gives the server's bytes.
"$BV_BIN" verify --archive "$archive" --s3-uri-style path > "$T/verify.out" 2>&1
check_eq "verify passes" "$?" 0
grep -E "^BAD|FAILED" "$T/verify.out" | head -5 | sed 's/^/    /'
"$BV_BIN" fetch --archive "$archive" --s3-uri-style path --to "$T/fetched" > /dev/null 2>&1
check "fetch gives the server's binlogs back" compare_fetched src "$T/fetched"

# --- a format-1 archive of the same binlogs, upgraded ---------------------------------------------
mapfile -t files < <(mdb_binlog_files src)
f1=$T/f1
"$BV_BIN" import --archive "$f1" --segment-size 1 "${files[@]}" > /dev/null 2>&1
check "import of every binlog file" test -f "$f1/binvault.json"
python3 "$BV_ROOT/tests/tools/format1.py" "$f1" 700
check_eq "made format 1 again (no summaries, chunks across blocks)" "$(ls "$f1/catalog" 2>/dev/null | wc -l)" 0
"$BV_BIN" fetch --archive "$f1" --to "$T/fetch-f1" > /dev/null 2>&1
out=$("$BV_BIN" upgrade --archive "$f1" --dry-run 2>&1)
check "upgrade --dry-run says what it would do" grep -q "would upgrade the format 1 archive" <<< "$out"
check_eq "... and changes nothing" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$f1/binvault.json")" 1
out=$("$BV_BIN" upgrade --archive "$f1" 2>&1); rc=$?
check_eq "upgrade exits 0" "$rc" 0
check "upgrade reports the blocks" grep -Eq "upgraded the format 1 archive .*: [1-9][0-9]* complete blocks" <<< "$out"
check_eq "binvault.json is at version 2" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$f1/binvault.json")" 2
check "the first block's summary is there" test -f "$f1/catalog/1/0000000000000001-0000000000001024.bvc"
check "the upgraded archive keeps its flat segment names (format 2, not 3)" \
    test "$(find "$f1/segments" -mindepth 1 -type d | wc -l)" = 0 -a "$(seg_names "$f1" | wc -l)" -gt 0
check "timeline 1 has its record" test -f "$f1/timelines/00000001.json"
check_eq "verify of the upgraded archive passes" "$("$BV_BIN" verify --archive "$f1" > /dev/null 2>&1; echo $?)" 0
"$BV_BIN" fetch --archive "$f1" --to "$T/fetch-f2" > /dev/null 2>&1
check "fetch writes the same bytes before and after the upgrade" diff -r "$T/fetch-f1" "$T/fetch-f2"
# A writer continues a format-2 archive in its own naming (docs/FORMAT.md "Format 3").
nf1=$(seg_names "$f1" | wc -l)
mdb_sql src "INSERT INTO cat.t VALUES (90001, 'after the upgrade'); FLUSH BINARY LOGS"
mapfile -t files < <(mdb_binlog_files src)
"$BV_BIN" import --archive "$f1" --segment-size 1 "${files[@]}" > "$T/import2.out" 2>&1
check_eq "import continues the format-2 archive: exit 0" "$?" 0
check "... with more segments" test "$(seg_names "$f1" | wc -l)" -gt "$nf1"
check_eq "... all of them flat in segments/" "$(find "$f1/segments" -mindepth 1 -type d | wc -l)" 0
check_eq "... and binvault.json still at version 2" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$f1/binvault.json")" 2
check_eq "... which verifies" "$("$BV_BIN" verify --archive "$f1" > /dev/null 2>&1; echo $?)" 0
