"""deploy/k8s, checked offline: kubernetes-validate --strict (bundled schemas, no cluster),
then the cross-references between the manifests that no schema sees."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatenet_testing.e2e_support import DEPLOY, REPO, find_tool, run

pytestmark = pytest.mark.e2e

K8S = DEPLOY / "k8s"
MANIFESTS = sorted(K8S.glob("*.yaml"))
BROKEN = Path(__file__).parent / "data" / "k8s-deployment-misspelled.yaml"
# The pinned validator's newest schemas, and the oldest Kubernetes the manifests target
# (native gRPC probes are GA since 1.27).
VERSIONS = ["1.37.0", "1.29.0"]


def validate(*files: Path, strict: bool = True, version: str = VERSIONS[0]):
    args = [find_tool("kubernetes-validate"), "--kubernetes-version", version, "--no-warn"]
    return run([*args, *(["--strict"] if strict else []), *map(str, files)])


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_pass_strict_validation(version):
    assert {p.name for p in MANIFESTS} >= {
        "configmap.yaml",
        "deployment.yaml",
        "service.yaml",
        "hpa.yaml",
        "pdb.yaml",
        "redis.yaml",
    }
    result = validate(*MANIFESTS, version=version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == 8, result.stdout  # every document


def test_a_misspelled_field_fails_the_same_check():
    result = validate(BROKEN)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "'readinesProbe' was unexpected" in result.stdout + result.stderr
    # Without --strict the typo would pass: that is why the check above is strict.
    assert validate(BROKEN, strict=False).returncode == 0


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_manifests_fit_together():
    r = resources()
    config = r["ConfigMap", "gatenet-config"]["data"]
    deployment = r["Deployment", "gatenet"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert deployment["spec"]["replicas"] == 3

    # Services, PDB and HPA all point at these pods.
    for name in ("gatenet", "gatenet-headless"):
        service = r["Service", name]
        assert service["spec"]["selector"] == selector, name
        by_name = {p["name"]: p for p in service["spec"]["ports"]}
        assert by_name["grpc"]["port"] == int(config["GATENET_PORT"]), name
        http = by_name["http"]  # HTTP/JSON, to the container port of that name
        assert (http["port"], http["targetPort"]) == (int(config["GATENET_HTTP_PORT"]), "http")
        assert http["appProtocol"] == "http", name
    assert r["Service", "gatenet-headless"]["spec"]["clusterIP"] == "None"
    assert r["PodDisruptionBudget", "gatenet"]["spec"]["selector"]["matchLabels"] == selector
    hpa = r["HorizontalPodAutoscaler", "gatenet"]["spec"]
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gatenet"}
    assert hpa["scaleTargetRef"] == target
    assert hpa["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["maxReplicas"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert container["resources"]["requests"]["cpu"]  # the HPA's utilisation needs one

    # Settings come from the ConfigMap; ports and probes agree with them.
    assert container["envFrom"] == [{"configMapRef": {"name": "gatenet-config"}}]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {
        "grpc": int(config["GATENET_PORT"]),
        "http": int(config["GATENET_HTTP_PORT"]),
        "metrics": int(config["GATENET_METRICS_PORT"]),
    }
    # The image's default too, so the ConfigMap and the image can't drift apart unseen.
    assert "GATENET_HTTP_PORT=8080" in (REPO / "Dockerfile").read_text()
    assert ports["http"] == 8080
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"] == {"port": ports["grpc"]}, probe  # grpc.health.v1

    # Shutdown: preStop sleeps the drain delay; the kubelet waits for the whole drain.
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and float(sleep[1]) == float(config["GATENET_DRAIN_DELAY"])
    drain = float(sleep[1]) + float(config["GATENET_DRAIN_DELAY"])
    drain += float(config["GATENET_GRACE_SECONDS"]) + 2  # + stopping the training workers
    assert pod["terminationGracePeriodSeconds"] >= drain
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > drain

    # Non-root, as the image's fixed uid.
    uid = int(re.search(r"--uid (\d+)", (REPO / "Dockerfile").read_text()).group(1))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    # The store URL names the Redis Service and port; Redis keeps an fsynced AOF on a PVC.
    store = re.fullmatch(r"redis://([^:/]+):(\d+)/\d+", config["GATENET_STORE"])
    assert store, config["GATENET_STORE"]
    redis_service = r["Service", store.group(1)]
    assert [p["port"] for p in redis_service["spec"]["ports"]] == [int(store.group(2))]
    redis = r["StatefulSet", "gatenet-redis"]["spec"]
    assert redis["serviceName"] == store.group(1)
    assert redis_service["spec"]["selector"].items() <= (
        redis["template"]["metadata"]["labels"].items()
    )
    (redis_container,) = redis["template"]["spec"]["containers"]
    assert redis_container["image"].startswith("redis:7")
    args = " ".join(redis_container["args"])
    assert "--appendonly yes" in args and "--appendfsync always" in args
    (claim,) = redis["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in redis_container["volumeMounts"]}
    assert f"--dir {mounts[claim['metadata']['name']]}" in args
