# Pulse: one image for every role. The entrypoint is the gateway; the publisher,
# subscriber and report tools are on PATH for the compose profiles
# (docker run --entrypoint pulse-publish ..., or `command:` with `entrypoint:`).
#
#   docker build -t pulse .
#   docker run --rm -p 8080:8080 -e PULSE_REDIS=redis://redis:6379 pulse

# ---- build stage: compilers and -dev packages -----------------------------------
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libwebsockets-dev libhiredis-dev libevent-dev libjansson-dev libconfig-dev \
      libjwt-dev libssl-dev libev-dev liburing-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY libpulse/ libpulse/
COPY gateway/ gateway/
COPY publisher/ publisher/
COPY subscriber-client/ subscriber-client/
COPY report/ report/
# The project's default build type (RelWithDebInfo, -O2); --strip drops the debug info.
RUN cmake -S . -B /build -DPULSE_BUILD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /opt/pulse --strip \
 && test -x /opt/pulse/bin/pulse-gateway && test -x /opt/pulse/bin/pulse-publish \
 && test -x /opt/pulse/bin/pulse-subscribe && test -x /opt/pulse/bin/pulse-report

# ---- runtime stage: only the shared libraries the binaries link, plus curl --------
# (checked with ldd + dpkg -S on the installed binaries: libwebsockets17, libhiredis0.14,
# libevent-2.1-7 (+core), libevent-pthreads-2.1-7, libjansson4, libconfig9, libjwt0
# (+libb64-0d), libssl3, liburing2; the ones in (+...) come in as dependencies; libwebsockets-evlib-ev
# (+libev4) is loaded only with ws.event_loop = libev.)
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libwebsockets17 libhiredis0.14 libevent-2.1-7 libevent-pthreads-2.1-7 \
      libjansson4 libconfig9 libjwt0 libssl3 liburing2 libwebsockets-evlib-ev curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 pulse \
 && useradd --system --uid 10001 --gid pulse --home-dir /var/lib/pulse --create-home \
      --shell /usr/sbin/nologin pulse
COPY --from=build /opt/pulse/bin/ /usr/local/bin/
COPY gateway/pulse.conf /etc/pulse/pulse.conf.example

# Inside a container the gateway must listen on every interface: HAProxy reaches the
# WebSocket port and health-checks the admin port over the compose network. The node
# id defaults to the host name, which Docker sets to the container id: distinct per
# replica, so the report's per-node split works with `--scale gateway=N`.
# PULSE_INSECURE=1: the gateway refuses a non-loopback bind without authentication
# unless told it is intended. The compose network is private and HAProxy is the only
# way in; before exposing it, configure tokens and an admin key (docs/SECURITY.md) and
# set PULSE_INSECURE=0.
ENV PULSE_BIND=0.0.0.0 \
    PULSE_INSECURE=1 \
    PULSE_PORT=8080 \
    PULSE_ADMIN_BIND=0.0.0.0 \
    PULSE_ADMIN_PORT=9090 \
    PULSE_REDIS=redis://redis:6379 \
    PULSE_WORKERS=2 \
    PULSE_LOG_LEVEL=info \
    PULSE_LOG_FORMAT=text

USER pulse
WORKDIR /var/lib/pulse
EXPOSE 8080 9090
# Shell form so ${PULSE_ADMIN_PORT} is the container's value at check time.
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PULSE_ADMIN_PORT}/healthz" >/dev/null || exit 1
# SIGTERM: /healthz turns 503, clients are closed with 1001, exit 0 (drain <= 5 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["pulse-gateway"]
CMD []
