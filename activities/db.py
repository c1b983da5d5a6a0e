"""The PostgreSQL connection pool and the versioned schema migrations."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Any constant works; it only has to be the same for every certflow process.
_MIGRATION_LOCK = 0x0CE27F10


def database_name(url: str) -> str:
    """The database a PostgreSQL URL connects to, read as asyncpg and libpq do.

    The URL's path, else its ``dbname`` (or ``database``) parameter, else
    ``PGDATABASE``, else the user's name: the URL's, its ``user`` parameter,
    ``PGUSER``, the login name. ``postgresql://alice@host`` is alice's database.
    """
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    user = unquote(parts.username or "") or query.get("user")
    return (
        unquote(parts.path.lstrip("/"))
        or query.get("dbname")
        or query.get("database")
        or os.environ.get("PGDATABASE")
        or user
        or os.environ.get("PGUSER")
        or getpass.getuser()
    )


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


# How long opening one connection may take. A server that takes the
# connection but never answers (a firewall that drops, a host half down) fails
# in this time rather than the driver's minute: staff tools and the web service
# say so in a line, and the worker's callers retry.
CONNECT_TIMEOUT = 10.0


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """Open a pool whose connections speak jsonb as Python objects."""
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        timeout=CONNECT_TIMEOUT,
    )
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool, folder: Path = MIGRATIONS) -> list[str]:
    """Apply the migrations not applied yet, in file-name order; return their names.

    An advisory lock makes concurrent workers wait for one another instead of
    racing to create the same tables; each migration commits with its record.
    """
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                r["name"]
                for r in await conn.fetch("SELECT name FROM schema_migrations")
            }
            # Reading files blocks, so it happens off the event loop.
            pending = await asyncio.to_thread(_read_pending, folder, done)
            for name, sql in pending:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (name) VALUES ($1)", name
                    )
                log.info("migration applied name=%s", name)
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


async def empty_tables(pool: asyncpg.Pool) -> list[str]:
    """Delete every row of every certflow table (the migrations' record stays).

    For databases whose workflows are gone with their server: the demo's and
    the training stack's. Returns the tables emptied.
    """
    names = [
        r["tablename"]
        for r in await pool.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'schema_migrations' ORDER BY tablename"
        )
    ]
    if names:
        await pool.execute(
            "TRUNCATE " + ", ".join(f'"{name}"' for name in names) + " CASCADE"
        )
    return names


def _read_pending(folder: Path, done: set[str]) -> list[tuple[str, str]]:
    """Name and SQL of each migration file not in ``done``, in file-name order."""
    return [
        (path.name, path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.sql"))
        if path.name not in done
    ]


__all__ = ["create_pool", "migrate", "resources"]
