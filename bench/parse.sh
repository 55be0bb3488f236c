#!/usr/bin/env bash
# Parse + verify throughput of `binvault inspect` over >= 1 GB of binlogs written by a local
# MariaDB, beside `cat` of the same files (and mariadb-binlog for context), all from page cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
data=$BENCH_DATA/parse-binlogs
target_mb=${BENCH_PARSE_MB:-1100}

if [ ! -f "$data/.complete" ]; then
    rm -rf "$data" "$BENCH_DATA/parse-server"
    mkdir -p "$data"
    export BV_TEST_DIR=$BENCH_DATA/parse-server
    . "$BENCH_ROOT/tests/lib/mariadb.sh"
    trap mdb_stop_all EXIT
    echo "# generating ~${target_mb} MB of binlogs (once; kept in $data)" >&2
    mdb_start gen "max_binlog_size=256M" "max_allowed_packet=64M"
    mdb_sql gen "CREATE DATABASE b; CREATE TABLE b.small (id BIGINT PRIMARY KEY, a VARCHAR(64), n INT) ENGINE=InnoDB;
                 CREATE TABLE b.big (id BIGINT PRIMARY KEY, v LONGBLOB) ENGINE=InnoDB"
    i=0
    while :; do

        binmb=$(mdb_sql gen "SHOW BINARY LOGS" | awk '{s+=$2} END {print int(s/1048576)}')
        [ "$binmb" -ge "$target_mb" ] && break
        # OLTP-like: many small transactions of small rows, and some large rows.
        mdb_sql gen "USE b; INSERT INTO b.small SELECT seq + $((i * 20000)), MD5(seq), seq FROM seq_1_to_20000;
                     UPDATE b.small SET n = n + 1 WHERE id BETWEEN $((i * 20000)) AND $((i * 20000 + 5000));
                     INSERT INTO b.big SELECT seq + $((i * 20)), REPEAT(MD5(seq + $i), 32768) FROM seq_1_to_20;"
        i=$((i + 1))
    done
    mdb_sql gen "FLUSH BINARY LOGS"
    mdb_stop gen
    cp "$(mdb_dir gen)"/data/mariadb-bin.[0-9]* "$data"/
    rm -rf "$BENCH_DATA/parse-server"
    touch "$data/.complete"
fi

files=("$data"/mariadb-bin.[0-9]*)
bytes=$(cat "${files[@]}" | wc -c)
cat "${files[@]}" > /dev/null   # warm the page cache
t_cat=$(bench_best 3 cat "${files[@]}")
t_bv=$(bench_best 3 "$BV" inspect --quiet "${files[@]}")
t_mb=$(bench_best 1 mariadb-binlog "${files[@]}")
events=$("$BV" inspect --json "${files[0]}" | wc -l)
mbps() { echo "scale=0; $bytes / $1 / 1000000" | bc -l; }
out=$(mktemp)
{
    echo "### Parse and verify (issue: codec)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine)."
    echo "Input: $(( bytes / 1000000 )) MB in ${#files[@]} binlog files written by MariaDB $(mariadbd --version | awk '{print $3}') (small-row and 1 MB-row transactions; ${events} events in the first file), read from page cache."
    echo
    echo "| command | seconds (best of 3) | MB/s |"
    echo "|---|---|---|"
    echo "| \`cat FILES > /dev/null\` | $(printf %.3f "$t_cat") | $(mbps "$t_cat") |"
    echo "| \`binvault inspect --quiet FILES\` (frame + CRC32 every event) | $(printf %.3f "$t_bv") | $(mbps "$t_bv") |"
    echo "| \`mariadb-binlog FILES > /dev/null\` (decodes, best of 1) | $(printf %.3f "$t_mb") | $(mbps "$t_mb") |"
    echo
    echo "binvault / cat time ratio: $(echo "scale=2; $t_bv / $t_cat" | bc -l); binvault is $(echo "scale=1; $t_mb / $t_bv" | bc -l)x faster than mariadb-binlog. Aim: >= 1000 MB/s on one core."
} > "$out"
cat "$out"
bench_record parse "$out"
rm -f "$out"
