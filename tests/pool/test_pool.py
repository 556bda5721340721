from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from devtools.live import wait_exited
from reward_service.contract.errors import OverloadedError
from reward_service.contract.task import Failure
from reward_service.pool.pauses import paused_after
from reward_service.pool.pool import ProcessPool
from tests.pool.pool_targets import DiesOnArrival

T = TypeVar("T")
TARGETS = "tests.pool.pool_targets"
ROOT = Path(__file__).resolve().parents[2]


def run_with_pool(target: str, body: Callable[[ProcessPool], Awaitable[T]], **kwargs: Any) -> T:
    async def main() -> T:
        options = {"size": 2, "deadline_s": 2.0, "memory_mb": 1024, "spares": 0, **kwargs}
        pool = ProcessPool(f"{TARGETS}:{target}", **options)
        await pool.start()
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"  # a zombie is dead


class TestResults:
    def test_values_come_back_in_order(self) -> None:
        payloads = list(range(200))
        assert run_with_pool("echo", lambda pool: pool.map(payloads)) == payloads

    def test_work_is_spread_over_every_child(self) -> None:
        async def body(pool: ProcessPool) -> tuple[set[int], set[int]]:
            results = await pool.map(list(range(40)))
            return {pid for _, pid in results}, set(pool.pids)

        used, pids = run_with_pool("whoami", body, size=2)
        assert used == pids
        assert len(pids) == 2

    def test_concurrent_maps_share_the_children(self) -> None:
        async def body(pool: ProcessPool) -> list[list[Any]]:
            return list(await asyncio.gather(*(pool.map([i, i + 1]) for i in range(0, 20, 2))))

        assert run_with_pool("echo", body) == [[i, i + 1] for i in range(0, 20, 2)]

    def test_a_chunk_crosses_packed_and_is_unpacked_in_the_child(self) -> None:
        payloads = list(range(300))
        options = {"pack": lambda chunk: ("packed", [p * 2 for p in chunk])}
        options["unpack"] = f"{TARGETS}:halve"
        assert run_with_pool("echo", lambda pool: pool.map(payloads), **options) == payloads

    def test_an_unpicklable_payload_is_left_out_of_a_packed_chunk(self) -> None:
        async def body(pool: ProcessPool) -> list[Any]:
            return await pool.map([2, lambda: None, 4])

        options = {"pack": lambda chunk: ("packed", chunk), "unpack": f"{TARGETS}:halve"}
        two, bad, four = run_with_pool("echo", body, size=1, max_chunk=8, **options)
        assert (two, four) == (1, 2)  # the lambda left out: halve saw only the others
        assert isinstance(bad, Failure)
        assert bad.status == "error"

    def test_pack_and_unpack_go_together(self) -> None:
        with pytest.raises(ValueError, match="together"):
            ProcessPool(f"{TARGETS}:echo", size=1, deadline_s=1.0, pack=list)

    def test_an_exception_fails_only_its_item(self) -> None:
        results = run_with_pool("fail", lambda pool: pool.map(["boom"]))
        assert results == [Failure("error", "ValueError: boom")]

    def test_an_unpicklable_payload_fails_its_item_and_the_pool_goes_on(self) -> None:
        async def body(pool: ProcessPool) -> tuple[list[Any], list[Any]]:
            return await pool.map([lambda: None]), await pool.map([1])

        bad, good = run_with_pool("echo", body)
        assert isinstance(bad[0], Failure)
        assert bad[0].status == "error"
        assert good == [1]

    def test_an_unpicklable_result_is_an_error_not_a_hang(self) -> None:
        results = run_with_pool("unpicklable_result", lambda pool: pool.map([1, 2]))
        assert all(isinstance(r, Failure) and r.status == "error" for r in results)

    def test_children_yield_the_cpu_to_the_router(self) -> None:
        assert run_with_pool("niceness", lambda pool: pool.map([None])) == [os.nice(0) + 5]

    def test_children_run_single_threaded_math_libraries(self) -> None:
        assert run_with_pool("thread_env", lambda pool: pool.map([None])) == ["1"]


@pytest.mark.usefixtures("any_loop")
class TestLargeMessages:
    """The parent's pipe end is non-blocking under an event loop: a message larger than the
    pipe's buffer must still cross whole, on uvloop (what ``raas serve`` runs) and asyncio."""

    def test_a_thousand_64kb_items_cross_without_a_restart(self) -> None:
        payloads = [f"{i:05d}" + "x" * 64_000 for i in range(1024)]

        async def body(pool: ProcessPool) -> tuple[list[Any], int]:
            return await pool.map(payloads), pool.restarts

        results, restarts = run_with_pool("echo", body)
        assert results == payloads
        assert restarts == 0

    def test_a_5mb_payload_and_its_5mb_result_cross_whole(self) -> None:
        big = "y" * 5_000_000

        async def body(pool: ProcessPool) -> tuple[list[Any], int]:
            return await pool.map([big, "small"]), pool.restarts

        assert run_with_pool("echo", body) == ([big, "small"], 0)


