"""A plan's whole record from PostgreSQL: ``certflow plan history``.

The status shows the latest lines of a plan's history; every action is kept
in the audit trail, and staff read all of it here (the status sends them
here for invoices voided before the ones it lists)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from certflow.i18n import t
from tests.cli.conftest import Certflow
from tests.cli.test_commands import (
    CONTACT,
    FINANCE,
    LEAD,
    OTHER_SITE,
    SITE,
    start_and_submit,
)
from tests.support import PlanDriver, english_words

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


def record_rows(out: str) -> list[str]:
    """The table's lines, after its heading, header and rule."""
    return out.splitlines()[3:]


async def test_the_whole_record_is_read_by_whom_may_and_filtered_by_action(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan_id = new_driver.plan.plan_id
    files = await start_and_submit(certflow, new_driver)
    # A sign-in sheet as the score summary: refused, with its problems.
    refused = await certflow(
        *LEAD, "upload", "summary", plan_id, str(files["evaluators"])
    )
    assert refused.status == 2, refused.out
    pool = resources[0]
    lines = await pool.fetch(
        "SELECT action, accepted, details FROM audit WHERE plan_id = $1"
        " ORDER BY at, id",
        plan_id,
    )
    digests = [r["details"]["sha256"] for r in lines if "sha256" in r["details"]]

    whole = await certflow(*CONTACT, "plan", "history", plan_id)
    by_code = await certflow(
        *FINANCE, "plan", "history", plan_id, "--action", "upload_score_summary"
    )
    by_name = await certflow(
        *SITE, "plan", "history", plan_id, "--action", t("actions.start_plan")
    )
    other_site = await certflow(*OTHER_SITE, "plan", "history", plan_id)
    other_lead = await certflow(
        "--as", "lead_evaluator", "--person", "ZCX-E-9999", "plan", "history", plan_id
    )
    candidate = await certflow(
        "--as", "candidate", "--person", "c-1", "plan", "history", plan_id
    )
    unknown = await certflow(*CONTACT, "plan", "history", "P2026-0000-0000")
    capsys.readouterr()
    mistyped = await certflow(
        *CONTACT, "plan", "history", plan_id, "--action", "upload_sumary"
    )
    mistyped_said = capsys.readouterr().err

    # Every line of the trail, in order, the plan's start first.
    assert whole.status == 0, whole.out
    assert t("cli.plan_record.heading", plan_id=plan_id, count=len(lines)) in whole.out
    rows = record_rows(whole.out)
    assert len(rows) == len(lines)
    assert f"{t('roles.admin')} admin-liu" in rows[0]
    assert t("actions.start_plan") in rows[0]
    refused_label = t(
        "cli.status.refused_action", action=t("actions.upload_score_summary")
    )
    refused_rows = [r for r in rows if refused_label in r]
    assert len(refused_rows) == sum(not r["accepted"] for r in lines) >= 1
    assert any(t("cli.record_details.problems") in r for r in refused_rows)
    assert t("cli.record_details.version") + "：1" in rows[1]
    # No file's digest, no code for the program; no English.
    assert digests and not any(d in whole.out for d in digests)
    staff = ("admin-liu", "ZCX-E-0107", "whjt-kaowu")
    assert english_words(whole.out, *staff) == []

    summaries = [r for r in lines if r["action"] == "upload_score_summary"]
    assert by_code.status == 0, by_code.out
    assert len(record_rows(by_code.out)) == len(summaries) >= 2
    assert by_name.status == 0, by_name.out
    assert len(record_rows(by_name.out)) == 1

    for answer in (other_site, other_lead):
        assert answer.status == 2
        assert t("cli.refused", reason="").rstrip() in answer.out
    assert candidate.status != 0
    assert t("cli.plan_record.not_allowed", role=t("roles.candidate")) in candidate.out
    assert unknown.status != 0
    assert t("cli.plan_not_found", plan_id="P2026-0000-0000") in unknown.out
    assert mistyped.status != 0
    assert t("cli.plan_record.unknown_action", action="upload_sumary") in mistyped_said


async def test_an_ended_plan_gone_from_temporal_is_read_from_the_database(
    certflow: Certflow, resources: tuple[Any, object]
) -> None:
    """A plan kept past the namespace's retention has no workflow left; its
    row and record stay, and are read. Who leads it cannot be checked: a lead
    evaluator is told so, not that the plan does not exist."""
    pool = resources[0]
    plan_id = f"P2025-{uuid.uuid4().hex[:6].upper()}"
    at = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    await pool.execute(
        """
        INSERT INTO plans (plan_id, workflow_id, site_code, site_name, certificate,
            level, module_code, module_name, exam_end_date, stage, created_at,
            updated_at)
        VALUES ($1, $2, 'HB-WH-0031', '武汉交通学校', '汽车运用与维修', 'intermediate',
            '1-1', '模块', '2025-01-10', 'issued', $3, $3)
        """,
        plan_id,
        f"exam-plan-{plan_id}",
        at,
    )
    await pool.execute(
        """
        INSERT INTO audit (plan_id, action, role, person, at, accepted, late,
            details, idempotency_key)
        VALUES ($1, 'record_invoice', 'finance', 'fin-sun', $2, true, true, $3, $4)
        """,
        plan_id,
        at,
        {"invoice": "26442000202501100001", "amount": "4500.00"},
        f"test/{plan_id}",
    )

    read = await certflow(*CONTACT, "plan", "history", plan_id)
    lead = await certflow(*LEAD, "plan", "history", plan_id)

    assert read.status == 0, read.out
    row = record_rows(read.out)[0]
    assert t("actions.record_invoice") + t("cli.late_mark") in row
    assert "26442000202501100001" in row and "4500.00" in row
    assert lead.status == 2
    assert t("cli.plan_record.lead_unknown", plan_id=plan_id) in lead.out
