#!/usr/bin/env bash
# CI container stage: build the real Dockerfile in a private dockerd, run the gatenet
# service of docker-compose.yml (+ deploy/compose.ci.yml), wait for its healthcheck,
# train and predict through it with the host's `gatenet`, then over its published HTTP
# port (/v2/health/ready, V2 REST infer, /v1/Predict), check /metrics, the non-root
# user and a clean SIGTERM drain; then `down` (keeping volumes) and `up` again: a new
# container must still serve the model from the gatenet-data volume. Tear everything
# down, also on failure.
#   scripts/ci-container.sh            (from .ci/run, after the tests)
# Env: GATENET_CI_PORT / GATENET_CI_HTTP_PORT / GATENET_CI_METRICS_PORT (loopback ports,
#      default 50151 / 8180 / 8100),
#      GATENET_SHARED_TOOLS (folder with dockerd-up/down; default ../shared/tools beside the repo),
#      PY (the venv's python, default .venv/bin/python). A running engine named by DOCKER_HOST
#      (as .ci/run starts one for both container stages) is used and left running.
# Prometheus and Grafana images cannot be pulled here: only gatenet runs in a container.
set -euo pipefail

started=$SECONDS
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say() { echo "ci-container: $*"; }
die() { echo "ci-container: FAILED: $*" >&2; exit 1; }
step_started=$SECONDS
timings=()
step_done() { timings+=("$1 $((SECONDS - step_started))s"); step_started=$SECONDS; }

PY=${PY:-$repo/.venv/bin/python}
GATENET=$(dirname "$PY")/gatenet
{ [ -x "$PY" ] && [ -x "$GATENET" ]; } || die "$PY and $GATENET must exist (run make test first)"
# shellcheck source=scripts/ci-docker.sh
source "$repo/scripts/ci-docker.sh"  # DOCKER, ci_engine_up/down, ci_build_gatenet
port=${GATENET_CI_PORT:-50151}
metrics_port=${GATENET_CI_METRICS_PORT:-8100}
http_port=${GATENET_CI_HTTP_PORT:-8180}
image=gatenet:ci
project=gatenet-ci
compose=(docker-compose -p "$project" -f docker-compose.yml -f deploy/compose.ci.yml)
# What docker-compose.yml interpolates: the image tag and the loopback ports it publishes.
export GATENET_IMAGE=$image GATENET_BIND=127.0.0.1
export GATENET_GRPC_PUBLISH=$port GATENET_METRICS_PUBLISH=$metrics_port
export GATENET_HTTP_PUBLISH=$http_port

for p in "$port" "$http_port" "$metrics_port"; do
  "$PY" -c 'import socket, sys; socket.create_server(("127.0.0.1", int(sys.argv[1]))).close()' "$p" \
    2>/dev/null || die "port 127.0.0.1:$p is taken; set GATENET_CI_PORT / GATENET_CI_HTTP_PORT / GATENET_CI_METRICS_PORT"
done

compose_started=""
logs_dir=$(mktemp -d /tmp/gatenet-ci-container.XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$compose_started" ]; then
    if [ "$rc" -ne 0 ]; then
      echo "---- gatenet container logs (last 80 lines) ----" >&2
      "${compose[@]}" logs --no-color --tail=80 gatenet >&2 || true
    fi
    "${compose[@]}" down -v --remove-orphans -t 15 >/dev/null 2>&1 || true
  fi
  ci_engine_down
  rm -rf "$logs_dir"
  if [ "$rc" -eq 0 ]; then
    say "passed in $((SECONDS - started))s (${timings[*]})"
  else
    echo "ci-container: failed after $((SECONDS - started))s (${timings[*]:-})" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "ci-container: line $LINENO failed: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

ci_engine_up
say "docker engine: $engine"
step_done dockerd

say "docker build (torch from deploy/wheels)"
ci_build_gatenet "$image" "$logs_dir/build.log"
say "image $image: $("$DOCKER" image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
step_done build

# Start the gatenet service and wait for its healthcheck; sets cid.
up_healthy() {
  "${compose[@]}" up -d --no-build gatenet
  cid=$("${compose[@]}" ps -q gatenet)
  [ -n "$cid" ] || die "no gatenet container"
  local health="" state
  for _ in $(seq 180); do  # 2 s healthcheck interval, up to 90 s
    read -r health state <<<"$("$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.Status}}' "$cid")"
    case "$health/$state" in
      healthy/running) return 0 ;;
      unhealthy/* | */exited | */dead) die "container is $health/$state" ;;
    esac
    sleep 0.5
  done
  die "container not healthy after 90 s (last: $health)"
}

