"""An action that waits its turn is taken as the plan stands then.

Uploads, applications, correction requests and finance's records take the
plan's lock around their activities; a confirmation waits for it while one
runs. Each is checked again at its turn against what its validator checked:
a plan cancelled meanwhile, a payment confirmed, a newer version of what is
confirmed, refuses it then. The races are staged on real parts: the test
holds a PostgreSQL lock (the plan's row, or the lock recording an upload of
a kind takes) so that an activity waits while the other action arrives.

In a module of its own: its own time-skipping clock starts at today, inside
the years whose holiday schedule is known. Every plan here is replayed at the
end of its test (see ``make_driver``), its patch markers with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from temporalio.client import WorkflowUpdateStage

from certflow.actions import (
    ActionResult,
    CancelRequest,
    ConfirmSummaryRequest,
    PaymentConfirmation,
    UploadRequest,
)
from certflow.i18n import t
from certflow.models import DocumentKind, Stage
from certflow.plan import Duty
from tests.support import (
    FINANCE,
    LEAD,
    SCAN_PDF,
    SITE,
    TECH,
    PlanDriver,
    correction_request,
    waiting_on_locks,
)
from tests.workflow.test_finance import _application
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

wf = ExamPlanWorkflow
CANCEL = CancelRequest(actor=TECH, reason="计划编号录入错误，已按正确编号重新登记")


@contextlib.asynccontextmanager
async def held(pool: Any, sql: str, *args: Any) -> AsyncIterator[None]:
    """Hold the lock ``sql`` takes until the block ends (its transaction)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(sql, *args)
        yield


def recording_of(plan_id: str, kind: DocumentKind) -> tuple[str, str]:
    """The lock an activity recording an upload of ``kind`` for the plan waits on."""
    return "SELECT pg_advisory_xact_lock(hashtext($1))", f"{plan_id}/{kind.value}"


def plan_row(plan_id: str) -> tuple[str, str]:
    """The plan's row, which a cancellation's activity locks first."""
    return "SELECT 1 FROM plans WHERE plan_id = $1 FOR UPDATE", plan_id


