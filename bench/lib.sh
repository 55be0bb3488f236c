# Helpers for benchmarks (sourced).

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DATA=${BENCH_DATA:-$BENCH_ROOT/build/bench-data}
mkdir -p "$BENCH_DATA"

bench_machine() {
    local cpu
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
    echo "$(nproc) cores, ${cpu:-unknown cpu}, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r)"
}

# Seconds (float) that a command takes; output discarded.
bench_time() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    local rc=$?
    t1=$(date +%s.%N)
    [ $rc -eq 0 ] || { echo "bench: command failed ($rc): $*" >&2; return 1; }
    echo "$t1 - $t0" | bc -l
}

# Best of N runs.
bench_best() {
    local n=$1; shift
    local best=
    for _ in $(seq 1 "$n"); do
        local t; t=$(bench_time "$@") || return 1
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

# Replace the section NAME of docs/BENCHMARKS.md with the contents of FILE.
bench_record() {
    local name=$1 file=$2 doc=$BENCH_ROOT/docs/BENCHMARKS.md
    python3 - "$doc" "$name" "$file" <<'PY'
import sys, re
doc, name, f = sys.argv[1:]
body = open(f).read().rstrip() + "\n"
start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
text = open(doc).read() if __import__("os").path.exists(doc) else "# Benchmarks\n"
block = f"{start}\n{body}{end}"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda m: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(doc, "w").write(text)
PY
}
