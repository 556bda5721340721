"""Deployment files pass their tools and agree with what the application serves and reads."""

from __future__ import annotations

import json
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


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_is_valid_for_docker_compose() -> None:
    command = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


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
def test_k8s_worker_urls_point_at_services_on_their_ports(target: str) -> None:
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