class TestFairShare:
    def test_a_small_request_is_not_held_behind_another_ones_hanging_items(self) -> None:
        async def body(pool: ProcessPool) -> tuple[list[Any], int, bool]:
            bombs = asyncio.ensure_future(pool.map([30.0] * 16))
            await asyncio.sleep(0)  # let it queue first
            small = await pool.map([0.01] * 8)
            restarts_when_small_done, bombs_pending = pool.restarts, not bombs.done()
            bombs.cancel()  # the rest would only time out one by one
            return small, restarts_when_small_done, bombs_pending

        small, restarts_then, bombs_pending = run_with_pool(
            "sleepy", body, deadline_s=0.5, spares=1
        )
        assert small == [0.01] * 8
        assert bombs_pending
        assert restarts_then <= 2  # at most one deadline per child, not 16 / 2 of them

    def test_a_full_queue_refuses_with_a_retry_hint(self) -> None:
        async def body(pool: ProcessPool) -> tuple[int, list[Any]]:
            first = asyncio.ensure_future(pool.map([0.02] * 20))  # an empty queue takes any size
            await asyncio.sleep(0)
            with pytest.raises(OverloadedError) as refused:
                await pool.map([0.01] * 5)
            return refused.value.retry_after_s, await first

        retry_after, first = run_with_pool("sleepy", body, size=1, max_queue=10)
        assert retry_after >= 1
        assert first == [0.02] * 20

    def test_a_cancelled_request_leaves_the_queue_even_from_a_running_chunk(self) -> None:
        async def body(pool: ProcessPool) -> tuple[int, list[Any], int, int]:
            doomed = asyncio.ensure_future(pool.map([30.0] * 10))  # chunks of 5 hanging items
            while pool.busy == 0:
                await asyncio.sleep(0.01)  # poll until the child runs the first chunk
            doomed.cancel()
            with pytest.raises(asyncio.CancelledError):
                await doomed
            queued_then = pool.queue.queued
            after = await pool.map([0.01])  # served once the running item times out
            return queued_then, after, pool.queue.queued, pool.restarts

        # the 4 items after the killed one are not sent back: their caller is gone
        assert run_with_pool("sleepy", body, size=1, deadline_s=0.5) == (0, [0.01], 0, 1)


class TestDeadline:
    @pytest.mark.parametrize("target", ["sleepy", "spin"])
    def test_overrun_is_killed_and_the_rest_succeed(self, target: str) -> None:
        async def body(pool: ProcessPool) -> tuple[list[Any], int, list[Any]]:
            results = await pool.map([0.01, 30.0, *[0.01] * 20])
            after = await pool.map([0.01, 0.01])
            return results, pool.restarts, after

        results, restarts, after = run_with_pool(target, body, deadline_s=0.5)
        assert results[1] == Failure("timeout", "exceeded the 0.5 s deadline")
        assert results[0] == 0.01
        assert results[2:] == [0.01] * 20
        assert restarts == 1
        assert after == [0.01, 0.01]

    @pytest.mark.parametrize("spares", [0, 1])
    def test_killed_child_is_replaced_by_a_new_process(self, spares: int) -> None:
        async def body(pool: ProcessPool) -> tuple[set[int], set[int], set[int], int]:
            before = set(pool.pids)
            spare = {c.process.pid for c in pool._spares}
            await pool.map([30.0])  # its child is replaced before the item is answered
            after = set(pool.pids)
            await pool.refilled()
            return before, after, spare, pool.ready + len(pool._spares)

        before, after, spare, up = run_with_pool("sleepy", body, deadline_s=0.3, spares=spares)
        replaced, killed = after - before, before - after
        assert (len(replaced), len(killed)) == (1, 1)
        assert len(replaced & spare) == spares  # the warm spare took the slot, when there was one
        assert up == 2 + spares  # and the spares are topped up again
        assert not any(alive(pid) for pid in killed)

    def test_deadline_applies_to_each_item_not_the_chunk(self) -> None:
        # chunks of 6 items of 0.05 s take 0.3 s each, past a 0.2 s deadline per item
        results = run_with_pool(
            "sleepy", lambda pool: pool.map([0.05] * 12), size=1, deadline_s=0.2
        )
        assert results == [0.05] * 12

    def test_a_frozen_pool_does_not_time_out_the_item_it_was_running(self, tmp_path: Path) -> None:
        """A parent stopped with its child (a paused container) for longer than the deadline:
        the item was not running either, so on resume it finishes instead of being killed."""
        script = tmp_path / "frozen.py"
        script.write_text(
            textwrap.dedent(f"""
            import asyncio, sys
            sys.path.insert(0, {str(ROOT)!r})
            from reward_service.pool.pool import ProcessPool

            async def main():
                pool = ProcessPool("{TARGETS}:spin", size=1, deadline_s=1.5, spares=0)
                await pool.start()
                print(*pool.pids, flush=True)
                print(repr(await pool.map([1.0])), flush=True)
                await pool.close()

            if __name__ == "__main__":
                asyncio.run(main())
        """)
        )
        parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        assert parent.stdout is not None
        group = [parent.pid, *(int(p) for p in parent.stdout.readline().split())]
        time.sleep(0.3)  # the item is running
        for pid in group:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(2.5)  # past the 1.5 s deadline
        for pid in group:
            os.kill(pid, signal.SIGCONT)
        result = parent.stdout.readline().strip()
        parent.wait(30)
        parent.stdout.close()
        assert result == "[1.0]"

    @pytest.mark.parametrize(
        ("pauses", "start", "counted"),
        [
            ([], 10.0, 0.0),
            ([(9.0, 2.0)], 10.0, 0.0),  # over before the item started
            ([(13.0, 2.0)], 10.0, 2.0),  # all of it after the start
            ([(11.0, 3.0)], 10.0, 1.0),  # the item started during the pause
            ([(11.0, 3.0), (15.0, 1.0)], 10.0, 2.0),
        ],
    )
    def test_pauses_counted_after_an_item_started(
        self, pauses: list[tuple[float, float]], start: float, counted: float
    ) -> None:
        assert paused_after(pauses, start) == counted


