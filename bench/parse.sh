#!/usr/bin/env bash
# Parse + verify throughput of `binvault inspect` over >= 1 GB of binlogs written by a local
# MariaDB, beside `cat` of the same files (and mariadb-binlog for context), all from page cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}

bench_server_start
trap mdb_stop_all EXIT
mapfile -t files < <(mdb_sql server "SHOW BINARY LOGS" | awk -v d="$(mdb_dir server)/data" '{print d "/" $1}')
mdb_stop_all
trap - EXIT
bytes=$(cat "${files[@]}" | wc -c)
cat "${files[@]}" > /dev/null   # warm the page cache
t_cat=$(bench_best 3 cat "${files[@]}")
t_bv=$(bench_best 3 "$BV" inspect --quiet "${files[@]}")
t_mb=$(bench_best 1 mariadb-binlog "${files[@]}")
events=$("$BV" inspect --json "${files[0]}" | wc -l)
mbps() { echo "scale=0; $bytes / $1 / 1000000" | bc -l; }
out=$(mktemp)
{
    echo "### Parse and verify (codec)"
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
