# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION="$(git describe --always)" \
#          --build-arg REVISION="$(git rev-parse --short HEAD)" -t mq-lease-service .
# Run:   docker run -p 8080:8080 -v mq-lease-data:/data mq-lease-service
# Every flag is also an environment variable (MQ_LEASE_PORT, MQ_LEASE_CONFIG, ...); set the
# port that way (or in the config file), so the HEALTHCHECK below probes the same one.

FROM rust:1-bookworm AS build
# The git revision `--version` and mq_lease_build_info report (.git is not in the build
# context): --build-arg REVISION="$(git rev-parse --short HEAD)". Empty: "unknown".
ARG REVISION=""
WORKDIR /src
COPY . .
# The caches speed up rebuilds; the binary is copied out of the target cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    MQ_LEASE_GIT_REVISION="${REVISION}" cargo build --release --locked --bin mq-lease-service \
    && install -D -m 0755 target/release/mq-lease-service /out/mq-lease-service \
    && mkdir -p /out/data

# distroless/cc: glibc and libgcc, no shell; the nonroot user is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=dev
ARG REVISION=""
# Where the source lives, for registries that link back: --build-arg SOURCE=https://github.com/OWNER/REPO
ARG SOURCE=""
LABEL org.opencontainers.image.title="mq-lease-service" \
      org.opencontainers.image.description="Merge-queue lease service: one shared resource, the run with the most commits wins" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/mq-lease-service /usr/local/bin/mq-lease-service
COPY config/example.toml /etc/mq-lease-service/config.toml
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Through the environment rather than CMD, so `healthcheck` (which gets no CMD) reads the
# same config file and finds the port the server listens on.
ENV MQ_LEASE_CONFIG=/etc/mq-lease-service/config.toml \
    MQ_LEASE_DATA=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/mq-lease-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/mq-lease-service"]
