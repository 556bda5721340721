"""The pool's scheduling, on its own: lines served in turn, chunk bounds, suspects, withdrawal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from reward_service.pool.fair_queue import FairQueue, Item, Request


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def request(
    queue: FairQueue, loop: asyncio.AbstractEventLoop, names: list[str], size: int = 1
) -> tuple[Request, list[Item]]:
    line = Request.of(len(names), loop)
    items = [Item(name, size, line, i) for i, name in enumerate(names)]
    queue.add(line, items)
    return line, items


def payloads(chunk: list[Item]) -> list[str]:
    return [item.payload for item in chunk]


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
    running = [queue.take(), queue.take()]  # both children on hanging items
    request(queue, loop, [f"b{i}" for i in range(8)])
    for chunk in running:  # each hung until the 5 s deadline
        queue.charge(chunk[0].request, 5.0)
    taken: list[str] = []
    while len(taken) < 8:
        taken += payloads(queue.take())
    assert taken == [f"b{i}" for i in range(8)]  # every one before the next hanging item
    assert payloads(queue.take())[0].startswith("bomb")


def test_a_newcomer_starts_level_with_the_least_served(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=1, max_bytes=1 << 20, max_requeues=2)
    old, _ = request(queue, loop, ["a0", "a1", "a2", "a3"])
    queue.take()
    queue.charge(old, 10.0)
    new, _ = request(queue, loop, ["b0", "b1"])
    assert new.service_s == old.service_s  # no credit for having arrived late


def test_chunks_follow_the_line_length_and_the_item_cap(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=2, max_items=32, max_bytes=1 << 20, max_requeues=2, target_s=1.0)
    request(queue, loop, [str(i) for i in range(400)])
    sizes = [len(queue.take()) for _ in range(4)]
    assert sizes == [32, 32, 32, 32]  # 400 // 4 = 100, capped at 32
    small = FairQueue(children=2, max_items=32, max_bytes=1 << 20, max_requeues=2)
    request(small, loop, [str(i) for i in range(8)])
    # 8 // (2 × 2): a small request is spread over the children, in chunks of its size's share,
    # not of what is left of it (halving chunks cost a round trip each at the tail)
    assert [len(small.take()) for _ in range(4)] == [2, 2, 2, 2]


def kinds(
    queue: FairQueue, loop: asyncio.AbstractEventLoop, spec: list[tuple[str, int]]
) -> Request:
    """One request of ``count`` items of each ``kind``, in order."""
    names = [(kind, i) for kind, count in spec for i in range(count)]
    line = Request.of(len(names), loop)
    items = [Item(f"{kind}{i}", 1, line, n, kind=kind) for n, (kind, i) in enumerate(names)]
    queue.add(line, items)
    return line


def test_chunks_are_cut_at_the_target_time_by_what_each_kind_has_cost(
    loop: asyncio.AbstractEventLoop,
) -> None:
    queue = FairQueue(children=1, max_items=4096, max_bytes=1 << 30, max_requeues=2)
    kinds(queue, loop, [("cheap", 3000), ("slow", 100)])
    first = queue.take()
    assert len(first) == 20  # unknown kind: 0.02 s target / 0.001 s first guess
    queue.learn(first, 20 * 20e-6)  # 20 µs an item
    assert queue.cost(first) == pytest.approx(20 * 20e-6)
    assert len(queue.take()) == 1000  # 0.02 s / 20 µs
    while (chunk := queue.take()) and chunk[0].kind == "cheap":
        assert {item.kind for item in chunk} == {"cheap"}  # a chunk never mixes kinds
    assert len(chunk) == 20
    queue.learn(chunk, 20 * 0.01)  # 10 ms an item
    assert len(queue.take()) == 2
    queue.learn([chunk[0]], 0.03)  # estimates follow: (10 + 30) / 2 ms
    assert queue.kind_s["slow"] == pytest.approx(0.02)
    assert len(queue.take()) == 1  # never fewer than one


def test_a_request_is_charged_its_chunk_estimate(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=4096, max_bytes=1 << 30, max_requeues=2)
    line = kinds(queue, loop, [("k", 50)])
    queue.kind_s["k"] = 0.004
    chunk = queue.take()
    assert len(chunk) == 5
    assert line.service_s == pytest.approx(5 * 0.004)


def test_chunks_stop_before_the_byte_bound(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=32, max_bytes=1000, max_requeues=2)
    request(queue, loop, [str(i) for i in range(100)], size=300)
    assert len(queue.take()) == 3
    huge = FairQueue(children=1, max_items=32, max_bytes=1000, max_requeues=2)
    request(huge, loop, ["big", "next"], size=5000)
    assert payloads(huge.take()) == ["big"]  # an item over the bound still goes, alone


def test_requeued_items_return_to_the_head_of_their_line(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=2, max_bytes=1 << 20, max_requeues=2)
    request(queue, loop, ["a0", "a1", "a2", "a3", "a4", "a5"])
    chunk = queue.take()
    assert queue.requeue(chunk) == []
    assert payloads(queue.take()) == ["a0", "a1"]
    assert queue.queued == 4


def test_a_suspect_goes_alone_and_is_given_up_after_the_limit(
    loop: asyncio.AbstractEventLoop,
) -> None:
    queue = FairQueue(children=1, max_items=4, max_bytes=1 << 20, max_requeues=2)
    request(queue, loop, [f"a{i}" for i in range(16)])
    chunk = queue.take()
    queue.requeue(chunk, suspect=True)
    assert payloads(queue.take()) == ["a0"]  # alone
    suspect = queue.take()
    assert payloads(suspect) == ["a1"]
    assert queue.requeue(suspect, suspect=True) == []  # second time back: still allowed
    again = queue.take()
    assert queue.requeue(again, suspect=True) == again  # third time: given up
    assert again[0].requeues == 3


def test_a_withdrawn_request_leaves_the_queue(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=4, max_bytes=1 << 20, max_requeues=2)
    line, _ = request(queue, loop, ["a0", "a1", "a2"])
    request(queue, loop, ["b0"])
    queue.withdraw(line)
    assert queue.queued == 1
    assert payloads(queue.take()) == ["b0"]
    assert queue.take() == []
    assert not queue


def test_settled_items_are_neither_taken_nor_requeued(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=4, max_bytes=1 << 20, max_requeues=2)
    line, items = request(queue, loop, ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"])
    items[0].settle("early")
    items[2].settle("early")
    chunk = queue.take()
    assert payloads(chunk) == ["a1", "a3", "a4", "a5"]
    chunk[0].settle("done")
    assert queue.requeue(chunk) == []
    assert payloads(queue.take()) == ["a3", "a4", "a5", "a6"]  # a1 settled: not sent again
    line.closed = True  # its caller went away
    assert queue.take() == []


def test_a_request_is_done_when_its_last_item_settles(loop: asyncio.AbstractEventLoop) -> None:
    queue = FairQueue(children=1, max_items=4, max_bytes=1 << 20, max_requeues=2)
    line, items = request(queue, loop, ["a", "b"])
    items[1].settle(2)
    items[1].settle(3)  # the first value given wins
    assert not line.done.done()
    items[0].settle(1)
    assert line.done.done()
    assert line.results == [1, 2]
    assert Request.of(0, loop).done.done()
