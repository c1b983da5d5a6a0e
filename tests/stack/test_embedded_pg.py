"""Choosing PostgreSQL: the configured server when it answers, else an embedded one."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from activities.db import database_name
from starter.embedded_pg import (
    create_database_if_missing,
    ensure_database,
    redact,
)


@pytest.mark.timeout(60)
async def test_configured_server_is_used_and_the_database_created(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url, close = await ensure_database(fresh_database_url, tmp_path)
    try:
        conn = await asyncpg.connect(url)
        try:
            current = await conn.fetchval("SELECT current_database()")
        finally:
            await conn.close()
        created_again = await create_database_if_missing(url)
    finally:
        await close()

    assert url == fresh_database_url
    assert current == database_name(fresh_database_url)
    assert created_again is False
    assert not (tmp_path / "pg").exists()


@pytest.mark.timeout(60)
async def test_unreachable_server_starts_the_embedded_one(tmp_path: Path) -> None:
    url, close = await ensure_database(
        "postgresql://postgres@127.0.0.1:1/certflow_embedded", tmp_path
    )
    try:
        conn = await asyncpg.connect(url)
        try:
            one = await conn.fetchval("SELECT 1")
            current = await conn.fetchval("SELECT current_database()")
        finally:
            await conn.close()
    finally:
        await close()

    assert one == 1
    assert current == "certflow_embedded"
    assert (tmp_path / "pg" / "PG_VERSION").is_file()
    with pytest.raises(OSError):
        await asyncpg.connect(url, timeout=2)


@pytest.mark.timeout(60)
async def test_a_server_refusing_the_login_is_an_error_not_a_fallback(
    tmp_path: Path,
) -> None:
    url = "postgresql://no_such_role_certflow@127.0.0.1:5432/certflow_never"

    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await ensure_database(url, tmp_path)
    assert not (tmp_path / "pg").exists()


@pytest.mark.timeout(60)
def test_redact_removes_the_password_only() -> None:
    assert (
        redact("postgresql://certflow:s3cret@db.internal:5432/certflow")
        == "postgresql://certflow@db.internal:5432/certflow"
    )
    assert (
        redact("postgresql://postgres@127.0.0.1/x")
        == "postgresql://postgres@127.0.0.1/x"
    )
    assert "s3cret" not in redact("postgresql://u:s3cret@/x?host=/tmp/pg")


def test_a_url_without_a_database_names_its_users_as_the_driver_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: ``postgresql://alice@host`` was read as the ``postgres``
    database, though the driver connects to alice's. The training stack's guard
    against emptying the configured database compared the wrong names."""
    for name in ("PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)

    assert database_name("postgresql://alice@db.internal:5432") == "alice"
    assert database_name("postgresql://alice:pw@db.internal/") == "alice"
    assert database_name("postgresql://alice@db.internal/certflow") == "certflow"
    assert database_name("postgresql://db.internal/?dbname=certflow") == "certflow"
    assert database_name("postgresql:///%E8%AF%81%E4%B9%A6") == "证书"
    monkeypatch.setenv("PGUSER", "bob")
    assert database_name("postgresql://127.0.0.1") == "bob"
    monkeypatch.setenv("PGDATABASE", "records")
    assert database_name("postgresql://alice@127.0.0.1") == "records"
