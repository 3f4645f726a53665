# gatenet server image: CPU-only torch, non-root, health-checked.
#   docker build -t gatenet .
#   docker build --build-arg TORCH_WHEELS=deploy/wheels -t gatenet .   # torch from a wheel in the context
# Two stages: the builder resolves everything into /opt/venv; the runtime stage
# copies only that venv, so pip caches, build tools and wheel files stay out.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_VERSION=2.13.0
# Default source: the PyTorch CPU index (a plain PyPI torch pulls GBs of CUDA).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Set to a folder of the build context holding the torch wheel (CI: deploy/wheels)
# to install from it instead; its dependencies still come from PyPI.
ARG TORCH_WHEELS=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Layer 1, torch (the big one, changes least), less what serving never loads:
# C++ headers, its own C++ test binaries, protoc (~190 MB). .dockerignore lets only
# deploy/wheels through from deploy/, so this COPY is tiny or empty.
COPY deploy/ deploy/
RUN if [ -n "$TORCH_WHEELS" ]; then \
        pip install --find-links "$TORCH_WHEELS" "torch==${TORCH_VERSION}"; \
    else \
        pip install --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple \
            "torch==${TORCH_VERSION}"; \
    fi \
    && rm -rf deploy \
    && t="$(python3 -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')" \
    && rm -rf "$t/test" "$t/include" \
    && find "$t/bin" -type f ! -name torch_shm_manager -delete

# Layer 2, runtime dependencies read from pyproject.toml (base + the server and tracing
# extras, never dev), so source edits don't reinstall them.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; e = p['optional-dependencies']; print('\n'.join(p['dependencies'] + e['server'] + e['tracing']))" > requirements.txt \
    && pip install -r requirements.txt

# Layer 3, the project itself, without dependency resolution. (pyproject.toml again
# so the README* wildcard always matches something, as the classic builder requires.)
# The import check loads the composition root and the CLI, so a subpackage missing from
# pyproject's package list fails the build instead of `gatenet serve` at run time.
COPY pyproject.toml README* ./
COPY proto/ proto/
COPY server/ server/
COPY client/ client/
COPY vocabulary/ vocabulary/
RUN pip install --no-deps . \
    && python3 -c "import gatenet.server.app, gatenet.client.cli, torch; print('torch', torch.__version__)"


FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="gatenet" \
      org.opencontainers.image.description="gRPC service that trains and serves tiny neural networks on boolean functions"
# A fixed numeric uid, so orchestrators can verify "non-root" without /etc/passwd.
# /data is the SQLite store's folder (GATENET_DATA_DIR), owned by that user: a fresh named
# volume mounted there starts as a copy of it, owner included, so the server can write it.
RUN useradd --system --no-log-init --uid 10001 --user-group --create-home --home-dir /home/gatenet \
        --shell /usr/sbin/nologin gatenet \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=builder /opt/venv /opt/venv
# Inside the container the server must listen on all interfaces to be reachable
# through published ports; change ports or limits with GATENET_* at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATENET_HOST=0.0.0.0 \
    GATENET_PORT=50051 \
    GATENET_HTTP_PORT=8080 \
    GATENET_METRICS_HOST=0.0.0.0 \
    GATENET_METRICS_PORT=8000 \
    GATENET_LOG_FORMAT=json \
    GATENET_DATA_DIR=/data \
    GATENET_DRAIN_DELAY=0 \
    GATENET_GRACE_SECONDS=8
USER 10001:10001
WORKDIR /home/gatenet
EXPOSE 50051 8080 8000
# SIGTERM starts the server's drain: GATENET_DRAIN_DELAY s NOT_SERVING while still
# accepting (0 here: a lone container has no balancer to tell; the scale profile and
# deploy/k8s set 2), GATENET_GRACE_SECONDS for in-flight calls, then ~2 s to stop
# training workers. 0 + 8 + 2 fits `docker stop`'s default 10 s before SIGKILL; raise
# them together with the stop timeout (compose: stop_grace_period).
STOPSIGNAL SIGTERM
# Through sh so the check follows GATENET_PORT when it is changed.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["sh", "-c", "exec gatenet health --target \"127.0.0.1:${GATENET_PORT}\""]
ENTRYPOINT ["gatenet"]
CMD ["serve"]
