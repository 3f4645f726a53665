#!/usr/bin/env bash
# CI scale stage: docker-compose.yml's `scale` profile end to end in a private dockerd: three
# gatenet replicas (the real Dockerfile) over one Redis (AOF, appendfsync always) behind
# HAProxy, with Redis and HAProxy built from Debian's packages by deploy/ci/compose.scale.yml
# (no registry can be pulled from here; the published file keeps the official images).
# Trains through HAProxy, predicts on every replica, SIGKILLs the replica serving the model
# and predicts through HAProxy again, over gRPC and over its HTTP front door (V2 REST infer,
# /v1/Predict): scripts/ci_scale_checks.py lists the checks.
# Tears the stack down (down -v), also on failure; the whole stage has a time bound.
#   scripts/ci-scale.sh                (from .ci/run, after scripts/ci-container.sh)
# Env: GATENET_CI_SCALE_PORT_BASE (13 loopback ports from this one on; default: free ports
#      the OS picks), GATENET_CI_SCALE_SECONDS (the bound, default 300),
#      GATENET_SHARED_TOOLS, PY (as for scripts/ci-container.sh). A running engine named by
#      DOCKER_HOST (as `eval "$(dockerd-up)"` exports it) is used and left running; without
#      one the stage starts its own with dockerd-up and stops it at the end.
set -euo pipefail

started=$SECONDS
deadline=$((SECONDS + ${GATENET_CI_SCALE_SECONDS:-300}))
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say() { echo "ci-scale: $*"; }
die() { echo "ci-scale: FAILED: $*" >&2; exit 1; }
# Seconds left before the bound; every slow command runs under `timeout "$(left)"`.
left() {
  local n=$((deadline - SECONDS))
  [ "$n" -gt 0 ] || die "over the ${GATENET_CI_SCALE_SECONDS:-300} s bound"
  echo "$n"
}
step_started=$SECONDS
timings=()
step_done() { timings+=("$1 $((SECONDS - step_started))s"); step_started=$SECONDS; }

PY=${PY:-$repo/.venv/bin/python}
GATENET=$(dirname "$PY")/gatenet
{ [ -x "$PY" ] && [ -x "$GATENET" ]; } || die "$PY and $GATENET must exist (run make test first)"
# shellcheck source=scripts/ci-docker.sh
source "$repo/scripts/ci-docker.sh"  # DOCKER, ci_engine_up/down, ci_build_gatenet

# 13 loopback ports, all free now: HAProxy's gRPC and HTTP fronts and stats, Redis, then
# each replica's gRPC, HTTP and metrics port.
ports=$("$PY" - "${GATENET_CI_SCALE_PORT_BASE:-}" <<'EOF'
import socket, sys
base = int(sys.argv[1]) if sys.argv[1] else None
try:
    held = [socket.create_server(("127.0.0.1", base + i if base else 0)) for i in range(13)]
except OSError as exc:
    sys.exit(f"{exc} (GATENET_CI_SCALE_PORT_BASE={base})")
print(*(s.getsockname()[1] for s in held))
EOF
) || die "no 13 free loopback ports; set GATENET_CI_SCALE_PORT_BASE"
read -r lb_port lb_http_port stats_port redis_port grpc1 http1 metrics1 grpc2 http2 metrics2 \
  grpc3 http3 metrics3 <<<"$ports"
# What docker-compose.yml and deploy/ci/compose.scale.yml interpolate.
export GATENET_IMAGE=gatenet:ci GATENET_BIND=127.0.0.1 GATENET_GRPC_PUBLISH=$lb_port
export GATENET_HTTP_PUBLISH=$lb_http_port
export REDIS_PUBLISH=$redis_port GATENET_CI_SCALE_LB_STATS=$stats_port
export GATENET_CI_SCALE_GRPC1=$grpc1 GATENET_CI_SCALE_HTTP1=$http1 GATENET_CI_SCALE_METRICS1=$metrics1
export GATENET_CI_SCALE_GRPC2=$grpc2 GATENET_CI_SCALE_HTTP2=$http2 GATENET_CI_SCALE_METRICS2=$metrics2
export GATENET_CI_SCALE_GRPC3=$grpc3 GATENET_CI_SCALE_HTTP3=$http3 GATENET_CI_SCALE_METRICS3=$metrics3
# Compose v1 builds through docker-py (the engine's classic builder): `docker` on PATH may
# not be the client this engine speaks to.
export COMPOSE_DOCKER_CLI_BUILD=0
compose=(docker-compose -p gatenet-ci-scale -f docker-compose.yml -f deploy/ci/compose.scale.yml
  --profile scale)
