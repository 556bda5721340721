"""API keys on the router, the internal token on workers, open probes (in-process apps)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from devtools.ports import free_port
from reward_service.http.app import create_app
from reward_service.http.auth import matches, presented
from reward_service.metrics import Metrics
from reward_service.settings import Settings

KEY, OTHER_KEY, TOKEN = (
    "trainer-key-0123456789",
    "second-key-abcdefghij",
    "internal-token-0123456789",
)
DEAD_WORKER = f"http://127.0.0.1:{free_port()}"  # nothing listens: no pool is started
SAMPLE = {"response": "\\boxed{4}", "ground_truth": "4", "verifier": "math"}
GUARDED = [
    ("POST", "/reward", {"samples": [SAMPLE]}),
    ("POST", "/get_reward", {"query": ["4"], "labels": ["4"]}),
    (
        "POST",
        "/judge",
        {
            "response": "",
            "prompt": "",
            "answer": "",
            "solution": "4",
            "data_source": "x",
            "reward_verifier": "mathverify",
            "reward_verifier_parm": "{}",
        },
    ),
    ("POST", "/slime?verifier=math", {"prompt": "", "response": "4", "label": "4"}),
    (
        "POST",
        "/verify",
        {
            "responses_create_params": {},
            "response": {"output": []},
            "verifier": "math",
            "ground_truth": "4",
        },
    ),
    ("POST", "/seed_session", {}),
    ("POST", "/close_session", {"resources_session_id": "s"}),
    (
        "POST",
        "/ng-rollout/r1/verify",
        {
            "responses_create_params": {},
            "response": {"output": []},
            "verifier": "math",
            "ground_truth": "4",
        },
    ),
    ("GET", "/v1/verifiers", None),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
]


def router(**overrides: object) -> TestClient:
    settings = Settings(  # no retry budget: a dead worker answers `unavailable` at once
        rule_workers=[DEAD_WORKER], remote_attempts=1, remote_retry_budget_s=0, **overrides
    )  # type: ignore[arg-type]
    return TestClient(create_app(settings, Metrics(CollectorRegistry())))


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    with router(api_keys=[KEY, OTHER_KEY], internal_token=TOKEN) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(("method", "path", "body"), GUARDED, ids=[g[1] for g in GUARDED])
class TestScoringEndpointsNeedAKey:
    def test_without_a_key_401(
        self, keyed: TestClient, method: str, path: str, body: object
    ) -> None:
        response = keyed.request(method, path, json=body)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize("wrong", [KEY[:-1], KEY + "x", TOKEN, "", KEY.upper()])
    def test_a_wrong_key_or_the_internal_token_401(
        self, keyed: TestClient, method: str, path: str, body: object, wrong: str
    ) -> None:
        assert keyed.request(method, path, json=body, headers=bearer(wrong)).status_code == 401

    @pytest.mark.parametrize("key", [KEY, OTHER_KEY])
    def test_each_configured_key_opens_it(
        self, keyed: TestClient, method: str, path: str, body: object, key: str
    ) -> None:
        assert keyed.request(method, path, json=body, headers=bearer(key)).status_code == 200


def test_basic_auth_password_is_a_key_for_clients_that_only_take_a_url(keyed: TestClient) -> None:
    basic = base64.b64encode(f"raas:{KEY}".encode()).decode()
    body = {"query": ["4"], "labels": ["4"]}
    response = keyed.post("/get_reward", json=body, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    wrong = base64.b64encode(f"{KEY}:nothing".encode()).decode()  # the key as the user: no
    response = keyed.post("/get_reward", json=body, headers={"Authorization": f"Basic {wrong}"})
    assert response.status_code == 401


def test_probes_stay_open_and_readiness_names_no_worker_url(keyed: TestClient) -> None:
    assert keyed.get("/healthz").status_code == 200
    ready = keyed.get("/readyz")
    assert ready.status_code in (200, 503)
    assert "127.0.0.1" not in ready.text
    assert ready.json()["workers"] == [{"healthy": ready.status_code == 200, "in_flight": 0}]


def test_metrics_are_open_unless_a_key_is_asked_for(keyed: TestClient) -> None:
    assert keyed.get("/metrics").status_code == 200
    with router(api_keys=[KEY], internal_token=TOKEN, metrics_need_key=True) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer(KEY)).status_code == 200
        assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 200  # Prometheus


def test_without_keys_nothing_is_asked_for() -> None:
    with router() as client:
        assert client.post("/reward", json={"samples": [SAMPLE]}).status_code == 200
        assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc ", "abc"),
        ("Basic " + base64.b64encode(b"u:p:q").decode(), "p:q"),
        ("Basic " + base64.b64encode(b"only-user").decode(), None),
        ("Basic !!!", None),
        ("Token abc", None),
        ("Bearer", None),
        ("", None),
    ],
)
def test_presented_secret(header: str, secret: str | None) -> None:
    from starlette.requests import Request

    scope = {"type": "http", "headers": [(b"authorization", header.encode())]}
    assert presented(Request(scope)) == secret


def test_matches_compares_whole_keys() -> None:
    keys = [KEY.encode(), OTHER_KEY.encode()]
    assert matches(KEY, keys)
    assert matches(OTHER_KEY, keys)
    assert not matches(KEY[:8], keys)
    assert not matches(None, keys)
    assert not matches("é" + KEY, keys)


@pytest.mark.parametrize("short", ["x", "x" * 15])
def test_short_secrets_are_refused_at_start(short: str) -> None:
    with pytest.raises(ValueError, match="16 characters"):
        Settings(api_keys=[short])
    with pytest.raises(ValueError, match="16 characters"):
        Settings(internal_token=short)


def test_keys_come_from_the_environment_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAAS_API_KEYS", f"{KEY}, {OTHER_KEY}")
    monkeypatch.setenv("RAAS_INTERNAL_TOKEN", TOKEN)
    settings = Settings()
    assert [k.get_secret_value() for k in settings.api_keys] == [KEY, OTHER_KEY]
    assert KEY not in repr(settings)


def test_deployment_placeholders_are_refused_and_an_empty_token_is_unset() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(api_keys=["REPLACE-ME-with-a-random-key"])
    with pytest.raises(ValueError, match="placeholder"):
        Settings(internal_token="replace-me-with-a-random-token")
    assert Settings(internal_token="").internal_token is None


def test_the_docs_page_loads_swagger_ui_from_the_server_not_a_cdn(keyed: TestClient) -> None:
    """A cluster without internet: every script, style and icon of ``/docs`` is served here
    (public files, no key), and they are Swagger UI 5 (OpenAPI 3.1, which FastAPI writes)."""
    page = keyed.get("/docs", headers=bearer(KEY)).text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r"url: '([^']+)'", page)
    assert sources
    assert all(source.startswith("/") for source in sources), sources  # none off this server
    for source in sources:
        assert keyed.get(source, headers=bearer(KEY)).status_code == 200, source
    script = keyed.get("/docs/assets/swagger-ui-bundle.js")  # no key: public
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert re.search(r'"5\.\d+\.\d+"', script.text)
    assert keyed.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert keyed.get("/docs/assets/..%2Fcore.py").status_code == 404
    assert keyed.get("/docs/assets/core.py").status_code == 404
