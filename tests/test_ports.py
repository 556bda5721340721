from __future__ import annotations

import socket
from contextlib import ExitStack

import pytest

from devtools.ports import bound_socket, ephemeral_low, free_port


def test_free_port_is_bindable_and_below_the_ephemeral_range() -> None:
    for _ in range(50):
        port = free_port()
        assert 1024 <= port < ephemeral_low()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_an_outgoing_connection_never_takes_a_free_port() -> None:
    """Outgoing connections take their source port from the ephemeral range, which ``free_port``
    never draws from: the race behind ``errno 98`` in a server started after the draw."""
    with ExitStack() as stack:
        server = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=256))
        clients = [
            stack.enter_context(socket.create_connection(server.getsockname(), timeout=5))
            for _ in range(100)
        ]
        sources = {client.getsockname()[1] for client in clients}
        assert all(port >= ephemeral_low() for port in sources)
        assert not sources & {free_port() for _ in range(200)}


def test_a_bound_socket_holds_its_port_until_served() -> None:
    held = bound_socket()
    try:
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(held.getsockname())
        held.listen()
        with socket.create_connection(held.getsockname(), timeout=5):
            pass
    finally:
        held.close()
