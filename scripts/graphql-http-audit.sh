#!/usr/bin/env bash
# Starts Gatehouse on a fresh SQLite file, then runs the GraphQL-over-HTTP spec audits of the
# npm package graphql-http (tests/graphql-http/audit.mjs) against it. Fails if a MUST audit
# fails, or a SHOULD audit that the script's allow-list does not justify.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Install the pinned audit suite when node_modules is missing or older than the lock file
# (npm ci writes node_modules/.package-lock.json, so its age tracks the last install).
suite=tests/graphql-http
if [ ! -f "$suite/node_modules/.package-lock.json" ] ||
  [ "$suite/package-lock.json" -nt "$suite/node_modules/.package-lock.json" ] ||
  [ "$suite/package.json" -nt "$suite/node_modules/.package-lock.json" ]; then
  (cd "$suite" && npm ci --no-audit --no-fund)
fi

cargo build --quiet --bin gatehouse
work="$(mktemp -d)"
port="${PORT:-18766}"
GATEHOUSE_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$work/audit.db?mode=rwc" RUST_LOG=warn \
  "${CARGO_TARGET_DIR:-target}/debug/gatehouse" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 60); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }

GATEHOUSE_URL="http://127.0.0.1:$port" node "$suite/audit.mjs"
