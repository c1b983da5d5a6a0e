"""A correction request the plan gave up on never shadows its next request.

Regression: a plan that gives up on recording a request (every attempt of the
activity failed) gives the same request id to its next request. An attempt
of the request given up, timed out and not stopped, could still write its row
under that id; the next request, finding the row there, kept it, and was
decided and applied with the first request's content. The activity the plan
asked later now holds the row, whichever of the two writes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.mail_intake import (
    MAILBOX_PERSON,
    FilingDeferred,
    MailIntakeActivities,
)
from certflow.actions import ActionResult
from certflow.config import Settings
from certflow.i18n import t
from certflow.models import Actor, Role
from tests.support import (
    SEQ_12,
    PlanDriver,
    approve_and_apply,
    correction_request,
    own_worker,
    settle,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
wf = ExamPlanWorkflow
# Seq 2 of the sample, present.
SEQ_2 = "2026110412002"
# The reasons of the requests whose every attempt fails.
FIRST_GIVEN_UP = "实操评分表第 4 项分数抄录错误"
SECOND_GIVEN_UP = "实操评分表合计有误"


class GivenUp(Interceptor):
    """Fails every attempt of ``record_correction`` for a request with one of
    ``reasons``, as a worker whose database answers too late, until the first
    attempt of it, not stopped, has written (see ``written``)."""

    def __init__(self, pool: Any, *reasons: str) -> None:
        self.pool = pool
        self.failing = set(reasons)
        self.late = {reason: asyncio.Event() for reason in reasons}
        self.writes: dict[str, asyncio.Task[Any]] = {}
        # Cleared, the plan telling the database it gave up waits until set.
        self.forgetting = asyncio.Event()
        self.forgetting.set()

    def intercept_activity(
        self, next: ActivityInboundInterceptor
    ) -> ActivityInboundInterceptor:
        return _GivingUp(next, self)

    async def reason_of(self, arg: Any) -> str | None:
        """The reason of a request, also where its sender kept it apart."""
        draft = getattr(arg, "draft", None)
        if draft is None:
            return getattr(arg, "reason", None)
        return await self.pool.fetchval(  # type: ignore[no-any-return]
            "SELECT reason FROM correction_drafts WHERE draft_key = $1", draft
        )

    async def written(self, reason: str) -> None:
        """Let the first attempt of the request given up write, and wait for
        it; later attempts of a request with that reason are not failed."""
        self.late[reason].set()
        await self.writes[reason]
        self.failing.discard(reason)


class _GivingUp(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, given_up: GivenUp) -> None:
        super().__init__(next)
        self.given_up = given_up

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        given_up = self.given_up
        if activity.info().activity_type == "forget_correction":
            await given_up.forgetting.wait()
        reason = await given_up.reason_of(input.args[0])
        if activity.info().activity_type != "record_correction" or (
            reason not in given_up.failing
        ):
            return await super().execute_activity(input)
        if reason not in given_up.writes:
            given_up.writes[reason] = asyncio.create_task(self._late(input, reason))
        raise ApplicationError("the database answered after the attempt timed out")

    async def _late(self, input: ExecuteActivityInput, reason: str) -> Any:
        await self.given_up.late[reason].wait()
        return await super().execute_activity(input)


async def _submit(
    driver: PlanDriver, admission: str, field: str, requested: str, reason: str
) -> ActionResult:
    request = correction_request(admission, field, requested).model_copy(
        update={"reason": reason}
    )
    result: ActionResult = await driver.h.execute_update(wf.submit_correction, request)
    return result


async def _row(pool: Any, request_id: str) -> tuple[Any, ...]:
    """What the request's row asks: the candidate, the score and its new value."""
    row = await pool.fetchrow(
        "SELECT admission_number, field, requested_score FROM correction_requests"
        " WHERE request_id = $1",
        request_id,
    )
    return tuple(row)


async def _scores(pool: Any, driver: PlanDriver) -> dict[str, dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT admission_number, theory, practical FROM scores WHERE plan_id = $1",
        driver.plan.plan_id,
    )
    return {row["admission_number"]: dict(row) for row in rows}


@contextlib.asynccontextmanager
async def taking_requests(
    driver: PlanDriver, resources: Any, *given_up: str
) -> AsyncIterator[GivenUp]:
    """``driver``'s plan in its publicity period, taking requests, on a worker
    of its own that gives up on those with a reason of ``given_up``."""
    failing = GivenUp(resources[0], *given_up)
    async with own_worker(driver, resources, interceptors=[failing]):
        await driver.reach_publicity()
        await driver.open_publicity()
        yield failing
        # The mails of the requests taken go out before the worker stops.
        assert await settle(driver.client, driver.h.id, any_activity=True)


