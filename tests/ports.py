"""Free loopback ports for the servers tests start, chosen where nothing else looks.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from its
ephemeral range, the range it also takes the local end of every outgoing
connection from. Such a port is free when chosen, but between its release and
the server binding it, any connection made in the meantime (the Temporal server
connecting to itself, a worker, a database pool) may take it, and the server
then fails with "address already in use". Ports below that range are never
handed out for connections: once one is found free there, only another listener
could take it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Where the kernel's range of ports for connections is given (Linux).
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# The lowest port handed out: above the well-known and most registered services.
LOWEST = 10_000
# How many candidates are tried before the kernel's choice is taken instead.
TRIES = 200


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections, both ends included."""
    try:
        low, high = EPHEMERAL_RANGE.read_text(encoding="ascii").split()
        return int(low), int(high)
    except (OSError, ValueError):
        # The usual Linux default, also where the file cannot be read.
        return 32_768, 60_999


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _kernel_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nothing listens on, outside the range
    outgoing connections take theirs from.

    Where that range leaves no room below it, the kernel picks (the old way,
    with its small chance of a clash).
    """
    low = ephemeral_range()[0]
    chosen: list[int] = []
    candidates = range(LOWEST, low)
    for _ in range(TRIES):
        if len(chosen) == count or not candidates:
            break
        port = random.choice(candidates)
        if port not in chosen and _bindable(port):
            chosen.append(port)
    while len(chosen) < count:
        port = _kernel_port()
        if port not in chosen:
            chosen.append(port)
    return chosen


def free_port() -> int:
    """One port as :func:`free_ports` chooses them."""
    return free_ports(1)[0]
