# The exit codes of README.md "Exit codes": every documented case, one command line each, with the
# code the table gives it. Then the table itself: every code it lists is exercised here (70, a
# bug, excepted; 79, a cleanup that fails, is checked by recover_grants.sh), so the table cannot
# drift from what the code does. Archives are copies of the previous release's fixtures; one
# throwaway MariaDB serves the cases that need a source.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/agent.sh"
T=$BV_TEST_DIR
FIX=$BV_ROOT/tests/fixtures/archive-v1
trap 'agent_kill; mdb_stop_all' EXIT
tested=" "

# expect CODE WHAT CMD...: CMD exits CODE (stdin closed, 60 s at most); its output is shown when not.
expect() {
    local want=$1 what=$2 out rc; shift 2
    out=$(timeout 60 "$@" < /dev/null 2>&1); rc=$?
    if [ "$rc" = "$want" ]; then ok "exit $want: $what"; else fail "exit $want: $what" "got exit $rc:
$out"; fi
    tested="$tested$want "
}

cp -r "$FIX/plain" "$T/sound"
cp -r "$FIX/plain" "$T/damaged"
rm "$T/damaged/segments/0000000000000003-mariadb-bin.000003-0000000256.bvs"
cp -r "$FIX/encrypted" "$T/encrypted"
head -c 32 /dev/urandom > "$T/wrong.key"; chmod 600 "$T/wrong.key"
cp "$T/wrong.key" "$T/loose.key"; chmod 644 "$T/loose.key"
mkdir -p "$T/config.d"
head -c 2000000 /dev/zero | tr '\0' '#' > "$T/big.ini"
printf '[binvault]\ns3-secret-access-key = x\n' > "$T/secret.ini"; chmod 644 "$T/secret.ini"
echo x > "$T/a-file"
echo other > "$T/other"
mkdir -p "$T/nonempty"; echo x > "$T/nonempty/ibdata1"

# 0
expect 0 "verify of a sound archive" "$BV_BIN" verify --archive "$T/sound"
expect 0 "list of a sound archive" "$BV_BIN" list --archive "$T/sound"
# 64
expect 64 "an unknown option" "$BV_BIN" list --archive "$T/sound" --bogus
expect 64 "an invalid GTID" "$BV_BIN" fetch --archive "$T/sound" --from-gtid zz --to "$T/out1"
expect 64 "an invalid GTID (recover)" "$BV_BIN" recover --archive "$T/sound" --until-gtid zz --into mysql://root@127.0.0.1:1
expect 64 "an invalid FILE:POS" "$BV_BIN" fetch --archive "$T/sound" --from-position bad --to "$T/out2"
expect 64 "an invalid time" "$BV_BIN" log --archive "$T/sound" --since tomorrow
expect 64 "an invalid BINVAULT_LOG_LEVEL" env BINVAULT_LOG_LEVEL=loud "$BV_BIN" list --archive "$T/sound"
expect 64 "a restore without a target" "$BV_BIN" restore --archive "$T/sound" --datadir "$T/r64"
# 65
expect 65 "verify of an archive with a missing segment" "$BV_BIN" verify --archive "$T/damaged"
expect 65 "log over a range with a missing segment" "$BV_BIN" log --archive "$T/damaged" --grep nothing-matches
expect 65 "fetch across a missing segment" "$BV_BIN" fetch --archive "$T/damaged" --from-position mariadb-bin.000001:256 \
    --until-position mariadb-bin.000007:300 --to "$T/out3"
# 66
expect 66 "an archive that does not exist (list)" "$BV_BIN" list --archive "$T/no/such/archive"
expect 66 "an archive that does not exist (log)" "$BV_BIN" log --archive "$T/no/such/archive"
expect 66 "an archive that does not exist (verify)" "$BV_BIN" verify --archive "$T/no/such/archive"
expect 66 "an archive that does not exist (storage list)" "$BV_BIN" storage --archive "$T/no/such/archive" list
expect 66 "an archive that does not exist (upgrade)" "$BV_BIN" upgrade --archive "$T/no/such/archive"
cp -r "$FIX/plain" "$T/badchunk"
echo '{"not":"an index line"}' > "$T/badchunk/index/0000000000000002-0000000000000002.bvi"
expect 65 "upgrade of an archive with an index chunk that cannot be read" "$BV_BIN" upgrade --archive "$T/badchunk"
check "read-only commands created nothing" test ! -e "$T/no"
expect 66 "a GTID that is not in the archive" "$BV_BIN" fetch --archive "$T/sound" --from-gtid 9-9-9 --to "$T/out4"
expect 66 "an object that does not exist" "$BV_BIN" storage --archive "$T/sound" get nosuch
expect 66 "a restore from an archive without a backup" "$BV_BIN" restore --archive "$T/sound" --datadir "$T/r66" --until-end
expect 66 "a timeline the archive does not have (recover)" "$BV_BIN" recover --archive "$T/sound" --timeline 2 \
    --from-gtid "" --until-end --dry-run
# 69
expect 69 "a server that cannot be reached (pull)" env BINVAULT_SOURCE_PASSWORD=x "$BV_BIN" pull \
    --source mysql://u@127.0.0.1:1 --to "$T/pulled"
