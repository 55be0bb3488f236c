#!/usr/bin/env bash
# The newcomer's tour: starts a throwaway local MariaDB, runs a small workload, and shows what
# binvault reads in its binlogs. Everything lives under a temporary directory that is removed
# at the end (set BV_KEEP_TMP=1 to keep it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BV=$root/binvault
export BV_TEST_DIR=$(mktemp -d /tmp/binvault-demo-XXXXXX)
. "$root/tests/lib/mariadb.sh"
. "$root/tests/lib/workload.sh"
cleanup() { mdb_stop_all; [ -n "${BV_KEEP_TMP:-}" ] || rm -rf "$BV_TEST_DIR"; }
trap cleanup EXIT

echo "== starting a throwaway MariaDB in $BV_TEST_DIR"
mdb_start demo
echo "== running a small workload (DDL, DML, XA, two GTID domains, binlog rotations)"
wl_mixed demo
mapfile -t files < <(mdb_binlog_files demo)
echo "== the server's binlogs: ${files[*]##*/}"
echo
echo "== binvault inspect --transactions (one line per transaction)"
"$BV" inspect --transactions "${files[@]}"
echo
echo "== binvault inspect (one line per event) of ${files[0]##*/}, first 15 events"
"$BV" inspect "${files[0]}" > "$BV_TEST_DIR/events.txt"
head -n 15 "$BV_TEST_DIR/events.txt"
