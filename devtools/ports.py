"""Ports for servers the tests start. Standard library only: the trainer drivers load this file by
its path in environments that have no raas installed.

``bind(port 0)`` hands out a port of the kernel's ephemeral range, the range every outgoing
connection on the machine (Ray's, pip's, another test's client) takes its source port from: between
the probe closing and the server binding, any of them can take it (``errno 98``). So a port that a
server must bind later is drawn below that range, where only an explicit bind can take it, and a
server started in this process is handed its socket, never a number."""

from __future__ import annotations

import random
import socket
from pathlib import Path

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000
TRIES = 200


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux's default, 32768, elsewhere)."""
    try:
        return int(RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port of ``host``, not yet listening: give it to the server
    (uvicorn's ``sockets=``), which listens on it; nothing can take the port in between."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now and outside the ephemeral range, for a server that binds it
    itself (another process); random, so that two tests drawing at once rarely meet."""
    high = ephemeral_low()
    for _ in range(TRIES):
        port = random.randrange(LOWEST, high) if high > LOWEST + 1_000 else 0
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError(f"no free port on {host} below {high} after {TRIES} tries")
