# Fault: `binvault upgrade` of a format-1 archive SIGKILLed at random moments (docs/FORMAT.md
# "Upgrade of a format-1 archive"). After every kill the archive verifies (whatever step the kill
# interrupted) and fetch writes the same bytes; running the upgrade again completes it; the
# upgraded archive recovers a fresh server to the source's tables.
. "$BV_ROOT/tests/faults/_common.sh"
trap 'mdb_stop_all' EXIT

T=$BV_TEST_DIR
mdb_start src || { fail "start mariadb"; exit 1; }
wl_mixed src
# More than two blocks of segments: one per transaction at --segment-size 1.
mdb_sql src "CREATE TABLE wl.up (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB"
python3 -c 'for i in range(1, 2301): print("INSERT INTO wl.up VALUES (%d, \"row %d\");" % (i, i))' |
    mariadb --defaults-file="$(mdb_cnf src)" -uroot
mdb_sql src "FLUSH BINARY LOGS"
mapfile -t files < <(mdb_binlog_files src)
A=$T/archive
"$BV_BIN" import --archive "$A" --segment-size 1 "${files[@]}" > "$T/import.out" 2>&1
check_eq "import of the server's binlogs" "$?" 0
python3 "$BV_ROOT/tests/tools/format1.py" "$A" 700
check_eq "the archive is format 1" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$A/binvault.json")" 1
"$BV_BIN" fetch --archive "$A" --to "$T/fetch-before" > /dev/null 2>&1
check_eq "fetch of the format-1 archive" "$?" 0

# Kills land anywhere in an upgrade: up to the time a whole one takes.
cp -a "$A" "$T/probe"
t0=$(date +%s%N)
"$BV_BIN" upgrade --archive "$T/probe" > /dev/null 2>&1
span_cs=$(( ($(date +%s%N) - t0) / 10000000 + 1 ))
rm -rf "$T/probe"
n=${FAULT_KILLS_RANDOM:-16}
kills=0 bad=0
for i in $(seq 1 "$n"); do
    t0=$(date +%s%N)
    "$BV_BIN" upgrade --archive "$A" > "$T/upgrade-$i.out" 2>&1 &
    pid=$!
    fault_rand_sleep 0 "$span_cs"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    # One that finished before its kill took what a whole upgrade takes now (the probe's time can
    # be a loaded moment's): the next kills land within that.
    [ $rc -eq 0 ] && span_cs=$(( ($(date +%s%N) - t0) / 10000000 + 1 ))
    [ $rc -eq 137 ] && kills=$((kills + 1))
    if ! "$BV_BIN" verify --archive "$A" > "$T/verify-$i.out" 2>&1; then
        bad=$((bad + 1))
        echo "    after kill $i:"; grep -E "^BAD|FAILED" "$T/verify-$i.out" | head -3 | sed 's/^/    /'
    fi
    # An upgrade that finished before its kill: back to format 1, so that the next kill lands in
    # a first upgrade again; one that was killed is continued by the next run as it is.
    [ $rc -eq 0 ] && python3 "$BV_ROOT/tests/tools/format1.py" "$A" 700
done
check "most runs were killed mid-upgrade" test "$kills" -ge $((n / 2))
fault_count "upgrade SIGKILL" "$kills"
check_eq "the archive verifies after every kill" "$bad" 0
out=$("$BV_BIN" upgrade --archive "$A" 2>&1); rc=$?
check_eq "the upgrade run again completes" "$rc" 0
check_eq "binvault.json is at version 2" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$A/binvault.json")" 2
check "two block summaries" test -f "$A/catalog/1/0000000000000001-0000000000002048.bvc"
check_eq "no chunk left that a block chunk covers" \
    "$(ls "$A/index" | awk -F'[-.]' '{ if (int(($1 - 1) / 1024) != int(($2 - 1) / 1024)) n++ } END { print n + 0 }')" 0
check_eq "verify passes" "$("$BV_BIN" verify --archive "$A" > /dev/null 2>&1; echo $?)" 0
"$BV_BIN" fetch --archive "$A" --to "$T/fetch-after" > /dev/null 2>&1
check "fetch writes the same bytes as before the upgrade" diff -r "$T/fetch-before" "$T/fetch-after"

# A fresh server recovered from the upgraded archive has the source's tables.
mdb_start tgt > /dev/null || { fail "start a target server"; exit 1; }
"$BV_BIN" recover --archive "$A" --into "mysql://root@127.0.0.1:$(mdb_port tgt)" --from-position "$(basename "${files[0]}"):4" \
    --until-end > "$T/recover.out" 2>&1
check_eq "recover --until-end from the upgraded archive exits 0" "$?" 0
check_eq "the recovered table equals the source's" "$(mdb_sql tgt "CHECKSUM TABLE wl.up" | cut -f2)" \
    "$(mdb_sql src "CHECKSUM TABLE wl.up" | cut -f2)"
