# Stand-in for the official haproxy:2.6 image, built FROM the locally imported
# debian:bookworm-slim when no image registry is reachable (tests/compose/run.sh).
# Not for production: with a registry, compose pulls the official image. Debian's
# haproxy is 2.6 too; it runs the way the official image does (master-worker, in the
# foreground, the configuration compose mounts at /usr/local/etc/haproxy/haproxy.cfg).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/*
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
