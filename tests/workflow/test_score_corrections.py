"""Corrections of the total (总成绩): derived from the part scores, never set alone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from certflow.actions import CorrectionApply, CorrectionDecision, CorrectionSubmission
from certflow.i18n import t
from tests.support import INFO, MANAGER, PlanDriver, correction_request
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
wf = ExamPlanWorkflow
# Seq 12 of the sample: theory 82.10, practical 50.10, total 59.70 (0.3 / 0.7).
SEQ_12 = "2026110412012"
# Seq 6 of the sample: absent, no score at all.
SEQ_6 = "2026110412006"


async def _in_publicity(make_driver: Any) -> PlanDriver:
    """A new plan on the first day of its publicity, taking requests."""
    driver: PlanDriver = await make_driver()
    await driver.reach_publicity()
    await driver.open_publicity()
    return driver


async def _apply(driver: PlanDriver, request: CorrectionSubmission) -> str:
    """File, approve and apply one request; return its number."""
    filed = await driver.h.execute_update(wf.submit_correction, request)
    assert filed.accepted and filed.reference, filed.message
    decided = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(actor=MANAGER, request_id=filed.reference, approve=True),
    )
    assert decided.accepted
    applied = await driver.h.execute_update(
        wf.apply_correction, CorrectionApply(actor=INFO, request_id=filed.reference)
    )
    assert applied.accepted
    return filed.reference


async def test_a_total_alone_is_refused_naming_the_part_score_to_correct(
    make_driver: Any, resources: Any
) -> None:
    """Regression: a request for 总成绩 66.70 was applied as given, leaving a
    total its parts (82.10 and 50.10, weighted 59.70) do not give."""
    pool, _ = resources
    driver = await _in_publicity(make_driver)

    result = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "total", "66.70")
    )

    assert not result.accepted
    assert [p.code for p in result.problems] == ["total_is_derived"]
    assert result.message == t(
        "intake_db.total_is_derived",
        formula=t(
            "intake_db.total_formula", theory_weight="0.3", practical_weight="0.7"
        ),
        computed="59.70",
        requested="66.70",
        # 66.70 needs theory 105.43: only the practical score can give it.
        advice=t(
            "intake_db.total_correct_part",
            options=t("intake_db.total_part_option", field="实操成绩", value="60.10"),
        ),
    )
    assert (await driver.status()).correction_states == {}
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM correction_requests WHERE plan_id = $1",
            driver.plan.plan_id,
        )
        == 0
    )
    # The total its parts give is taken: nothing else changes with it.
    same = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "total", "59.7")
    )
    assert same.accepted


async def test_a_total_of_a_candidate_with_no_part_score_follows_the_status(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver = await _in_publicity(make_driver)

    # Absent: no part score, so no total to correct until the status is.
    absent = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_6, "total", "70")
    )
    assert not absent.accepted
    assert absent.message == t("intake_db.total_without_parts", status="缺考")

    # Marked present, the candidate has no part score yet: a total is taken.
    await _apply(driver, correction_request(SEQ_6, "status", "正常"))
    request_id = await _apply(driver, correction_request(SEQ_6, "total", "70"))
    row = await pool.fetchrow(
        "SELECT status, theory, practical, total, passed FROM scores "
        "WHERE plan_id = $1 AND admission_number = $2",
        driver.plan.plan_id,
        SEQ_6,
    )
    assert dict(row) == {
        "status": "present",
        "theory": None,
        "practical": None,
        "total": Decimal("70.00"),
        "passed": False,
    }
    history = await pool.fetch(
        "SELECT field, old_value, new_value, changed_by, reason FROM score_history "
        "WHERE plan_id = $1 AND request_id = $2",
        driver.plan.plan_id,
        request_id,
    )
    assert [tuple(h) for h in history] == [
        ("total", None, "70", INFO.person, "成绩登记错误")
    ]


async def test_a_correction_moves_every_count_it_changes_and_they_still_add_up(
    make_driver: Any, resources: Any
) -> None:
    """Regression: 不合格→合格 raised the passes but left the failures, so
    `status` showed 合格 15，不合格 16，缺考 2 of 32 (the database: 15 and 15)."""
    pool, _ = resources
    driver = await _in_publicity(make_driver)

    async def counts() -> tuple[int, int, int, int]:
        """(candidates, passed, failed, absent) as `status` shows them; they
        must be the database's and add up."""
        summary = (await driver.status()).summary
        assert summary is not None
        shown = (summary.candidates, summary.passed, summary.failed, summary.absent)
        stored = await pool.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE passed), "
            "count(*) FILTER (WHERE status = 'present' AND NOT passed), "
            "count(*) FILTER (WHERE status = 'absent') "
            "FROM scores WHERE plan_id = $1",
            driver.plan.plan_id,
        )
        assert shown == tuple(stored)
        assert sum(shown[1:]) + summary.disqualified == summary.candidates
        return shown

    before = await counts()
    candidates, passed, failed, absent = before
    assert absent == 2 and passed > 0 and failed > 0
    # 50.10 → 60.10: total 66.70, 不合格 → 合格.
    await _apply(driver, correction_request(SEQ_12, "practical", "60.10"))
    assert await counts() == (candidates, passed + 1, failed - 1, absent)
    # And back, 合格 → 不合格.
    await _apply(driver, correction_request(SEQ_12, "practical", "50.10"))
    assert await counts() == before
    # 缺考 → 正常 with no score: present and not passed.
    await _apply(driver, correction_request(SEQ_6, "status", "正常"))
    assert await counts() == (candidates, passed, failed + 1, absent - 1)
    # The summary's version stays the accepted summary's.
    summary = (await driver.status()).summary
    assert summary is not None and summary.version == 1
