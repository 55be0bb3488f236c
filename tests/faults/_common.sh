# Helpers of the fault-injection suite (sourced by tests/faults/*.sh; files starting with '_' are
# not scenarios). Each scenario runs a live workload, injects its faults, lets binvault recover by
# itself, then fault_final_checks compares the archive with the server's binlog and recovers a
# fresh server from it.
#
#   fault_wl_start SERVER          the continuous workload, surviving server restarts (WL_PID;
#                                  wl_continuous_stop stops it)
#   fault_count KIND N             record N faults of KIND injected by this scenario
#   fault_kill_agent               SIGKILL the agent (counted as "agent SIGKILL")
#   fault_final_checks SERVER ARCHIVE [ARCHIVE OPTIONS...]
#       the agent catches up and exits 0 on SIGTERM; verify passes; the fetched binlogs are
#       byte-identical to the server's (FAULT_SOURCE_ENCRYPTED=1: a source with encrypted binlogs,
#       the same events at the same positions); the same transactions in the same order, none missing,
#       none twice; a fresh server recovered from the archive alone (--until-end) has every user
#       table with the source's CHECKSUM TABLE. Records the transactions written and lost.
#
# Counts go to $BV_FAULT_COUNTS ("scenario<TAB>what<TAB>count" lines; scripts/run-tests.sh faults
# prints their table).
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/workload.sh"
. "$BV_ROOT/tests/lib/agent.sh"

: "${BV_FAULT_COUNTS:=$BV_TEST_DIR/counts}"
FAULT_SCENARIO=$(basename "$0" .sh)
# Agent options common to the scenarios: small segments cut often, quick reconnections.
FAULT_AGENT_OPTS=(--segment-size 64K --segment-interval 300ms --heartbeat 500ms --reconnect-max 1s --purge-check 2s
                  --shutdown-grace 5s)

# wl_continuous_start (tests/lib/workload.sh), with a client that stops at the first error and is
# started again: with --force, a batch client that lost its server goes on failing every
# statement without reconnecting, and the workload stops for good after a restart.
fault_wl_start() {
    local s=$1 cnf
    cnf=$(mdb_cnf "$s")
    ( trap 'exit 0' TERM
      while :; do
          wl_sql_stream | mariadb --defaults-file="$cnf" -uroot > /dev/null 2>&1
          sleep 0.2
      done ) &
    WL_PID=$!
}

fault_count() { printf '%s\t%s\t%s\n' "$FAULT_SCENARIO" "$1" "$2" >> "$BV_FAULT_COUNTS"; }

FAULT_KILLS=0
fault_kill_agent() {
    agent_kill
    FAULT_KILLS=$((FAULT_KILLS + 1))
}

# A random duration in seconds between $1 and $2 hundredths, e.g. "0.37".
fault_rand_sleep() {
    local cs=$(($1 + RANDOM % ($2 - $1 + 1)))
    sleep "$((cs / 100)).$(printf '%02d' $((cs % 100)))"
}

# The GTIDs of the transactions in binlog files, one per line, in order.
_fault_gtids() {
    "$BV_BIN" inspect --transactions --json "$@" |
        python3 -c 'import sys,json; [print(json.loads(l)["gtid"]) for l in sys.stdin]'
}

