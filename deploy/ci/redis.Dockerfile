# CI stand-in for the official redis:7 image (no registry can be pulled from in CI):
# Debian bookworm's redis-server (7.0) on the same base as the gatenet image. Only
# deploy/ci/compose.scale.yml uses it; docker-compose.yml keeps redis:7.
#   docker build --network=host -f deploy/ci/redis.Dockerfile -t gatenet-ci/redis deploy/ci
# Like the official image: runs as `redis`, data in /data, the command line is
# `redis-server ...` (compose passes the port, AOF and --dir /data).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
# The base image's Debian release pins the package version (bookworm: 7.0.x).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown redis:redis /data
# A fresh named volume at /data starts as a copy of this folder, owner included.
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--bind", "127.0.0.1", "--dir", "/data"]
