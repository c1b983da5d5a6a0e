"""A plan and a batch refuse a free text over its bound, and carry their state bounded.

Found by a trial on a real server: only a cancellation's reason had a limit.
Eighteen send-backs of a plan with 43,000-character reasons made the state it
carried to its next run (continue-as-new) 2.2 MB, over the server's 2 MB
payload limit: the worker failed its task on every retry, every action waited
120 s and ``certflow status`` failed, the plan lost for good. One such reason
also made every status print 1.7 MB.

Now every update's validator refuses a text longer than its bound, or holding
a hidden character, before anything is recorded (``certflow.free_text``); a
batch refuses a plan given two reasons; and whatever a plan carries to its
next run is bounded, also what plans recorded before the bounds
(``PlanState.carried``, patch ``bounded-carry``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from certflow.actions import (
    BatchDecisionRequest,
    CancelRequest,
    ExamPlanInput,
    Rejection,
    plan_workflow_id,
)
from certflow.calendar import score_submission_deadline
from certflow.free_text import (
    DETAIL_MAX_LENGTH,
    REASON_MAX_LENGTH,
)
from certflow.i18n import t
from certflow.models import Actor, PlanInfo, Role
from certflow.plan import (
    HISTORY_KEEP,
    NOTE_KEPT,
    SUBMISSION_DUTIES,
    VOIDED_KEPT,
    Duty,
    HistoryEntry,
    PlanState,
    VoidedInvoice,
)
from tests.conftest import replay_all
from tests.support import (
    GM,
    LEAD,
    PlanDriver,
    refusal_text,
    runs_of,
    sample_plan,
    updates_accepted,
)
from tests.workflow.test_deadlines import POLICY
from tests.workflow.test_update_flood import continued, run_handles
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

ADMIN = Actor(role=Role.ADMIN, person="admin-liu")


def too_long(field: str, length: int) -> str:
    return "bad_argument: " + t(
        "free_text.too_long",
        field=field,
        limit=REASON_MAX_LENGTH,
        length=length,
        hint=t("free_text.hints.reason"),
    )


async def test_a_reason_over_its_bound_is_refused_before_it_is_recorded(
    make_driver: Any,
) -> None:
    """Regression (trial): a send-back took a 43,000-character reason."""
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    await driver.submit_everything()
    await driver.wait_for(lambda s: any(o.duty == "consistency_review" for o in s.owed))
    before = await driver.status()
    taken = await updates_accepted(driver)
    longer = "因" * (REASON_MAX_LENGTH + 1)

    sent_back = await refusal_text(driver.send_back([Duty.SCORE_SUMMARY], longer))
    turned = await refusal_text(
        driver.send_back([Duty.SCORE_SUMMARY], "汇总表\u202e有误")
    )
    cancelled = await refusal_text(
        driver.h.execute_update(
            ExamPlanWorkflow.cancel_plan, CancelRequest(actor=ADMIN, reason=longer)
        )
    )

    assert sent_back == too_long("理由", REASON_MAX_LENGTH + 1)
    assert turned == "bad_argument: " + t(
        "free_text.hidden_lines", field="理由", chars="U+202E"
    )
    # Refused by the validator, as the others: no longer when decoded.
    assert cancelled == too_long("理由", REASON_MAX_LENGTH + 1)
    # Nothing recorded: no update taken, no history line.
    assert await updates_accepted(driver) == taken
    assert (await driver.status()).history == before.history

    # The longest reason, on several lines, is taken whole.
    longest = "因" * (REASON_MAX_LENGTH - 5) + "\n\t第二行"
    result = await driver.send_back([Duty.SCORE_SUMMARY], longest)
    assert result.accepted, result.message
    status = await driver.status()
    notes = [h.note for h in status.history if h.outcome == "sent_back"]
    assert notes == [longest]


async def test_a_line_break_counts_as_one_character_however_written(
    make_driver: Any,
) -> None:
    """Regression (review): a CR LF counted two characters toward the bound,
    so a reason of 500 characters on two lines was refused as 501 (and one of
    501 said to have 502), and a CR alone was refused as a control character
    though a reason keeps its line breaks. Only the validator reads it so:
    what the plan records of a reason it takes is as it was."""
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    await driver.submit_everything()
    await driver.wait_for(lambda s: any(o.duty == "consistency_review" for o in s.owed))
    half = "因" * (REASON_MAX_LENGTH // 2)

    over = await refusal_text(
        driver.send_back([Duty.SCORE_SUMMARY], half + "\r\n" + half)
    )
    assert over == too_long("理由", REASON_MAX_LENGTH + 1)

    longest = "第一行\r第二行\r\n" + "因" * (REASON_MAX_LENGTH - 8)
    assert len(longest) == REASON_MAX_LENGTH + 1
    result = await driver.send_back([Duty.SCORE_SUMMARY], longest)
    assert result.accepted, result.message
    notes = [h.note for h in (await driver.status()).history if h.note]
    assert notes[-1] == longest


def old_state(plan: PlanInfo, now: datetime) -> PlanState:
    """A plan's state as one recorded before the bounds could hold it: its
    history full of send-backs with 4,000-character reasons, and more voided
    invoices (with long reasons) than a plan now carries."""
    state = PlanState(info=plan, policy=POLICY, started_at=now)
    deadline = score_submission_deadline(plan.exam_end_date)
    for duty in SUBMISSION_DUTIES:
        state.open_duty(duty, now, deadline)
    long = "退" * 4000
    state.history = [
        HistoryEntry(
            at=now,
            action="review_consistency",
            role=Role.REGIONAL_CONTACT,
            person="rc-zhang",
            outcome="sent_back",
            note=long,
        )
        for _ in range(HISTORY_KEEP)
    ]
    state.sent_back_reason = long
    state.payment.method = "转" * 4000
    state.payment.voided_invoices = [
        VoidedInvoice(
            number=str(10_000_000 + i),
            voided_at=now,
            role=Role.FINANCE,
            person="fin-sun",
            reason="废" * 1000,
        )
        for i in range(VOIDED_KEPT + 30)
    ]
    return state


async def test_a_plan_recorded_before_the_bounds_carries_its_state_bounded(
    make_driver: Any,
) -> None:
    """A plan whose state holds texts taken before the bounds continues as
    new with every text cut to its bound and its last voided invoices: the
    input of its next run stays far below the server's 2 MB, where it was
    over 1 MB here (and 2.2 MB in the trial). Its status shows what it
    carries, before and after."""
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    await driver.wait_for(lambda s: len(s.owed) == len(SUBMISSION_DUTIES))
    # The plan's row is written: its run is replaced by one carrying an old
    # state, as a plan continued as new before the bounds.
    await driver.h.terminate("replaced by a run of a plan from before the bounds")
    now = await driver.env.get_current_time()
    state = old_state(driver.plan, now)
    driver.handle = await driver.client.start_workflow(
        ExamPlanWorkflow.run,
        ExamPlanInput(info=driver.plan, policy=POLICY, state=state, update_limit=1),
        id=plan_workflow_id(driver.plan.plan_id),
        task_queue=driver.settings.temporal.task_queue,
    )
    shown = await driver.status()
    assert {len(h.note) for h in shown.history} == {NOTE_KEPT}

    result = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
    )
    assert result.accepted, result.problems
    runs = await continued(driver)

    first = driver.client.get_workflow_handle(driver.h.id, run_id=runs[0])
    ended = (await first.fetch_history()).events[-1]
    payload = ended.workflow_execution_continued_as_new_event_attributes.input.payloads[
        0
    ]
    converter = driver.client.data_converter.payload_converter
    carried = converter.from_payload(payload, ExamPlanInput).state
    assert carried is not None
    assert len(payload.data) < 400_000, len(payload.data)
    assert len(carried.history) == HISTORY_KEEP
    assert max(len(h.note) for h in carried.history) <= NOTE_KEPT
    assert carried.history[-1].action == "upload_score_summary"
    assert len(carried.sent_back_reason or "") == REASON_MAX_LENGTH
    assert len(carried.payment.method) == DETAIL_MAX_LENGTH
    voided = carried.payment.voided_invoices
    assert [v.number for v in voided] == [
        str(10_000_000 + i) for i in range(30, VOIDED_KEPT + 30)
    ]
    assert carried.payment.voided_earlier == 30
    assert {len(v.reason) for v in voided} == {REASON_MAX_LENGTH}
    # The next run shows what it holds, as the run before showed it.
    after = await driver.status()
    assert after.history[:-1] == shown.history[1:]
    assert after.payment.voided_earlier == 30
    await replay_all(await run_handles(driver))
    assert len(await runs_of(driver)) == 2


async def test_what_a_plan_carries_is_bounded_whatever_it_recorded() -> None:
    """``carried`` cuts each text staff gave to its bound, leaves the state
    itself as it is, and keeps the last voided invoices; a state within the
    bounds is carried as it is."""
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    state = old_state(sample_plan(now.date(), "P2026-1104-0412"), now)

    carried = state.carried()

    assert len(state.history[0].note) == 4000  # the plan's own, untouched
    assert {len(h.note) for h in carried.history} == {NOTE_KEPT}
    assert carried.history[0].note.endswith("…")
    assert len(carried.payment.voided_invoices) == VOIDED_KEPT
    assert carried.carried() == carried  # bounded already: carried as it is


async def test_a_batch_refuses_a_long_reason_and_a_plan_rejected_twice(
    make_driver: Any,
) -> None:
    """Regression (trial): ``--reject P=不符 --reject P=另一个`` kept the
    second reason without a word. The batch is told every rejection as given
    and refuses a plan named twice, as a reason over its bound; nothing is
    decided."""
    driver: PlanDriver = await make_driver()
    await driver.reach_approval()
    batch = await driver.start_batch()
    await driver.wait_gathered()
    plan_id = driver.plan.plan_id
    longer = "因" * (REASON_MAX_LENGTH + 1)

    long_reason = await refusal_text(
        batch.execute_update(
            ApprovalBatchWorkflow.decide,
            BatchDecisionRequest(actor=GM, reject={plan_id: longer}),
        )
    )
    twice = await refusal_text(
        batch.execute_update(
            ApprovalBatchWorkflow.decide,
            BatchDecisionRequest(
                actor=GM,
                reject={plan_id: "另一个"},
                rejections=[
                    Rejection(plan_id=plan_id, reason="金额不符"),
                    Rejection(plan_id=plan_id, reason="另一个"),
                ],
            ),
        )
    )

    both = await refusal_text(
        batch.execute_update(
            ApprovalBatchWorkflow.decide,
            BatchDecisionRequest(
                actor=GM, approve_all=True, reject={plan_id: "金额不符"}
            ),
        )
    )
    approved_twice = await refusal_text(
        batch.execute_update(
            ApprovalBatchWorkflow.decide,
            BatchDecisionRequest(actor=GM, approve=[plan_id, plan_id]),
        )
    )

    assert long_reason == too_long(f"驳回理由（{plan_id}）", REASON_MAX_LENGTH + 1)
    assert twice == "bad_argument: " + t("batch.rejected_twice", plan_id=plan_id)
    # Regression (trial): which plan was given both ways went unsaid, and a
    # plan approved twice was taken so.
    assert both == "bad_argument: " + t("batch.both", plans=plan_id)
    assert approved_twice == "bad_argument: " + t(
        "batch.approved_twice", plan_id=plan_id
    )
    assert not (await batch.query(ApprovalBatchWorkflow.status)).decided
    decided = await batch.execute_update(
        ApprovalBatchWorkflow.decide,
        BatchDecisionRequest(
            actor=GM,
            reject={plan_id: "金额不符"},
            rejections=[Rejection(plan_id=plan_id, reason="金额不符")],
        ),
    )
    assert decided.rejected == {plan_id: "金额不符"}
    await replay_all([batch])