async def waiting_its_turn(
    driver: PlanDriver, pool: Any, update: Any, request: Any
) -> asyncio.Task[ActionResult]:
    """Send ``request``, accepted by its validator, while the plan's lock is
    held: it waits its turn. Its activity then waits on the test's lock."""
    handle = await driver.h.start_update(
        update, request, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    await waiting_on_locks(pool, 1)
    return asyncio.create_task(handle.result())


async def arriving_meanwhile(call: Awaitable[ActionResult]) -> asyncio.Task[Any]:
    """Send an action while another waits on the test's lock; give it a moment
    to be taken at once, as it was before it waited its turn."""
    task = asyncio.ensure_future(call)
    await asyncio.sleep(1)
    return task


async def sent_as_the_plan_is_cancelled(
    driver: PlanDriver, pool: Any, update: Any, request: Any
) -> ActionResult:
    """Send ``request`` while the plan's cancellation writes its row: accepted
    by its validator, it waits its turn. Its answer, once the cancellation is
    in."""
    async with held(pool, *plan_row(driver.plan.plan_id)):
        cancelling = await waiting_its_turn(driver, pool, wf.cancel_plan, CANCEL)
        sending = await arriving_meanwhile(driver.h.execute_update(update, request))
        assert not sending.done()
    cancelled = await cancelling
    assert cancelled.accepted, cancelled.message
    return await sending


async def confirmed_while_recorded(
    driver: PlanDriver,
    pool: Any,
    kind: DocumentKind,
    upload: tuple[Any, Any],
    confirmation: tuple[Any, Any],
) -> tuple[ActionResult, ActionResult]:
    """Send ``upload`` (an update and its request) of ``kind``, and while it is
    recorded, ``confirmation``; the answers to both."""
    async with held(pool, *recording_of(driver.plan.plan_id, kind)):
        uploading = await waiting_its_turn(driver, pool, *upload)
        confirming = await arriving_meanwhile(driver.h.execute_update(*confirmation))
        assert not uploading.done()
    return await uploading, await confirming


def _another_scan(driver: PlanDriver, tag: str) -> Any:
    data = SCAN_PDF + b"\0" + f"{driver.plan.plan_id}-{tag}".encode()
    return driver.store.put(data, filename=f"{tag}.pdf", media_type="application/pdf")


async def _scan_rows(pool: Any, plan_id: str, kind: DocumentKind) -> list[Any]:
    return [
        tuple(row)
        for row in await pool.fetch(
            "SELECT version, accepted FROM plan_documents"
            " WHERE plan_id = $1 AND kind = $2 ORDER BY id",
            plan_id,
            kind.value,
        )
    ]


async def test_a_payment_confirmed_while_an_application_is_recorded_waits_for_it(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the site sent its application again (allowed until finance
    confirms) and its scan was being recorded when finance confirmed the old
    one. The confirmation closed the payment check and opened the invoice;
    the application then overwrote the declared figures and reopened the
    payment check with the invoice still owed on the old ones. Finance's
    confirmation now waits for the application, and is refused: what it
    checked was replaced."""
    pool, _ = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    await driver.reach_payment()
    today = await driver.today()
    first = _application(driver, 14, 0, "4200.00", today)
    assert (await driver.h.execute_update(wf.upload_application, first)).accepted
    again = first.model_copy(
        update={
            "application_scan": _another_scan(driver, "again"),
            "invoice_details": None,
        }
    )
    confirmation = PaymentConfirmation(
        actor=FINANCE, received_amount=Decimal("4200.00"), received_on=today
    )

    kind = DocumentKind.CERTIFICATE_APPLICATION
    applied, confirmed = await confirmed_while_recorded(
        driver,
        pool,
        kind,
        (wf.upload_application, again),
        (wf.confirm_payment, confirmation),
    )

    assert applied.accepted, applied.message
    assert not confirmed.accepted
    assert confirmed.message == t("plan.application_replaced", version=2)
    status = await driver.status()
    owed = {o.duty for o in status.owed}
    assert Duty.PAYMENT_CHECK in owed and Duty.INVOICE not in owed
    assert status.payment.confirmed_amount is None
    assert status.document_versions[kind] == 2
    # Finance confirms the application as it stands now.
    assert (await driver.h.execute_update(wf.confirm_payment, confirmation)).accepted


async def test_an_application_waiting_while_the_plan_is_cancelled_is_refused(
    make_driver: Any, resources: Any
) -> None:
    """Regression: an application accepted by its validator waited for the
    lock a cancellation held; its turn came on a cancelled plan, which took it:
    its scan recorded as accepted, and the payment check and the site's
    sign-off owed again by a plan that had ended. It is refused at its turn,
    its scan recorded as refused."""
    pool, _ = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    await driver.reach_payment()
    first = _application(driver, 14, 0, "4200.00", await driver.today())
    assert (await driver.h.execute_update(wf.upload_application, first)).accepted
    again = first.model_copy(
        update={
            "application_scan": _another_scan(driver, "late"),
            "invoice_details": None,
        }
    )

    applied = await sent_as_the_plan_is_cancelled(
        driver, pool, wf.upload_application, again
    )

    assert not applied.accepted
    assert applied.message == t(
        "plan.wrong_stage",
        action=t("actions.upload_application"),
        stage=t("stages.cancelled"),
    )
    status = await driver.status()
    assert status.stage == Stage.CANCELLED
    assert status.owed == []
    assert status.payment.declared_amount == 4200.0
    kind = DocumentKind.CERTIFICATE_APPLICATION
    assert await _scan_rows(pool, plan_id, kind) == [(1, True), (None, False)]


async def test_an_upload_waiting_while_the_plan_is_cancelled_is_refused(
    make_driver: Any, resources: Any
) -> None:
    """Regression: a score summary accepted by its validator waited for the
    lock a cancellation held, and was then read, recorded as version 1 and its
    duty closed on the cancelled plan. It is refused at its turn and recorded
    as refused, unread."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    await driver.start()
    await driver.wait_for(lambda s: bool(s.owed))
    summary = UploadRequest(actor=LEAD, document=driver.put(driver.files["summary"]))

    uploaded = await sent_as_the_plan_is_cancelled(
        driver, pool, wf.upload_score_summary, summary
    )

    assert not uploaded.accepted
    status = await driver.status()
    assert DocumentKind.SCORE_SUMMARY not in status.documents
    assert status.summary is None
    kind = DocumentKind.SCORE_SUMMARY
    assert await _scan_rows(pool, plan_id, kind) == [(None, False)]
    scores = "SELECT count(*) FROM score_versions WHERE plan_id = $1"
    assert await pool.fetchval(scores, plan_id) == 0


async def test_a_correction_request_waiting_while_the_plan_is_cancelled_is_refused(
    make_driver: Any, resources: Any
) -> None:
    """Regression: a correction request accepted by its validator waited for
    the lock a cancellation held, and was then recorded, its decision owed to
    the regional manager by a plan that had ended. It is refused at its turn,
    and nothing is recorded."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    await driver.reach_publicity()
    await driver.open_publicity()
    request = correction_request("2026110412012", "practical", "60.10")

    submitted = await sent_as_the_plan_is_cancelled(
        driver, pool, wf.submit_correction, request
    )

    assert not submitted.accepted
    status = await driver.status()
    assert status.owed == []
    assert status.correction_states == {}
    requests = "SELECT count(*) FROM correction_requests WHERE plan_id = $1"
    assert await pool.fetchval(requests, plan_id) == 0


async def test_a_summary_confirmed_while_a_new_one_is_read_waits_for_it(
    make_driver: Any, resources: Any, tmp_path: Path
) -> None:
    """Regression: the site confirmed the score summary (the latest, version
    1) while the lead evaluator's version 2 was being read. The confirmation
    closed the last duty of the stage and the plan went on to the consistency
    review; version 2 then reopened the confirmation there. The confirmation
    now waits for the upload, and is refused: it confirmed a version
    replaced meanwhile."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start()
    await driver.submit_everything_but_the_confirmation()
    book = openpyxl.load_workbook(driver.files["summary"])
    book.worksheets[0]["L4"] = "补录备注"  # the remark of seq 1: a new version
    replacement = tmp_path / "summary-v2.xlsx"
    book.save(replacement)
    new_version = UploadRequest(actor=LEAD, document=driver.put(replacement))

    uploaded, confirmed = await confirmed_while_recorded(
        driver,
        pool,
        DocumentKind.SCORE_SUMMARY,
        (wf.upload_score_summary, new_version),
        (wf.confirm_score_summary, ConfirmSummaryRequest(actor=SITE)),
    )

    assert uploaded.accepted, uploaded.message
    assert not confirmed.accepted
    assert confirmed.message == t("plan.summary_replaced", version=2)
    status = await driver.status()
    assert status.stage == Stage.SCORE_SUBMISSION
    assert [o.duty for o in status.owed] == [Duty.SUMMARY_CONFIRMATION]
