"""The deploy files, checked by the tools that consume them: compose, hadolint, promtool."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from gatenet_testing.e2e_support import (
    DASHBOARD,
    DEPLOY,
    PROMETHEUS_CONFIG,
    REPO,
    dashboard_queries,
    find_tool,
    promql_metric_names,
    run,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "files",
    [["docker-compose.yml"], ["docker-compose.yml", "deploy/compose.ci.yml"]],
    ids=["compose", "compose+ci"],
)
def test_compose_files_are_valid(files):
    args = [find_tool("docker-compose")]
    for f in files:
        args += ["-f", f]
    result = run([*args, "config", "-q"])
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr  # e.g. an unset variable


@pytest.mark.parametrize(
    "dockerfile", ["Dockerfile", "deploy/ci/redis.Dockerfile", "deploy/ci/haproxy.Dockerfile"]
)
def test_dockerfile_is_clean_for_hadolint(dockerfile):
    # Clean at warning level; an ignore needs a `# hadolint ignore=DLxxxx` with its reason.
    result = run(
        [find_tool("hadolint"), "--no-color", "--failure-threshold", "warning", dockerfile]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_is_valid():
    result = run([find_tool("promtool"), "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_grafana_provisioning_fits_together():
    """Dashboard -> datasource uid -> provider path -> compose mounts all agree."""
    datasource = (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    provider = (DEPLOY / "grafana/provisioning/dashboards/gatenet.yml").read_text()
    compose = (REPO / "docker-compose.yml").read_text()
    uid = re.search(r"^\s+uid:\s*(\S+)", datasource, re.M).group(1)
    path = re.search(r"^\s+path:\s*(\S+)", provider, re.M).group(1)
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in compose
    assert "http://prometheus:9090" in datasource

    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "gatenet"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid and target["refId"], panel["title"]


def test_dashboard_covers_the_operator_questions():
    text = "\n".join(expr for _, expr in dashboard_queries())
    for needed in [
        r"sum by \(grpc_method\) \(rate\(grpc_server_handled_total",  # request rate by method
        r'grpc_code!="OK"',  # errors
        r"histogram_quantile\(0\.5, .*grpc_server_handling_seconds_bucket",  # p50
        r"histogram_quantile\(0\.99, .*grpc_server_handling_seconds_bucket",  # p99
        r"by \(task, outcome\) \(rate\(gatenet_trainings_total",  # trainings by outcome
        r"gatenet_training_seconds_bucket",  # training time
        r"gatenet_models",  # models held
        r"process_resident_memory_bytes",  # memory
        r"by \(route, code\) \(rate\(gatenet_http_requests_total",  # HTTP requests by route
        r"gatenet_http_request_duration_seconds_bucket",  # HTTP latency
    ]:
        assert re.search(needed, text), f"no panel query matches {needed}"


def test_drain_fits_inside_the_stop_grace_period():
    """docker stop must not SIGKILL a server still draining."""
    compose = (REPO / "docker-compose.yml").read_text()
    env = (DEPLOY / "gatenet.env").read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    stop_grace = int(re.search(r"stop_grace_period:\s*(\d+)s", compose).group(1))
    grace = float(re.search(r"^GATENET_GRACE_SECONDS=(\S+)", env, re.M).group(1))
    image_grace = float(re.search(r"GATENET_GRACE_SECONDS=(\S+)", dockerfile).group(1))
    assert grace + 4 <= stop_grace  # the drain, then ~2 s per training worker to stop
    assert image_grace + 2 <= 10  # plain `docker stop` sends SIGKILL after 10 s
    assert re.search(r"^STOPSIGNAL SIGTERM$", dockerfile, re.M)
    assert re.search(r"stop_signal:\s*SIGTERM", compose)


def test_promql_metric_names():
    expr = (
        "histogram_quantile(0.99, sum by (le, grpc_method) "
        '(rate(grpc_server_handling_seconds_bucket{job="gatenet", grpc_code!="OK"}'
        "[$__rate_interval]))) / ignoring(x) 60 * "
        "sum without (instance) (up) or on() vector(0)"
    )
    assert promql_metric_names(expr) == {"grpc_server_handling_seconds_bucket", "up"}


def test_haproxy_config_is_valid():
    """haproxy -c on the shipped file, with its own defaults: valid and without warnings."""
    result = run([find_tool("haproxy"), "-c", "-f", str(DEPLOY / "haproxy" / "haproxy.cfg")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_haproxy_routes_on_the_model_id_with_bounded_load():
    """The lines the scale-out design rests on, so an edit can't drop one unnoticed."""
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    lines = {line.strip() for line in text.splitlines() if not line.lstrip().startswith("#")}
    for needed in [
        "balance hdr(x-model-id)",
        "hash-type consistent",
        "hash-balance-factor 150",
        "option tcp-check",
        # The HTTP front door: the same ring, hashed on the path's or the header's model,
        # checked on V2 REST readiness.
        "balance hash var(txn.model)",
        "option httpchk",
        "http-check send meth GET uri /v2/health/ready ver HTTP/1.1 hdr host gatenet",
        "http-check expect status 200",
    ]:
        assert needed in lines, needed
    assert re.search(r'^\s*bind "\$\{LB_GRPC_ADDR-[^}]+\}" proto h2$', text, re.M)
    assert re.search(r'^\s*bind "\$\{LB_HTTP_ADDR-127.0.0.1:8080\}"$', text, re.M)
    assert re.search(r"^\s*default-server check .*\bproto h2\b", text, re.M)
    assert len(re.findall(r"^\s*hash-type consistent$", text, re.M)) == 2
    assert len(re.findall(r"^\s*hash-balance-factor 150$", text, re.M)) == 2
    servers = re.findall(r"^\s*server (\S+) ", text, re.M)
    # Both backends list the same servers in the same order: the same consistent-hash ring.
    assert servers == ["gatenet1", "gatenet2", "gatenet3"] * 2
    # A unary Train answers only when training ends (the server's limit is 60 s).
    timeout = int(re.search(r"^\s*timeout server (\d+)s$", text, re.M).group(1))
    assert timeout >= 60 + 10


