"""PostgreSQL for the local stack: the configured server if it answers, else embedded.

A machine with PostgreSQL (or a ``DATABASE_URL`` pointing at one) uses it. A machine
without one gets a private server from the ``pgserver`` package, whose data lives
in ``<state>/pg`` and survives restarts; it listens on a Unix socket only.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from activities.db import database_name
from certflow.files import private_dir

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

log = logging.getLogger(__name__)

Closer = Callable[[], Awaitable[None]]

# How long a configured server may take to answer before it counts as absent.
CONNECT_TIMEOUT = 3.0


def redact(url: str) -> str:
    """Return ``url`` without its password, fit for logs and the console."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    credentials, host = parts.netloc.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def with_database(url: str, name: str) -> str:
    """Return ``url`` pointing at database ``name`` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _noop() -> None:
    return None


async def create_database_if_missing(url: str) -> bool:
    """Create the database ``url`` names, through the server's ``postgres`` database.

    Returns True if it was created, False if it already existed. Connection errors
    propagate, so the caller can tell an absent server from a present one.
    """
    name = database_name(url)
    conn = await asyncpg.connect(
        with_database(url, "postgres"), timeout=CONNECT_TIMEOUT
    )
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", name
        )
        if exists:
            return False
        # CREATE DATABASE takes no parameters: quote the name as an identifier.
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:
            # Another process created it between the check and here.
            return False
        return True
    finally:
        await conn.close()


async def ensure_database(url: str, state_dir: Path) -> tuple[str, Closer]:
    """Return a URL of a reachable database, and a closer to call at shutdown.

    The server at ``url`` is used when it answers; its database is created if
    missing. When nothing listens there, an embedded PostgreSQL is started in
    ``<state_dir>/pg`` and the closer stops it. Any other failure (a wrong
    password, for instance) is raised: silently switching to an empty embedded
    database would hide a broken configuration.
    """
    try:
        created = await create_database_if_missing(url)
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as err:
        log.info(
            "postgres not reachable url=%s error=%s; starting embedded server",
            redact(url),
            type(err).__name__,
        )
    else:
        log.info(
            "postgres chosen kind=configured url=%s database_created=%s",
            redact(url),
            created,
        )
        return url, _noop

    return await _start_embedded(database_name(url), state_dir)


def _start_pgserver(state_dir: Path) -> PostgresServer:
    # Imported here: only machines without PostgreSQL need it. platformdirs warns
    # on import when XDG_RUNTIME_DIR is unset; pgserver falls back to /tmp itself.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    private_dir(state_dir)
    return get_server(state_dir.resolve() / "pg", cleanup_mode="stop")


async def _start_embedded(name: str, state_dir: Path) -> tuple[str, Closer]:
    # pgserver starts and stops the server synchronously, waiting on pg_ctl.
    server = await asyncio.to_thread(_start_pgserver, state_dir)
    pgdata = server.pgdata
    embedded_url = server.get_uri(name)
    created = await create_database_if_missing(embedded_url)
    log.info(
        "postgres chosen kind=embedded url=%s pgdata=%s database_created=%s",
        redact(embedded_url),
        pgdata,
        created,
    )

    async def close() -> None:
        await asyncio.to_thread(server.cleanup)
        log.info("embedded postgres stopped pgdata=%s", pgdata)

    return embedded_url, close
