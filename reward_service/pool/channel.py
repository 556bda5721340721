"""The parent's end of a pool child's pipe: framed messages, non-blocking on any event loop.

The child does plain blocking ``Connection.send``/``recv``; the parent never does, because an event
loop (uvloop in particular) puts the descriptor into non-blocking mode and ``Connection.send``
then half-writes a large message. The parent writes frames itself, resuming partial writes when
the pipe is writable, and reads whatever has arrived into a buffer, cut into messages by the same
framing ``multiprocessing.connection`` uses (a 4-byte big-endian length, or ``-1`` and 8 bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import struct
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

_READ_SIZE = 1 << 20
_BUFFER = 4 << 20
_JOIN_BELOW = 1 << 20  # header and payload in one write below this size (one copy is cheap)
_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!Q")


class ChannelClosedError(OSError):
    """The other end has gone (the child died) or sent something that is not a frame."""


def widen(conn: Connection, size: int = _BUFFER) -> None:
    """Ask for bigger socket buffers (the kernel caps them at ``net.core.wmem_max``): fewer
    partial writes and wake-ups per chunk; measured, half the parent's CPU per 200 KB chunk."""
    sock = socket.socket(fileno=conn.fileno())
    try:
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, size)
    finally:
        sock.detach()


def frame(payload: bytes) -> bytes:
    """The header ``Connection.recv`` expects in front of ``payload``."""
    if len(payload) <= 0x7FFFFFFF:
        return _SHORT.pack(len(payload))
    return _SHORT.pack(-1) + _LONG.pack(len(payload))


class Channel:
    """Messages from one pool child, and frames to it, without blocking the event loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.fd = conn.fileno()
        os.set_blocking(self.fd, False)
        self.messages: deque[Any] = deque()
        self.closed = False
        self._buffer = bytearray()
        self._landing = memoryview(bytearray(_READ_SIZE))
        self._waiter: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._on_readable)

    async def send(self, message: Any, timeout_s: float) -> None:
        """Pickle and write ``message``; ``TimeoutError`` if the child stops reading."""
        await self.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL), timeout_s)

    async def send_bytes(self, payload: bytes, timeout_s: float) -> None:
        """Write one pickled message, resuming when writable; ``TimeoutError`` past
        ``timeout_s``, :class:`ChannelClosedError` if the child has gone."""
        deadline = self._loop.time() + timeout_s
        parts = (
            (frame(payload) + payload,) if len(payload) < _JOIN_BELOW else (frame(payload), payload)
        )
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[self._write(view) :]
                if view:
                    await self._writable(deadline)

    async def wait(self, timeout_s: float) -> None:
        """Return once a message is queued, the channel closed, or ``timeout_s`` passed."""
        if self.messages or self.closed:
            return
        waiter = self._loop.create_future()
        self._waiter = waiter
        timer = self._loop.call_later(max(0.0, timeout_s), _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def receive(self, timeout_s: float) -> Any:
        """The next message; ``TimeoutError`` or :class:`ChannelClosedError` if none comes."""
        await self.wait(timeout_s)
        if self.messages:
            return self.messages.popleft()
        if self.closed:
            raise ChannelClosedError("the child closed its end")
        raise TimeoutError

    def drain(self) -> None:
        """Read what is left after the child exited (results it flushed before dying)."""
        while not self.closed and self._read_once():
            pass

    def close(self) -> None:
        self._stop_reading()
        self.conn.close()

    def _write(self, view: memoryview) -> int:
        if self.closed:
            raise ChannelClosedError("the child closed its end")
        try:
            return os.write(self.fd, view)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:  # EPIPE, ECONNRESET: the child is gone
            raise ChannelClosedError(str(exc)) from exc

    async def _writable(self, deadline: float) -> None:
        ready = self._loop.create_future()
        self._loop.add_writer(self.fd, _resolve, ready)
        timer = self._loop.call_at(deadline, _resolve, ready, False)
        try:
            if not await ready:
                raise TimeoutError
        finally:
            timer.cancel()
            self._loop.remove_writer(self.fd)

    def _on_readable(self) -> None:
        self._read_once()
        if self._waiter is not None and (self.messages or self.closed):
            _resolve(self._waiter)

    def _read_once(self) -> bool:
        """One read; False when nothing was there to read. Into a buffer kept for it:
        ``os.read(fd, 1 MiB)`` allocates (and maps) a megabyte per call, 10 µs more than a
        read into place for a reply of a few kB (measured here)."""
        try:
            size = os.readv(self.fd, [self._landing])
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            size = 0
        if size:
            self._buffer += self._landing[:size]
            self._cut()
        else:
            self._stop_reading()
        return True

    def _cut(self) -> None:
        """Move every complete frame in the buffer to ``messages``."""
        buffer, start = self._buffer, 0
        with memoryview(buffer) as view:
            while (found := _next_frame(view, start)) is not None:
                begin, end = found
                try:
                    self.messages.append(pickle.loads(view[begin:end]))
                except Exception:  # not something our child sent
                    self._stop_reading()
                    break
                start = end
        del buffer[:start]

    def _stop_reading(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.remove_reader(self.fd)


def _next_frame(view: memoryview, start: int) -> tuple[int, int] | None:
    available = len(view) - start
    if available < 4:
        return None
    (size,) = _SHORT.unpack_from(view, start)
    head = 4
    if size == -1:
        if available < 12:
            return None
        (size,) = _LONG.unpack_from(view, start + 4)
        head = 12
    if available < head + size:
        return None
    return start + head, start + head + size


def _resolve(future: asyncio.Future[Any], value: Any = True) -> None:
    if not future.done():
        future.set_result(value)
