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
RUN for c in domain persistence http server; do mkdir -p crates/$c/src && echo "" > crates/$c/src/lib.rs; done \
    && echo "fn main() {}" > crates/server/src/main.rs \
    && mkdir -p tests/api && echo "" > tests/api/main.rs \
    && cargo build --release --locked --bin dayops || true
COPY crates crates
COPY migrations migrations
COPY tests tests
RUN touch crates/*/src/*.rs && cargo build --release --locked --bin dayops

# Runtime stage: the binary, its CA certificates and libssl, a non-root user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data dayops \
    && mkdir -p /data && chown dayops /data
COPY --from=builder /build/target/release/dayops /usr/local/bin/dayops
USER dayops
WORKDIR /data
ENV DAYOPS_DATABASE_URL=/data/dayops.db \
    DAYOPS_BIND=0.0.0.0:8080 \
    RUST_LOG=info
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["dayops"]
CMD ["serve"]
