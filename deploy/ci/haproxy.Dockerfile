# CI stand-in for the official haproxy:2.6 image (no registry can be pulled from in CI):
# Debian bookworm's haproxy (2.6, the minor docker-compose.yml pins) on the same base as
# the gatenet image. Only deploy/ci/compose.scale.yml uses it; docker-compose.yml keeps
# haproxy:2.6.
#   docker build --network=host -f deploy/ci/haproxy.Dockerfile -t gatenet-ci/haproxy deploy/ci
# Like the official image: runs as `haproxy`, reads /usr/local/etc/haproxy/haproxy.cfg
# (compose mounts deploy/haproxy/haproxy.cfg there), stays in the foreground and logs to
# stdout, and stops softly on SIGUSR1.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
# The base image's Debian release pins the package version (bookworm: 2.6.x).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/local/etc/haproxy \
    && haproxy -v
USER haproxy
STOPSIGNAL SIGUSR1
# -W: master-worker (reloads, and the master forwards signals); -db: foreground, no daemon.
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
