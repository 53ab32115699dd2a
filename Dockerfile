# syntax=docker/dockerfile:1
# Shoal: build with the official Swift 6.3 image on Debian bookworm, run on bookworm-slim as a non-root user.
#   docker build -t shoal .
#   docker run -p 6379:6379 -v shoal-data:/data -e SHOAL_PASSWORD=secret shoal --maxmemory 1gb

FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends liblz4-dev=1.9.4-1 pkg-config=1.8.1-1 \
        liblua5.1-0-dev=5.1.5-9 lua-cjson-dev=2.1.0+dfsg-2.2 lua-bitop-dev=1.0.2-7 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
# The manifest declares the test targets too; their sources must exist even though only the server is built.
COPY Tests ./Tests
# Resolve first (cached with the manifest), then build a release binary with the Swift runtime linked in.
RUN swift package resolve \
    && swift build -c release --static-swift-stdlib --product shoal-server \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/shoal-server" /out/shoal-server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends liblz4-1=1.9.4-1 liblua5.1-0=5.1.5-9 lua-cjson=2.1.0+dfsg-2.2 \
        lua-bitop=1.0.2-7 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 shoal \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin shoal \
    && mkdir -p /data /etc/shoal \
    && chown 10001:10001 /data
COPY --from=build /out/shoal-server /usr/local/bin/shoal-server
COPY conf/docker.conf /etc/shoal/shoal.conf
VOLUME ["/data"]
WORKDIR /data
EXPOSE 6379
# The shoal user (uid/gid 10001), numeric so the host side can resolve it too.
USER 10001:10001
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/shoal-server", "--ping"]
# Flags after the image name are appended: docker run shoal --maxmemory 1gb --maxmemory-policy allkeys-lru
ENTRYPOINT ["/usr/local/bin/shoal-server", "/etc/shoal/shoal.conf"]
