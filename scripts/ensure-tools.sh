#!/usr/bin/env bash
# Install the external programs the end-to-end tests run, only when missing:
# prometheus + promtool (Debian package prometheus), haproxy (the scale profile's balancer,
# run for real by tests/e2e/test_haproxy.py and `haproxy -c` in test_deploy_static.py),
# redis-server (runs the deploy files' Redis command lines), docker-compose and h2load
# (Debian package nghttp2-client: bench/predict.py's server-bound load generator), curl and jq
# (the README's HTTP/JSON block, run by tests/project/test_readme_curl.py).
# Idempotent: with all present it does nothing and touches no network.
# (hadolint comes from PyPI, through the dev extra.)
set -euo pipefail

need=()
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "ensure-tools: need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "ensure-tools: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
