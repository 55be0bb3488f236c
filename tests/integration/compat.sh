# Archives written by the previous release (format 1, tests/fixtures/archive-v1, made by
# tests/fixtures/make-archive-v1.sh): plain, encrypted and pruned. This binvault must read them as
# that release did: list (text and --json), verify and log print what it printed, fetch writes the
# same bytes, and a recovery of each unpruned archive into a fresh server gives the source's tables.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
trap mdb_stop_all EXIT

T=$BV_TEST_DIR
FIX=$BV_ROOT/tests/fixtures/archive-v1
# A copy: the fixture in the checkout must not change whatever the code under test does.
cp -a "$FIX" "$T/fix"
chmod 600 "$T/fix/key"
cd "$T/fix" || exit 1
export BINVAULT_INTO_PASSWORD=
norm() { sed -E -e "s#$T/fix/##g" -e 's/ in [0-9.]+ s: / in (time) s: /'; }
# Since issue 12, log names the tables of a DDL statement where the previous release printed '-'
# in its TABLES column (columns 102-125): that column of `statement` rows only is put back to '-',
# everything else must be as it was.
ddl_tables_as_before() {
    awk 'substr($0, 90, 10) == "statement " {
             rest = substr($0, 102); n = index(rest, " ") - 1
             $0 = substr($0, 1, 101) sprintf("%-24s ", "-") substr(rest, (n > 24 ? n : 24) + 2)
         } { print }'
}

for a in plain encrypted pruned; do
    unset BINVAULT_KEY_FILE
    [ $a = encrypted ] && export BINVAULT_KEY_FILE=$T/fix/key
    url=file://$T/fix/$a
    for what in list verify log; do
        "$BV_BIN" $what --archive "$url" 2>&1 | norm > "$T/$a.$what.txt"
        if [ $what = log ]; then
            ddl_tables_as_before < "$T/$a.log.txt" > "$T/$a.log-before.txt"
            check "$a: log prints what the previous release printed (a DDL's tables aside)" \
                diff -u "expected/$a.log.txt" "$T/$a.log-before.txt"
            continue
        fi
        check "$a: $what prints what the previous release printed" \
            diff -u "expected/$a.$what.txt" "$T/$a.$what.txt"
    done
    check "$a: log names the tables of a DDL statement" \
        grep -Eq '^0-1-16 .* statement +wl\.m1 +DROP TABLE `wl`\.`m1`' "$T/$a.log.txt"
    "$BV_BIN" list --archive "$url" --all 2>&1 | norm > "$T/$a.list-all.txt"
    check "$a: list --all prints what the previous release's list printed" \
        diff -u "expected/$a.list.txt" "$T/$a.list-all.txt"
    "$BV_BIN" list --archive "$url" --json 2>&1 | norm > "$T/$a.list.json"
    check "$a: list --json is what the previous release printed" diff -u "expected/$a.list.json" "$T/$a.list.json"
    "$BV_BIN" fetch --archive "$url" --to "$T/fetch-$a" > /dev/null 2>&1
    (cd "$T/fetch-$a" 2>/dev/null && sha256sum -- *) > "$T/$a.fetch.sha256"
    check "$a: fetch writes the bytes the previous release wrote" diff -u "expected/$a.fetch.sha256" "$T/$a.fetch.sha256"
done
unset BINVAULT_KEY_FILE
check "the fixture archives are unchanged by reading them" diff -r "$FIX" "$T/fix" -x key

# Recovery of the unpruned archives into fresh servers: the source's tables at the archive's end.
tables=$(head -n -0 expected/tables.txt | grep -v $'\t' | paste -sd, -)
for a in plain encrypted; do
    mdb_start "tgt-$a" > /dev/null || { fail "start a target server"; continue; }
    [ $a = encrypted ] && export BINVAULT_KEY_FILE=$T/fix/key
    "$BV_BIN" recover --archive "file://$T/fix/$a" --into "mysql://root@127.0.0.1:$(mdb_port "tgt-$a")" \
        --from-position mariadb-bin.000001:256 --until-end > "$T/recover-$a.out" 2>&1
    check_eq "$a: recover --until-end exits 0" "$?" 0
    unset BINVAULT_KEY_FILE
    { echo "$tables" | tr ',' '\n'; mdb_sql "tgt-$a" "CHECKSUM TABLE $tables"; } > "$T/tables-$a.txt"
    check "$a: the recovered server's tables equal the source's" diff -u expected/tables.txt "$T/tables-$a.txt"
    check_eq "$a: the recovered server's GTID state is the source's" \
        "$(mdb_sql "tgt-$a" "SELECT @@gtid_slave_pos")" "$(cat expected/gtid_end.txt)"
    mdb_stop "tgt-$a"
done
