# syntax=docker/dockerfile:1
# One image for every tickflow service; the subcommand chooses the service:
#   docker run --rm tickflow speed --simulate --store sqlite:///var/lib/tickflow/views.db
#
# Stage 1 builds the release binary. BuildKit cache mounts keep the crates.io
# downloads and the target directory between builds, so a source change
# recompiles tickflow's crates, not its dependencies.
FROM rust:1-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake perl pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin tickflow \
    && install -m 0755 target/release/tickflow /usr/local/bin/tickflow

# Stage 2: a slim Debian with only what the binary needs at run time
# (librdkafka, zlib and SQLite are linked in statically; OpenSSL, which
# librdkafka uses for Kafka over SSL and SASL SCRAM, is the system's; CA
# certificates for the quote API over HTTPS), running as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tickflow \
    && useradd --system --uid 10001 --gid tickflow --home-dir /var/lib/tickflow --shell /usr/sbin/nologin tickflow \
    && install -d -o tickflow -g tickflow /var/lib/tickflow /var/lib/tickflow/archive /run/tickflow
COPY --from=build /usr/local/bin/tickflow /usr/local/bin/tickflow
USER 10001:10001
WORKDIR /var/lib/tickflow
ENV TICKFLOW_LOG=info
ENTRYPOINT ["/usr/local/bin/tickflow"]
CMD ["--help"]
