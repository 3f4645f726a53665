# Sourced by scripts/ci-container.sh and scripts/ci-scale.sh: the Docker client, the shared
# tools that start a private engine, and the build of the gatenet image both stages test.
# The sourcing script sets repo (the checkout) and PY, and defines die.
DOCKER=/usr/bin/docker  # Debian's client, which dockerd-up's engine speaks to

# Sets tools: the folder with dockerd-up/dockerd-down ($GATENET_SHARED_TOOLS, or shared/tools
# beside the repo: the CI clone has shared/ beside it; try the logical and the resolved path).
ci_find_tools() {
  tools=""
  local candidate
  for candidate in "${GATENET_SHARED_TOOLS:-}" "$repo/../shared/tools" "$(cd "$repo" && pwd -P)/../shared/tools"; do
    if [ -n "$candidate" ] && [ -x "$candidate/dockerd-up" ] && [ -x "$candidate/dockerd-down" ]; then
      tools=$(cd "$candidate" && pwd)
      return 0
    fi
  done
  die "no dockerd-up/dockerd-down in \$GATENET_SHARED_TOOLS or $repo/../shared/tools"
}

# ci_build_gatenet IMAGE LOG [SECONDS]: build the real Dockerfile, torch from the CPU wheel that
# lies on this machine (put into the build context's deploy/wheels, gitignored), within SECONDS.
ci_build_gatenet() {
  local image=$1 log=$2 seconds=${3:-1800}
  if ! compgen -G "$repo/deploy/wheels/torch-2.13.0*.whl" >/dev/null; then
    "$PY" -m pip download -q torch==2.13.0 --no-deps -d "$repo/deploy/wheels"
  fi
  compgen -G "$repo/deploy/wheels/torch-2.13.0+cpu*.whl" >/dev/null \
    || die "deploy/wheels has no CPU torch 2.13.0 wheel: $(ls "$repo/deploy/wheels")"
  if ! DOCKER_BUILDKIT=1 timeout "$seconds" "$DOCKER" build --network=host --progress=plain --build-arg TORCH_WHEELS=deploy/wheels \
    -t "$image" "$repo" >"$log" 2>&1; then
    tail -60 "$log" >&2
    die "docker build of $image"
  fi
}

# ci_engine_up [SECONDS]: use the engine DOCKER_HOST names when it answers (and leave it
# running), else start a private one with dockerd-up, exported for the commands run after
# (ci_engine_down stops it). .ci/run starts one for both container stages, so the scale
# stage reuses the image the single-node stage built.
ci_engine_up() {
  own_engine=""
  if [ -n "${DOCKER_HOST:-}" ] && "$DOCKER" version >/dev/null 2>&1; then
    engine="the running one at $DOCKER_HOST"
    return 0
  fi
  ci_find_tools
  engine="dockerd-up from $tools"
  local exports
  exports=$(timeout "${1:-300}" "$tools/dockerd-up") || die "dockerd-up failed"
  eval "$exports"
  own_engine=1
}

# Stop the engine ci_engine_up started, if it started one (dockerd-down finds it by the
# GATENET_DOCKERD_DIR that dockerd-up exported).
ci_engine_down() {
  if [ -n "${own_engine:-}" ]; then
    "$tools/dockerd-down" || true
  fi
}