def compose_config(*args: str) -> dict:
    """docker-compose's own resolved view of docker-compose.yml (anchors, defaults applied)."""
    result = run([find_tool("docker-compose"), *args, "config"])
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return yaml.safe_load(result.stdout)


def mounts(service: dict) -> dict[str, str]:
    """target -> source of a resolved service's volumes (short 'src:dst[:mode]' or long form)."""
    pairs = [
        tuple(v.split(":")[:2]) if isinstance(v, str) else (v["source"], v["target"])
        for v in service.get("volumes", [])
    ]
    return {target: source for source, target in pairs}


def test_compose_scale_profile_is_valid_and_self_consistent():
    services = compose_config("--profile", "scale")["services"]
    scale = {name for name, s in services.items() if s.get("profiles") == ["scale"]}
    replicas = ["gatenet1", "gatenet2", "gatenet3"]
    assert scale == {*replicas, "redis", "gatenet-lb", "prometheus-scale", "grafana-scale"}
    for name in scale:  # this engine has no default bridge: one loopback, own ports
        assert services[name]["network_mode"] == "host", name

    redis_cmd = services["redis"]["command"]
    redis_port = redis_cmd[redis_cmd.index("--port") + 1]
    assert " ".join(redis_cmd).count("--appendonly yes --appendfsync always") == 1
    data_dir = redis_cmd[redis_cmd.index("--dir") + 1]
    assert mounts(services["redis"])[data_dir] == "redis-data"

    lb = services["gatenet-lb"]["environment"]
    assert lb["LB_GRPC_ADDR"] == "127.0.0.1:50051"  # the usual front ports
    assert lb["LB_HTTP_ADDR"] == "127.0.0.1:8080"
    ports = {"lb": 50051, "lb-http": 8080, "lb-stats": int(lb["LB_STATS_ADDR"].rsplit(":", 1)[1])}
    ports["redis"] = int(redis_port)
    targets = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-scale.yml").read_text())
    (job,) = [j for j in targets["scrape_configs"] if j["job_name"] == "gatenet"]
    scraped = {c["labels"]["instance"]: c["targets"] for c in job["static_configs"]}
    for name in replicas:
        env = services[name]["environment"]
        assert lb[f"{name.upper()}_ADDR"] == f"127.0.0.1:{env['GATENET_PORT']}", name
        assert lb[f"{name.upper()}_HTTP_ADDR"] == f"127.0.0.1:{env['GATENET_HTTP_PORT']}", name
        assert scraped[name] == [f"127.0.0.1:{env['GATENET_METRICS_PORT']}"], name
        assert env["GATENET_STORE"] == f"redis://127.0.0.1:{redis_port}/0", name
        assert env["GATENET_HOST"] == env["GATENET_METRICS_HOST"] == "127.0.0.1", name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        ports[f"{name} grpc"] = int(env["GATENET_PORT"])
        ports[f"{name} http"] = int(env["GATENET_HTTP_PORT"])
        ports[f"{name} metrics"] = int(env["GATENET_METRICS_PORT"])
        # SIGTERM: drain delay + grace for calls in flight + ~2 s for training workers.
        drain = float(env["GATENET_DRAIN_DELAY"]) + float(env["GATENET_GRACE_SECONDS"]) + 2
        assert drain + 2 <= int(services[name]["stop_grace_period"].rstrip("s")), name
    assert "--web.listen-address=127.0.0.1:9090" in services["prometheus-scale"]["command"]
    ports["prometheus"] = 9090
    ports["grafana"] = int(services["grafana-scale"]["environment"]["GF_SERVER_HTTP_PORT"])
    assert len(set(ports.values())) == len(ports), f"two scale services share a port: {ports}"
    # grafana-scale keeps the provisioned datasource URL http://prometheus:9090.
    assert services["grafana-scale"]["extra_hosts"] == ["prometheus:127.0.0.1"]
    haproxy_cfg = mounts(services["gatenet-lb"])["/usr/local/etc/haproxy/haproxy.cfg"]
    assert haproxy_cfg.endswith("/deploy/haproxy/haproxy.cfg")
    assert services["gatenet-lb"]["stop_signal"] == "SIGUSR1"  # HAProxy's soft stop


