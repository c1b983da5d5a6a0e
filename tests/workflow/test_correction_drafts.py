"""A correction request's personal parts, kept apart from the plan's history
(``activities.correction_drafts``): what the plan files from a draft, and
what it refuses, whichever client kept it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.correction_drafts import drafted, refusal_of
from activities.documents import DocumentStore
from activities.intake import IntakeActivities
from certflow.actions import CorrectionSubmission
from certflow.activity_models import CorrectionRecord
from certflow.i18n import t
from tests.support import (
    INFO,
    SEQ_12,
    PlanDriver,
    driver_in_publicity,
    history_bytes,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
wf = ExamPlanWorkflow
ID_NUMBER = "110105200412147666"
DRAFTS = "SELECT count(*) FROM correction_drafts WHERE plan_id = $1"


def _asked(reason: str = "实操评分表第 4 项分数抄录错误") -> CorrectionSubmission:
    return CorrectionSubmission(
        actor=INFO,
        admission_number=SEQ_12,
        field="practical",
        published_score="50.1",
        requested_score="60.1",
        reason=reason,
        requester="武汉市交通职业技术学校考务办",
    )


async def test_a_draft_is_refused_for_what_the_plan_would_refuse_in_its_text(
    make_driver: Any, resources: tuple[Any, DocumentStore]
) -> None:
    """The plan's validator refuses a reason or requester holding an ID
    number, or a hidden character; it never sees a draft's, so the activity
    filing it refuses them (a client that skips the senders' checks)."""
    pool = resources[0]
    driver: PlanDriver = await driver_in_publicity(make_driver)
    plan_id = driver.plan.plan_id
    holding = await drafted(pool, plan_id, _asked(f"考生身份证号 {ID_NUMBER} 抄错"))
    hidden = await drafted(pool, plan_id, _asked("分数\u202e抄错"))
    gone = _asked().model_copy(update={"draft": uuid.uuid4().hex})

    answers = [
        await driver.h.execute_update(wf.submit_correction, request)
        for request in (holding, hidden, gone)
    ]

    assert [a.accepted for a in answers] == [False, False, False]
    assert [a.problems[0].code for a in answers] == [
        "holds_id_number",
        "bad_argument",
        "draft_gone",
    ]
    assert t("free_text.fields.reason") in answers[0].message
    assert ID_NUMBER not in answers[0].message
    assert answers[2].message == t("intake_db.correction_draft_gone")
    assert ID_NUMBER.encode() not in await history_bytes(driver.h)
    assert (await driver.status()).correction_states == {}
    # A refused draft is its sender's to delete (the staff tool and the
    # mailbox do); the plan keeps none of it.
    assert await pool.fetchval(DRAFTS, plan_id) == 2

    filed = await driver.h.execute_update(
        wf.submit_correction, await drafted(pool, plan_id, _asked())
    )
    assert filed.accepted, filed.message
    assert await pool.fetchval(DRAFTS, plan_id) == 2  # the filed one is gone


async def test_a_filing_retried_after_its_answer_was_lost_is_filed_once(
    make_driver: Any, resources: tuple[Any, DocumentStore]
) -> None:
    """The draft is deleted as the request is filed: an attempt after one
    whose answer was lost finds no draft, and answers filed, not gone."""
    pool, store = resources
    driver: PlanDriver = await driver_in_publicity(make_driver)
    plan_id = driver.plan.plan_id
    sent = await drafted(pool, plan_id, _asked())
    record = CorrectionRecord(
        plan=driver.plan,
        request_id=f"{plan_id}-C901",
        admission_number=SEQ_12,
        field="practical",
        published_score="",
        requested_score="",
        reason="",
        requester="",
        requester_email="",
        received_at=datetime.now(UTC),
        entered_by="ic-li",
        draft=sent.draft,
    )
    intake = IntakeActivities(pool, store)
    env = ActivityEnvironment()  # each run is the same activity of one plan run

    first = await env.run(intake.record_correction, record)
    again = await env.run(intake.record_correction, record)

    assert first.accepted and again.accepted, (first, again)
    rows = await pool.fetch(
        "SELECT requested_score, reason FROM correction_requests WHERE plan_id = $1",
        plan_id,
    )
    assert [tuple(r) for r in rows] == [("60.1", "实操评分表第 4 项分数抄录错误")]
    assert await pool.fetchval(DRAFTS, plan_id) == 0


async def test_a_drafted_requests_refusal_quotes_no_score_into_the_history(
    make_driver: Any, resources: tuple[Any, DocumentStore]
) -> None:
    """A refusal quoting the request's scores (an invalid score asked, a
    published score not the one on record, and that one) would put them in
    the history the draft keeps them out of: the plan's answer names the
    problems by code, and their words wait with the draft for its sender."""
    pool = resources[0]
    driver: PlanDriver = await driver_in_publicity(make_driver)
    plan_id = driver.plan.plan_id
    asked = _asked().model_copy(
        update={"published_score": "47.35", "requested_score": "101.5"}
    )
    sent = await drafted(pool, plan_id, asked)

    answer = await driver.h.execute_update(wf.submit_correction, sent)

    assert not answer.accepted
    assert {p.code for p in answer.problems} == {"bad_score", "published_differs"}
    history = await history_bytes(driver.h)
    for score in ("47.35", "101.5", "50.10"):
        assert score.encode() not in history, score
    # Its sender reads what the plan would have said.
    told = await refusal_of(pool, sent.draft)
    assert told is not None
    words = " ".join(p.message for p in told)
    assert "101.5" in words and "47.35" in words and "50.10" in words
