# Build stage: dependencies are compiled in a layer of their own, so a source change
# rebuilds only the workspace crates.
FROM rust:1.95-bookworm AS builder
WORKDIR /build
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY crates/domain/Cargo.toml crates/domain/Cargo.toml
COPY crates/persistence/Cargo.toml crates/persistence/Cargo.toml
COPY crates/http/Cargo.toml crates/http/Cargo.toml
COPY crates/server/Cargo.toml crates/server/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
# Stand-in sources so that the dependency layer builds before the real sources arrive.
RUN for c in domain persistence http server; do mkdir -p crates/$c/src && echo "" > crates/$c/src/lib.rs; done \
    && echo "fn main() {}" > crates/server/src/main.rs \
    && mkdir -p tests/api bench/src/bin && echo "" > tests/api/main.rs \
    && echo "" > bench/src/lib.rs && echo "fn main() {}" > bench/src/main.rs \
    && echo "fn main() {}" > bench/src/bin/claim-bench.rs \
    && cargo build --release --locked -p dayops-server --bin dayops || true
COPY crates crates
COPY migrations migrations
# The document's recorded examples are built into the binary.
COPY openapi/examples.json openapi/examples.json
COPY tests tests
COPY bench bench
RUN touch crates/*/src/*.rs && cargo build --release --locked -p dayops-server --bin dayops

# Runtime stage: the binary, its CA certificates and libssl, a non-root user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data dayops \
    && mkdir -p /data && chown dayops /data
COPY --from=builder /build/target/release/dayops /usr/local/bin/dayops
USER dayops
WORKDIR /data
# The audit log's signing key: made in the volume on first start unless one is mounted
# (`dayops log keygen`); every process of a deployment needs the same one.
# The allocators' options (glibc's arenas and mmap threshold, mimalloc's purging) are set
# by the binary itself (crates/server/src/allocators.rs); MALLOC_ARENA_MAX and the like
# here would override them.
ENV DAYOPS_DATABASE_URL=/data/dayops.db \
    DAYOPS_LOG_SIGNING_KEY=/data/log-signing.key \
    DAYOPS_BIND=0.0.0.0:8080 \
    RUST_LOG=info
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["dayops"]
CMD ["serve"]
