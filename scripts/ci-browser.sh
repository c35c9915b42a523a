#!/usr/bin/env bash
# Starts Gatehouse on a fresh SQLite file with the demo data, then runs the headless
# Chromium playground test against it: the page loads with no off-origin request, and a
# query typed into GraphiQL returns demo data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/lib/local-server.sh

start_local_server "${PORT:-18765}"
GRAPHIQL_QUERY='{ posts(first: 1) { nodes { title author { username } } } }' \
GRAPHIQL_EXPECT='Full-text search on PostgreSQL' \
  scripts/browser-test.sh
