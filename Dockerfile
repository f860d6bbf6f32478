# mail_mcp: multi-stage build. The binary links OpenSSL (josekit), so the runtime image
# carries libssl3 and the CA certificates; it runs as an unprivileged user.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
RUN cargo build --release --locked --bin mail_mcp

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/mail_mcp --create-home mail_mcp
COPY --from=build /src/target/release/mail_mcp /usr/local/bin/mail_mcp
USER mail_mcp
WORKDIR /var/lib/mail_mcp
ENV LISTEN=0.0.0.0:3000 \
    DATA_DIR=/var/lib/mail_mcp/data
EXPOSE 3000
CMD ["mail_mcp", "server"]
