#!/usr/bin/env bash
# Builds the real multi-stage Dockerfile with podman and proves the image serves /healthz and
# /readyz as the non-root user 10001, and that `gatehouse migrate` works as a one-off command.
#
# This machine has no Docker engine and cannot pull from an image registry, so the two base
# images the Dockerfile names are made locally from Debian's packages and tagged with the
# public names (no pull happens: --pull=never):
#   docker.io/library/debian:bookworm-slim     debootstrap --variant=minbase bookworm
#   docker.io/library/rust:<v>-slim-bookworm   the same plus gcc/libc6-dev/ca-certificates and
#                                               the host's rustup toolchain (rustc + cargo)
# Crates come from crates.io during the build (--network host). Idempotent: existing images
# are reused; set REBUILD_BASE=1 to remake the base images.
#
# Usage: scripts/container-smoke.sh            (PORT=18790 by default)
#        CONTEXT=DIR scripts/container-smoke.sh   build from another checkout (e.g. a
#                                                 `git archive` snapshot) with this Dockerfile
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CACHE="$ROOT/.cache/container"
PORT="${PORT:-18790}"
IMAGE="${IMAGE:-localhost/gatehouse:smoke}"
CONTEXT="${CONTEXT:-$ROOT}"
NAME="gatehouse-smoke-$$"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
RUST_VERSION="$(rustc --version | awk '{split($2, v, "."); print v[1] "." v[2]}')"
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

log() { printf '\n== %s\n' "$*"; }

need=()
for tool in podman runc debootstrap curl; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
  log "installing ${need[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
mkdir -p "$CACHE"

# debootstrap a bookworm rootfs into $1 (extra packages: $2, comma-separated), once.
bootstrap() {
  local dir="$1" include="${2:-}"
  if [[ -f "$dir/.complete" ]]; then return; fi
  rm -rf "$dir"
  debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$dir" "$MIRROR" \
    >"$dir.log" 2>&1 || { tail -20 "$dir.log"; exit 1; }
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb
  # apt inside the image reaches the same mirror as the host.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" \
    >"$dir/etc/apt/sources.list"
  touch "$dir/.complete"
}

if [[ "${REBUILD_BASE:-0}" == 1 ]] || ! "${PODMAN[@]}" image exists docker.io/library/debian:bookworm-slim; then
  log "base image debian:bookworm-slim (debootstrap minbase)"
  bootstrap "$CACHE/rootfs-debian"
  tar -C "$CACHE/rootfs-debian" --exclude=./.complete -c . \
    | "${PODMAN[@]}" import --change 'CMD ["bash"]' - docker.io/library/debian:bookworm-slim >/dev/null
fi

RUST_IMAGE="docker.io/library/rust:${RUST_VERSION}-slim-bookworm"
if [[ "${REBUILD_BASE:-0}" == 1 ]] || ! "${PODMAN[@]}" image exists "$RUST_IMAGE"; then
  log "builder image $RUST_IMAGE (debootstrap + host toolchain $(rustc --version))"
  bootstrap "$CACHE/rootfs-rust" gcc,libc6-dev,ca-certificates
  toolchain="$(rustc --print sysroot)"
  rm -rf "$CACHE/rootfs-rust/usr/local/rust" && mkdir -p "$CACHE/rootfs-rust/usr/local/rust/lib" \
    "$CACHE/rootfs-rust/usr/local/cargo/bin"
  cp -a "$toolchain/bin" "$CACHE/rootfs-rust/usr/local/rust/"
  cp -a "$toolchain/lib/." "$CACHE/rootfs-rust/usr/local/rust/lib/"
  for b in cargo rustc rustdoc; do ln -sf "/usr/local/rust/bin/$b" "$CACHE/rootfs-rust/usr/local/cargo/bin/$b"; done
  # cargo in the builder reaches crates.io the way the host does: with the host's CA bundle
  # (on machines whose egress re-signs TLS, Debian's bundle alone is not enough). Only this
  # local stand-in builder gets it; the runtime image installs Debian's ca-certificates.
  cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$CACHE/rootfs-rust/etc/ssl/certs/ca-certificates.crt"
  tar -C "$CACHE/rootfs-rust" --exclude=./.complete -c . \
    | "${PODMAN[@]}" import \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$RUST_IMAGE" >/dev/null
fi

log "podman build (the repository's Dockerfile, all stages)"
"${PODMAN[@]}" build --pull=never --network host --layers \
  --build-arg RUST_VERSION="$RUST_VERSION" -t "$IMAGE" -f "$ROOT/Dockerfile" "$CONTEXT" 2>&1 \
  | tee "$CACHE/build.log" | grep -E '^(STEP|COMMIT|Successfully|Error|error)' || true
"${PODMAN[@]}" image exists "$IMAGE" || { tail -40 "$CACHE/build.log"; exit 1; }
"${PODMAN[@]}" image inspect "$IMAGE" \
  --format 'image {{.Id}}  user={{.Config.User}}  entrypoint={{.Config.Entrypoint}}  cmd={{.Config.Cmd}}  size={{.Size}}'

data="$CACHE/smoke-data"
rm -rf "$data" && install -d -o 10001 -g 10001 "$data"
cleanup() { "${PODMAN[@]}" rm -f -t 5 "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
run_opts=(--network host "${ULIMITS[@]}" --read-only --cap-drop ALL --security-opt no-new-privileges
  -v "$data:/data" -e DATABASE_URL='sqlite:///data/gatehouse.db?mode=rwc'
  -e GATEHOUSE_ADDR="127.0.0.1:$PORT" -e JWT_SECRET=container-smoke-only-secret)

log "one-off: gatehouse migrate"
"${PODMAN[@]}" run --rm "${run_opts[@]}" "$IMAGE" migrate

log "serve"
"${PODMAN[@]}" run -d --name "$NAME" "${run_opts[@]}" "$IMAGE" >/dev/null
for _ in $(seq 60); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 1
done
echo "GET /healthz -> $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")"
echo "GET /readyz  -> $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")"
echo "POST /graphql -> $(curl -s -H 'content-type: application/json' \
  -d '{"query":"{ posts(first: 2) { totalCount nodes { title author { username } } } }"}' \
  "http://127.0.0.1:$PORT/graphql")"
echo "podman exec id: $("${PODMAN[@]}" exec "$NAME" id)"
"${PODMAN[@]}" top "$NAME" user huser pid args
pid="$("${PODMAN[@]}" inspect "$NAME" --format '{{.State.Pid}}')"
echo "host /proc/$pid/status: $(grep -E '^(Uid|Gid):' "/proc/$pid/status" | tr -s '\t ' ' ' | paste -sd';')"
code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")"
uid="$("${PODMAN[@]}" exec "$NAME" id -u)"
if [[ "$code" == 200 && "$uid" == 10001 ]]; then
  echo "container-smoke: 1 passed, 0 failed"
else
  "${PODMAN[@]}" logs "$NAME" | tail -20
  echo "container-smoke: 0 passed, 1 failed"
  exit 1
fi
