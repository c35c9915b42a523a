#!/usr/bin/env bash
# Starts Gatehouse on a fresh SQLite file with the demo data, then runs the headless
# Chromium playground test against it: the page loads with no off-origin request, and a
# query typed into GraphiQL returns demo data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

cargo build --quiet --bin gatehouse
work="$(mktemp -d)"
port="${PORT:-18765}"
GATEHOUSE_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$work/ci.db?mode=rwc" RUST_LOG=warn \
  "${CARGO_TARGET_DIR:-target}/debug/gatehouse" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 60); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 1
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/server.log"; exit 1; }

GATEHOUSE_URL="http://127.0.0.1:$port" \
GRAPHIQL_QUERY='{ posts(first: 1) { nodes { title author { username } } } }' \
GRAPHIQL_EXPECT='Full-text search on PostgreSQL' \
  scripts/browser-test.sh
