"""Fixtures of the local-stack tests: free loopback ports and throwaway databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from starter.embedded_pg import with_database
from tests.ports import free_ports

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Return a function handing out distinct free TCP ports on loopback."""
    given: set[int] = set()

    def take() -> int:
        while (port := free_ports(1)[0]) in given:
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
