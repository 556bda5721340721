"""The pool's scheduling, on its own: lines served in turn, chunk bounds, suspects, withdrawal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reward_service.pool.fair_queue import Chunk, FairQueue, Request


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def request(
    queue: FairQueue, loop: asyncio.AbstractEventLoop, names: list[str], size: int = 1
) -> Request:
    line = Request.of(names, loop, [size] * len(names))
    queue.add(line)
    return line


def payloads(chunk: Chunk | None) -> list[str]:
    return [] if chunk is None else chunk.payloads()


def took(queue: FairQueue) -> Chunk:
    chunk = queue.take()
    assert chunk is not None
    return chunk


def test_the_least_served_request_goes_first_not_the_first_come(
    loop: asyncio.AbstractEventLoop,
) -> None:
    queue = FairQueue(children=1, max_items=2, max_bytes=1 << 20, max_requeues=2)
    request(queue, loop, [f"a{i}" for i in range(8)])
    request(queue, loop, ["b0", "b1"])
    taken = [payloads(queue.take()) for _ in range(4)]
    assert taken == [["a0", "a1"], ["b0"], ["b1"], ["a2", "a3"]]


def test_a_request_whose_items_hang_yields_to_a_newcomer(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=2, max_items=32, max_bytes=1 << 20, max_requeues=2)
    request(queue, loop, [f"bomb{i}" for i in range(16)])
    running = [took(queue), took(queue)]  # both children on hanging items
    request(queue, loop, [f"b{i}" for i in range(8)])
    for chunk in running:  # each hung until the 5 s deadline
        queue.charge(chunk.request, 5.0)
    taken: list[str] = []
    while len(taken) < 8:
        taken += payloads(queue.take())
    assert taken == [f"b{i}" for i in range(8)]  # every one before the next hanging item
    assert payloads(queue.take())[0].startswith("bomb")


def test_a_newcomer_starts_level_with_the_least_served(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=1, max_bytes=1 << 20, max_requeues=2)
    old = request(queue, loop, ["a0", "a1", "a2", "a3"])
    queue.take()
    queue.charge(old, 10.0)
    new = request(queue, loop, ["b0", "b1"])
    assert new.service_s == old.service_s  # no credit for having arrived late


def test_chunks_follow_the_line_length_and_the_item_cap(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=2, max_items=32, max_bytes=1 << 20, max_requeues=2, target_s=1.0)
    request(queue, loop, [str(i) for i in range(400)])
    sizes = [len(took(queue)) for _ in range(4)]
    assert sizes == [32, 32, 32, 32]  # 400 // 4 = 100, capped at 32
    small = FairQueue(children=2, max_items=32, max_bytes=1 << 20, max_requeues=2)
    request(small, loop, [str(i) for i in range(8)])
    # 8 // (2 × 2): a small request is spread over the children, in chunks of its size's share,
    # not of what is left of it (halving chunks cost a round trip each at the tail)
    assert [len(took(small)) for _ in range(4)] == [2, 2, 2, 2]


def kinds(
    queue: FairQueue, loop: asyncio.AbstractEventLoop, spec: list[tuple[str, int]]
) -> Request:
    """One request of ``count`` items of each ``kind``, in order."""
    names = [(kind, i) for kind, count in spec for i in range(count)]
    line = Request.of([f"{kind}{i}" for kind, i in names], loop, None, [k for k, _ in names])
    queue.add(line)
    return line


def test_chunks_are_cut_at_the_target_time_by_what_each_kind_has_cost(
    loop: asyncio.AbstractEventLoop,
) -> None:
    queue = FairQueue(children=1, max_items=4096, max_bytes=1 << 30, max_requeues=2)
    kinds(queue, loop, [("cheap", 3000), ("slow", 100)])
    first = took(queue)
    assert len(first) == 20  # unknown kind: 0.02 s target / 0.001 s first guess
    queue.learn(first, 20 * 20e-6)  # 20 µs an item
    assert queue.cost(first) == pytest.approx(20 * 20e-6)
    assert len(took(queue)) == 1000  # 0.02 s / 20 µs
    while (chunk := took(queue)).kind == "cheap":
        assert {name[:5] for name in chunk.payloads()} == {"cheap"}  # never mixes kinds
    assert len(chunk) == 20
    assert {name[:4] for name in chunk.payloads()} == {"slow"}
    queue.learn(chunk, 20 * 0.01)  # 10 ms an item
    assert len(took(queue)) == 2
    queue.learn(Chunk(chunk.request, chunk.indices[:1], "slow"), 0.03)  # (10 + 30) / 2 ms
    assert queue.kind_s["slow"] == pytest.approx(0.02)
    assert len(took(queue)) == 1  # never fewer than one


def test_a_request_is_charged_its_chunk_estimate(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=4096, max_bytes=1 << 30, max_requeues=2)
    line = kinds(queue, loop, [("k", 50)])
    queue.kind_s["k"] = 0.004
    chunk = took(queue)
    assert len(chunk) == 5
    assert line.service_s == pytest.approx(5 * 0.004)


def test_chunks_stop_before_the_byte_bound(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=32, max_bytes=1000, max_requeues=2)
    request(queue, loop, [str(i) for i in range(100)], size=300)
    assert len(took(queue)) == 3
    huge = FairQueue(children=1, max_items=32, max_bytes=1000, max_requeues=2)
    request(huge, loop, ["big", "next"], size=5000)
    assert payloads(huge.take()) == ["big"]  # an item over the bound still goes, alone


def test_requeued_items_return_to_the_head_of_their_line(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=2, max_bytes=1 << 20, max_requeues=2)
    request(queue, loop, ["a0", "a1", "a2", "a3", "a4", "a5"])
    chunk = took(queue)
    assert queue.requeue(chunk.request, chunk.indices) == []
    chunk = took(queue)
    assert payloads(chunk) == ["a0", "a1"]
    assert queue.queued == 4
    queue.requeue(chunk.request, chunk.indices[1:])
    assert queue.queued == 5
    assert payloads(queue.take()) == ["a1", "a2"]  # what was sent back, then on along the line
    assert [payloads(queue.take()) for _ in range(3)] == [["a3", "a4"], ["a5"], []]
    assert queue.queued == 0


def test_a_suspect_goes_alone_and_is_given_up_after_the_limit(
    loop: asyncio.AbstractEventLoop,
) -> None:
    queue = FairQueue(children=1, max_items=4, max_bytes=1 << 20, max_requeues=2)
    request(queue, loop, [f"a{i}" for i in range(16)])
    chunk = took(queue)
    queue.requeue(chunk.request, chunk.indices, suspect=True)
    assert payloads(queue.take()) == ["a0"]  # alone
    suspect = took(queue)
    assert payloads(suspect) == ["a1"]
    # second time back: still allowed
    assert queue.requeue(suspect.request, suspect.indices, suspect=True) == []
    again = took(queue)
    # third time: given up
    assert queue.requeue(again.request, again.indices, suspect=True) == again.indices == [1]
    assert again.request.requeues == {0: 1, 1: 3, 2: 1, 3: 1}
    assert payloads(queue.take()) == ["a2"]  # the other suspects still go alone
    assert payloads(queue.take()) == ["a3"]
    assert payloads(queue.take()) == ["a4", "a5", "a6", "a7"]


def test_a_withdrawn_request_leaves_the_queue(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=4, max_bytes=1 << 20, max_requeues=2)
    line = request(queue, loop, ["a0", "a1", "a2"])
    request(queue, loop, ["b0"])
    queue.withdraw(line)
    assert queue.queued == 1
    assert payloads(queue.take()) == ["b0"]
    assert queue.take() is None
    assert not queue


def test_settled_items_are_neither_taken_nor_requeued(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=4, max_bytes=1 << 20, max_requeues=2)
    line = request(queue, loop, ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"])
    line.settle(0, "early")
    line.settle(2, "early")
    chunk = took(queue)
    assert payloads(chunk) == ["a1", "a3", "a4", "a5"]
    chunk.settle(0, "done")
    assert queue.requeue(chunk.request, chunk.indices) == []
    assert payloads(queue.take()) == ["a3", "a4", "a5", "a6"]  # a1 settled: not sent again
    line.closed = True  # its caller went away
    assert queue.take() is None
    assert queue.queued == 0


def test_a_request_is_done_when_its_last_item_settles(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=4, max_bytes=1 << 20, max_requeues=2)
    line = request(queue, loop, ["a", "b"])
    line.settle(1, 2)
    line.settle(1, 3)  # the first value given wins
    assert not line.done.done()
    line.settle(0, 1)
    assert line.done.done()
    assert line.results == [1, 2]
    assert Request.of([], loop).done.done()
