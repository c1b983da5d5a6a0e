"""Corrections of the total (总成绩): derived from the part scores, never set alone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from certflow.actions import (
    ActionResult,
    CorrectionApply,
    CorrectionDecision,
    CorrectionSubmission,
)
from certflow.i18n import t
from certflow.timeutil import cst_date
from tests.support import (
    INFO,
    MANAGER,
    SEQ_12,
    PlanDriver,
    approve_and_apply,
    correction_request,
    driver_in_publicity,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
wf = ExamPlanWorkflow
# Seq 6 and 18 of the sample: absent, no score at all.
SEQ_6 = "2026110412006"
# Seq 4: theory 53.10.
SEQ_4 = "2026110412004"
SEQ_18 = "2026110412018"


async def _apply(driver: PlanDriver, request: CorrectionSubmission) -> str:
    """File, approve and apply one request; return its number."""
    request_id, _ = await _applied(driver, request)
    return request_id


async def _applied(
    driver: PlanDriver, request: CorrectionSubmission
) -> tuple[str, ActionResult]:
    """File, approve and apply one request; return its number and the answer."""
    filed = await driver.h.execute_update(wf.submit_correction, request)
    assert filed.accepted and filed.reference, filed.message
    return filed.reference, await approve_and_apply(driver, filed.reference)


async def _counts(driver: PlanDriver, pool: Any) -> tuple[int, int, int, int]:
    """(candidates, passed, failed, absent) as `status` shows them; they must
    be the database's and add up."""
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


async def _score_row(driver: PlanDriver, pool: Any, admission: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT status, theory, practical, total, passed FROM scores "
        "WHERE plan_id = $1 AND admission_number = $2",
        driver.plan.plan_id,
        admission,
    )
    return dict(row)


async def _history_of(
    driver: PlanDriver, pool: Any, request_id: str
) -> list[tuple[str, str | None, str | None]]:
    rows = await pool.fetch(
        "SELECT field, old_value, new_value FROM score_history "
        "WHERE plan_id = $1 AND request_id = $2 ORDER BY id",
        driver.plan.plan_id,
        request_id,
    )
    return [tuple(r) for r in rows]


async def test_a_total_alone_is_refused_naming_the_part_score_to_correct(
    make_driver: Any, resources: Any
) -> None:
    """Regression: a request for 总成绩 66.70 was applied as given, leaving a
    total its parts (82.10 and 50.10, weighted 59.70) do not give."""
    pool, _ = resources
    driver = await driver_in_publicity(make_driver)

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
    # The total its parts give is the one on record: refused as changing
    # nothing, not compared with its parts again.
    same = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "total", "59.7")
    )
    assert [p.code for p in same.problems] == ["requested_on_record"]


