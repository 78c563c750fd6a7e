# syntax=docker/dockerfile:1
# Build: docker build -t mq-lease-service .
# Run:   docker run -p 8080:8080 -v mq-lease-data:/data mq-lease-service

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The caches speed up rebuilds; the binary is copied out of the target cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin mq-lease-service \
    && install -D -m 0755 target/release/mq-lease-service /out/mq-lease-service \
    && mkdir -p /out/data

# distroless/cc: glibc and libgcc, no shell; the nonroot user is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/mq-lease-service /usr/local/bin/mq-lease-service
COPY config/example.toml /etc/mq-lease-service/config.toml
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/mq-lease-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/mq-lease-service"]
CMD ["--config", "/etc/mq-lease-service/config.toml", "--data", "/data"]