expect 69 "a server that cannot be reached (backup)" env BINVAULT_SOURCE_PASSWORD=x "$BV_BIN" backup \
    --archive "$T/sound" --source mysql://u@127.0.0.1:1 --tmp-dir "$T"
expect 69 "a target that cannot be reached (recover)" "$BV_BIN" recover --archive "$T/sound" \
    --into mysql://root@127.0.0.1:1 --until-end
# 73
expect 73 "storage put over an object with other content" "$BV_BIN" storage --archive "$T/sound" put binvault.json "$T/other"
# 74
expect 74 "a local file that cannot be read (import)" "$BV_BIN" import --archive "$T/imported" "$T/no-such-binlog"
# 75
expect 75 "a store that cannot be reached" env AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y "$BV_BIN" list \
    --archive s3://bucket/prefix --s3-endpoint http://127.0.0.1:1
# 77
expect 77 "the wrong key for an encrypted archive" "$BV_BIN" verify --archive "$T/encrypted" --key-file "$T/wrong.key"
# 78
expect 78 "a config file that is a directory" "$BV_BIN" list --config "$T/config.d" --archive "$T/sound"
expect 78 "a config file over the size limit" "$BV_BIN" list --config "$T/big.ini" --archive "$T/sound"
expect 78 "a config file with a secret others can read" "$BV_BIN" list --config "$T/secret.ini" --archive "$T/sound"
expect 78 "an archive path that is a file" "$BV_BIN" list --archive "$T/a-file"
expect 78 "a key file others can read" "$BV_BIN" verify --archive "$T/encrypted" --key-file "$T/loose.key"
expect 78 "an encrypted archive without its key" "$BV_BIN" verify --archive "$T/encrypted"
expect 78 "S3 without credentials" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$BV_BIN" list --archive s3://bucket/prefix
expect 78 "an --http address that cannot listen" env BINVAULT_SOURCE_PASSWORD=x "$BV_BIN" agent \
    --source mysql://u@127.0.0.1:1 --archive "$T/agent-archive" --spool "$T/agent-spool" --http 999.1.1.1:80
expect 78 "a restore into a data directory that is not empty" "$BV_BIN" restore --archive "$T/sound" \
    --stream-file "$T/other" --datadir "$T/nonempty" --until-end
check "... which is left as it was" test "$(ls "$T/nonempty")" = ibdata1

# ---- cases that need a source ------------------------------------------------------------------
if mdb_start src; then
    repl_user src
    src="mysql://repl@127.0.0.1:$(mdb_port src)"
    expect 77 "the agent with a wrong source password" env BINVAULT_SOURCE_PASSWORD=wrong "$BV_BIN" agent \
        --source "$src" --archive "$T/a77" --spool "$T/s77" --http off
    expect 65 "the agent at a binlog the source does not have" env BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" \
        agent --source "$src" --archive "$T/a65" --spool "$T/s65" --http off --start-position nosuch-bin.000099:4
    expect 77 "backup with a wrong source password" env BINVAULT_SOURCE_PASSWORD=wrong "$BV_BIN" backup \
        --archive "$T/sound" --source "$src" --tmp-dir "$T"
    expect 78 "backup with a backup tool that cannot run" env BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" backup \
        --archive "$T/sound" --source "$src" --tmp-dir "$T" --tool "$T/no-such-mariadb-backup"
    expect 69 "backup when the backup tool fails (a user without its grants)" env BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD \
        "$BV_BIN" backup --archive "$T/sound" --source "$src" --tmp-dir "$T"
    mdb_sql src "CREATE USER lp@'127.0.0.1' IDENTIFIED BY 'lp'; GRANT REPLICATION SLAVE ADMIN ON *.* TO lp@'127.0.0.1'"
    expect 77 "recover --dry-run as a target user that lacks a privilege" env BINVAULT_INTO_PASSWORD=lp "$BV_BIN" \
        recover --archive "$T/sound" --into "mysql://lp@127.0.0.1:$(mdb_port src)" \
        --from-position mariadb-bin.000001:256 --until-end --dry-run
    expect 64 "the agent with --accept-gap on an empty archive" env BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$BV_BIN" \
        agent --source "$src" --archive "$T/a64" --spool "$T/s64" --http off --accept-gap --start-position mariadb-bin.000001:4
else
    fail "start mariadb"
fi

# ---- the table ----------------------------------------------------------------------------------
documented=$(sed -n '/^## Exit codes/,/^## /p' "$BV_ROOT/README.md" | grep -oE '^\| *[0-9]+ *\|' | tr -dc '0-9\n' | sort -un)
check "README.md has an exit-code table" test -n "$documented"
# 79 needs a recovery whose cleanup fails: recover_grants.sh checks it.
if grep -q 'check_eq "a cleanup that fails: exit 79"' "$BV_ROOT/tests/integration/recover_grants.sh"; then
    tested="${tested}79 "
fi
for code in $documented; do
    [ "$code" = 70 ] && continue
    case "$tested" in
        *" $code "*) ok "README exit code $code is exercised" ;;
        *) fail "README exit code $code is exercised" "no case above checks exit $code" ;;
    esac
done
for code in $(tr ' ' '\n' <<< "$tested" | sort -un); do
    check "exit code $code is in the README table" grep -qx "$code" <<< "$documented"
done