# Predict XOR's four rows with model $1; the labels must be XOR's.
predict_xor() {
  "$GATENET" --target "127.0.0.1:$port" --timeout 30 predict "$1" 0,0 0,1 1,0 1,1 --json \
    >"$logs_dir/predict.json" || return 1
  "$PY" - "$logs_dir/predict.json" <<'EOF'
import json, sys
labels = json.load(open(sys.argv[1]))["labels"]
assert labels == [0, 1, 1, 0], f"xor labels {labels}, want [0, 1, 1, 0]"
EOF
}

# The published HTTP port: ready, then model $1 answers XOR by V2 REST infer and /v1/Predict.
http_xor() {
  "$PY" - "http://127.0.0.1:$http_port" "$1" <<'EOF'
import json, sys, urllib.request
url, model = sys.argv[1:]
with urllib.request.urlopen(url + "/v2/health/ready", timeout=10) as r:
    ready = (r.status, json.load(r))
assert ready == (200, {"ready": True}), f"/v2/health/ready: {ready}"
def post(path, body):
    request = urllib.request.Request(url + path, json.dumps(body).encode(),
                                     {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)
rows = [[0, 0], [0, 1], [1, 0], [1, 1]]
tensor = {"name": "inputs", "datatype": "FP32", "shape": [4, 2], "data": rows}
outputs = post(f"/v2/models/{model}/infer", {"inputs": [tensor]})["outputs"]
labels = [o["data"] for o in outputs if o["name"] == "label"]
assert labels == [[False, True, True, False]], f"V2 infer outputs {outputs}"
answer = post("/v1/Predict", {"model": model, "inputs": [x for row in rows for x in row]})
assert answer["labels"] == [0, 1, 1, 0], f"/v1/Predict: {answer}"
EOF
}

say "docker-compose up gatenet on 127.0.0.1:$port (http :$http_port, metrics :$metrics_port)"
compose_started=1
up_healthy
step_done healthy

uid=$("$DOCKER" exec "$cid" id -u)
[ "$uid" != 0 ] || die "the server runs as root"

say "train and predict through the container"
"$GATENET" --target "127.0.0.1:$port" --timeout 60 train --gate xor --json >"$logs_dir/train.json"
model=$("$PY" - "$logs_dir/train.json" <<'EOF'
import json, sys
info = json.load(open(sys.argv[1]))
assert info["fit"] is True and info["accuracy"] == 1.0, f"xor did not fit: {info}"
print(info["model_id"])
EOF
)
predict_xor "$model"
say "HTTP through the container: /v2/health/ready, V2 infer and /v1/Predict of model $model"
http_xor "$model"
"$PY" - "http://127.0.0.1:$metrics_port/metrics" <<'EOF'
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
got = {(s.name, frozenset(s.labels.items())): s.value
       for f in text_string_to_metric_families(text) for s in f.samples}
def want(name, value, **labels):
    have = got.get((name, frozenset(labels.items())))
    assert have == value, f"{name}{labels} = {have}, want {value}"
svc = dict(grpc_service="gatenet.v1.GateService", grpc_type="unary", grpc_code="OK")
want("grpc_server_handled_total", 1.0, grpc_method="Train", **svc)
want("grpc_server_handled_total", 1.0, grpc_method="Predict", **svc)
want("gatenet_trainings_total", 1.0, task="gate", outcome="fit")
http = dict(method="POST", code="200")
want("gatenet_http_requests_total", 1.0, route="/v1/Predict", **http)
want("gatenet_http_requests_total", 1.0, route="/v2/models/{name}/infer", **http)
want("gatenet_models", 1.0)
EOF
step_done client

say "docker-compose stop: SIGTERM must drain and exit 0 within the grace period"
"${compose[@]}" stop gatenet  # waits stop_grace_period, then SIGKILL
read -r code oom <<<"$("$DOCKER" inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$cid")"
[ "$code" = 0 ] || die "gatenet exited $code after SIGTERM (137 = killed after the grace period)"
[ "$oom" = false ] || die "gatenet was OOM-killed"
step_done stop

say "docker-compose down (volumes kept) and up: a new container serves model $model again"
"${compose[@]}" down -t 15  # no -v: the gatenet-data volume and its SQLite store stay
up_healthy
[ "$("$DOCKER" exec "$cid" stat -c %u /data)" = "$uid" ] || die "/data is not owned by uid $uid"
predict_xor "$model" || die "model $model did not survive down/up (is the data dir a volume?)"
http_xor "$model" || die "HTTP after down/up"
step_done restart