async def test_a_total_of_a_candidate_with_no_part_score_follows_the_status(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver = await driver_in_publicity(make_driver)

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
    # When: the moment the request was applied, on the plan's clock (audit:
    # a history dated wrongly passed every test listed for it).
    changed_at, applied_at = await pool.fetchrow(
        "SELECT h.changed_at, r.applied_at FROM score_history h"
        " JOIN correction_requests r USING (request_id)"
        " WHERE h.plan_id = $1 AND h.request_id = $2",
        driver.plan.plan_id,
        request_id,
    )
    assert changed_at == applied_at and cst_date(changed_at) == await driver.today()


async def test_a_correction_moves_every_count_it_changes_and_they_still_add_up(
    make_driver: Any, resources: Any
) -> None:
    """Regression: 不合格→合格 raised the passes but left the failures, so
    `status` showed 合格 15，不合格 16，缺考 2 of 32 (the database: 15 and 15)."""
    pool, _ = resources
    driver = await driver_in_publicity(make_driver)

    before = await _counts(driver, pool)
    candidates, passed, failed, absent = before
    assert absent == 2 and passed > 0 and failed > 0
    # 50.10 → 60.10: total 66.70, 不合格 → 合格.
    await _apply(driver, correction_request(SEQ_12, "practical", "60.10"))
    assert await _counts(driver, pool) == (candidates, passed + 1, failed - 1, absent)
    # And back, 合格 → 不合格.
    await _apply(driver, correction_request(SEQ_12, "practical", "50.10"))
    assert await _counts(driver, pool) == before
    # 缺考 → 正常 with no score: present and not passed.
    await _apply(driver, correction_request(SEQ_6, "status", "正常"))
    assert await _counts(driver, pool) == (candidates, passed, failed + 1, absent - 1)
    # The summary's version stays the accepted summary's.
    summary = (await driver.status()).summary
    assert summary is not None and summary.version == 1


async def test_part_scores_of_a_candidate_marked_present_are_kept_until_both_are_in(
    make_driver: Any, resources: Any
) -> None:
    """Regression: 缺考 corrected to 正常, then theory 70 was answered 已受理 and
    marked applied, but nothing changed (no 理论成绩 line in the history, theory
    still empty); practical 80 then gave total 80.00 and 不合格."""
    pool, _ = resources
    driver = await driver_in_publicity(make_driver)
    candidates, passed, failed, absent = await _counts(driver, pool)
    accepted = t("plan.accepted")

    present_id, answer = await _applied(
        driver, correction_request(SEQ_6, "status", "正常")
    )
    assert answer.message == accepted
    assert await _history_of(driver, pool, present_id) == [
        ("status", "absent", "present")
    ]
    assert await _counts(driver, pool) == (candidates, passed, failed + 1, absent - 1)

    # Theory alone: kept; no total is derived while the practical score is missing.
    theory_id, answer = await _applied(
        driver, correction_request(SEQ_6, "theory", "70")
    )
    assert answer.message == accepted
    assert await _history_of(driver, pool, theory_id) == [("theory", None, "70")]
    assert await _score_row(driver, pool, SEQ_6) == {
        "status": "present",
        "theory": Decimal("70.00"),
        "practical": None,
        "total": None,
        "passed": False,
    }
    assert await _counts(driver, pool) == (candidates, passed, failed + 1, absent - 1)

    # Both parts in: the total is 0.3 × 70 + 0.7 × 80 = 77.00, and both are
    # at least 60: 合格.
    practical_id, answer = await _applied(
        driver, correction_request(SEQ_6, "practical", "80")
    )
    assert answer.message == accepted
    assert await _history_of(driver, pool, practical_id) == [
        ("practical", None, "80"),
        ("total", None, "77.00"),
        ("passed", "False", "True"),
    ]
    assert await _score_row(driver, pool, SEQ_6) == {
        "status": "present",
        "theory": Decimal("70.00"),
        "practical": Decimal("80.00"),
        "total": Decimal("77.00"),
        "passed": True,
    }
    assert await _counts(driver, pool) == (candidates, passed + 1, failed, absent - 1)

    # The other way round, practical first: no total from the practical score
    # alone (it was 80.00 before), since the plan's rule needs theory too.
    await _apply(driver, correction_request(SEQ_18, "status", "正常"))
    practical_id = await _apply(driver, correction_request(SEQ_18, "practical", "80"))
    assert await _history_of(driver, pool, practical_id) == [("practical", None, "80")]
    row = await _score_row(driver, pool, SEQ_18)
    assert (row["total"], row["passed"]) == (None, False)
    # And back to 缺考: the part scores go with it.
    await _apply(driver, correction_request(SEQ_18, "status", "缺考"))
    assert await _score_row(driver, pool, SEQ_18) == {
        "status": "absent",
        "theory": None,
        "practical": None,
        "total": None,
        "passed": False,
    }
    assert await _counts(driver, pool) == (candidates, passed + 1, failed, absent - 1)


async def test_applying_a_request_for_the_score_on_record_says_nothing_changed(
    make_driver: Any, resources: Any
) -> None:
    """A request for the total its parts already give, filed before such a
    request was refused (the database made to hold one), changes nothing
    when applied: the answer says so instead of a bare 已受理."""
    pool, _ = resources
    driver = await driver_in_publicity(make_driver)
    filed = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "practical", "60.10")
    )
    assert filed.reference
    request_id = filed.reference
    await pool.execute(
        "UPDATE correction_requests SET field = 'total', requested_score = '59.7'"
        " WHERE request_id = $1",
        request_id,
    )

    answer = await approve_and_apply(driver, request_id)

    assert answer.message == t("plan.correction_unchanged")
    assert await _history_of(driver, pool, request_id) == []
    assert (await driver.status()).correction_states[request_id] == "applied"


