"""The ports tests start their servers on cannot be taken by a connection first."""

from __future__ import annotations

import socket

import pytest

from tests import ports
from tests.ports import ephemeral_range, free_port, free_ports


def test_chosen_ports_lie_outside_the_range_connections_take_theirs_from() -> None:
    # A dev server once failed to start because its HTTP port, chosen by the
    # kernel and released, was taken by an outgoing connection before it bound.
    low, high = ephemeral_range()
    ports = free_ports(40) + [free_port() for _ in range(10)]
    assert all(not low <= port <= high for port in ports), ports
    assert len(set(ports[:40])) == 40


def test_a_port_something_listens_on_is_never_chosen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [held] = free_ports(1)
    # The only candidate left is the port held: the kernel's choice is taken.
    monkeypatch.setattr(ports, "LOWEST", held)
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (held + 1, held + 2))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", held))
        listener.listen()
        assert held not in free_ports(3)


def test_a_chosen_port_can_be_listened_on() -> None:
    for port in free_ports(5):
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()
