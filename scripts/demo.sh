#!/usr/bin/env bash
# The README's main command: set up (idempotent), then run the live demo on namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/roam.js demo "$@"
