"""The deployment files carry the secrets and the network boundaries the code expects."""

from __future__ import annotations

from typing import Any

import pytest

from reward_service.settings import PLACEHOLDER, Settings
from tests.test_deploy import K8S_TARGETS, ROOT, compose, kustomize, raas_env_names


def secret_refs(container: dict[str, Any]) -> set[str]:
    return {
        e["name"]
        for e in container.get("env", [])
        if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "raas-secrets"
    }


@pytest.mark.parametrize("target", K8S_TARGETS)
def test_k8s_secret_feeds_the_router_keys_and_every_role_the_token(target: str) -> None:
    docs = kustomize(target)
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert set(secret["stringData"]) == {"RAAS_API_KEYS", "RAAS_INTERNAL_TOKEN"}
    for value in secret["stringData"].values():  # refused at start until replaced
        assert value.startswith(PLACEHOLDER)
        with pytest.raises(ValueError, match="placeholder"):
            Settings(internal_token=value)
    containers = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
        for d in docs
        if d["kind"] == "Deployment"
    }
    assert secret_refs(containers["raas-router"]) == {"RAAS_API_KEYS", "RAAS_INTERNAL_TOKEN"}
    assert secret_refs(containers["raas-rules"]) == {"RAAS_INTERNAL_TOKEN"}
    assert secret_refs(containers["raas-model"]) == {"RAAS_INTERNAL_TOKEN"}


@pytest.mark.parametrize("target", K8S_TARGETS)
def test_k8s_network_policies_deny_by_default_and_open_only_the_known_paths(target: str) -> None:
    policies = {
        d["metadata"]["name"]: d["spec"] for d in kustomize(target) if d["kind"] == "NetworkPolicy"
    }
    deny = policies["raas-default-deny"]
    assert deny["podSelector"] == {}
    assert "ingress" not in deny
    router = policies["raas-router-from-trainers"]
    assert router["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
    workers = policies["raas-workers-from-router"]
    source = workers["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert source == {"app.kubernetes.io/name": "raas-router"}
    assert workers["podSelector"]["matchExpressions"][0]["values"] == ["raas-rules", "raas-model"]
    prometheus = policies["raas-metrics-from-prometheus"]
    assert {p["port"] for p in prometheus["ingress"][0]["ports"]} == {8000, 8001, 8002}


def test_compose_reads_the_secrets_from_one_env_file() -> None:
    services = compose()["services"]
    raas = [s for s in services.values() if str(s.get("image", "")).startswith("raas:")]
    assert all(s["env_file"] == ["deploy/raas.env"] for s in raas)
    lines = (ROOT / "deploy/raas.env").read_text().splitlines()
    names = {line.split("=")[0] for line in lines if line and not line.startswith("#")}
    assert names == {"RAAS_API_KEYS", "RAAS_INTERNAL_TOKEN"} <= raas_env_names()
    Settings(api_keys="", internal_token="")  # as shipped (empty): valid, nothing asked for
