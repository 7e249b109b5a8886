# Multi-stage build: compile in the Rust image, run in a slim Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src

# Dependencies first, against empty targets: this layer is rebuilt only when
# Cargo.toml or Cargo.lock change, not on every edit of src/. Cargo refuses a
# manifest whose [[bench]] files are missing, so each gets a stub (the list is
# checked against Cargo.toml by tests/it/compose.rs).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for bench in ingest rules actions streams ratelimit console intent; do echo 'fn main() {}' > "benches/$bench.rs"; done \
    && cargo build --release --locked --bin starling \
    && rm -rf src benches

COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
# The sources may be older than the stubs' build: make cargo rebuild the crate.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin starling

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/starling --create-home starling
COPY --from=build /src/target/release/starling /usr/local/bin/starling
COPY rules /etc/starling/rules
USER starling
WORKDIR /var/lib/starling
ENV STARLING__SERVER__LISTEN=0.0.0.0:8080 \
    STARLING__RULES__DIR=/etc/starling/rules
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["starling"]
CMD ["serve"]
