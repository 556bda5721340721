"""Deployment files pass their tools and agree with what the application serves and reads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from fastapi import FastAPI

from reward_service.cli import FACTORIES, _parser
from reward_service.http.shutdown import WRITE_GRACE_S
from reward_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
K8S_TARGETS = ["k8s/base", "k8s/overlays/cpu-only"]
K8S_VERSION = "1.31.0"
EXTRA_ENV = {"HF_HUB_OFFLINE"}  # read by transformers, not by raas


def kustomize(target: str) -> list[dict[str, Any]]:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / target)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@cache
def routes(role: str) -> set[str]:
    app: FastAPI = FACTORIES[role](Settings())
    return {getattr(route, "path", "") for route in app.routes}


def role_of(args: list[str]) -> str:
    parsed = _parser().parse_args(args)
    return str(getattr(parsed, "role", None) or parsed.command)


def raas_env_names() -> set[str]:
    return {f"RAAS_{name.upper()}" for name in Settings.model_fields}


# ------------------------------------------------------------------ tools accept the files


@pytest.mark.parametrize("target", K8S_TARGETS)
def test_kubernetes_manifests_validate_against_the_schemas(target: str) -> None:
    docs = kustomize(target)
    kinds = {doc["kind"] for doc in docs}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
    } <= kinds
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def tool(name: str) -> str:
    """A tool installed with the dev extra (beside this interpreter), else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def compose_spec_errors(path: Path) -> str:
    """check-jsonschema against the Compose Specification's schema: "" when the file is valid."""
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_compose_file_is_valid_against_the_compose_spec(tmp_path: Path) -> None:
    assert compose_spec_errors(ROOT / "docker-compose.yml") == ""
    broken = compose()
    broken["services"]["router"]["ports"] = 8000  # the check can fail
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    assert "is not of type 'array'" in compose_spec_errors(tmp_path / "broken.yml")