class TestCrashesAndLimits:
    def test_a_dying_child_fails_only_its_item(self) -> None:
        async def body(pool: ProcessPool) -> tuple[list[Any], list[Any], int]:
            first = await pool.map([0, 0, 0])
            return first, await pool.map([0]), pool.restarts

        # die(0) exits the child: no value, no exception, the pipe just closes
        results, after, restarts = run_with_pool("die", body)
        assert all(isinstance(r, Failure) and r.status == "error" for r in results)
        assert all("worker died" in r.message for r in results)
        assert restarts >= 3
        assert after == [Failure("error", "worker died (exit code 0)")]

    def test_an_item_that_kills_its_child_before_starting_ends_as_an_error(self) -> None:
        async def body(pool: ProcessPool) -> tuple[list[Any], int]:
            return await pool.map([1, DiesOnArrival(), 2, 3]), pool.restarts

        results, restarts = run_with_pool("echo", body, max_requeues=2)
        message = "its worker died 3 times before it could be scored"
        assert results == [1, Failure("error", message), 2, 3]
        assert restarts == 3

    def test_address_space_is_capped(self) -> None:
        limit = run_with_pool("address_limit", lambda pool: pool.map([None]), memory_mb=768)
        assert limit == [768 * 1024 * 1024]

    def test_allocation_past_the_cap_is_an_error_not_a_crash(self) -> None:
        async def body(pool: ProcessPool) -> tuple[list[Any], list[Any]]:
            return await pool.map([2048]), await pool.map([8])

        big, small = run_with_pool("allocate", body, memory_mb=768)
        assert big == [Failure("error", "worker memory limit exceeded")]
        assert small == [8 * 1024 * 1024]


class TestLifecycle:
    def test_close_leaves_no_child_alive(self) -> None:
        async def body(pool: ProcessPool) -> list[int]:
            await pool.map([1])
            return pool.pids

        pids = run_with_pool("echo", body)
        assert len(pids) == 2
        assert not any(alive(pid) for pid in pids)

    def test_map_after_close_is_unavailable_not_a_hang(self) -> None:
        async def main() -> list[Any]:
            pool = ProcessPool(f"{TARGETS}:echo", size=1, deadline_s=1.0)
            await pool.start()
            await pool.close()
            return await pool.map([1, 2])

        assert asyncio.run(main()) == [Failure("unavailable", "worker pool is not running")] * 2

    def test_children_die_with_a_killed_parent(self, tmp_path: Path) -> None:
        script = tmp_path / "parent.py"
        script.write_text(
            textwrap.dedent(f"""
            import asyncio, sys
            sys.path.insert(0, {str(ROOT)!r})
            from reward_service.pool.pool import ProcessPool

            async def main():
                pool = ProcessPool("{TARGETS}:sleepy", size=2, deadline_s=60)
                await pool.start()
                print(*pool.pids, flush=True)
                await pool.map([60.0, 60.0])

            if __name__ == "__main__":
                asyncio.run(main())
        """)
        )
        parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        assert all(alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        parent.stdout.close()
        assert wait_exited(pids) == []
