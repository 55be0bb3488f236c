# bench/mkarchive --summaries-only (issue #13: the catalog view at 3 M and 30 M segments, measured on
# synthetic archives): the summary lines of a synthetic archive are byte for byte those of the real
# archive of the same segments, only the end (and each group's first block) is stored, and the
# commands that read the summaries and the end answer on it as on the real one.
set -u
. "$BV_ROOT/tests/lib/assert.sh"

T=$BV_TEST_DIR
N=5000 # blocks 0-3 summarised, seqs 4097-5000 the tail
MK=$BV_ROOT/build/release/mkarchive
[ -x "$MK" ] || make -C "$BV_ROOT" --no-print-directory build/release/mkarchive > /dev/null 2>&1
check "bench/mkarchive is built" test -x "$MK"

check "a real archive of $N segments" "$MK" "$T/real" "$N"
# The stored part starts at the block of seq N-1000+1 = 4001: block 3 (seqs 3073-4096).
check "a synthetic one storing the last 1000" "$MK" "$T/synth" "$N" --summaries-only 1000

check_eq "the level-1 documents are the same objects" "$(ls "$T/synth/catalog/1")" "$(ls "$T/real/catalog/1")"
for doc in "$T"/real/catalog/1/*; do
    check "$(basename "$doc") is byte for byte the real archive's" cmp "$doc" "$T/synth/catalog/1/$(basename "$doc")"
done
check_eq "block chunks stored: the group's first block, the stored part and the tail" \
    "$(ls "$T/synth/index" | tr '\n' ' ')" \
    "0000000000000001-0000000000001024.bvi 0000000000003073-0000000000004096.bvi 0000000000004097-0000000000005000.bvi "
check_eq "segments stored: those blocks' ($((1024 + 1024 + 904)))" "$(seg_names "$T/synth" | wc -l)" 2952
check_eq "no segment of the blocks only summarised (seqs 1025-3072)" \
    "$(seg_names "$T/synth" | sed 's|.*/||' | awk -F- '$1 + 0 >= 1025 && $1 + 0 <= 3072' | wc -l)" 0

# list: the window, totals and recent segments, from the summaries and the end.
"$BV_BIN" list --archive "file://$T/real" > "$T/list.real" 2>&1
"$BV_BIN" list --archive "file://$T/synth" > "$T/list.synth" 2>&1
check "list of the synthetic archive: exit 0" test -s "$T/list.synth"
check_eq "list: the real archive's output (but for its first line: the archive's name and creation)" \
    "$(tail -n +2 "$T/list.synth")" "$(tail -n +2 "$T/list.real")"
check "list: totals of all $N segments" grep -q "^$N segments" "$T/list.synth"

# prune --dry-run to a seq of the first block reads its chunk and its first kept segment.
"$BV_BIN" prune --archive "file://$T/real" --before-gtid 0-11-1500 --dry-run > "$T/prune.real" 2>&1
rc=$?
check_eq "prune --dry-run on the real archive: exit 0" "$rc" 0
"$BV_BIN" prune --archive "file://$T/synth" --before-gtid 0-11-1500 --dry-run > "$T/prune.synth" 2>&1
rc=$?
check_eq "prune --dry-run on the synthetic archive: exit 0" "$rc" 0
check_eq "prune --dry-run: the real archive's plan" "$(sed "s|$T/synth|ARCHIVE|g" "$T/prune.synth")" \
    "$(sed "s|$T/real|ARCHIVE|g" "$T/prune.real")"

# fetch near the end: the stored part.
"$BV_BIN" fetch --archive "file://$T/synth" --from-gtid 0-11-5500 --to "$T/fetch" > "$T/fetch.out" 2>&1
rc=$?
check_eq "fetch of the last 500 segments: exit 0" "$rc" 0; [ "$rc" = 0 ] || tail -n 5 "$T/fetch.out"

# What it is not: a verifiable archive (its summarised blocks' chunks are absent).
"$BV_BIN" verify --archive "file://$T/synth" > "$T/verify.out" 2>&1
check "verify of the synthetic archive fails" test $? -ne 0
check "verify names the blocks only summarised" grep -q "index of seqs 1025-2048 .* holds 0 segments" "$T/verify.out"

"$MK" "$T/bad" 100 --summaries-only 10 --format 1 > /dev/null 2>&1
check_eq "--summaries-only with --format 1: usage, exit 2" "$?" 2
