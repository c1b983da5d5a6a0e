"""Issuance (4.2.6-4.2.7): numbers allocated in PostgreSQL are never skipped or
doubled, whether workers issue plans at once or an activity is retried after a
worker died half-way; a certificate the font cannot draw is held out, and the
others are issued."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities
from activities.documents import DocumentStore
from activities.intake import IntakeActivities
from activities.store import PlanStore
from certflow.activity_models import IssueRequest, PlanRegistration, ProcessUpload
from certflow.certificates import (
    FONT_ENV,
    CertificateData,
    KeyRing,
    SigningKey,
    extract_signed,
    font_id,
    load_font,
    sign,
    verify_pdf,
)
from certflow.config import Settings
from certflow.models import DocumentKind, PlanInfo
from tests.support import (
    LEAD,
    RARE_CHARACTER,
    SUMMARY,
    damaged_font,
    font_printing,
    log_lines_holding,
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
    # From the first number of the counter to the last it counted (audit: a
    # run shifted by one, skipping the first number and giving out one the
    # counter had not counted, passed when the numbers were only contiguous).
    key = issuer.scheme.sequence_key(
        year=issued_on.year, certificate=first.certificate, level=first.level
    )
    last = await pool.fetchval(
        "SELECT last_seq FROM certificate_counters WHERE key = $1", key
    )
    assert sequences == list(range(1, 29)) and last == 28

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


# Seq 2 of the sample, who passed: 胡俊霞, here with a character outside the font.
SEQ_2 = "2026110412002"
RARE_NAME = f"胡{RARE_CHARACTER}霞"
# Seq 9, who passed: 任俊, the fifth certificate of the plan.
SEQ_9 = "2026110412009"
RARE_NAME_9 = f"任{RARE_CHARACTER}"


async def _sequences(
    issuer: CertificateActivities, pool: Any, plan: PlanInfo
) -> list[int]:
    numbers = await pool.fetch(
        "SELECT number FROM certificates WHERE plan_id = $1", plan.plan_id
    )
    return sorted(issuer.scheme.parse(r["number"])["seq"] for r in numbers)  # type: ignore[index]


async def test_a_name_the_font_cannot_print_is_held_unnumbered_and_the_rest_issued(
    settings: Settings,
    resources: Any,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: every passing candidate was numbered and signed, then the
    PDFs were drawn in number order until the first name the font lacked:
    the activity failed there, was retried every few minutes for ever, and
    the certificates after it were never drawn. Its error, logged at each
    attempt, quoted the character."""
    pool, store = resources
    printing = font_printing(RARE_CHARACTER)
    # A year no other test issues in, so this counter is this test's alone.
    issued_on = date(2033, 3, 2)
    plan = await plan_with_scores(pool, store, tmp_path)
    # As a version that checked only passing names let it in, then a
    # correction made the candidate pass.
    await pool.execute(
        "UPDATE scores SET name = $3 WHERE plan_id = $1 AND admission_number = $2",
        plan.plan_id,
        SEQ_2,
        RARE_NAME,
    )
    issuer = CertificateActivities(settings, pool, store)
    request = IssueRequest(plan=plan, issued_on=issued_on)
    caplog.set_level(logging.DEBUG)

    result = await ActivityEnvironment().run(issuer.issue_certificates, request)

    assert result.issued == 13 and len(result.numbers) == 13
    [held] = result.held
    assert held.model_dump() == {
        "admission_number": SEQ_2,
        "masked_name": "胡**",
        "reason": "unprintable_name",
        "positions": [2],
        "number": None,
    }
    # No number given, nothing signed for it; the others numbered without gap.
    rows = await pool.fetch(
        "SELECT admission_number, pdf_sha256 FROM certificates WHERE plan_id = $1",
        plan.plan_id,
    )
    assert SEQ_2 not in {r["admission_number"] for r in rows}
    assert len(rows) == 13 and all(r["pdf_sha256"] for r in rows)
    key = issuer.scheme.sequence_key(
        year=issued_on.year, certificate=plan.certificate, level=plan.level
    )
    last = await pool.fetchval(
        "SELECT last_seq FROM certificate_counters WHERE key = $1", key
    )
    # The year's counter counted the 13 numbered only: the held certificate
    # takes no number (audit: counting it too left a gap before the others).
    assert last == 13
    assert await _sequences(issuer, pool, plan) == list(range(last - 12, last + 1))
    assert log_lines_holding(caplog, RARE_CHARACTER) == []

    # The same again changes nothing: still held, nothing numbered.
    again = await ActivityEnvironment().run(issuer.issue_certificates, request)
    assert again.numbers == result.numbers and len(again.held) == 1

    # A font that prints the name: the next number, and the hold released.
    monkeypatch.setenv(FONT_ENV, str(printing))
    mended = await ActivityEnvironment().run(issuer.issue_certificates, request)
    assert mended.issued == 14 and mended.held == []
    assert await _sequences(issuer, pool, plan) == list(range(last - 12, last + 2))
    released = await pool.fetchval(
        "SELECT released_at FROM certificate_holds WHERE plan_id = $1", plan.plan_id
    )
    assert released is not None


