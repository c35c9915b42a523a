#!/usr/bin/env bash
# Headless-browser test of the GraphiQL playground of a running Gatehouse server.
#
#   GATEHOUSE_URL=http://127.0.0.1:8000 SCREENSHOT=/tmp/graphiql.png scripts/browser-test.sh
#
# Installs what is missing (Debian's chromium via apt-get, playwright-core via
# `npm ci` in tests/browser; Playwright never downloads a browser of its own), then runs
# tests/browser/graphiql.mjs against $GATEHOUSE_URL. Exit status 0 = pass.
# Other variables (GRAPHIQL_QUERY, GRAPHIQL_EXPECT, CHROMIUM, TIMEOUT_MS) are described
# at the top of tests/browser/graphiql.mjs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GATEHOUSE_URL="${GATEHOUSE_URL:-http://127.0.0.1:8000}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMIUM

if [[ ! -x "$CHROMIUM" ]]; then
  echo "browser-test: $CHROMIUM not found; installing Debian's chromium" >&2
  if [[ "$(id -u)" -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

command -v node >/dev/null || { echo "browser-test: node not found (Node.js 20+ needed)" >&2; exit 1; }

BROWSER_DIR="$ROOT/tests/browser"
want="$(node -p "require('$BROWSER_DIR/package-lock.json').packages['node_modules/playwright-core'].version")"
have="$(node -p "try { require('$BROWSER_DIR/node_modules/playwright-core/package.json').version } catch { '' }")"
if [[ "$have" != "$want" ]]; then
  echo "browser-test: npm ci in tests/browser (playwright-core $want)" >&2
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, playwright-core downloads nothing.
  (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >&2)
fi

# Fail fast, with a clear message, when no server answers.
if ! node -e "fetch(new URL('/', process.env.GATEHOUSE_URL)).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
  echo "browser-test: nothing answers GET ${GATEHOUSE_URL%/}/ (start Gatehouse first, or set GATEHOUSE_URL)" >&2
  echo "browser: 0 passed, 1 failed"
  exit 1
fi

exec node "$BROWSER_DIR/graphiql.mjs"
