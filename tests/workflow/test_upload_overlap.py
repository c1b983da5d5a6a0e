"""An upload's retry that overlaps its first attempt records the file once.

Regression: the intake activity looked for its own earlier row before taking
the plan's lock. An attempt that timed out while still writing (the server
retries it; the worker does not stop it) and its retry could both look, find
nothing, then each record the file, as versions 1 and 2 of the same upload
(when the file was known before: otherwise recording it made the retry wait).
Seen once in a full test run on a loaded machine, as two versions of an
invoice form sent again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from activities.intake import IntakeActivities
from certflow.activity_models import ProcessUpload
from certflow.models import DocumentKind
from tests.support import (
    LEAD,
    SUMMARY,
    registered_plan,
    retitled,
    waiting_on_locks,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_a_retry_overlapping_its_first_attempt_records_one_version(
    resources: Any, tmp_path: Path
) -> None:
    pool, store = resources
    plan, at = await registered_plan(pool)
    kind = DocumentKind.SCORE_SUMMARY
    upload = ProcessUpload(
        plan=plan,
        kind=kind,
        document=store.put_file(retitled(SUMMARY, plan, tmp_path)),
        uploaded_by=LEAD.person,
        at=at,
    )
    intake = IntakeActivities(pool, store)
    # The file is known already (sent before, to this plan or another), so
    # recording it does not make the second attempt wait for the first.
    await pool.execute(
        "INSERT INTO documents (sha256, size, media_type) VALUES ($1, $2, $3)",
        upload.document.sha256,
        upload.document.size,
        upload.document.media_type,
    )

    # Another writer of the plan's records holds them while both attempts
    # (the first and its retry) reach them: neither has written yet.
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            f"{plan.plan_id}/{kind.value}",
        )
        attempts = [
            asyncio.create_task(intake.process_upload(upload)) for _ in range(2)
        ]
        await waiting_on_locks(pool, 2)
    first, retry = await asyncio.gather(*attempts)

    assert first.accepted and retry.accepted
    assert (first.version, retry.version) == (1, 1)
    recorded = await pool.fetch(
        "SELECT version FROM plan_documents WHERE plan_id = $1", plan.plan_id
    )
    assert [row["version"] for row in recorded] == [1]
    versions = await pool.fetchval(
        "SELECT count(*) FROM score_versions WHERE plan_id = $1", plan.plan_id
    )
    assert versions == 1
