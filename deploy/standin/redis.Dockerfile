# Stand-in for the official redis:7-bookworm image, built FROM the locally imported
# debian:bookworm-slim when no image registry is reachable (tests/compose/run.sh).
# Not for production: with a registry, compose pulls the official image.
# Like the official image's entrypoint it adds --protected-mode no to any redis-server
# command (compose overrides the command; the compose network is private). Without it
# Redis answers the gateways "DENIED ... protected mode".
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
RUN printf '%s\n' '#!/bin/sh' \
      'if [ "$1" = redis-server ]; then shift; exec redis-server --protected-mode no "$@"; fi' \
      'exec "$@"' >/usr/local/bin/docker-entrypoint.sh \
 && chmod 755 /usr/local/bin/docker-entrypoint.sh
WORKDIR /var/lib/redis
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