def test_single_node_keeps_its_models_on_a_volume():
    config = compose_config()
    gatenet = config["services"]["gatenet"]
    assert "profiles" not in gatenet  # the default stack, unchanged by the scale profile
    # HTTP/JSON beside gRPC, published on loopback as the others are.
    assert gatenet["environment"]["GATENET_HTTP_PORT"] == "8080"
    assert "127.0.0.1:8080:8080/tcp" in gatenet["ports"], gatenet["ports"]
    assert re.search(r"^EXPOSE .*\b8080\b", (REPO / "Dockerfile").read_text(), re.M)
    data_dir = gatenet["environment"]["GATENET_DATA_DIR"]
    assert mounts(gatenet)[data_dir] == "gatenet-data"
    assert "gatenet-data" in config["volumes"]
    # The image creates that folder for its non-root user, so a fresh volume is writable.
    dockerfile = (REPO / "Dockerfile").read_text()
    uid = re.search(r"--uid (\d+)", dockerfile).group(1)
    assert re.search(rf"mkdir -p {data_dir} \\\s*&& chown {uid}:{uid} {data_dir}", dockerfile)
    assert f"GATENET_DATA_DIR={data_dir}" in dockerfile


def test_image_drain_fits_docker_stop():
    """Plain `docker stop` waits 10 s: drain delay + grace + workers must fit."""
    dockerfile = (REPO / "Dockerfile").read_text()
    grace = float(re.search(r"GATENET_GRACE_SECONDS=(\S+)", dockerfile).group(1))
    drain = float(re.search(r"GATENET_DRAIN_DELAY=(\S+)", dockerfile).group(1))
    assert drain + grace + 2 <= 10


