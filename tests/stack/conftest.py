"""Fixtures of the local-stack tests: free loopback ports and throwaway databases."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from starter.embedded_pg import with_database

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _free_port() -> int:
    # The port is released before use; a clash with another process in between
    # is possible but rare, and shows as a clear "address in use" failure.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Return a function handing out distinct free TCP ports on loopback."""
    given: set[int] = set()

    def take() -> int:
        while (port := _free_port()) in given:
            pass
        given.add(port)
        return port

    return take


async def drop_database(url: str) -> None:
    """Drop the database ``url`` names on the local server, if it exists."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(LOCAL_SERVER)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def fresh_database_url() -> AsyncIterator[str]:
    """A URL naming a database that does not exist yet; dropped after the test."""
    url = with_database(LOCAL_SERVER, f"certflow_stack_{uuid.uuid4().hex[:12]}")
    yield url
    await drop_database(url)
