"""A PostgreSQL server that answers but takes no connection now.

Trial: with the database closed to connections (``ALTER DATABASE … ALLOW
CONNECTIONS false``, its backends ended), every staff command that reads the
database ended in asyncpg's English traceback
(``ObjectNotInPrerequisiteStateError``), and ``certflow web`` blamed the user
name and password. Each is one Chinese line now, told apart by SQLSTATE.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from activities.db import database_name, refusal_kind
from certflow.config import Settings
from starter.cli import run
from starter.embedded_pg import with_database
from tests.conftest import ADMIN_URL
from tests.support import throwaway_database
from web.startup import StartError, prepare_database

SESSION = pytest.mark.asyncio(loop_scope="session")

CLOSED = "ALTER DATABASE {name} ALLOW_CONNECTIONS false"


@asynccontextmanager
async def refusing(how: str, folder: Path) -> AsyncIterator[str]:
    """A database of its own, migrated, then made to refuse connections as
    ``how`` says, its backends ended; dropped after."""
    admin_url = os.environ.get("DATABASE_ADMIN_URL", ADMIN_URL)
    async with throwaway_database(admin_url, "certflow_refusing", folder) as url:
        name = database_name(url)
        admin = await asyncpg.connect(with_database(url, "postgres"))
        try:
            await admin.execute(how.format(name=f'"{name}"'))
            # Only this database's backends: other tests' stay.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            yield url
        finally:
            await admin.close()


async def certflow(settings: Settings, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = await run(list(argv), settings=settings, out=out)
    return status, out.getvalue()


# Commands that need only the database (none reaches for Temporal).
COMMANDS = [
    ["--as", "admin", "--person", "A-01", "notice", "failed"],
    ["calendar", "show", "2027"],
    ["mailbox", "list"],
]


@SESSION
@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[-2])
async def test_a_database_closed_to_connections_is_one_chinese_line(
    settings: Settings,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    async with refusing(CLOSED, tmp_path) as url:
        # The mailbox tool reads its own configuration: the environment's.
        monkeypatch.setenv("DATABASE_URL", url)
        status, out = await certflow(
            settings.model_copy(update={"database_url": url}), *argv
        )
    err = capfd.readouterr().err

    assert status == 1
    assert "Traceback" not in err + out
    assert "暂时不接受连接" in err and "55000" in err and "请稍后重试" in err
    assert "密码" not in err
    assert len(err.strip().splitlines()) == 1


@SESSION
async def test_a_database_with_every_connection_taken_says_it_is_full(
    settings: Settings, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Superusers pass every connection limit: a login role of its own, allowed
    no connection, meets the server's "too many connections" (53300)."""
    role = f"certflow_full_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(os.environ.get("DATABASE_ADMIN_URL", ADMIN_URL))
    await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    try:
        url = settings.database_url.replace("postgres@", f"{role}@", 1)
        status, _ = await certflow(
            settings.model_copy(update={"database_url": url}),
            *["--as", "admin", "--person", "A-01", "notice", "failed"],
        )
    finally:
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()
    err = capfd.readouterr().err

    assert status == 1
    assert "连接已满" in err and "53300" in err and "Traceback" not in err


@SESSION
async def test_the_web_service_tells_a_closed_database_from_a_refused_login(
    tmp_path: Path,
) -> None:
    async with refusing(CLOSED, tmp_path) as url:
        with pytest.raises(StartError) as closed:
            await prepare_database(url)
    # A user the server does not know: the login is refused (28000).
    async with throwaway_database(
        os.environ.get("DATABASE_ADMIN_URL", ADMIN_URL), "certflow_login", tmp_path
    ) as url:
        stranger = url.replace("postgres@", "certflow_nobody@", 1)
        with pytest.raises(StartError) as login:
            await prepare_database(stranger)

    assert "暂时不接受连接" in str(closed.value) and "密码" not in str(closed.value)
    assert "拒绝了访问" in str(login.value) and "密码" in str(login.value)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (asyncpg.CannotConnectNowError, "starting"),
        (asyncpg.TooManyConnectionsError, "full"),
        (asyncpg.ObjectNotInPrerequisiteStateError, "closed"),
        (asyncpg.AdminShutdownError, "interrupted"),
        (asyncpg.InvalidPasswordError, "login"),
        (asyncpg.InvalidAuthorizationSpecificationError, "login"),
        (asyncpg.InvalidCatalogNameError, "missing"),
        (asyncpg.UndefinedTableError, None),
    ],
)
def test_refusals_are_read_by_sqlstate(
    error: Callable[[str], asyncpg.PostgresError], kind: str | None
) -> None:
    """A server restarting (57P03) cannot be staged here without stopping the
    shared server: its SQLSTATE is read like the others."""
    assert refusal_kind(error("words in the server's own locale")) == kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), "unreachable"),
        (TimeoutError(), "unreachable"),
        (OSError("Multiple exceptions: [Errno 111] Connect call"), "unreachable"),
        (PermissionError(13, "Permission denied"), None),
        (FileNotFoundError(2, "No such file or directory"), None),
        (OSError(28, "No space left on device"), None),
    ],
)
def test_a_files_error_is_no_database_away(error: OSError, kind: str | None) -> None:
    """Review: every OSError read as the database away, so a certificate PDF
    refused by its folder's permissions was logged as "database unavailable"
    without its traceback, and a document file missing answered 503."""
    assert refusal_kind(error) == kind