def test_loopback_override_merges_into_a_valid_stack_on_loopback(tmp_path: Path) -> None:
    """The image test's override (podman-compose's own merge): the raas services on distinct
    loopback ports, the model worker on the cpu image without a GPU, nothing else changed."""
    ports = {"ROUTER": "18000", "RULES_1": "18001", "RULES_2": "18011", "MODEL": "18002"}
    env = {f"RAAS_TEST_{k}_PORT": v for k, v in ports.items()} | {"RAAS_TEST_MODELS": "/m"}
    merged_text = subprocess.run(
        [
            tool("podman-compose"),
            "--dry-run",
            "-f",
            str(ROOT / "docker-compose.yml"),
            "-f",
            str(ROOT / "deploy/image_test/compose.loopback.yml"),
            "config",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    (tmp_path / "merged.yml").write_text(merged_text)
    assert compose_spec_errors(tmp_path / "merged.yml") == ""
    merged, base = yaml.safe_load(merged_text)["services"], compose()["services"]
    assert set(merged) == {"router", "rules-1", "rules-2", "model"}
    for name, service in merged.items():
        assert service["network_mode"] == "host"
        assert service["environment"]["RAAS_HOST"] == "127.0.0.1"
        assert service["command"] == base[name]["command"]
        assert service["healthcheck"] == base[name]["healthcheck"]
        assert service["image"] == "raas:cpu"
        assert "ports" not in service or service["ports"] == []
    router = merged["router"]["environment"]
    assert router["RAAS_RULE_WORKERS"] == "http://127.0.0.1:18001,http://127.0.0.1:18011"
    assert router["RAAS_MODEL_WORKERS"] == "http://127.0.0.1:18002"
    assert merged["model"]["volumes"] == ["/m:/models:ro"]
    assert "deploy" not in merged["model"] or not merged["model"]["deploy"]
    assert (
        merged["model"]["environment"]["RAAS_MODELS"] == base["model"]["environment"]["RAAS_MODELS"]
    )


def test_grafana_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/raas.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    names = {m for e in exprs for m in re.findall(r"\b(raas_[a-z_]+)", e)}
    exported = exported_metric_names()
    assert names <= exported, names - exported


def exported_metric_names() -> set[str]:
    from prometheus_client import CollectorRegistry

    from reward_service.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    names = set()
    for family in registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


# ------------------------------------------- the files agree with the application


def k8s_containers(target: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    docs = kustomize(target)
    config = {k for d in docs if d["kind"] == "ConfigMap" for k in d["data"]}
    return [
        (c, {"config": config})
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]


@pytest.mark.parametrize("target", K8S_TARGETS)
def test_k8s_commands_ports_probes_and_env_match_the_app(target: str) -> None:
    for container, extra in k8s_containers(target):
        role = role_of(container["args"])
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert set(env) | extra["config"] <= raas_env_names() | EXTRA_ENV
        (port,) = container["ports"]
        assert int(env["RAAS_PORT"]) == port["containerPort"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["path"] in routes(role)
                assert container[probe]["httpGet"]["port"] == port["name"]


@pytest.mark.parametrize("target", K8S_TARGETS)
def test_k8s_worker_urls_point_at_headless_services_on_their_ports(target: str) -> None:
    docs = kustomize(target)
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    ports = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["ports"][0][
            "containerPort"
        ]
        for d in docs
        if d["kind"] == "Deployment"
    }
    router = next(c for c, _ in k8s_containers(target) if c["name"] == "router")
    urls = [e["value"] for e in router["env"] if e["name"].endswith("_WORKERS")]
    assert urls
    for url in urls:
        host, port = re.fullmatch(r"http://([\w-]+):(\d+)", url).groups()  # type: ignore[union-attr]
        assert services[host]["spec"]["ports"][0]["port"] == int(port)
        assert ports[host] == int(port)  # the Service's Deployment listens there too
        assert services[host]["spec"]["clusterIP"] == "None"  # headless: one address per pod
    env = {e["name"]: e.get("value") for e in router["env"]}
    assert env["RAAS_REMOTE_DISCOVERY"] == "dns"  # and the router resolves them all


def test_compose_commands_ports_env_and_urls_match_the_app() -> None:
    services = compose()["services"]
    raas = {name: s for name, s in services.items() if str(s.get("image", "")).startswith("raas:")}
    assert set(raas) == {"router", "rules-1", "rules-2", "model"}
    for name, service in raas.items():
        role = role_of(service["command"])
        env = service["environment"]
        assert set(env) <= raas_env_names() | EXTRA_ENV, name
        assert service["healthcheck"]["test"] == ["CMD", "raas", "healthcheck"]
        assert role_of(["healthcheck"]) == "healthcheck"
        for published in service.get("ports", []):
            assert published.split(":")[1] == env["RAAS_PORT"]
        for key in ("RAAS_RULE_WORKERS", "RAAS_MODEL_WORKERS"):
            for url in env.get(key, "").split(","):
                if url:
                    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", url).groups()  # type: ignore[union-attr]
                    assert services[host]["environment"]["RAAS_PORT"] == port
        assert routes(role)


CLOSE_S = 5.0  # closing the backends after the drain (pool children killed): 0.2 s measured


def least_termination_grace(env: dict[str, Any]) -> float:
    """What a raas process needs after SIGTERM: its grace period (``RAAS_SHUTDOWN_GRACE_S`` as
    set, else the default), the answers being sent when it ends, and closing the backends."""
    grace = env.get("RAAS_SHUTDOWN_GRACE_S") or Settings.model_fields["shutdown_grace_s"].default
    return float(grace) + WRITE_GRACE_S + CLOSE_S


@pytest.mark.parametrize("target", K8S_TARGETS)
def test_k8s_lets_a_pod_drain_before_it_is_killed(target: str) -> None:
    docs = kustomize(target)
    config = next(d["data"] for d in docs if d["kind"] == "ConfigMap")
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = config | {e["name"]: e.get("value") for e in container["env"]}
        # Kubernetes' default is 30 s: SIGKILL would cut a drain that the client cannot retry
        assert spec.get("terminationGracePeriodSeconds", 30) >= least_termination_grace(env)


def test_compose_lets_a_container_drain_before_it_is_killed() -> None:
    for name, service in compose()["services"].items():
        if str(service.get("image", "")).startswith("raas:"):
            period = re.fullmatch(r"(\d+)s", service.get("stop_grace_period", "10s"))
            assert period, name
            assert int(period[1]) >= least_termination_grace(service["environment"]), name


def test_prometheus_scrapes_every_raas_service_on_its_port() -> None:
    services = compose()["services"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    }
    expected = {
        f"{name}:{s['environment']['RAAS_PORT']}"
        for name, s in services.items()
        if "RAAS_PORT" in s.get("environment", {})
    }
    assert targets == expected
