#!/usr/bin/env bash
# Two Gatehouse replicas (one PostgreSQL schema, one Redis prefix) behind a real nginx
# (Debian's package, installed if missing) rendered from deploy/nginx.conf; drives a mixed
# load through nginx and checks that no request fails and that a subscription opened
# through nginx receives a comment written through it (whichever replicas serve them).
#
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test TEST_REDIS_URL=redis://127.0.0.1:6379 scripts/nginx-smoke.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DB_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"

if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
  echo "nginx-smoke: installing Debian's nginx" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --quiet --bin gatehouse
BIN="${CARGO_TARGET_DIR:-target}/debug/gatehouse"
work="$(mktemp -d)"
schema="nginx_$(date +%s)_$$"
prefix="nginx_$(date +%s)_$$:"
pids=()
cleanup() {
  [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$DB_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$DB_URL" -qc "CREATE SCHEMA $schema" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port_a=$(free_port); port_b=$(free_port); port_n=$(free_port)
common=(DATABASE_URL="$DB_URL" GATEHOUSE_DATABASE_SCHEMA="$schema" REDIS_URL="$REDIS"
        GATEHOUSE_REDIS_PREFIX="$prefix" JWT_SECRET="nginx-smoke-secret-nginx-smoke-secret"
        GATEHOUSE_SEED_DEMO=false GATEHOUSE_IP_RATE_PER_SEC=0 RUST_LOG=warn
        GATEHOUSE_TRUSTED_PROXIES=127.0.0.1)
# Migrate once, then start both replicas (replicas never race to migrate).
env "${common[@]}" "$BIN" migrate >/dev/null
env "${common[@]}" GATEHOUSE_ADDR="127.0.0.1:$port_a" "$BIN" serve >"$work/a.log" 2>&1 & pids+=($!)
env "${common[@]}" GATEHOUSE_ADDR="127.0.0.1:$port_b" "$BIN" serve >"$work/b.log" 2>&1 & pids+=($!)
for port in "$port_a" "$port_b"; do
  for _ in $(seq 60); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work"/*.log; exit 1; }
done

mkdir -p "$work"/{body,proxy,fastcgi,uwsgi,scgi}
sed -e "s#@RUNDIR@#$work#g" -e "s#@REPLICA_A@#127.0.0.1:$port_a#" \
    -e "s#@REPLICA_B@#127.0.0.1:$port_b#" -e "s#@PORT@#$port_n#" deploy/nginx.conf >"$work/nginx.conf"
"$NGINX" -t -c "$work/nginx.conf" -p "$work" 2>"$work/nginx-t.log" || { cat "$work/nginx-t.log"; exit 1; }
"$NGINX" -c "$work/nginx.conf" -p "$work"
for _ in $(seq 30); do curl -fs "http://127.0.0.1:$port_n/healthz" >/dev/null 2>&1 && break; sleep 0.3; done

venv="$ROOT/.cache/nginx-smoke-venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import websockets" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "websockets==15.0.1"
fi
GATEHOUSE_URL="http://127.0.0.1:$port_n" "$venv/bin/python" scripts/nginx_mixed_load.py || {
  echo "--- replica A log"; tail -20 "$work/a.log"; echo "--- replica B log"; tail -20 "$work/b.log"
  echo "--- nginx error log"; tail -20 "$work/error.log"; exit 1; }