async def test_certificates_numbered_before_the_font_check_are_held_with_their_number(
    settings: Settings,
    resources: Any,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan an older version left half-issued: every certificate numbered
    and signed, one name the font lacks among them, few PDFs written. The
    others are drawn, that one is held with its number, and nothing new is
    numbered; the activity no longer fails on it."""
    pool, store = resources
    printing = font_printing(RARE_CHARACTER)
    issued_on = date(2034, 3, 2)
    plan = await plan_with_scores(pool, store, tmp_path)
    issuer = CertificateActivities(settings, pool, store)
    request = IssueRequest(plan=plan, issued_on=issued_on)
    first = await ActivityEnvironment().run(issuer.issue_certificates, request)
    # The older version signed the rare name of the fifth, and stopped
    # drawing there: four PDFs written.
    row = await pool.fetchrow(
        "SELECT number, payload FROM certificates "
        "WHERE plan_id = $1 AND admission_number = $2",
        plan.plan_id,
        SEQ_9,
    )
    assert first.numbers.index(row["number"]) == 4
    data = CertificateData.model_validate(row["payload"]).model_copy(
        update={"candidate_name": RARE_NAME_9}
    )
    signed = sign(data, issuer.key.private_key, issuer.key.key_id)
    await pool.execute(
        "UPDATE certificates SET name = $2, payload = $3, signature = $4 "
        "WHERE number = $1",
        row["number"],
        RARE_NAME_9,
        data.model_dump(mode="json"),
        signed.signature_b64,
    )
    undrawn = first.numbers[4:]
    await pool.execute(
        "UPDATE certificates SET pdf_sha256 = NULL WHERE number = ANY($1)", undrawn
    )
    for number in undrawn:
        (settings.output_dir / "certificates" / plan.plan_id / f"{number}.pdf").unlink()
    caplog.set_level(logging.DEBUG)

    result = await ActivityEnvironment().run(issuer.issue_certificates, request)

    assert result.issued == 13
    assert row["number"] not in result.numbers
    [held] = result.held
    assert (held.admission_number, held.number, held.positions) == (
        SEQ_9,
        row["number"],
        [2],
    )
    drawn = await pool.fetchval(
        "SELECT count(*) FROM certificates "
        "WHERE plan_id = $1 AND pdf_sha256 IS NOT NULL",
        plan.plan_id,
    )
    assert drawn == 13
    assert await _sequences(issuer, pool, plan) == sorted(
        issuer.scheme.parse(n)["seq"]
        for n in first.numbers  # type: ignore[index]
    )
    assert log_lines_holding(caplog, RARE_CHARACTER) == []

    # Drawn under its own number once the font prints it: signed again for
    # that font (it was signed for the one before, which cannot print it).
    monkeypatch.setenv(FONT_ENV, str(printing))
    mended = await ActivityEnvironment().run(issuer.issue_certificates, request)
    assert mended.held == [] and sorted(mended.numbers) == sorted(first.numbers)
    folder = settings.output_dir / "certificates" / plan.plan_id
    pdf = (folder / f"{row['number']}.pdf").read_bytes()
    key = SigningKey.load(settings.certificates.signing_key_file.read_bytes())
    keyring = KeyRing.from_public_keys([key.private_key.public_key()])
    assert verify_pdf(pdf, keyring).status.value == "valid"
    assert extract_signed(pdf).data.font == font_id(load_font(printing))
    record = await pool.fetchval(
        "SELECT payload FROM certificates WHERE number = $1", row["number"]
    )
    assert CertificateData.model_validate(record) == extract_signed(pdf).data
    # Those drawn in the font before keep it, and their glyphs are compared.
    before = verify_pdf((folder / f"{first.numbers[0]}.pdf").read_bytes(), keyring)
    assert before.status.value == "valid" and before.glyphs_checked


async def test_a_cause_no_retry_mends_fails_for_good_before_any_number(
    settings: Settings, resources: Any, tmp_path: Any
) -> None:
    """A signing key that is not there, or a certificate the number scheme has
    no code for: every attempt would fail alike. The activity fails for good,
    saying which cause, and no number is taken from the counter."""
    pool, store = resources
    issued_on = date(2035, 3, 2)
    plan = await plan_with_scores(pool, store, tmp_path)
    keyless = settings.model_copy(
        update={
            "certificates": settings.certificates.model_copy(
                update={"signing_key_file": tmp_path / "gone.pem"}
            )
        }
    )
    uncoded = plan.model_copy(update={"certificate": "无代码证书"})
    for issuer_settings, issued_plan, cause in (
        (keyless, plan, "signing_key"),
        (settings, uncoded, "number_scheme"),
    ):
        issuer = CertificateActivities(issuer_settings, pool, store)
        request = IssueRequest(plan=issued_plan, issued_on=issued_on)
        with pytest.raises(ApplicationError) as failed:
            await ActivityEnvironment().run(issuer.issue_certificates, request)
        assert failed.value.type == "issuance_blocked"
        assert failed.value.non_retryable
        assert list(failed.value.details) == [cause]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM certificates WHERE plan_id = $1", plan.plan_id
        )
        == 0
    )
    key = CertificateActivities(settings, pool, store).scheme.sequence_key(
        year=issued_on.year, certificate=plan.certificate, level=plan.level
    )
    assert (
        await pool.fetchval(
            "SELECT last_seq FROM certificate_counters WHERE key = $1", key
        )
        is None
    )


async def test_a_damaged_font_fails_for_good_before_any_number(
    settings: Settings,
    resources: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A font file that is there but cannot be parsed (cut short) fails every
    attempt alike, as a missing one does: the activity fails for good naming
    the cause, before any number is taken; replaced, the plan is issued."""
    pool, store = resources
    issued_on = date(2036, 3, 2)
    plan = await plan_with_scores(pool, store, tmp_path)
    issuer = CertificateActivities(settings, pool, store)
    request = IssueRequest(plan=plan, issued_on=issued_on)
    monkeypatch.setenv(FONT_ENV, str(damaged_font(tmp_path)))

    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(issuer.issue_certificates, request)

    assert failed.value.type == "issuance_blocked"
    assert failed.value.non_retryable
    assert list(failed.value.details) == ["font_unreadable"]
    assert "cannot be read as a font" in failed.value.message
    numbered = await pool.fetchval(
        "SELECT count(*) FROM certificates WHERE plan_id = $1", plan.plan_id
    )
    assert numbered == 0
    monkeypatch.delenv(FONT_ENV)
    mended = await ActivityEnvironment().run(issuer.issue_certificates, request)
    assert mended.issued == 14 and mended.held == []
