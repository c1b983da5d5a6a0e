"""Issuance (4.2.6-4.2.7): numbers allocated in PostgreSQL are never skipped or
doubled, whether workers issue plans at once or an activity is retried after a
worker died half-way."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities
from activities.documents import DocumentStore
from activities.intake import IntakeActivities
from activities.store import PlanStore
from certflow.activity_models import IssueRequest, PlanRegistration, ProcessUpload
from certflow.certificates import KeyRing, SigningKey, verify_pdf
from certflow.config import Settings
from certflow.models import DocumentKind, PlanInfo
from tests.support import (
    LEAD,
    SUMMARY,
    retitled,
    sample_plan,
    unique_plan_id,
    waiting_on_locks,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def plan_with_scores(pool: Any, store: DocumentStore, tmp: Any) -> PlanInfo:
    """A registered plan whose sample summary (14 passing) is in the database."""
    plan = sample_plan(date(2026, 11, 4), unique_plan_id())
    now = datetime.now(UTC)
    await PlanStore(pool).register_plan(
        PlanRegistration(info=plan, workflow_id=f"test-{plan.plan_id}", started_at=now)
    )
    document = store.put_file(retitled(SUMMARY, plan, tmp))
    outcome = await IntakeActivities(pool, store).process_upload(
        ProcessUpload(
            plan=plan,
            kind=DocumentKind.SCORE_SUMMARY,
            document=document,
            uploaded_by=LEAD.person,
            at=now,
        )
    )
    assert outcome.accepted
    return plan


async def test_concurrent_issuance_and_a_retry_never_skip_or_double_a_number(
    settings: Settings, resources: Any, tmp_path: Any
) -> None:
    pool, store = resources
    # A year no other test issues in, so this counter is this test's alone.
    issued_on = date(2031, 3, 2)
    first = await plan_with_scores(pool, store, tmp_path)
    second = await plan_with_scores(pool, store, tmp_path)
    issuer = CertificateActivities(settings, pool, store)
    env = ActivityEnvironment()

    results = await asyncio.gather(
        env.run(
            issuer.issue_certificates, IssueRequest(plan=first, issued_on=issued_on)
        ),
        env.run(
            issuer.issue_certificates, IssueRequest(plan=second, issued_on=issued_on)
        ),
    )
    numbers = sorted(n for result in results for n in result.numbers)
    assert [r.issued for r in results] == [14, 14]
    sequences = [issuer.scheme.parse(n)["seq"] for n in numbers]  # type: ignore[index]
    assert sequences == list(range(sequences[0], sequences[0] + 28))

    # A worker died after the numbers were allocated but before some PDFs were
    # written: the retry renders what is missing and allocates nothing new.
    lost = numbers[:3]
    await pool.execute(
        "UPDATE certificates SET pdf_sha256 = NULL WHERE number = ANY($1)", lost
    )
    for number in lost:
        pdf = settings.output_dir / "certificates" / first.plan_id / f"{number}.pdf"
        pdf.unlink(missing_ok=True)
        pdf = settings.output_dir / "certificates" / second.plan_id / f"{number}.pdf"
        pdf.unlink(missing_ok=True)
    again = await env.run(
        issuer.issue_certificates, IssueRequest(plan=first, issued_on=issued_on)
    )
    assert again.numbers == results[0].numbers
    total = await pool.fetchval(
        "SELECT count(*) FROM certificates WHERE plan_id = ANY($1)",
        [first.plan_id, second.plan_id],
    )
    assert total == 28
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM certificates "
            "WHERE number = ANY($1) AND pdf_sha256 IS NULL",
            results[0].numbers,
        )
        == 0
    )

    # What was issued verifies with the configured key.
    key = SigningKey.load(settings.certificates.signing_key_file.read_bytes())
    keyring = KeyRing.from_public_keys([key.private_key.public_key()])
    pdf = (
        settings.output_dir / "certificates" / first.plan_id / f"{again.numbers[0]}.pdf"
    )
    assert verify_pdf(pdf.read_bytes(), keyring).status.value == "valid"


async def test_a_retry_overlapping_its_first_attempt_waits_and_issues_the_same(
    settings: Settings, resources: Any, tmp_path: Any
) -> None:
    """Regression: a retry started while its first attempt (timed out, not
    stopped) was still allocating chose the same candidates, waited for the
    counter, and failed once on their rows when the first had committed: an
    error on the plan's page in the Web UI, before its next attempt found the
    certificates issued. The retry now waits for the first attempt, then
    returns its certificates."""
    pool, store = resources
    # A year no other test issues in, so this counter is this test's alone.
    issued_on = date(2032, 3, 2)
    plan = await plan_with_scores(pool, store, tmp_path)
    issuer = CertificateActivities(settings, pool, store)
    key = issuer.scheme.sequence_key(
        year=issued_on.year, certificate=plan.certificate, level=plan.level
    )
    request = IssueRequest(plan=plan, issued_on=issued_on)
    env = ActivityEnvironment()

    # Another plan's issuance holds the counter while both attempts allocate:
    # the first attempt, then its retry.
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute(
            "INSERT INTO certificate_counters (key, last_seq) VALUES ($1, 0)"
            " ON CONFLICT (key) DO UPDATE SET last_seq = certificate_counters.last_seq",
            key,
        )
        first = asyncio.create_task(env.run(issuer.issue_certificates, request))
        await waiting_on_locks(pool, 1)
        retry = asyncio.create_task(env.run(issuer.issue_certificates, request))
        await waiting_on_locks(pool, 2)
    issued, retried = await asyncio.gather(first, retry)

    assert issued.issued == 14 and retried.numbers == issued.numbers
    sequences = [issuer.scheme.parse(n)["seq"] for n in issued.numbers]  # type: ignore[index]
    last = await pool.fetchval(
        "SELECT last_seq FROM certificate_counters WHERE key = $1", key
    )
    # Nothing skipped: the counter stands at the last number given.
    assert sequences == list(range(last - 13, last + 1))
