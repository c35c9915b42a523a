#!/usr/bin/env bash
# Starts Gatehouse on a fresh SQLite file, then runs the GraphQL-over-HTTP spec audits of the
# npm package graphql-http (tests/graphql-http/audit.mjs) against it. Fails if a MUST audit
# fails, or a SHOULD audit that the script's allow-list does not justify.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/lib/local-server.sh

# Install the pinned audit suite when node_modules is missing or older than the lock file
# (npm ci writes node_modules/.package-lock.json, so its age tracks the last install).
suite=tests/graphql-http
if [ ! -f "$suite/node_modules/.package-lock.json" ] ||
  [ "$suite/package-lock.json" -nt "$suite/node_modules/.package-lock.json" ] ||
  [ "$suite/package.json" -nt "$suite/node_modules/.package-lock.json" ]; then
  (cd "$suite" && npm ci --no-audit --no-fund)
fi

start_local_server "${PORT:-18766}"
node "$suite/audit.mjs"
