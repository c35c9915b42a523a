# syntax=docker/dockerfile:1
#
# Gatehouse container image: a Rust builder stage with a cached dependency layer and a
# minimal Debian runtime stage running as a fixed non-root user (UID/GID 10001).
#
#   docker build -t gatehouse .
#   docker run --rm -e DATABASE_URL=postgres://... gatehouse migrate   # one-off migration
#   docker run -p 8000:8000 -e DATABASE_URL=... -e JWT_SECRET=... gatehouse   # serve
#
# No secret is baked in: DATABASE_URL, REDIS_URL and JWT_* come from the environment (the
# Helm chart mounts them from a Secret). The GraphiQL assets are embedded at compile time.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

############################################################################################
# builder: compile the release binary
############################################################################################
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /build
# make: jemalloc (the binary's allocator) is built from C with its own configure + make;
# the slim image has gcc but not make. Unpinned for the reason given in the runtime stage.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# 1. Dependency layer: the manifests and the lock file with stub sources, so that
#    `cargo build` compiles every third-party crate here. This layer is rebuilt only when a
#    manifest or Cargo.lock changes, not when the service's own code does.
COPY Cargo.toml Cargo.lock ./
COPY entity/Cargo.toml entity/Cargo.toml
COPY migration/Cargo.toml migration/Cargo.toml
RUN mkdir -p src entity/src migration/src \
 && echo 'fn main() {}' > src/main.rs \
 && echo '//! stub' > src/lib.rs \
 && echo '//! stub' > entity/src/lib.rs \
 && echo '//! stub' > migration/src/lib.rs \
 && echo 'fn main() {}' > migration/src/main.rs \
 && cargo build --release --locked --bin gatehouse \
 && rm -rf src entity/src migration/src \
           target/release/.fingerprint/gatehouse-* target/release/.fingerprint/entity-* \
           target/release/.fingerprint/migration-* \
           target/release/deps/gatehouse-* target/release/deps/libgatehouse-* \
           target/release/deps/entity-* target/release/deps/libentity-* \
           target/release/deps/migration-* target/release/deps/libmigration-*

# 2. The service itself (assets/graphiql is embedded into the binary by include_bytes!).
COPY assets assets
COPY entity/src entity/src
COPY migration/src migration/src
COPY src src
RUN cargo build --release --locked --bin gatehouse \
 && install -D -m 0755 target/release/gatehouse /out/gatehouse \
 && /out/gatehouse --version

############################################################################################
# runtime: Debian slim with CA certificates only, non-root, no shell needed at run time
############################################################################################
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# Only CA certificates (TLS to PostgreSQL/Redis/OTLP/JWKS). Left unpinned on purpose: Debian
# replaces superseded versions in the archive, so a pin would break rebuilds, and the newest
# bundle is the one that should ship.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log

# A fixed UID/GID so Kubernetes' runAsNonRoot/runAsUser and volume ownership are predictable.
RUN groupadd --system --gid 10001 gatehouse \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/gatehouse \
            --shell /usr/sbin/nologin gatehouse \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/gatehouse

COPY --from=builder /out/gatehouse /usr/local/bin/gatehouse

# The working directory is writable by the service user, so the embedded SQLite default
# (`gatehouse.db`) works in a plain `docker run`; production points DATABASE_URL at PostgreSQL
# and can run with a read-only root filesystem.
WORKDIR /var/lib/gatehouse
USER 10001:10001

ENV GATEHOUSE_ADDR=0.0.0.0:8000 \
    GATEHOUSE_ENV=production \
    RUST_LOG=info

EXPOSE 8000

# Kubernetes uses its own probes (GET /healthz, GET /readyz); the image carries no shell or
# HTTP client for a Docker HEALTHCHECK.
HEALTHCHECK NONE

ENTRYPOINT ["gatehouse"]
CMD ["serve"]
