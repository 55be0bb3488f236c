# Assertions for integration scripts (sourced). Each prints one TAP-like line; the counts are
# appended to $BV_RESULTS (one "pass"/"fail" per line) for scripts/run-tests.sh.
#
#   ok "what"                     record a pass
#   fail "what" [detail]          record a failure
#   check "what" CMD ARGS...      pass when CMD succeeds
#   check_eq "what" GOT WANT      pass when the strings are equal
#   check_fails "what" CMD...     pass when CMD fails (non-zero exit)

: "${BV_RESULTS:=/dev/null}"

ok() { echo "ok - $1"; echo pass >> "$BV_RESULTS"; }
# The segment files of the directory archive $1, sorted, as paths below its segments/: names in a
# format-1 or -2 archive, <group>/<name> in a format-3 one (docs/FORMAT.md "Format 3").
seg_names() { (cd "$1/segments" && find . -name '*.bvs' -type f | sed 's|^\./||' | sort); }
fail() {
    echo "not ok - $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | head -n 40 | sed 's/^/    /'
    echo fail >> "$BV_RESULTS"
}
check() {
    local what=$1; shift
    local out
    if out=$("$@" 2>&1); then ok "$what"; else fail "$what" "$out"; fi
}
check_fails() {
    local what=$1; shift
    if "$@" >/dev/null 2>&1; then fail "$what" "command succeeded: $*"; else ok "$what"; fi
}
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got:  $2
want: $3"; fi
}
# check_rss WHAT KIB: a peak RSS under 64 MiB. Under sanitizers (BV_SANITIZED=1) the shadow memory
# counts in RSS, so the bound is not checked there.
check_rss() {
    if [ "${BV_SANITIZED:-}" = 1 ]; then ok "$1 (not measured under sanitizers)"; return; fi
    check "$1" test "${2:-0}" -gt 0 -a "${2:-999999}" -lt 65536
}
