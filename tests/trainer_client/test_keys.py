"""The trainer side sends the API key: the client and the TRL and verl adapters. (OpenRLHF's
client, which takes the key in its URL as Basic auth, in ``tests/trainers/test_openrlhf.py``.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from devtools.live import LiveServer
from trainer_client import RaasRewardFunction, RequestRejectedError, RewardClient
from trainer_client.verl import compute_score

KEY = "trainer-key-0123456789"
SAMPLES = [{"response": "\\boxed{4}", "ground_truth": "4", "verifier": "math"}]


@pytest.fixture(scope="module")
def keyed() -> Iterator[LiveServer]:
    live = LiveServer.start(RAAS_API_KEYS=KEY)
    yield live
    live.stop()


def test_the_client_sends_the_key_it_is_given(keyed: LiveServer) -> None:
    with RewardClient(keyed.url, api_key=KEY) as client:
        assert client.rewards_sync(SAMPLES) == [1.0]


def test_the_client_reads_raas_api_key(keyed: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAAS_API_KEY", KEY)
    with RewardClient(keyed.url) as client:
        assert client.rewards_sync(SAMPLES) == [1.0]


def test_without_a_key_the_batch_is_rejected_not_retried(
    keyed: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAAS_API_KEY", raising=False)
    with RewardClient(keyed.url) as client, pytest.raises(RequestRejectedError) as caught:
        client.score_sync(SAMPLES)
    assert caught.value.status_code == 401
    assert client.stats.retries == 0


def test_the_trl_and_verl_adapters_send_it(keyed: LiveServer) -> None:
    reward = RaasRewardFunction(keyed.url, api_key=KEY)
    assert reward(["2+2?"], ["\\boxed{4}"], ground_truth=["4"]) == [1.0]
    score = asyncio.run(
        compute_score(
            "x",
            "\\boxed{4}",
            "4",
            {"verifier": "math"},
            url=keyed.url,
            api_key=KEY,
            return_dict=False,
        )
    )
    assert score == 1.0
