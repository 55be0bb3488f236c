#!/usr/bin/env bash
# Upload throughput to an S3-compatible store (OpenStack Swift with s3api, on loopback): the same
# set of segment-sized objects stored by binvault's S3 driver with 1, 4 and 8 workers (the
# driver and thread pool the agent's uploader uses: `binvault storage put --jobs N`), beside
# `aws s3 cp --recursive` (Debian's awscli) of the same files to the same store, in one run; and
# the same with 4 workers into an encrypted archive (each object encrypted twice from its file,
# no temporary copy), with binvault's CPU per GB beside the unencrypted run's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BV=${BV_BIN:-$BENCH_ROOT/binvault}
BV_DEPS_EXTRA="s3 bench" "$BENCH_ROOT/scripts/deps.sh"
export BV_TEST_DIR=$BENCH_DATA/s3-run BV_ROOT=$BENCH_ROOT
rm -rf "$BV_TEST_DIR"; mkdir -p "$BV_TEST_DIR/files"
. "$BENCH_ROOT/tests/lib/swift.sh"
trap s3_stop_all EXIT
s3_start
count=${BENCH_S3_OBJECTS:-32}
size_mb=${BENCH_S3_OBJECT_MB:-16}
for i in $(seq -f %016g 1 "$count"); do
    head -c $((size_mb * 1048576)) /dev/urandom > "$BV_TEST_DIR/files/$i-mariadb-bin.000001-0000000256.bvs"
done
bytes=$((count * size_mb * 1048576))
pairs=()
for f in "$BV_TEST_DIR"/files/*; do pairs+=("segments/$(basename "$f")" "$f"); done

declare -A t cpu
TIMEFORMAT='%U %S'
# put LABEL ARCHIVE [OPTION...]: wall seconds into t[LABEL], binvault's user+system CPU into cpu[LABEL].
put() {
    local label=$1 archive=$2 t0 times; shift 2
    t0=$(date +%s.%N)
    times=$( { time "$BV" storage --archive "$archive" --s3-uri-style path "$@" put "${pairs[@]}" > /dev/null; } 2>&1 )
    t[$label]=$(echo "$(date +%s.%N) - $t0" | bc -l)
    cpu[$label]=$(echo "$times" | tail -n 1 | awk '{print $1 + $2}')
}
for w in 1 4 8; do put "$w" "s3://$S3_BUCKET/bv-$w" --jobs "$w"; done
key=$BV_TEST_DIR/key
head -c 32 /dev/urandom > "$key"; chmod 600 "$key"
printf '{"format":"binvault-archive","version":1}\n' > "$BV_TEST_DIR/identity"
"$BV" storage --archive "s3://$S3_BUCKET/bv-enc" --s3-uri-style path --encrypt --key-file "$key" \
    put binvault.json "$BV_TEST_DIR/identity" > /dev/null
put enc "s3://$S3_BUCKET/bv-enc" --key-file "$key" --jobs 4
export AWS_DEFAULT_REGION=$S3_REGION
t0=$(date +%s.%N)
aws --endpoint-url "$S3_ENDPOINT" s3 cp --recursive --quiet "$BV_TEST_DIR/files" "s3://$S3_BUCKET/aws/segments/"
t_aws=$(echo "$(date +%s.%N) - $t0" | bc -l)
mbps() { echo "scale=1; $bytes / $1 / 1000000" | bc -l; }
out=$(mktemp)
{
    echo "### S3 upload throughput (issue: S3 archive)"
    echo
    echo "$(date -u +%Y-%m-%d), $(bench_machine). Store: OpenStack Swift $(dpkg-query -W -f='${Version}' swift-proxy) with s3api on loopback (single node, one replica; the store, not the network, is the limit here)."
    echo "Input: $count objects of $size_mb MiB of incompressible data (segment-sized), $((bytes / 1000000)) MB; each PUT carries x-amz-content-sha256 and Content-MD5 (binvault also HEADs first: immutability)."
    echo
    echo "| uploader | seconds | MB/s |"
    echo "|---|---|---|"
    for w in 1 4 8; do echo "| binvault, $w worker(s) | $(printf %.2f "${t[$w]}") | $(mbps "${t[$w]}") |"; done
    echo "| binvault, 4 workers, encrypted archive | $(printf %.2f "${t[enc]}") | $(mbps "${t[enc]}") |"
    echo "| \`aws s3 cp --recursive\` (awscli $(aws --version 2>&1 | awk '{print $1}' | cut -d/ -f2), its default 10 concurrent requests) | $(printf %.2f "$t_aws") | $(mbps "$t_aws") |"
    echo
    echo "binvault with 4 workers / awscli: $(echo "scale=2; $t_aws / ${t[4]}" | bc -l)x (aim: >= 1x)."
    echo "binvault's CPU (user+system, including its SHA-256 and MD5 of each file before it stores it) per GB, 4 workers: $(echo "scale=2; ${cpu[4]} * 1000000000 / $bytes" | bc -l) s unencrypted, $(echo "scale=2; ${cpu[enc]} * 1000000000 / $bytes" | bc -l) s encrypted."
} > "$out"
cat "$out"
bench_record s3 "$out"
rm -f "$out"
