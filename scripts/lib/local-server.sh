# Sourced by the CI scripts that need a running Gatehouse: builds the debug binary, starts
# `gatehouse serve` on a fresh SQLite file on port $1 (extra VAR=value arguments become its
# environment), waits for /readyz, and stops it and removes its files on exit.
# Sets GATEHOUSE_URL and SERVER_WORK (the server's temp dir, with server.log).

start_local_server() {
  local port="$1"
  shift
  cargo build --quiet --bin gatehouse
  SERVER_WORK="$(mktemp -d)"
  env GATEHOUSE_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$SERVER_WORK/server.db?mode=rwc" \
    RUST_LOG=warn "$@" "${CARGO_TARGET_DIR:-target}/debug/gatehouse" serve \
    >"$SERVER_WORK/server.log" 2>&1 &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true; rm -rf "$SERVER_WORK"' EXIT
  for _ in $(seq 60); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 1
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$SERVER_WORK/server.log"; return 1; }
  GATEHOUSE_URL="http://127.0.0.1:$port"
  export GATEHOUSE_URL SERVER_WORK
}
