# The commands of issue #13 on an archive of several catalog blocks: a live server's 2600
# transactions imported one per segment (two complete 1024-segment blocks, summarised, and a
# tail), then list (the summary, --all, --json), recover --dry-run to a GTID, a time and a
# position in the first block, the second and the tail, fetch of a range across a block boundary,
# log with --since and --grep, verify; then a segment of the first block deleted: verify, list
# --all, log and a recovery across it each say so.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
trap mdb_stop_all EXIT

T=$BV_TEST_DIR
ARC=$T/archive

mdb_start src || { fail "start mariadb"; exit 1; }
mariadb --defaults-file="$(mdb_cnf src)" -uroot <<'SQL'
CREATE DATABASE cc;
CREATE TABLE cc.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
DELIMITER //
CREATE PROCEDURE cc.fill(IN a INT, IN b INT)
BEGIN
  DECLARE i INT DEFAULT a;
  WHILE i < b DO
    INSERT INTO cc.t VALUES (i, 'hay');
    SET i = i + 1;
  END WHILE;
END //
DELIMITER ;
SQL
mdb_sql src "CALL cc.fill(0, 1500)"
sleep 2
since=$(mdb_sql src "SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s')")
sleep 1
mdb_sql src "CALL cc.fill(1500, 2000)"
mdb_sql src "INSERT INTO cc.t VALUES (99999, 'needle')"
mdb_sql src "CALL cc.fill(2000, 2599)"
mdb_sql src "FLUSH BINARY LOGS"
mapfile -t files < <(mdb_binlog_files src)

out=$("$BV_BIN" import --archive "$ARC" --segment-size 1 "${files[@]}" 2>&1); rc=$?
check_eq "import, a transaction per segment: exit 0" "$rc" 0
check "import summarised the complete blocks" test -n "$(ls "$ARC/catalog/1" 2>/dev/null)"
n=$("$BV_BIN" list --archive "$ARC" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["segments"])')
check "more than two blocks of segments" test "${n:-0}" -gt 2048

# --- list -----------------------------------------------------------------------------------------
out=$("$BV_BIN" list --archive "$ARC" 2>&1); rc=$?
check_eq "list: exit 0" "$rc" 0
check "list: the last 10 of them" grep -q "^the last 10 of $n segments" <<< "$out"
check "list: one window, the whole archive" grep -q "^window seq 1-$n: " <<< "$out"
check "list: the totals" grep -qE "^$n segments, [0-9]+ bytes .*, 2[0-9]{3} transactions" <<< "$out"
check_eq "list --all: every segment" "$("$BV_BIN" list --archive "$ARC" --all | grep -cE '^ +[0-9]+  mariadb-bin')" "$n"
check "list --json: every segment, in order, all stored" python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d["segments"]
sys.exit(0 if [x["seq"] for x in s] == list(range(1, int(sys.argv[1]) + 1)) and all(x["stored"] for x in s)
         and len(d["windows"]) == 1 else 1)' "$n" < <("$BV_BIN" list --archive "$ARC" --json)

# --- recover --dry-run into the source itself (nothing is applied): a plan per block --------------
into="mysql://root@127.0.0.1:$(mdb_port src)"
export BINVAULT_INTO_PASSWORD=
domain_server=$(mdb_sql src "SELECT CONCAT(@@gtid_domain_id, '-', @@server_id)")
last=$(mdb_sql src "SELECT @@gtid_binlog_pos")
lastn=${last##*-}
for at in 300 1700 $((lastn - 5)); do
    from="$domain_server-$((at - 50))"
    out=$("$BV_BIN" recover --archive "$ARC" --into "$into" --dry-run --from-gtid "$from" --until-gtid "$domain_server-$at" 2>&1)
    rc=$?
    check_eq "recover --dry-run $from .. $domain_server-$at: exit 0" "$rc" 0
    check "recover --dry-run $from .. $domain_server-$at: 50 transactions" grep -qE "50 transactions" <<< "$out"
done
out=$("$BV_BIN" recover --archive "$ARC" --into "$into" --dry-run --from-gtid "$domain_server-1400" --until-time "$since" 2>&1)
check_eq "recover --dry-run to a time between the two phases: exit 0" "$?" 0
check "recover --dry-run to that time: stops at the end of the first phase" grep -q "until.*$domain_server-150[0-9]" <<< "$out"
out=$("$BV_BIN" recover --archive "$ARC" --into "$into" --dry-run --from-gtid "$domain_server-99999" --until-end 2>&1)
check_eq "recover from a start after the archive: refused (64)" "$?" 64
check "the refusal shows the archive's window" grep -q "restorable window seq 1-$n" <<< "$out"

# --- fetch across a block boundary ------------------------------------------------------------------
out=$("$BV_BIN" fetch --archive "$ARC" --from-gtid "$domain_server-1000" --until-gtid "$domain_server-1100" --to "$T/fetch" 2>&1)
check_eq "fetch across the first block's end: exit 0" "$?" 0
check "fetch: 101 transactions" grep -q "fetched [0-9]* events, 101 transactions" <<< "$out"

# --- log --------------------------------------------------------------------------------------------
out=$("$BV_BIN" log --archive "$ARC" --grep needle 2>&1)
check "log --grep: the one transaction" grep -q "^# 1 transaction shown" <<< "$out"
out=$("$BV_BIN" log --archive "$ARC" --since "$since" 2>&1)
check "log --since: the second phase only" grep -q "^# 1100 transactions shown" <<< "$out"

# --- verify, then a segment of the first block deleted ----------------------------------------------
check "verify: sound" "$BV_BIN" verify --archive "$ARC"
victim=$(seg_names "$ARC" | sed -n 500p)
vseq=$((10#$(basename "$victim" | cut -d- -f1)))
rm "$ARC/segments/$victim"
out=$("$BV_BIN" verify --archive "$ARC" 2>&1)
check_eq "verify: exit 65" "$?" 65
check "verify: names the missing segment" grep -q "BAD segments/$victim: missing from the store" <<< "$out"
check "list --all: flags it MISSING" grep -qE "^ +$vseq  .*MISSING$" < <("$BV_BIN" list --archive "$ARC" --all)
out=$("$BV_BIN" log --archive "$ARC" --grep hay 2>&1)
check_eq "log over it: exit 65" "$?" 65
check "log over it: says the search is incomplete" grep -q "INCOMPLETE" <<< "$out"
out=$("$BV_BIN" recover --archive "$ARC" --into "$into" --dry-run --from-gtid "$domain_server-10" --until-gtid "$domain_server-1000" 2>&1)
check_eq "recover across it: refused (65)" "$?" 65
check "recover across it: names the segment" grep -q "segments/$victim" <<< "$out"