def test_prometheus_scale_config_is_valid():
    config = DEPLOY / "prometheus" / "prometheus-scale.yml"
    result = run([find_tool("promtool"), "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_scale_dashboard_is_provisioned_like_the_main_one():
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "gatenet-scale.json").read_text())
    assert dashboard["uid"] == "gatenet-scale" != json.loads(DASHBOARD.read_text())["uid"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus" and target["refId"]
    grafana = compose_config("--profile", "scale")["services"]["grafana-scale"]["environment"]
    home = grafana["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == "/etc/grafana/dashboards/gatenet-scale.json"


# The ports scripts/ci-scale.sh hands deploy/ci/compose.scale.yml (any 13 distinct ones).
CI_SCALE_ENV = {
    "GATENET_GRPC_PUBLISH": "31600",
    "GATENET_HTTP_PUBLISH": "31609",
    "GATENET_CI_SCALE_LB_STATS": "31601",
    "REDIS_PUBLISH": "31602",
    "GATENET_CI_SCALE_GRPC1": "31603",
    "GATENET_CI_SCALE_HTTP1": "31610",
    "GATENET_CI_SCALE_METRICS1": "31604",
    "GATENET_CI_SCALE_GRPC2": "31605",
    "GATENET_CI_SCALE_HTTP2": "31611",
    "GATENET_CI_SCALE_METRICS2": "31606",
    "GATENET_CI_SCALE_GRPC3": "31607",
    "GATENET_CI_SCALE_HTTP3": "31612",
    "GATENET_CI_SCALE_METRICS3": "31608",
}


def test_ci_scale_override_changes_only_ports_checks_restarts_and_images(monkeypatch):
    """CI runs the published scale profile: the override may swap the images it cannot pull,
    move ports and speed up checks, nothing else (not a command, volume or replica setting)."""
    for name, value in CI_SCALE_ENV.items():
        monkeypatch.setenv(name, value)
    ci_files = ["-f", "docker-compose.yml", "-f", "deploy/ci/compose.scale.yml"]
    published = compose_config("--profile", "scale")["services"]
    ci = compose_config(*ci_files, "--profile", "scale")["services"]
    moved = {"GATENET_PORT", "GATENET_HTTP_PORT", "GATENET_METRICS_PORT", "LB_STATS_ADDR"}
    moved |= {f"GATENET{i}_{kind}ADDR" for i in (1, 2, 3) for kind in ("", "HTTP_")}
    for name in ["gatenet1", "gatenet2", "gatenet3", "redis", "gatenet-lb"]:
        mine, theirs = dict(ci[name]), dict(published[name])
        assert mine.pop("restart") == "no", name  # a crash fails the run; the killed stays dead
        theirs.pop("restart")
        env_mine, env_theirs = mine.pop("environment", {}), theirs.pop("environment", {})
        assert {k: v for k, v in env_mine.items() if k not in moved} == {
            k: v for k, v in env_theirs.items() if k not in moved
        }, name
        if "healthcheck" in theirs:  # the same check, only more often
            assert mine.pop("healthcheck")["test"] == theirs.pop("healthcheck")["test"], name
        if name in ("redis", "gatenet-lb"):
            assert mine.pop("build")["context"].endswith("/deploy/ci"), name
            assert mine.pop("image").startswith("gatenet-ci/"), name
            theirs.pop("image")
        assert mine == theirs, name
    # The published file keeps the official images; the stand-ins follow their versions.
    assert published["redis"]["image"] == "redis:7"
    assert ci["redis"]["image"] == "gatenet-ci/redis:7.0-bookworm"
    assert published["gatenet-lb"]["image"] == "haproxy:2.6"
    assert ci["gatenet-lb"]["image"] == "gatenet-ci/haproxy:2.6-bookworm"

    lb = ci["gatenet-lb"]["environment"]
    # LB_GRPC_ADDR and LB_HTTP_ADDR keep the published lines; the script's ports reach them
    # through GATENET_GRPC_PUBLISH and GATENET_HTTP_PUBLISH.
    assert lb["LB_GRPC_ADDR"] == "127.0.0.1:31600" and lb["LB_HTTP_ADDR"] == "127.0.0.1:31609"
    ports = [lb["LB_GRPC_ADDR"], lb["LB_HTTP_ADDR"], lb["LB_STATS_ADDR"]]
    for i in (1, 2, 3):
        env = ci[f"gatenet{i}"]["environment"]
        assert env["GATENET_PORT"] == CI_SCALE_ENV[f"GATENET_CI_SCALE_GRPC{i}"]
        assert env["GATENET_HTTP_PORT"] == CI_SCALE_ENV[f"GATENET_CI_SCALE_HTTP{i}"]
        assert lb[f"GATENET{i}_ADDR"] == f"127.0.0.1:{env['GATENET_PORT']}"
        assert lb[f"GATENET{i}_HTTP_ADDR"] == f"127.0.0.1:{env['GATENET_HTTP_PORT']}"
        assert env["GATENET_STORE"] == "redis://127.0.0.1:31602/0"
        ports += [
            f"127.0.0.1:{env[key]}"
            for key in ("GATENET_PORT", "GATENET_HTTP_PORT", "GATENET_METRICS_PORT")
        ]
    ports.append(f"127.0.0.1:{ci['redis']['command'][ci['redis']['command'].index('--port') + 1]}")
    assert all(p.startswith("127.0.0.1:") for p in ports)  # host network: loopback only
    # Every port the script picks, each used once: it picks 13.
    assert len(set(ports)) == len(ports) == len(CI_SCALE_ENV) == 13


def test_ci_scale_override_needs_its_ports():
    """Without the script's ports the override refuses to start, rather than take 50061..."""
    result = run(
        [
            find_tool("docker-compose"),
            "-f",
            "docker-compose.yml",
            "-f",
            "deploy/ci/compose.scale.yml",
        ]
        + ["--profile", "scale", "config", "-q"]
    )
    assert result.returncode != 0
    assert "set by scripts/ci-scale.sh" in result.stderr