services=(redis gatenet1 gatenet2 gatenet3 gatenet-lb)

compose_started=""
logs_dir=$(mktemp -d /tmp/gatenet-ci-scale.XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$compose_started" ]; then
    if [ "$rc" -ne 0 ]; then
      echo "---- container logs (last 40 lines each) ----" >&2
      timeout 60 "${compose[@]}" logs --no-color --tail=40 >&2 || true
    fi
    step_started=$SECONDS
    timeout 90 "${compose[@]}" down -v --remove-orphans -t 10 >/dev/null 2>&1 \
      || echo "ci-scale: docker-compose down failed" >&2
    step_done down
  fi
  if [ -n "${own_engine:-}" ]; then
    step_started=$SECONDS
    ci_engine_down
    step_done dockerd-down
  fi
  rm -rf "$logs_dir"
  if [ "$rc" -eq 0 ]; then
    say "passed in $((SECONDS - started))s (${timings[*]})"
  else
    echo "ci-scale: failed after $((SECONDS - started))s (${timings[*]:-})" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "ci-scale: line $LINENO failed: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

ci_engine_up "$(left)"
say "docker engine: $engine"
step_done dockerd

say "images: gatenet:ci (Dockerfile) beside Redis and HAProxy from Debian's packages (deploy/ci)"
timeout "$(left)" "${compose[@]}" build --parallel redis gatenet-lb >"$logs_dir/build-ci.log" 2>&1 &
ci_build=$!
ci_build_gatenet gatenet:ci "$logs_dir/build.log" "$(left)"
wait "$ci_build" || { tail -40 "$logs_dir/build-ci.log" >&2; die "Redis/HAProxy images"; }
for image in gatenet:ci gatenet-ci/redis:7.0-bookworm gatenet-ci/haproxy:2.6-bookworm; do
  say "  $image $("$DOCKER" image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
done
step_done build

say "up: redis :$redis_port, gatenet1..3 :$grpc1/:$grpc2/:$grpc3 (http :$http1/:$http2/:$http3, metrics :$metrics1/:$metrics2/:$metrics3), gatenet-lb :$lb_port (http :$lb_http_port, stats :$stats_port)"
compose_started=1
timeout "$(left)" "${compose[@]}" up -d --no-build gatenet-lb 2>&1 | sed 's/^/  /'
declare -A cid
for s in "${services[@]}"; do
  cid[$s]=$("${compose[@]}" ps -q "$s")
  [ -n "${cid[$s]}" ] || die "no $s container"
done
step_done up

say "checks (scripts/ci_scale_checks.py)"
# Leave 30 s of the bound for the teardown.
checks_seconds=$(($(left) - 30))
[ "$checks_seconds" -gt 0 ] || die "no time left for the checks"
timeout -k 5 "$checks_seconds" "$PY" scripts/ci_scale_checks.py --seconds "$checks_seconds" \
  --gatenet "$GATENET" --docker "$DOCKER" --lb "127.0.0.1:$lb_port" \
  --lb-http "127.0.0.1:$lb_http_port" --stats-port "$stats_port" \
  --redis "$redis_port:${cid[redis]}" \
  --replica "gatenet1=$grpc1:$http1:$metrics1:${cid[gatenet1]}" \
  --replica "gatenet2=$grpc2:$http2:$metrics2:${cid[gatenet2]}" \
  --replica "gatenet3=$grpc3:$http3:$metrics3:${cid[gatenet3]}"
step_done checks