async def test_a_request_given_up_never_shadows_the_next_one(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    async with taking_requests(
        driver, resources, FIRST_GIVEN_UP, SECOND_GIVEN_UP
    ) as given_up:
        # Given up; its first attempt writes before the next request comes.
        first = await _submit(driver, SEQ_12, "practical", "60.10", FIRST_GIVEN_UP)
        assert not first.accepted and first.message == t("plan.action_failed")
        await given_up.written(FIRST_GIVEN_UP)
        taken = await _submit(driver, SEQ_2, "theory", "88", "理论成绩录入错误")
        assert taken.accepted and taken.reference, taken.message

        assert await _row(pool, taken.reference) == (SEQ_2, "theory", "88")
        before = await _scores(pool, driver)
        await approve_and_apply(driver, taken.reference)
        after = await _scores(pool, driver)
        # The request taken was applied, not the one given up.
        assert after[SEQ_2]["theory"] == Decimal("88")
        assert after[SEQ_12] == before[SEQ_12]

        # Given up; its first attempt writes after the next request took its id.
        second = await _submit(driver, SEQ_12, "practical", "60.10", SECOND_GIVEN_UP)
        assert not second.accepted
        taken_next = await _submit(driver, SEQ_12, "theory", "85", "理论试卷漏评一题")
        assert taken_next.accepted and taken_next.reference, taken_next.message
        await given_up.written(SECOND_GIVEN_UP)

        assert await _row(pool, taken_next.reference) == (SEQ_12, "theory", "85")
        assert [taken.reference, taken_next.reference] == sorted(
            (await driver.status()).correction_states
        )


async def test_a_mailed_request_given_up_and_written_late_is_filed_again(
    make_driver: Any, resources: Any, worker_settings: Settings
) -> None:
    """Regression: the exam mailbox took a request's row for proof its plan
    had filed it. A row written late by an attempt the plan had given up on
    was none: the mail was answered as filed under an id its plan did not
    know, and the request was lost."""
    pool, store = resources
    driver: PlanDriver = await make_driver()
    async with taking_requests(driver, resources, FIRST_GIVEN_UP) as given_up:
        intake = MailIntakeActivities(worker_settings, pool, store, driver.client)
        mailed = correction_request(SEQ_12, "practical", "60.10").model_copy(
            update={
                "actor": Actor(role=Role.INFO_CENTER, person=MAILBOX_PERSON),
                "reason": FIRST_GIVEN_UP,
                "received_at": await driver.env.get_current_time(),
                "source_key": f"{uuid.uuid4().hex}#1",
            }
        )

        # The plan gives up; the mail stays in the mailbox for the next poll.
        with pytest.raises(FilingDeferred):
            await intake.submit(await driver.status(), mailed)
        await given_up.written(FIRST_GIVEN_UP)
        # Read again at the next poll, the worker well again.
        filed = await intake.submit(await driver.status(), mailed)

        assert filed.reference is not None
        assert filed.reference in (await driver.status()).correction_states


async def _requests(pool: Any, driver: PlanDriver) -> list[tuple[Any, ...]]:
    """The plan's rows in ``correction_requests``: id, candidate and score."""
    rows = await pool.fetch(
        "SELECT request_id, admission_number, field FROM correction_requests"
        " WHERE plan_id = $1 ORDER BY request_id",
        driver.plan.plan_id,
    )
    return [tuple(row) for row in rows]


async def test_a_request_given_up_leaves_no_row_however_late_it_is_written(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the row an attempt the plan had given up on wrote late
    stayed in ``correction_requests``, pending and unknown to the plan, for
    every reader to see until the plan's next request took its id over. The
    plan tells the database it gave up: written after, the row is never
    written; written before, it is removed."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    async with taking_requests(
        driver, resources, FIRST_GIVEN_UP, SECOND_GIVEN_UP
    ) as given_up:
        request_id = f"{driver.plan.plan_id}-C001"
        # Written late, once the plan has told the database it gave up.
        first = await _submit(driver, SEQ_12, "practical", "60.10", FIRST_GIVEN_UP)
        assert not first.accepted and first.message == t("plan.action_failed")
        assert await settle(driver.client, driver.h.id, any_activity=True)
        await given_up.written(FIRST_GIVEN_UP)
        assert await _requests(pool, driver) == []

        # Written late, before the plan has told the database it gave up.
        given_up.forgetting.clear()
        second = await _submit(driver, SEQ_12, "practical", "60.10", SECOND_GIVEN_UP)
        assert not second.accepted
        await given_up.written(SECOND_GIVEN_UP)
        assert await _requests(pool, driver) == [(request_id, SEQ_12, "practical")]
        given_up.forgetting.set()
        assert await settle(driver.client, driver.h.id, any_activity=True)
        assert await _requests(pool, driver) == []

        # The plan's next request takes the id, as before.
        taken = await _submit(driver, SEQ_12, "theory", "85", "理论试卷漏评一题")
        assert taken.accepted and taken.reference == request_id, taken.message
        assert await _requests(pool, driver) == [(request_id, SEQ_12, "theory")]
        assert list((await driver.status()).correction_states) == [request_id]
