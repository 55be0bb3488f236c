#!/usr/bin/env bash
# The layer rule (docs/DESIGN.md): common <- binlog <- {mysql, storage} <- archive <- {agent,
# recover} <- cmd. A file may include headers of its own module and of the modules below it;
# only cmd/agent.c (and the agent's own files and tests) may include agent/. Prints every
# forbidden include as FILE:LINE and exits 1 when there is one.
set -uo pipefail
cd "$(dirname "$0")/.."

allowed() { # the modules a module may include
    case $1 in
    common) echo "common" ;;
    binlog) echo "common binlog" ;;
    mysql) echo "common binlog mysql" ;;
    storage) echo "common binlog storage" ;;
    archive) echo "common binlog mysql storage archive" ;;
    agent) echo "common binlog mysql storage archive agent" ;;
    recover) echo "common binlog mysql storage archive recover" ;;
    cmd) echo "common binlog mysql storage archive recover cmd" ;;
    esac
}

bad=0
for f in $(git ls-files -co --exclude-standard '*.c' '*.h'); do
    mod=${f%%/*}
    case $mod in tests|fuzz|bench) continue ;; esac
    ok=$(allowed "$mod")
    if [ -z "$ok" ]; then
        echo "$f: a file outside the known modules (add its module to scripts/check-layers.sh and docs/DESIGN.md)"
        bad=1; continue
    fi
    [ "$f" = cmd/agent.c ] && ok="$ok agent"
    while IFS=: read -r line inc; do
        dep=${inc%%/*}
        case " $ok " in *" $dep "*) ;; *)
            echo "$f:$line: includes \"$inc\": $mod may include only $ok"
            bad=1 ;;
        esac
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed -E 's/^([0-9]+):.*"([^"]+)".*/\1:\2/')
done
[ $bad = 0 ] && echo "layers: ok"
exit $bad
