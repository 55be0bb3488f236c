#!/usr/bin/env bash
# Runs every benchmark (or those named in $BENCHES) and records them in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")"
for b in ${BENCHES:-parse agent steady s3 rpo recover parallel backup release catalog catalog_layout catalog_agent}; do
    echo "## bench $b"
    bash "./$b.sh"
done