# Every user table and its CHECKSUM TABLE.
_fault_checksums() {
    local s=$1 tables
    mapfile -t tables < <(mdb_sql "$s" "SELECT CONCAT('\`', table_schema, '\`.\`', table_name, '\`')
        FROM information_schema.tables WHERE table_type = 'BASE TABLE'
        AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1")
    printf '%s\n' "${tables[@]}"
    [ ${#tables[@]} -gt 0 ] && mdb_sql "$s" "CHECKSUM TABLE $(IFS=,; echo "${tables[*]}")"
}

# Like compare_fetched (tests/lib/agent.sh), for servers that crashed: every file byte-identical
# but for the FDE's in-use flag (offset 21), which a crashed server leaves set in the files it had
# open and binvault's copies have clear (as in a closed file).
_fault_compare_fetched() {
    local s=$1 fetched=$2 files
    mapfile -t files < <(mdb_binlog_files "$s")
    python3 - "$fetched" "${files[@]}" <<'PY'
import os, sys
fetched, bad = sys.argv[1], 0
for path in sys.argv[2:]:
    name = os.path.basename(path)
    try:
        got = open(os.path.join(fetched, name), "rb").read()
    except FileNotFoundError:
        print("missing", name); bad = 1; continue
    want = open(path, "rb").read()
    if len(got) != len(want) or len(want) < 22:
        print("differs in size:", name, len(want), len(got)); bad = 1; continue
    if got[:21] != want[:21] or got[22:] != want[22:] or got[21] != want[21] & ~1:
        first = next(i for i in range(len(want)) if (got[i] != want[i]) if i != 21 or got[21] != want[21] & ~1)
        print("differs:", name, "at offset", first); bad = 1
sys.exit(bad)
PY
}

# The archive holds the server's end, and the server wrote nothing more for a second (after a
# FLUSH, the server writes the new file's BINLOG_CHECKPOINT event when it gets to it).
_fault_caught_up() {
    local s=$1 archive=$2 before
    for _ in $(seq 1 10); do
        agent_wait_caught_up_any "$s" "$archive" 180 || return 1
        before=$(mdb_sql "$s" "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
        sleep 1
        [ "$(mdb_sql "$s" "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')" = "$before" ] &&
            agent_wait_caught_up_any "$s" "$archive" 10 && return 0
    done
    return 1
}

# A source that encrypts its binlogs (FAULT_SOURCE_ENCRYPTED=1): its files hold ciphertext, so the
# fetched copies are compared by layout instead of bytes: the same events at the same positions in
# every file, as the server lists them (SHOW BINLOG EVENTS decrypts), with the file's
# START_ENCRYPTION stored as an ignorable event (type 28) of the same length.
_fault_compare_layout() {
    local s=$1 fetched=$2 f name
    for f in $(mdb_sql "$s" "SHOW BINARY LOGS" | awk '{print $1}'); do
        mdb_sql "$s" "SHOW BINLOG EVENTS IN '$f'" | awk -F'\t' -v f="$f" '{print f, $2, $3, $5}'
    done > "$BV_TEST_DIR/server.layout"
    python3 - "$fetched" "$BV_TEST_DIR/server.layout" <<'PY'
import os, struct, sys
fetched, layout = sys.argv[1], sys.argv[2]
want, got = [], []
for line in open(layout):
    f, pos, typ, end = line.split()
    want.append((f, int(pos), "Start_encryption" if typ == "Start_encryption" else "", int(end)))
for f in sorted({w[0] for w in want}):
    data = open(os.path.join(fetched, f), "rb").read()
    at = 4
    while at + 19 <= len(data):
        typ, size, end = data[at + 4], struct.unpack_from("<I", data, at + 9)[0], struct.unpack_from("<I", data, at + 13)[0]
        got.append((f, at, "Start_encryption" if typ == 28 else "", end))
        at += size
bad = [(w, g) for w, g in zip(want, got) if w != g]
if len(want) != len(got) or bad:
    print("events: server %d, fetched %d; first difference: %s" % (len(want), len(got), bad[:1]))
    sys.exit(1)
PY
}

# The GTIDs of a server's binlogs, one per line, in order, as the server lists them.
_fault_server_gtids() {
    local s=$1 f
    for f in $(mdb_sql "$s" "SHOW BINARY LOGS" | awk '{print $1}'); do
        mdb_sql "$s" "SHOW BINLOG EVENTS IN '$f'" | awk -F'\t' '$3 == "Gtid" {print $NF}' | grep -oE '[0-9]+-[0-9]+-[0-9]+$'
    done
}

fault_final_checks() {
    local s=$1 archive=$2; shift 2
    local aopts=("$@") T=$BV_TEST_DIR files n lost twice rc
    mdb_sql "$s" "FLUSH BINARY LOGS"
    check "$FAULT_SCENARIO: the archive catches up with the server by itself" _fault_caught_up "$s" "$archive"
    agent_term; check_eq "$FAULT_SCENARIO: SIGTERM: the agent exits 0" "$?" 0
    check "$FAULT_SCENARIO: verify: the archive is sound" "$BV_BIN" verify --archive "$archive" "${aopts[@]}"
    rm -rf "$T/fetched"; mkdir -p "$T/fetched"
    check "$FAULT_SCENARIO: fetch the whole archive" "$BV_BIN" fetch --archive "$archive" "${aopts[@]}" --to "$T/fetched"
    if [ -n "${FAULT_SOURCE_ENCRYPTED:-}" ]; then
        check "$FAULT_SCENARIO: fetched binlogs hold the server's events at the server's positions" \
            _fault_compare_layout "$s" "$T/fetched"
        _fault_server_gtids "$s" > "$T/server.gtids"
    else
        check "$FAULT_SCENARIO: fetched binlogs are byte-identical to the server's (in-use flag aside)" \
            _fault_compare_fetched "$s" "$T/fetched"
        mapfile -t files < <(mdb_binlog_files "$s")
        _fault_gtids "${files[@]}" > "$T/server.gtids"
    fi
    _fault_gtids "$T"/fetched/* > "$T/archive.gtids"
    n=$(grep -c . "$T/server.gtids")
    lost=$(comm -23 <(sort "$T/server.gtids") <(sort -u "$T/archive.gtids") | wc -l)
    twice=$(sort "$T/archive.gtids" | uniq -d | wc -l)
    check "$FAULT_SCENARIO: the server wrote transactions under the faults ($n)" test "$n" -gt 500
    check "$FAULT_SCENARIO: archive transactions == server transactions, in order" \
        cmp -s "$T/server.gtids" "$T/archive.gtids"
    check_eq "$FAULT_SCENARIO: no transaction lost" "$lost" 0
    check_eq "$FAULT_SCENARIO: no transaction archived twice" "$twice" 0
    fault_count "transactions written" "$n"
    fault_count "transactions lost" "$lost"
    fault_count "transactions archived twice" "$twice"
    fault_count "agent SIGKILL" "$FAULT_KILLS"

    # A fresh server (its own server_id) recovered from the archive alone, from the beginning (the
    # archive starts at the server's first binlog) to the end.
    MDB_SERVER_ID=2 mdb_start "$s-recovered" > /dev/null || { fail "$FAULT_SCENARIO: start a fresh target"; return; }
    BINVAULT_INTO_PASSWORD= "$BV_BIN" recover --archive "$archive" "${aopts[@]}" \
        --into "mysql://root@127.0.0.1:$(mdb_port "$s-recovered")" --from-gtid '' --until-end > "$T/recover.log" 2>&1
    rc=$?
    check_eq "$FAULT_SCENARIO: recover a fresh server from the archive: exit 0" "$rc" 0
    [ "$rc" = 0 ] || tail -n 15 "$T/recover.log"
    _fault_checksums "$s" > "$T/source.checksums"
    _fault_checksums "$s-recovered" > "$T/recovered.checksums"
    check "$FAULT_SCENARIO: the source has user tables ($(grep -c '^`' "$T/source.checksums"))" \
        test "$(grep -c '^`' "$T/source.checksums")" -gt 0
    check "$FAULT_SCENARIO: recovered: every user table with the source's CHECKSUM TABLE" \
        diff "$T/source.checksums" "$T/recovered.checksums"
    mdb_stop "$s-recovered"
}