async def test_a_part_score_of_an_absent_candidate_is_refused_status_first(
    make_driver: Any, resources: Any
) -> None:
    """Regression: theory 70 for a candidate recorded 缺考 was taken as a
    request; applied, it was answered "the score asked for is the one on
    record" (there was none) with no history line, and while it was open
    the status correction that must come first was refused."""
    pool, _ = resources
    driver = await driver_in_publicity(make_driver)

    for field in ("theory", "practical"):
        result = await driver.h.execute_update(
            wf.submit_correction, correction_request(SEQ_6, field, "70")
        )
        assert not result.accepted
        assert [p.code for p in result.problems] == ["score_without_status"]
        assert result.message == t(
            "intake_db.score_without_status",
            admission=SEQ_6,
            status="缺考",
            field=t(f"corrections.reply.field_{field}"),
        )
    # A published score quoted with it is not compared: there is none.
    quoted = await driver.h.execute_update(
        wf.submit_correction,
        correction_request(SEQ_6, "theory", "70").model_copy(
            update={"published_score": "53.1"}
        ),
    )
    assert [p.code for p in quoted.problems] == ["score_without_status"]
    assert (await driver.status()).correction_states == {}
    assert not await pool.fetchval(
        "SELECT count(*) FROM correction_requests WHERE plan_id = $1",
        driver.plan.plan_id,
    )

    # The status correction comes first, nothing open holds it; then the score.
    await _apply(driver, correction_request(SEQ_6, "status", "正常"))
    theory_id = await _apply(driver, correction_request(SEQ_6, "theory", "70"))
    assert await _history_of(driver, pool, theory_id) == [("theory", None, "70")]


async def test_a_part_score_request_filed_before_for_an_absent_candidate(
    make_driver: Any, resources: Any
) -> None:
    """Such a request filed before the check (the database made to hold one:
    the candidate recorded absent after it was filed) is not approved, and
    one approved already is closed saying no score changed, never that the
    score asked for was the one on record."""
    pool, _ = resources
    driver = await driver_in_publicity(make_driver)
    pending = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "theory", "90")
    )
    approved = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "practical", "60.1")
    )
    assert pending.reference and approved.reference
    decided = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(actor=MANAGER, request_id=approved.reference, approve=True),
    )
    assert decided.accepted
    await pool.execute(
        "UPDATE scores SET status = 'absent', theory = NULL, practical = NULL,"
        " total = NULL, passed = false WHERE plan_id = $1 AND admission_number = $2",
        driver.plan.plan_id,
        SEQ_12,
    )

    refused = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(actor=MANAGER, request_id=pending.reference, approve=True),
    )
    applied = await driver.h.execute_update(
        wf.apply_correction,
        CorrectionApply(actor=INFO, request_id=approved.reference),
    )

    assert not refused.accepted
    assert refused.message == t(
        "intake_db.correction_without_score_decide",
        request_id=pending.reference,
        admission=SEQ_12,
        status="缺考",
        field="理论成绩",
    )
    assert applied.accepted
    assert applied.message == t(
        "intake_db.correction_without_score_apply",
        request_id=approved.reference,
        admission=SEQ_12,
        status="缺考",
        field="实操成绩",
    )
    assert await _history_of(driver, pool, approved.reference) == []
    states = (await driver.status()).correction_states
    assert states == {pending.reference: "pending", approved.reference: "applied"}
    # The pending one is rejected, as the answer asks.
    rejected = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(
            actor=MANAGER,
            request_id=pending.reference,
            approve=False,
            reason="考生缺考，请先申请修改考试状态",
        ),
    )
    assert rejected.accepted


