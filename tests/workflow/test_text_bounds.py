"""A plan and a batch refuse a free text over its bound.

Found by a trial on a real server: only a cancellation's reason had a limit.
Eighteen send-backs of a plan with 43,000-character reasons made the state it
carried to its next run (continue-as-new) 2.2 MB, over the server's 2 MB
payload limit: the worker failed its task on every retry, every action waited
120 s and ``certflow status`` failed, the plan lost for good. One such reason
also made every status print 1.7 MB.

Now every update's validator refuses a text longer than its bound, or holding
a hidden character, before anything is recorded (``certflow.free_text``); and a
batch refuses a plan given two reasons.
"""

from __future__ import annotations

from typing import Any

import pytest

from certflow.actions import (
    BatchDecisionRequest,
    CancelRequest,
    Rejection,
)
from certflow.free_text import (
    REASON_MAX_LENGTH,
)
from certflow.i18n import t
from certflow.models import Actor, Role
from certflow.plan import (
    Duty,
)
from tests.conftest import replay_all
from tests.support import (
    GM,
    PlanDriver,
    refusal_text,
    updates_accepted,
)
from tests.workflow.test_deadlines import POLICY
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

    assert long_reason == too_long(f"驳回理由（{plan_id}）", REASON_MAX_LENGTH + 1)
    assert twice == "bad_argument: " + t("batch.rejected_twice", plan_id=plan_id)
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
