#!/usr/bin/env bash
# Sets up everything (as on a fresh machine) and runs every check and test: typecheck, lint,
# unit, kernel and netns tests. This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "roam test: typecheck"
npx tsc --noEmit -p tsconfig.json
echo "roam test: lint"
npx eslint .
echo "roam test: format"
npx prettier --check --log-level warn 'src/**/*.ts' 'test/**/*.ts' 'scripts/**/*.ts'
echo "roam test: vitest (unit, kernel, netns)"
mkdir -p build
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=build/test-results.json "$@" || status=$?
# One closing line in the plain form CI reads: "N passed, N failed".
node -e '
  const r = JSON.parse(require("fs").readFileSync("build/test-results.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` +
    (r.numPendingTests + r.numTodoTests ? `, ${r.numPendingTests + r.numTodoTests} skipped` : ""));
' || true
exit $status
