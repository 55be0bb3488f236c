#!/usr/bin/env bash
# This build beside a previous release (BENCH_BASE_REV, default the last commit before the
# restructuring of the code into layers), in the same run, on the same data: the agent's catch-up
# over the OLTP binlogs of bench_oltp_start into a directory archive, unencrypted and encrypted
# (wall time, CPU seconds per GB from the agent's own /proc times, peak RSS), an encrypted import of
# binlogs that do not compress, and `recover --until-end` of 30000 transactions into servers
# restored from one base backup. Runs alternate (base, new, base, new) and the best of
# BENCH_RELEASE_RUNS (default 2) is kept.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
REV=${BENCH_BASE_REV:-df64ef5}
RUNS=${BENCH_RELEASE_RUNS:-2}
TXNS=${BENCH_RELEASE_TXNS:-30000}

# The previous release, built once from the repository's history.
base_dir=$BENCH_DATA/base-$REV
if [ ! -x "$base_dir/binvault" ]; then
    echo "# building binvault at $REV (once; kept in $base_dir)" >&2
    rm -rf "$base_dir"; mkdir -p "$base_dir"
    git -C "$BENCH_ROOT" archive "$REV" | tar -x -C "$base_dir"
    make -s -C "$base_dir" -j2 binvault > "$base_dir/build.log" 2>&1 || { tail "$base_dir/build.log" >&2; exit 1; }
fi
BASE=$base_dir/binvault
key=$BENCH_DATA/release.key
head -c 32 /dev/urandom > "$key"; chmod 600 "$key"

# CPU seconds (user + system) a running process used.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

