"""Mail that would flood a plan, and a plan that takes no action just then.

Regression: one mailed form of some 2,000 rows made every row an action on
its plan; the poll took 54 s, the reply listed 2,099 refusals and the plan's
history grew past every limit. A mail holding more requests than
``[mailbox] max_requests_per_mail`` is now refused whole, before any plan is
asked. And a plan whose run refuses actions for a while (it continues as
new) holds back its own mail only: the poll goes on with the others.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.documents import DocumentStore
from certflow.activity_models import CorrectionRecord
from certflow.config import Settings
from certflow.corrections import RefusalReason, refusal_text
from starter.smtp_sink import body_text
from tests.corrections.mail_intake_support import (
    SITE_ADDRESS,
    IntakeRig,
    correction_body,
    filled_form,
    intake_rig,
)
from tests.support import (
    INFO,
    HeldAnswer,
    correction_request,
    updates_accepted,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

# The limit these tests set, so that a form over it is a few rows long.
LIMIT = 3
# Seq 12 of the sample summary: practical 50.1; 60.1 passes.
CANDIDATE = "2026110412012"


def limited(worker_settings: Settings) -> Settings:
    mailbox = worker_settings.mailbox.model_copy(
        update={"max_requests_per_mail": LIMIT}
    )
    return worker_settings.model_copy(update={"mailbox": mailbox})


async def mail_form(rig: IntakeRig, plan_id: str, rows: int, folder: Path) -> Any:
    """Mail the site's form holding ``rows`` requests for candidates the plan
    does not have (each refused by the plan, once it is asked)."""
    requests: list[list[object]] = [
        [plan_id, "雷芳彬", None, f"20261104990{n:02d}", "1-1", "实操成绩",
         "50.1", "60.1", "实操评分表抄录错误", "考务办"]
        for n in range(rows)
    ]  # fmt: skip
    form = filled_form(requests, folder / f"成绩修改申请表-{rows}.xlsx")
    return await rig.mail_in_form(plan_id, form)


async def test_a_form_over_the_limit_is_refused_whole_before_its_plan_is_asked(
    env: WorkflowEnvironment,
    resources: tuple[Any, DocumentStore],
    worker_settings: Settings,
    tmp_path: Path,
) -> None:
    async with intake_rig(env, resources, limited(worker_settings), tmp_path) as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        before = await updates_accepted(driver)
        history = (await driver.status()).history

        over = await mail_form(rig, plan_id, LIMIT + 1, tmp_path)
        run = await rig.poll()

        assert run.counts == {"refused": 1}
        assert await updates_accepted(driver) == before
        assert (await driver.status()).history == history
        row = await rig.pool.fetchrow(
            "SELECT * FROM mail_messages WHERE message_id = $1", over["Message-ID"]
        )
        expected = refusal_text(
            RefusalReason.TOO_MANY_REQUESTS, count=LIMIT + 1, limit=LIMIT
        )
        assert (row["status"], row["reasons"]) == ("refused", expected)
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert expected in body_text(reply)

        # A form at the limit reaches the plan, one action per request.
        await mail_form(rig, plan_id, LIMIT, tmp_path)
        run = await rig.poll()

        assert run.counts == {"refused": 1}
        assert await updates_accepted(driver) == before + LIMIT
        replies = rig.replies_to(SITE_ADDRESS)
        assert len(replies) == 2
        assert body_text(replies[-1]).count("中没有准考证号为") == LIMIT


async def test_a_plan_continuing_as_new_holds_back_its_own_mail_only(
    env: WorkflowEnvironment,
    resources: tuple[Any, DocumentStore],
    worker_settings: Settings,
    tmp_path: Path,
) -> None:
    """Plan A takes one action per run: a staff request held under way keeps
    it waiting to continue as new, refusing the mailed one meanwhile. The
    poll leaves A's mail for later and files B's; A's is read once A has
    continued."""
    busy: list[str] = []
    hold = HeldAnswer(
        "record_correction",
        when=lambda req: (
            isinstance(req, CorrectionRecord)
            and req.plan.plan_id in busy
            and req.entered_by == INFO.person
        ),
    )
    options: dict[str, Any] = {"interceptors": [hold]}
    async with intake_rig(env, resources, worker_settings, tmp_path, **options) as rig:
        # Both opened on the same day: B's is the day A's publicity opens.
        plan_a = await rig.plan_in_publicity(opened=False, update_limit=1)
        plan_b = await rig.plan_in_publicity(then_poll=True)
        busy.append(plan_a.plan.plan_id)
        try:
            staff = asyncio.create_task(
                plan_a.h.execute_update(
                    ExamPlanWorkflow.submit_correction,
                    correction_request(CANDIDATE, "practical", "60.1"),
                )
            )
            await asyncio.wait_for(hold.written.wait(), 30)
            # A's asks the score staff asked about: refused once A is free.
            for driver in (plan_a, plan_b):
                plan_id = driver.plan.plan_id
                await rig.mail_in(
                    f"{plan_id} 成绩修改申请", correction_body(plan_id, CANDIDATE)
                )

            run = await rig.poll()

            assert run.counts == {"deferred": 1, "received": 1}
            assert rig.unacknowledged() == 1
            assert len(rig.replies_to(SITE_ADDRESS)) == 1
            assert list((await plan_b.status()).correction_states) == [
                f"{plan_b.plan.plan_id}-C001"
            ]
        finally:
            hold.released.set()
        filed = await asyncio.wait_for(staff, 30)
        assert filed.accepted, filed.message

        # A's run closes once the staff request is answered; a poll in that
        # moment is still deferred, and the next one reaches the new run.
        run = await rig.poll()
        for _ in range(20):
            if run.counts != {"deferred": 1}:
                break
            await asyncio.sleep(0.5)
            run = await rig.poll()

        assert run.counts == {"refused": 1}
        assert rig.unacknowledged() == 0
        assert len(rig.replies_to(SITE_ADDRESS)) == 2
