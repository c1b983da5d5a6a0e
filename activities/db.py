"""The PostgreSQL connection pool and the versioned schema migrations."""

from __future__ import annotations

import asyncio
import errno
import getpass
import json
import logging
import os
import socket
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from certflow.arguments import shown
from certflow.i18n import t

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


# The connections of the pool the mail claims' renewals go through (see
# ``activities.notify.Held``), beside the worker's pool of ``create_pool``'s
# default 10 that up to 100 activities at once share: a renewal waiting there
# for a connection for 16 s stopped a send, which may then go out twice. A
# renewal is one short UPDATE every 4 s per mail being sent.
RENEWAL_POOL = 2


# What a server that answers says when it takes no connection now, by SQLSTATE:
# the database closed to connections (ALTER DATABASE ... ALLOW_CONNECTIONS
# false), the server starting up, shutting down or recovering, every
# connection slot taken, a connection ended by an administrator. Each passes
# without anything changed on certflow's side; the operator waits, or asks
# the database's administrator.
_UNAVAILABLE = {
    "55000": "closed",
    "57P03": "starting",
    "57P01": "interrupted",
    "57P02": "interrupted",
    "53300": "full",
}
# A login refused: the user, password or permission to connect (the URL).
_LOGIN_REFUSED = frozenset({"28P01", "28000"})


# What a file write meets (a full or read-only disk, a file refused): no
# database trouble, though Python raises them as OSError too.
_FILE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}
)


def _connection_failure(err: BaseException) -> bool:
    """Whether ``err`` is a connection to the server failing: refused, timed
    out, a name not resolved, dropped, or asyncio's plain ``OSError`` naming
    each address it tried. Not a file's error (permission, missing, disk)."""
    if isinstance(
        err, ConnectionError | TimeoutError | socket.gaierror | asyncpg.InterfaceError
    ):
        return True
    return type(err) is OSError and err.errno not in _FILE_ERRNOS


def refusal_kind(err: BaseException) -> str | None:
    """Why PostgreSQL could not be used, as a word; None for another error.

    ``unreachable`` (nothing answers), one of the kinds of
    ``_UNAVAILABLE`` (the server answers but takes no connection now),
    ``login`` (it refuses the user), ``missing`` (no such database). Read by
    SQLSTATE, not by the message, which the server words in its own locale.
    """
    if _connection_failure(err):
        # Refused, timed out, or a connection the server dropped.
        return "unreachable"
    code = getattr(err, "sqlstate", None)
    if not isinstance(err, asyncpg.PostgresError) or code is None:
        return None
    if code in _UNAVAILABLE:
        return _UNAVAILABLE[code]
    if code in _LOGIN_REFUSED:
        return "login"
    if code == "3D000":
        return "missing"
    return None


def unavailable(err: BaseException) -> bool:
    """Whether ``err`` says the database is away for now, not misconfigured:
    what a caller tells people to try again later."""
    kind = refusal_kind(err)
    return kind is not None and kind not in ("login", "missing")


# The port PostgreSQL listens on when a URL names none.
POSTGRES_PORT = 5432


def database_place(url: str) -> str:
    """Where ``url`` points, for a message: ``host:port/database``, never its
    user or password."""
    parts = urlsplit(url)
    try:
        port = parts.port or POSTGRES_PORT
    except ValueError:
        port = POSTGRES_PORT
    host = parts.hostname or "localhost"
    return shown(f"{host}:{port}/{database_name(url)}")


def refusal_message(err: asyncpg.PostgresError, place: str) -> str:
    """What people are told of a server at ``place`` that answered and refused.

    Trial: a database closed to connections (55000) was called a refused
    login, sending the operator to a password that was right; and the staff
    tool showed the driver's traceback.
    """
    kind = refusal_kind(err)
    if kind is None or kind in ("login", "unreachable"):
        return t("database.refused", place=place, code=err.sqlstate)
    return t(f"database.{kind}", place=place)


class DatabaseUnusable(Exception):
    """The configured database could not be opened; the message, in Chinese,
    says why and what to check, naming no user or password."""


async def open_migrated(url: str, *, max_size: int) -> asyncpg.Pool:
    """A pool on ``url``, schema migrated, for the staff tools.

    Raises :class:`DatabaseUnusable` when the server answers and refuses
    (closed, starting, full, the login); nothing answering is an ``OSError``,
    which each tool words itself.
    """
    place = database_place(url)
    try:
        pool = await create_pool(url, max_size=max_size)
    except asyncpg.PostgresError as err:
        raise DatabaseUnusable(refusal_message(err, place)) from err
    try:
        await migrate(pool)
    except asyncpg.PostgresError as err:
        await pool.close()
        raise DatabaseUnusable(refusal_message(err, place)) from err
    except BaseException:
        await pool.close()
        raise
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
