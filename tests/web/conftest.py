"""Fixtures of the web service tests: a database of their own with certificates
issued through the real issuance activity, and the app driven in-process.

The state folder is laid out as ``CERTFLOW_STATE`` describes it (documents and
keys/certificate-signing.pem), so a server started as ``python -m web`` with that
variable finds the same key and PDFs as the in-process app.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities
from activities.db import create_pool, migrate
from activities.documents import DocumentStore
from activities.revocation import revoke
from activities.store import PlanStore
from certflow.activity_models import IssueRequest, PlanRegistration
from certflow.certificates import SigningKey, generate_keypair
from certflow.config import Settings
from certflow.models import PlanInfo, Role
from tests.support import throwaway_database
from tests.web.samples import (
    AILI,
    FAILED,
    ISSUED_ON,
    LI_FEN,
    PLAN_A,
    PLAN_B,
    SUN,
    WANG,
    ClientFactory,
    Holder,
    Issued,
    PdfOf,
)
from web import records
from web.app import RateLimits, create_app

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def web_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("web-state")
    key_file = state / "keys" / "certificate-signing.pem"
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(generate_keypair()[0])
    return state


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def web_database(web_state: Path) -> AsyncIterator[str]:
    """A database created for these tests and dropped after them."""
    admin_url = os.environ.get("DATABASE_ADMIN_URL", ADMIN_URL)
    async with throwaway_database(admin_url, "certflow_web", web_state) as url:
        yield url


@pytest.fixture(scope="session")
def web_settings(web_state: Path, web_database: str) -> Settings:
    """Defaults, pointed at the test database and state folder like the server."""
    return Settings().with_environment(
        {"CERTFLOW_STATE": str(web_state), "DATABASE_URL": web_database}
    )


async def register_plan(pool: asyncpg.Pool, plan: PlanInfo) -> None:
    registration = PlanRegistration(
        info=plan, workflow_id=f"plan-{plan.plan_id}", started_at=datetime.now(UTC)
    )
    await ActivityEnvironment().run(PlanStore(pool).register_plan, registration)


async def add_score(
    pool: asyncpg.Pool, plan: PlanInfo, holder: Holder, *, passed: bool
) -> None:
    await pool.execute(
        """
        INSERT INTO scores (plan_id, admission_number, module_code, seq, name,
            id_type, id_number, theory, practical, total, status, passed,
            source_version, updated_at)
        VALUES ($1, $2, $3, NULL, $4, 'resident_id', $5, 80, $6, NULL, 'present',
                $7, 1, now())
        """,
        plan.plan_id,
        holder.admission_number,
        plan.module_code,
        holder.name,
        holder.id_number,
        85 if passed else 40,
        passed,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def web_pool(web_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(web_settings.database_url)
    await migrate(pool)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def issued(web_settings: Settings, web_pool: asyncpg.Pool) -> Issued:
    """Certificates issued by the real activity: 黎芬 holds two, 赵六 none.

    孙丽's certificate is revoked, through :func:`activities.revocation.revoke`.
    """
    for plan in (PLAN_A, PLAN_B):
        await register_plan(web_pool, plan)
    for holder in (LI_FEN, WANG, SUN, AILI):
        await add_score(web_pool, PLAN_A, holder, passed=True)
    await add_score(web_pool, PLAN_A, FAILED, passed=False)
    await add_score(web_pool, PLAN_B, LI_FEN, passed=True)
    issued = await issue_plans(web_settings, web_pool, (PLAN_A, PLAN_B))

    await revoke(
        web_pool,
        issued.of(SUN),
        reason="成绩更正",
        revoked_on=date(2026, 12, 18),
        by="tech-zhang",
        role=Role.TECH_DEPT,
    )
    return issued


async def issue_plans(
    settings: Settings, pool: asyncpg.Pool, plans: tuple[PlanInfo, ...]
) -> Issued:
    """Issue the certificates of ``plans`` (registered, scores added) through
    the real issuance activity, on ``ISSUED_ON``."""
    activities = CertificateActivities(
        settings, pool, DocumentStore(settings.documents_dir)
    )
    numbers: dict[tuple[str, str], str] = {}
    for plan in plans:
        result = await ActivityEnvironment().run(
            activities.issue_certificates,
            IssueRequest(plan=plan, issued_on=ISSUED_ON),
        )
        rows = await pool.fetch(
            "SELECT number, admission_number FROM certificates WHERE plan_id = $1",
            plan.plan_id,
        )
        assert sorted(r["number"] for r in rows) == sorted(result.numbers)
        for row in rows:
            numbers[(row["admission_number"], plan.plan_id)] = row["number"]
    return Issued(numbers)


@pytest_asyncio.fixture(loop_scope="session")
async def web_client(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> AsyncIterator[ClientFactory]:
    """Make clients of a fresh app (fresh rate limits), as one client address."""
    opened: list[httpx.AsyncClient] = []

    def make(
        *, address: str = "198.51.100.7", limits: RateLimits | None = None, **kw: Any
    ) -> httpx.AsyncClient:
        app = create_app(web_settings, web_pool, limits=limits, **kw)
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://certs.test")
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def pdf_of(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> PdfOf:
    """Read a holder's issued PDF (of PLAN_A) from the document store."""
    store = DocumentStore(web_settings.documents_dir)

    async def read(holder: Holder) -> bytes:
        record = await records.get(web_pool, issued.of(holder))
        assert record is not None and record.pdf is not None
        return store.get(record.pdf)

    return read


@contextlib.asynccontextmanager
async def rotated_client(
    settings: Settings, pool: asyncpg.Pool, folder: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, SigningKey]]:
    """A client of the service whose signing key was rotated without listing
    the old public key (every certificate issued before is of a key no longer
    trusted), and the new key."""
    new_key = folder / "rotated-signing.pem"
    new_key.write_bytes(generate_keypair()[0])
    certificates = settings.certificates.model_copy(
        update={"signing_key_file": new_key}
    )
    app = create_app(settings.model_copy(update={"certificates": certificates}), pool)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, SigningKey.load(new_key.read_bytes())
