"""``Idempotency-Key`` on ``POST /reward``: the cache itself, then over a live server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from devtools.inproc import app_client
from reward_service.contract.errors import RequestError
from reward_service.http.idempotency import IdempotencyCache


class Counter:
    """A compute function that counts its calls, can be held until released, or fail."""

    def __init__(self, held: bool = False, fail: bool = False) -> None:
        self.calls, self.fail = 0, fail
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not held:
            self.release.set()

    async def __call__(self) -> bytes:
        self.calls += 1
        self.started.set()
        await self.release.wait()
        if self.fail:
            raise RequestError([{"loc": ["body"], "msg": "bad", "type": "x"}])
        return f"answer {self.calls}".encode()


def test_a_key_is_scored_once_and_replayed() -> None:
    async def scenario() -> list[tuple[bytes, bool]]:
        cache, compute = IdempotencyCache(8, 60), Counter()
        first = await cache.run("k", b"body", compute)
        again = await cache.run("k", b"body", compute)
        assert compute.calls == 1
        return [first, again]

    assert asyncio.run(scenario()) == [(b"answer 1", False), (b"answer 1", True)]


def test_a_retry_during_scoring_joins_it() -> None:
    async def scenario() -> int:
        cache, compute = IdempotencyCache(8, 60), Counter(held=True)
        runs = [asyncio.ensure_future(cache.run("k", b"b", compute)) for _ in range(3)]
        await compute.started.wait()
        compute.release.set()
        answers = await asyncio.gather(*runs)
        assert {a for a, _ in answers} == {b"answer 1"}
        return compute.calls

    assert asyncio.run(scenario()) == 1


def test_a_waiter_that_goes_away_does_not_cancel_the_scoring() -> None:
    async def scenario() -> tuple[bytes, bool]:
        cache, compute = IdempotencyCache(8, 60), Counter(held=True)
        first = asyncio.ensure_future(cache.run("k", b"b", compute))
        await compute.started.wait()
        first.cancel()  # the client disconnected
        retry = asyncio.ensure_future(cache.run("k", b"b", compute))
        compute.release.set()
        answer = await retry
        assert compute.calls == 1
        return answer

    assert asyncio.run(scenario()) == (b"answer 1", True)


def test_failures_are_not_remembered() -> None:
    async def scenario() -> int:
        cache, compute = IdempotencyCache(8, 60), Counter(fail=True)
        for _ in range(2):
            with pytest.raises(RequestError):
                await cache.run("k", b"b", compute)
        return compute.calls

    assert asyncio.run(scenario()) == 2


def test_the_same_key_with_another_body_is_refused() -> None:
    async def scenario() -> None:
        cache = IdempotencyCache(8, 60)
        await cache.run("k", b"one", Counter())
        with pytest.raises(RequestError) as info:
            await cache.run("k", b"two", Counter())
        assert info.value.errors[0]["type"] == "idempotency_conflict"

    asyncio.run(scenario())


def test_large_bodies_hashed_off_the_loop_are_told_apart_by_their_last_byte() -> None:
    body = bytearray(b"x" * 3_000_000)  # over the size hashed in a thread
    other = bytearray(body)
    other[-1:] = b"y"

    async def scenario() -> None:
        cache, compute = IdempotencyCache(8, 60), Counter()
        await cache.run("k", body, compute)
        assert await cache.run("k", bytes(body), compute) == (b"answer 1", True)
        with pytest.raises(RequestError) as info:
            await cache.run("k", other, compute)
        assert info.value.errors[0]["type"] == "idempotency_conflict"
        assert compute.calls == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("size", "ttl", "calls"), [(8, 5.0, 2), (1, 60, 2), (0, 60, 2), (8, 60, 1)]
)
def test_bounded_in_age_and_count(size: int, ttl: float, calls: int) -> None:
    now = [0.0]

    async def scenario() -> int:
        cache, compute = IdempotencyCache(size, ttl, clock=lambda: now[0]), Counter()
        await cache.run("k", b"b", compute)
        await cache.run("other", b"b", compute)  # evicts "k" from a cache of one
        now[0] += 10.0  # past a TTL of 5 s, within one of 60 s
        await cache.run("k", b"b", compute)
        assert len(cache) <= size
        return compute.calls - 1  # the "other" call

    assert asyncio.run(scenario()) == calls


def test_bounded_in_bytes_oldest_answers_dropped_first() -> None:
    async def scenario() -> tuple[int, int, int]:
        cache, compute = IdempotencyCache(8, 60, max_bytes=20, max_entry_bytes=20), Counter()
        for key in ("a", "b", "c"):  # three answers of 8 bytes: "a" no longer fits
            await cache.run(key, b"body", compute)
        held = cache.bytes
        await cache.run("c", b"body", compute)  # kept: replayed
        await cache.run("a", b"body", compute)  # dropped: scored again
        return held, len(cache), compute.calls

    assert asyncio.run(scenario()) == (16, 2, 4)


def test_an_answer_over_the_entry_limit_is_not_kept() -> None:
    async def scenario() -> tuple[list[tuple[bytes, bool]], int]:
        cache, compute = IdempotencyCache(8, 60, max_bytes=100, max_entry_bytes=5), Counter()
        answers = [await cache.run("k", b"body", compute) for _ in range(2)]
        return answers, cache.bytes

    answers, held = asyncio.run(scenario())
    assert answers == [(b"answer 1", False), (b"answer 2", False)]
    assert held == 0


def test_no_key_always_scores() -> None:
    async def scenario() -> int:
        cache, compute = IdempotencyCache(8, 60), Counter()
        await cache.run(None, b"b", compute)
        await cache.run(None, b"b", compute)
        return compute.calls

    assert asyncio.run(scenario()) == 2


# --- over HTTP --------------------------------------------------------------------------


def scored(registry: CollectorRegistry) -> float:
    value = registry.get_sample_value(
        "raas_samples_total", {"data_source": "default", "verifier": "math", "status": "ok"}
    )
    return value or 0.0


def post(client: TestClient, body: dict[str, Any], key: str) -> Any:
    return client.post("/reward", json=body, headers={"Idempotency-Key": key})


BODY = {"samples": [{"response": "\\boxed{4}", "ground_truth": "4", "verifier": "math"}]}


def test_a_retried_batch_is_replayed_not_rescored() -> None:
    with app_client() as (client, registry):
        key = uuid.uuid4().hex
        first, second = post(client, BODY, key), post(client, BODY, key)
        assert first.status_code == second.status_code == 200
        assert second.content == first.content
        assert second.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert scored(registry) == 1
        other = {"samples": [{**BODY["samples"][0], "response": "\\boxed{5}"}]}
        conflict = post(client, other, key)
    assert conflict.status_code == 422
    assert conflict.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_settings_turn_it_off() -> None:
    with app_client(idempotency_cache_size=0) as (client, registry):
        post(client, BODY, "k")
        assert "idempotent-replayed" not in post(client, BODY, "k").headers
    assert scored(registry) == 2


def test_keys_are_scoped_by_api_key() -> None:
    """Two trainers' own ``Idempotency-Key`` values may coincide: neither is refused nor
    answered with the other's rewards; the same trainer reusing one is still refused."""
    with app_client(api_keys=["trainer-a-0123456789", "trainer-b-0123456789"]) as (
        client,
        registry,
    ):
        other = {"samples": [{**BODY["samples"][0], "response": "\\boxed{5}"}]}
        a = client.post(
            "/reward",
            json=BODY,
            headers={"Idempotency-Key": "step-1", "Authorization": "Bearer trainer-a-0123456789"},
        )
        b = client.post(
            "/reward",
            json=other,
            headers={"Idempotency-Key": "step-1", "Authorization": "Bearer trainer-b-0123456789"},
        )
        assert (a.status_code, b.status_code) == (200, 200)
        assert [r["reward"] for r in a.json()["results"]] == [1.0]
        assert [r["reward"] for r in b.json()["results"]] == [0.0]
        assert "idempotent-replayed" not in b.headers
        again = client.post(
            "/reward",
            json=other,
            headers={"Idempotency-Key": "step-1", "Authorization": "Bearer trainer-a-0123456789"},
        )
        assert again.status_code == 422  # trainer A's key, another body
        replay = client.post(
            "/reward",
            json=BODY,
            headers={"Idempotency-Key": "step-1", "Authorization": "Bearer trainer-a-0123456789"},
        )
        assert replay.headers["idempotent-replayed"] == "true"
    assert scored(registry) == 2
