"""A plan flooded with actions that change nothing continues as new.

Regression: a plan looked whether to continue as new only when its timer loop
woke for an alarm or a changed duty. Refused uploads and refused correction
requests change no duty, so a mailed form of 2,000 rows grew one run to
38,103 events (its limit is 10,000), and after 2,000 updates the server
refused every further action on the plan until its next timer, days later.
These plans get a small update or history limit in their input and are
flooded with refused actions: each continues as new, carries its whole state,
and its deadlines still fire on the day they are due.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from certflow.actions import CorrectionDecision, PlanStatus
from certflow.activity_models import ProcessUpload
from certflow.config import DeadlinePolicy
from certflow.i18n import t
from certflow.models import DocumentKind, Stage
from certflow.plan_busy import CONTINUING_AS_NEW
from certflow.timeutil import end_of_day
from starter.smtp_sink import MailSink, read_messages
from tests.conftest import replay_all
from tests.support import (
    LEAD,
    MANAGER,
    SITE,
    HeldAnswer,
    PlanDriver,
    correction_request,
    empty_workbook,
    mails_of,
    notify_attempts,
    refusal_text,
    runs_of,
    worker_holding,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

POLICY = DeadlinePolicy(
    remind_before=[timedelta(days=3), timedelta(days=1)],
    overdue_repeat=timedelta(days=2),
)
# No candidate of the sample plan has this admission number: refused by the
# plan's own check, after its validator let the request through.
NOBODY = "2026110499999"


async def run_handles(driver: PlanDriver) -> list[WorkflowHandle[Any, Any]]:
    """A handle on each run of the plan, for replaying every one of them."""
    return [
        driver.client.get_workflow_handle(driver.h.id, run_id=run)
        for run in await runs_of(driver)
    ]


async def continued(driver: PlanDriver, runs: int = 2) -> list[str]:
    """Wait (10 s at most) until the plan has had ``runs`` runs; return them."""
    found: list[str] = []
    for _ in range(100):
        found = await runs_of(driver)
        if len(found) >= runs:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"the plan ran {len(found)} run(s), never {runs}")


def owed(status: PlanStatus) -> list[tuple[str, Any, int]]:
    return [(o.key, o.deadline_day, o.reminders_sent) for o in status.owed]


async def test_a_flood_of_refused_uploads_continues_as_new_and_keeps_deadlines(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY, update_limit=5)
    wf = ExamPlanWorkflow
    accepted = await driver.upload(
        wf.upload_score_summary, LEAD, driver.files["summary"]
    )
    assert accepted.accepted, accepted.problems
    before = await driver.status()
    empty = empty_workbook(driver.tmp)

    # Eight refused sign-in sheets: nine updates, the fifth reaching the limit.
    for _ in range(8):
        refused = await driver.upload(wf.upload_candidate_sign_in, SITE, empty)
        assert not refused.accepted

    runs = await continued(driver)
    after = await driver.status()
    assert len(runs) == 2
    assert after.documents == before.documents
    assert after.document_versions == before.document_versions
    assert after.summary == before.summary
    assert owed(after) == owed(before)
    assert after.history[: len(before.history)] == before.history
    refusals = [h for h in after.history if h.action.endswith(":refused")]
    assert len(refusals) == 8

    # The reminders of the plan's deadlines come on their day, from the new run.
    deadline = end_of_day(driver.plan.exam_end_date + timedelta(days=15))
    await driver.skip_to(deadline - timedelta(days=3) - timedelta(hours=1))
    assert all(o.reminders_sent == 0 for o in (await driver.status()).owed)
    await driver.skip_to(deadline - timedelta(days=3) + timedelta(hours=1))
    reminded = await driver.wait_for(
        lambda s: all(o.reminders_sent == 1 for o in s.owed)
    )
    assert [o.key for o in reminded.owed] == [o.key for o in before.owed]
    assert len(await runs_of(driver)) == 2
    # Taken as usual by the new run.
    result = await driver.upload(
        wf.upload_candidate_sign_in, SITE, driver.files["candidates"]
    )
    assert result.accepted, result.problems
    await replay_all(await run_handles(driver))


async def test_a_flood_of_refused_requests_continues_as_new_past_its_history_limit(
    make_driver: Any,
) -> None:
    """The history limit alone (the update limit left at its default): some
    200 events reach publicity, each refused request adds about 18."""
    driver: PlanDriver = await make_driver()
    await driver.start(history_event_limit=400)
    await driver.submit_everything()
    await driver.approve_review()
    await driver.confirm_upload()
    window = (await driver.open_publicity()).publicity
    assert window is not None
    filed = await driver.h.execute_update(
        ExamPlanWorkflow.submit_correction,
        correction_request("2026110412012", "practical", "60.1"),
    )
    assert filed.accepted, filed.message
    before = await driver.status()
    assert len(await runs_of(driver)) == 1

    for _ in range(20):
        refused = await driver.h.execute_update(
            ExamPlanWorkflow.submit_correction,
            correction_request(NOBODY, "practical", "60.1"),
        )
        assert not refused.accepted

    await continued(driver)
    after = await driver.status()
    assert after.stage == Stage.PUBLICITY
    assert after.publicity == before.publicity
    assert (
        after.correction_states
        == before.correction_states
        == {filed.reference: "pending"}
    )
    assert owed(after) == owed(before)
    assert after.history[: len(before.history)] == before.history
    # The request filed before is decided on the new run.
    decided = await driver.h.execute_update(
        ExamPlanWorkflow.decide_correction,
        CorrectionDecision(
            actor=MANAGER, request_id=filed.reference, approve=False, reason="核实无误"
        ),
    )
    assert decided.accepted, decided.message

    # Publicity ends at the end of its last day, not before.
    publicity_end = end_of_day(window.end_day)
    await driver.skip_to(publicity_end - timedelta(hours=1))
    assert (await driver.status()).stage == Stage.PUBLICITY
    await driver.skip_to(publicity_end + timedelta(hours=1))
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    await replay_all(await run_handles(driver))


async def updates_taken(handle: WorkflowHandle[Any, Any]) -> int:
    """How many updates the run of ``handle`` took (refused ones leave no event)."""
    history = await handle.fetch_history()
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return sum(1 for event in history.events if event.event_type == accepted)


async def test_actions_arriving_while_the_plan_waits_to_continue_are_sent_again(
    make_driver: Any, resources: Any
) -> None:
    """A stream of actions, each arriving before the last is answered, would
    keep the plan from ever finding none under way: those arriving once it
    waits to continue as new are refused unrecorded, and taken by the new run
    when sent again."""
    driver: PlanDriver = await make_driver()
    hold = HeldAnswer(
        "process_upload",
        when=lambda req: (
            isinstance(req, ProcessUpload)
            and req.kind is DocumentKind.CANDIDATE_SIGN_IN
        ),
    )
    wf = ExamPlanWorkflow
    async with worker_holding(driver, resources, hold):
        await driver.start(update_limit=2)
        accepted = await driver.upload(
            wf.upload_score_summary, LEAD, driver.files["summary"]
        )
        assert accepted.accepted, accepted.problems
        try:
            # The second update reaches the limit; its intake is held under way.
            under_way = asyncio.create_task(
                driver.upload(
                    wf.upload_candidate_sign_in, SITE, empty_workbook(driver.tmp)
                )
            )
            await asyncio.wait_for(hold.written.wait(), 30)

            # Taken, it would wait for the upload under way (the plan's lock).
            meanwhile = await asyncio.wait_for(
                refusal_text(
                    driver.upload(
                        wf.upload_evaluator_sign_in, SITE, driver.files["evaluators"]
                    )
                ),
                30,
            )
            assert meanwhile == f"{CONTINUING_AS_NEW}: {t('plan.continuing_as_new')}"
            assert len(await runs_of(driver)) == 1
        finally:
            # Released whatever happened: a held attempt keeps the worker open.
            hold.released.set()
        refused = await asyncio.wait_for(under_way, 30)
        assert not refused.accepted
        first, _ = await continued(driver)
        again = await driver.upload(
            wf.upload_evaluator_sign_in, SITE, driver.files["evaluators"]
        )
        assert again.accepted, again.problems
        status = await driver.status()

    first_run = driver.client.get_workflow_handle(driver.h.id, run_id=first)
    assert await updates_taken(first_run) == 2
    assert status.document_versions == {
        DocumentKind.SCORE_SUMMARY: 1,
        DocumentKind.EVALUATOR_SIGN_IN: 1,
    }
    actions = [h.action for h in status.history]
    assert actions.count("upload_candidate_sign_in:refused") == 1
    assert actions.count("upload_evaluator_sign_in") == 1
    await replay_all(await run_handles(driver))


@pytest_asyncio.fixture(loop_scope="session")
async def late_sink(smtp_port: int, tmp_path: Path) -> AsyncIterator[MailSink]:
    """The mail server that comes back, on the port the worker mails to and
    where nothing listens until the test starts it (a real outage)."""
    sink = MailSink("127.0.0.1", smtp_port, tmp_path / "mailbox")
    yield sink
    await sink.stop()


async def test_while_mail_is_down_actions_are_taken_and_the_plan_continues_after(
    make_driver: Any, late_sink: MailSink
) -> None:
    """A plan continues as new only once its mails have gone out; meanwhile
    staff actions are taken as usual, never refused as arriving too late."""
    driver: PlanDriver = await make_driver()
    await driver.start(update_limit=2)
    wf = ExamPlanWorkflow
    empty = empty_workbook(driver.tmp)
    for _ in range(4):
        refused = await driver.upload(wf.upload_candidate_sign_in, SITE, empty)
        assert not refused.accepted
    assert await notify_attempts(driver) >= 1
    accepted = await driver.upload(
        wf.upload_score_summary, LEAD, driver.files["summary"]
    )
    assert accepted.accepted, accepted.problems
    assert len(await runs_of(driver)) == 1

    # The mail server answers again; the notify activity retries within a minute.
    await late_sink.start()
    await driver.skip_by(timedelta(minutes=1, seconds=5))
    await continued(driver)
    await mails_of(
        lambda: read_messages(late_sink.root),
        driver.plan.plan_id,
        "upload_refused",
        count=4,
    )
    status = await driver.status()
    assert status.document_versions == {DocumentKind.SCORE_SUMMARY: 1}
    await replay_all(await run_handles(driver))
