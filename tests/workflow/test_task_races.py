"""A plan keeps going when a timer fires, or a mail goes out, while a workflow
task that cancels it is under way.

Regression (training stack): a plan started after its deadline, its summary
uploaded at once, stuck for good as its first overdue notices fell due. The
worker's task handling the upload's intake cancelled the loop's timer, which
had fired meanwhile. The time-skipping test server (the training stack's)
refused the task ("invalid history builder state for action") after applying
part of its commands, and refused every later attempt ("Already open activity
with 4"): no action on the plan was answered again, and the clock no longer
moved. A mail withdrawn while it went out did the same ("ACTIVITY_UNKNOWN").
The real server drops the fired timer, or the finished activity, instead: the
plan never cancels either, so it runs alike on both.

Each test holds one workflow task of the plan open for as long as the race
needs (a codec that takes its time, as a loaded worker would) on a worker of
its own with no workflow cache, so every task replays the whole history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState

from certflow.actions import CancelRequest
from certflow.i18n import t
from certflow.timeutil import cst_date
from tests.support import (
    INTAKE_ANSWER,
    LEAD,
    SITE,
    TECH,
    HeldAnswer,
    HeldTask,
    PlanDriver,
    first_timer_fired,
    own_worker,
    pending_notify,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# What the answer of the database to an accepted cancellation holds.
CANCEL_ANSWER = b'"cancelled":true'
# An update that is not answered by then never will be.
ANSWER_WAIT = 30


async def _mail_sent(driver: PlanDriver) -> None:
    """Return once the server has the answer of the plan's mail under way."""
    for _ in range(100):
        if not any(
            a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for a in await pending_notify(driver)
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the mail's answer never reached the server")


async def _summary_then_next_answered(driver: PlanDriver, task: HeldTask) -> None:
    """The summary upload is answered across the race ``task`` holds, and the
    next upload after it: the plan goes on."""
    summary = driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
    )
    result = await asyncio.wait_for(summary, ANSWER_WAIT)
    assert task.held
    assert result.accepted, result.problems
    candidates = driver.upload(
        ExamPlanWorkflow.upload_candidate_sign_in,
        SITE,
        driver.files["candidates"],
    )
    result = await asyncio.wait_for(candidates, ANSWER_WAIT)
    assert result.accepted, result.problems


def _sending(mail: HeldAnswer, driver: PlanDriver) -> Callable[[], Awaitable[None]]:
    """What the held task waits for: ``mail`` let go, and its answer at the server."""

    async def send() -> None:
        mail.released.set()
        await _mail_sent(driver)

    return send


async def test_an_upload_taken_as_the_first_alarms_fall_due_is_answered(
    make_driver: Any, resources: Any, env: Any
) -> None:
    """The tester's run: the timer loop's first timer (a second, the alarms
    being due already) fired while the task taking the intake's answer ran,
    and that task cancelled it."""
    today = cst_date(await env.get_current_time())
    driver: PlanDriver = await make_driver(exam_end_date=today - timedelta(days=63))
    task = HeldTask(INTAKE_ANSWER, lambda: first_timer_fired(driver.h, driver.env))
    async with own_worker(driver, resources, codec=task, max_cached_workflows=0):
        await driver.start()
        await _summary_then_next_answered(driver, task)
        # The notices went out.
        status = await driver.wait_for(
            lambda s: len(s.owed) == 3 and all(o.escalations_sent for o in s.owed)
        )
        assert {o.duty for o in status.owed} == {
            "signed_scan",
            "evaluator_sign_in",
            "summary_confirmation",
        }


def _overdue_notice_of(duty: str) -> Callable[[Any], bool]:
    return lambda note: bool(
        note.template == "alarm_overdue"
        and note.fields.get("duty") == t(f"duties.{duty}")
    )


async def test_an_overdue_notice_sent_as_its_duty_is_done_keeps_the_plan_going(
    make_driver: Any, resources: Any, env: Any
) -> None:
    """The summary's overdue notice went out while the task taking the
    intake's answer ran; that task withdrew the notice, its duty done."""
    today = cst_date(await env.get_current_time())
    driver: PlanDriver = await make_driver(exam_end_date=today - timedelta(days=63))
    mail = HeldAnswer("notify", when=_overdue_notice_of("score_summary"))

    task = HeldTask(INTAKE_ANSWER, _sending(mail, driver))
    async with own_worker(
        driver, resources, codec=task, interceptors=[mail], max_cached_workflows=0
    ):
        await driver.start()
        await asyncio.wait_for(mail.written.wait(), ANSWER_WAIT)
        await _summary_then_next_answered(driver, task)
        # The notice went out before its duty was done: it counts.
        status = await driver.status()
        assert "score_summary" not in {o.duty for o in status.owed}


async def test_a_plan_cancelled_as_its_opening_mail_goes_out_ends(
    make_driver: Any, resources: Any
) -> None:
    """The opening mail went out while the task taking the database's
    answer to the cancellation ran; that task withdrew the plan's mails."""
    driver: PlanDriver = await make_driver()
    mail = HeldAnswer("notify", when=lambda note: note.template == "submission_opened")

    task = HeldTask(CANCEL_ANSWER, _sending(mail, driver))
    async with own_worker(
        driver, resources, codec=task, interceptors=[mail], max_cached_workflows=0
    ):
        await driver.start()
        await asyncio.wait_for(mail.written.wait(), ANSWER_WAIT)
        cancel = driver.h.execute_update(
            ExamPlanWorkflow.cancel_plan,
            CancelRequest(actor=TECH, reason="计划重复创建"),
        )
        result = await asyncio.wait_for(cancel, ANSWER_WAIT)

        assert task.held
        assert result.accepted, result.message
        outcome = await asyncio.wait_for(driver.h.result(), ANSWER_WAIT)
        assert outcome.stage == "cancelled"
