#!/usr/bin/env bash
# Runs every benchmark the README quotes, one after the other (they would disturb each other in
# parallel on a small machine), each writing its JSON to bench-results/<name>.json and its
# table to bench-results/<name>.txt. Set up first; needs root (namespaces, BPF).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p bench-results
for b in maps dataplane move nva; do
  echo "== bench:$b"
  npx tsx "scripts/bench-$b.ts" --json "bench-results/$b.json" | tee "bench-results/$b.txt"
done
echo "results in bench-results/"