work=$BENCH_DATA/release-run
# catchup BIN MODE: wall seconds, CPU seconds and peak RSS (KiB) of an agent archiving the OLTP
# server's binlogs from the start.
catchup() {
    local bin=$1 mode=$2 last t0 t peak=0 rss cpu
    rm -rf "$work"; mkdir -p "$work"
    last=$(mdb_sql oltp "SHOW MASTER STATUS" | awk '{print $1 ":" $2}')
    local env=()
    [ "$mode" = encrypted ] && env=(BINVAULT_KEY_FILE="$key" BINVAULT_ENCRYPT=1)
    t0=$(date +%s.%N)
    env "${env[@]}" BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD "$bin" agent --source "mysql://repl@127.0.0.1:$(mdb_port oltp)" \
        --archive "file://$work/archive" --spool "$work/spool" --segment-size 64M --segment-interval 200ms \
        --purge-check 0 --http off --log-level warn >> "$work/agent.log" 2>&1 &
    local pid=$!
    local ckpt=
    while :; do
        if [ "$mode" = encrypted ]; then
            ckpt=$(BINVAULT_KEY_FILE=$key "$BASE" storage get --archive "file://$work/archive" checkpoint.json 2>/dev/null \
                | python3 -c 'import json,sys; c=json.load(sys.stdin); print("%s:%d" % (c["file"], c["end_pos"]))' 2>/dev/null || true)
        else
            ckpt=$(archive_checkpoint_pos "file://$work/archive")
        fi
        [ "$ckpt" = "$last" ] && break
        kill -0 "$pid" 2>/dev/null || { echo "agent died: $(tail -n 5 "$work/agent.log")" >&2; exit 1; }
        rss=$(bench_peak_rss_kb "$pid"); [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
        sleep 0.05
    done
    t=$(echo "$(date +%s.%N) - $t0" | bc -l)
    cpu=$(cpu_s "$pid")
    rss=$(bench_peak_rss_kb "$pid"); [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
    kill -TERM "$pid"; wait "$pid" || true
    echo "$t $cpu $peak"
}

min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
bench_oltp_start
. "$BENCH_ROOT/tests/lib/agent.sh"
repl_user oltp
bytes=$(mdb_sql oltp "SHOW BINARY LOGS" | awk '{s+=$2} END {print s}')
declare -A T C R
for mode in plain encrypted; do
    for run in $(seq 1 "$RUNS"); do
        for who in base new; do
            bin=$BASE; [ $who = new ] && bin=$BV
            read -r t c r < <(catchup "$bin" "$mode")
            T[$who$mode]=$(min "${T[$who$mode]:-}" "$t")
            C[$who$mode]=$(min "${C[$who$mode]:-}" "$c")
            [ "${R[$who$mode]:-0}" -gt "$r" ] || R[$who$mode]=$r
        done
    done
done
mdb_stop_all
rm -rf "$work"

# Encrypted import of binlogs that do not compress (rows of random bytes): where the encrypted copy
# of each segment, gone in this build, cost the most. Generated once, kept in $BENCH_DATA/random.
rdata=$BENCH_DATA/random
if [ ! -f "$rdata/.complete" ]; then
    rm -rf "$rdata"; mkdir -p "$rdata"
    export BV_TEST_DIR=$rdata
    . "$BENCH_ROOT/tests/lib/mariadb.sh"
    . "$BENCH_ROOT/tests/lib/workload.sh"
    mdb_start rnd "max_binlog_size=64M" > /dev/null
    mdb_sql rnd "CREATE DATABASE r; CREATE TABLE r.t (id INT AUTO_INCREMENT PRIMARY KEY, b BLOB) ENGINE=InnoDB"
    for _ in $(seq 1 ${BENCH_RANDOM_ROUNDS:-28}); do
        mdb_sql rnd "USE r; INSERT INTO r.t (b) SELECT RANDOM_BYTES(1000) FROM seq_1_to_10000"
    done
    mdb_sql rnd "FLUSH BINARY LOGS"
    mdb_binlog_files rnd > "$rdata/files"
    mdb_stop_all
    touch "$rdata/.complete"
fi
mapfile -t rfiles < "$rdata/files"
rbytes=$(cat "${rfiles[@]}" | wc -c)
declare -A IT IC
TIMEFORMAT='%R %U %S'
for run in $(seq 1 "$RUNS"); do
    for who in base new; do
        bin=$BASE; [ $who = new ] && bin=$BV
        rm -rf "$rdata/archive"
        read -r wall user sys < <({ time BINVAULT_KEY_FILE=$key "$bin" import --archive "$rdata/archive" --encrypt \
            "${rfiles[@]}" > /dev/null; } 2>&1 | tail -n 1)
        IT[$who]=$(min "${IT[$who]:-}" "$wall")
        IC[$who]=$(min "${IC[$who]:-}" "$(echo "$user + $sys" | bc -l)")
    done
done
rm -rf "$rdata/archive"

# Recovery: one archive (written by the base release: format 1, which both read), two restored
# servers per run.
rwork=$BENCH_DATA/release-recover
rm -rf "$rwork"; mkdir -p "$rwork"
export BV_TEST_DIR=$rwork
. "$BENCH_ROOT/tests/lib/mariadb.sh"
. "$BENCH_ROOT/tests/lib/workload.sh"
trap 'mdb_stop_all' EXIT
MDB_SERVER_ID=1 mdb_start src "max_binlog_size=64M" > /dev/null
mdb_sql src "CREATE DATABASE sb; CREATE TABLE sb.t (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL) ENGINE=InnoDB;
    USE sb; INSERT INTO sb.t SELECT seq, seq % 5000, REPEAT(MD5(seq), 3) FROM seq_1_to_10000"
mariadb-backup --backup --target-dir "$rwork/backup" --user root --socket "$(mdb_sock src)" > "$rwork/backup.log" 2>&1
mariadb-backup --prepare --target-dir "$rwork/backup" > "$rwork/prepare.log" 2>&1
python3 - "$TXNS" <<'PY' | mariadb --defaults-file="$(mdb_cnf src)" -uroot sb
import random, sys
random.seed(7)
for i in range(int(sys.argv[1])):
    a, b = random.randint(1, 10000), random.randint(1, 10000)
    print("BEGIN;UPDATE t SET k=k+1 WHERE id=%d;UPDATE t SET c=REPEAT('%x',10) WHERE id=%d;COMMIT;" % (a, random.getrandbits(40), b))
PY
mdb_sql src "FLUSH BINARY LOGS"
sums=$(mdb_sql src "CHECKSUM TABLE sb.t")
mapfile -t files < <(mdb_binlog_files src)
mdb_stop src
"$BASE" import --archive "$rwork/archive" "${files[@]}" > /dev/null
declare -A RT
n=0
for run in $(seq 1 "$RUNS"); do
    for who in base new; do
        bin=$BASE; [ $who = new ] && bin=$BV
        n=$((n + 1))
        MDB_SERVER_ID=1 mdb_start "t$n" > /dev/null; mdb_stop "t$n"
        rm -rf "$(mdb_dir "t$n")/data"
        mariadb-backup --copy-back --target-dir "$rwork/backup" --datadir "$(mdb_dir "t$n")/data" > "$rwork/cb.log" 2>&1
        mdb_start "t$n" > /dev/null
        t0=$(date +%s.%N)
        BINVAULT_INTO_PASSWORD= "$bin" recover --archive "$rwork/archive" --into "mysql://root@127.0.0.1:$(mdb_port "t$n")" \
            --base-dir "$rwork/backup" --until-end --log-level warn > "$rwork/recover.out"
        t=$(echo "$(date +%s.%N) - $t0" | bc -l)
        [ "$(mdb_sql "t$n" "CHECKSUM TABLE sb.t")" = "$sums" ] || { echo "bench: $who's recovery differs from the source" >&2; exit 1; }
        mdb_stop "t$n"
        RT[$who]=$(min "${RT[$who]:-}" "$t")
    done
done

gb=$(echo "$bytes / 1000000000" | bc -l)
out=$(mktemp)
{
    echo "### This build beside the previous release (issue: one archive layer)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine). Previous release: \`$REV\`, built from this repository's history; this build: \`$(git -C "$BENCH_ROOT" rev-parse --short HEAD)\`. Runs alternate between the two; best of $RUNS each."
    echo "Catch-up: $((bytes / 1000000)) MB of OLTP binlog (bench_oltp_start) from MariaDB $(mariadbd --version | awk '{print $3}') on loopback into a directory archive; CPU from the agent's own /proc times. Recovery: $TXNS transactions, \`recover --base-dir ... --until-end\` into a server restored from one base backup."
    echo
    echo "| measure | previous release | this build | this build / previous |"
    echo "|---|---|---|---|"
    for mode in plain encrypted; do
        printf '| catch-up, %s: s (MB/s) | %.2f (%d) | %.2f (%d) | %.2fx speed |\n' "$mode" "${T[base$mode]}" "$(echo "$bytes / ${T[base$mode]} / 1000000" | bc)" \
            "${T[new$mode]}" "$(echo "$bytes / ${T[new$mode]} / 1000000" | bc)" "$(echo "${T[base$mode]} / ${T[new$mode]}" | bc -l)"
        printf '| catch-up, %s: CPU s per GB | %.2f | %.2f | %.2fx CPU |\n' "$mode" "$(echo "${C[base$mode]} / $gb" | bc -l)" \
            "$(echo "${C[new$mode]} / $gb" | bc -l)" "$(echo "${C[new$mode]} / ${C[base$mode]}" | bc -l)"
        printf '| catch-up, %s: peak RSS | %d MiB | %d MiB | |\n' "$mode" $((R[base$mode] / 1024)) $((R[new$mode] / 1024))
    done
    printf '| encrypted import of %d MB that lz4 cannot compress: s (CPU s) | %.2f (%.2f) | %.2f (%.2f) | %.2fx speed |\n' \
        $((rbytes / 1000000)) "${IT[base]}" "${IC[base]}" "${IT[new]}" "${IC[new]}" "$(echo "${IT[base]} / ${IT[new]}" | bc -l)"
    printf '| recover --until-end: s (transactions/s) | %.2f (%d) | %.2f (%d) | %.2fx speed |\n' "${RT[base]}" "$(echo "$TXNS / ${RT[base]}" | bc)" \
        "${RT[new]}" "$(echo "$TXNS / ${RT[new]}" | bc)" "$(echo "${RT[base]} / ${RT[new]}" | bc -l)"
} > "$out"
cat "$out"
bench_record release "$out"
rm -f "$out"
