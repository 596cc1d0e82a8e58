# imgassure-worker image: built from this repository on Debian 12
# (bookworm), whose packages provide every library the build links.
#
#   docker build -t imgassure-worker .
#
# The image also holds the imgassure command line, for one-off commands:
#   docker run --rm --entrypoint imgassure imgassure-worker results --help

FROM debian:12 AS build

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config \
        librdkafka-dev libavro-dev libhiredis-dev libarchive-dev \
        libcurl4-openssl-dev libjansson-dev libssl-dev zlib1g-dev \
        libisal-dev libzstd-dev libcmocka-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# `make all` also builds the unit tests, which need libcmocka-dev above.
RUN make -j"$(nproc)" all

FROM debian:12

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libavro23 libhiredis0.14 libarchive13 libcurl4 \
        libjansson4 libssl3 libisal2 libzstd1 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --user-group --uid 10001 --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin imgassure

COPY --from=build /src/build/imgassure-worker /src/build/imgassure \
    /usr/local/bin/

# Fails the build when the runtime packages above miss a library that the
# build stage linked, instead of failing when the first container starts.
RUN ! ldd /usr/local/bin/imgassure-worker /usr/local/bin/imgassure \
    | grep 'not found'

USER 10001:10001
ENTRYPOINT ["/usr/local/bin/imgassure-worker"]
