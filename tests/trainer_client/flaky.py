"""A real HTTP proxy in front of a live raas that misbehaves on cue, to test client retries.

Each connection carries one request. The ``script`` says what to do with the next requests:
``forward``; ``slow`` (wait 0.2 s, then forward); ``drop`` (forward to raas — which scores the
batch — then close the connection without answering, as when a load balancer restarts);
``503``; ``429:<Retry-After value>``. Past the script, requests are forwarded.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import httpx

from devtools.ports import free_port


@dataclass
class Seen:
    action: str
    key: str | None
    replayed: bool = False


@dataclass
class FlakyProxy:
    upstream: str
    script: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._loop.call_soon(started.set)
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._serve(reader, writer)
        finally:
            self.in_flight -= 1
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in lines[1:] if ":" in line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        action = self.script.pop(0) if self.script else "forward"
        seen = Seen(action, headers.get("idempotency-key"))
        self.seen.append(seen)
        extra = ""
        if action in ("forward", "slow", "drop"):
            if action == "slow":
                await asyncio.sleep(0.2)
            keep = {k: v for k, v in headers.items() if k in ("content-type", "idempotency-key")}
            async with httpx.AsyncClient(timeout=60) as http:
                answer = await http.request(
                    method, self.upstream + path, content=body, headers=keep
                )
            seen.replayed = answer.headers.get("idempotent-replayed") == "true"
            if action == "drop":
                return
            status, content = answer.status_code, answer.content
        elif action.startswith("429:"):
            status, content, extra = 429, b"{}", f"Retry-After: {action[4:]}\r\n"
        else:
            status, content = int(action), b'{"detail": "unavailable"}'
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(content)}\r\nConnection: close\r\n{extra}\r\n".encode()
            + content
        )
        await writer.drain()