async def test_a_request_for_the_value_on_record_is_refused_as_changing_nothing(
    make_driver: Any, resources: Any
) -> None:
    """Regression (staff trial): theory 53.1 asked for a candidate recorded
    with 53.10 was taken as C001; the candidate's real request was then
    refused while C001 was open, C001 was approved, and applied it made a
    platform update file and mailed the school that the score was updated.
    A request for the value on record (a score as the plan compares scores,
    a status by its word) is now refused saying nothing would change."""
    pool, _ = resources
    driver = await driver_in_publicity(make_driver)

    for admission, field, requested, on_record in (
        (SEQ_4, "theory", "53.1", "53.10"),
        (SEQ_12, "total", "59.70", "59.70"),
        (SEQ_6, "status", "缺考", "缺考"),
        (SEQ_12, "status", "正常", "正常"),
    ):
        result = await driver.h.execute_update(
            wf.submit_correction,
            correction_request(admission, field, requested).model_copy(
                update={"published_score": "" if field == "status" else on_record}
            ),
        )
        assert not result.accepted, (field, requested)
        assert [p.code for p in result.problems] == ["requested_on_record"]
        assert result.message == t(
            "intake_db.requested_on_record",
            admission=admission,
            field=t(f"corrections.reply.field_{field}"),
            on_record=on_record,
            requested=requested,
        )
    assert (await driver.status()).correction_states == {}
    assert not await pool.fetchval(
        "SELECT count(*) FROM correction_requests WHERE plan_id = $1",
        driver.plan.plan_id,
    )

    # Nothing open holds the candidate's real request back.
    request_id = await _apply(driver, correction_request(SEQ_4, "theory", "63.1"))
    history = await _history_of(driver, pool, request_id)
    assert history[0] == ("theory", "53.10", "63.1")


async def test_a_comma_or_a_full_stop_for_the_decimal_point_is_named(
    make_driver: Any,
) -> None:
    """Trial: 实操成绩 "60,10" (a comma for the point) or "60。10" (the
    full stop a Chinese input method types for ".") was refused as no score
    of 0 to 100, and its 原成绩 "50,1" as not the published 50.10: the site
    was left to find the one wrong character. Both now say the point must
    be written ".", and what the value then reads."""
    driver = await driver_in_publicity(make_driver)

    for requested in ("60,10", "60，10", "60。10"):
        result = await driver.h.execute_update(
            wf.submit_correction,
            correction_request(SEQ_12, "practical", requested).model_copy(
                update={"published_score": "50,1"}
            ),
        )
        assert not result.accepted
        assert [p.message for p in result.problems] == [
            t("intake_db.bad_score_mark", value=requested, meant="60.10"),
            t("intake_db.published_mark", given="50,1", meant="50.1"),
        ]
    assert (await driver.status()).correction_states == {}


async def test_a_comma_typed_into_another_published_score_is_said_to_differ(
    make_driver: Any,
) -> None:
    """A 原成绩 "53,1" for a published 50.10 was answered only that its point
    must be "."; written "53.1" as told, it was then refused as not the
    published score. A slip is named so only when the value meant is the
    one on record; another value is said to differ, as it always was."""
    driver = await driver_in_publicity(make_driver)

    result = await driver.h.execute_update(
        wf.submit_correction,
        correction_request(SEQ_12, "practical", "60.10").model_copy(
            update={"published_score": "53,1"}
        ),
    )

    assert not result.accepted
    assert [p.message for p in result.problems] == [
        t("intake_db.published_differs", given="53,1", on_record="50.10")
    ]
