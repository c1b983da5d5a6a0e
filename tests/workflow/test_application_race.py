"""An application whose invoice form is read while a correction changes the
counts is checked again before it is recorded; refused then, its form is
refused with it.

In a module of its own: its own time-skipping clock starts at today, inside
the years whose holiday schedule is known.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateStage

from certflow.actions import ActionResult, CorrectionApply, CorrectionDecision
from certflow.models import DocumentKind, Stage
from certflow.plan import Duty
from tests.support import INFO, MANAGER, PlanDriver, correction_request
from tests.workflow.test_finance import _application, _head_count_refusal
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

wf = ExamPlanWorkflow


async def _read_while_a_correction_applies(
    driver: PlanDriver, pool: Any, store: Any
) -> ActionResult:
    """An application of 14 heads with a new invoice details form, arriving
    while a correction making a 15th pass is applied; its answer.

    The race is staged on real parts: the test holds the candidate's score row
    in PostgreSQL, so the correction's activity waits while the application
    arrives, then lets it go."""
    from tests.intake.test_invoice_details import HONEST, filled_template

    await driver.reach_publicity()
    await driver.open_publicity()
    filed = await driver.h.execute_update(
        wf.submit_correction, correction_request("2026110412012", "practical", "60.10")
    )
    await driver.skip(15)
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(actor=MANAGER, request_id=filed.reference, approve=True),
    )
    application = _application(
        driver, 14, 0, "4200.00", await driver.today()
    ).model_copy(
        update={
            "invoice_details": store.put(
                filled_template(HONEST), filename="院校发票信息收集表.xlsx"
            )
        }
    )

    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT 1 FROM scores WHERE plan_id = $1 AND admission_number = $2 "
            "FOR UPDATE",
            driver.plan.plan_id,
            "2026110412012",
        )
        correcting = await driver.h.start_update(
            wf.apply_correction,
            CorrectionApply(actor=INFO, request_id=filed.reference),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        uploading = asyncio.create_task(
            driver.h.execute_update(wf.upload_application, application)
        )
        await asyncio.sleep(1)  # the application is accepted, waiting its turn
        assert not uploading.done()
    assert (await correcting.result()).accepted
    return await uploading


async def test_an_application_read_while_a_correction_changes_the_counts_is_refused(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the application's figures were checked when it arrived; its
    invoice form was then read while a correction, already applying, made a
    15th pass. The 14 were recorded, and the correction, finding no
    application yet, told nobody. The figures are now checked again once the
    form is read."""
    pool, store = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))

    answer = await _read_while_a_correction_applies(driver, pool, store)

    assert not answer.accepted
    assert answer.message == _head_count_refusal(
        14, 15, 0, "plan.application_mismatch_to_site"
    ).removeprefix("head_count_mismatch: ")
    status = await driver.status()
    assert any(o.duty == Duty.APPLICATION for o in status.owed)
    assert status.payment.head_count is None


async def test_the_form_of_an_application_refused_at_its_turn_is_refused_with_it(
    make_driver: Any, resources: Any
) -> None:
    """Regression: intake read and accepted the application's invoice details
    form, then the application was refused at its turn (a correction changed
    the counts). The form kept its accepted version and its details: the
    document list showed an accepted form of a refused application, and
    finance's invoice details were read from it. It is recorded refused with
    its application, and its details go."""
    pool, store = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id

    answer = await _read_while_a_correction_applies(driver, pool, store)

    assert not answer.accepted
    rows = await pool.fetch(
        "SELECT kind, version, accepted FROM plan_documents"
        " WHERE plan_id = $1 AND kind = ANY($2) ORDER BY id",
        plan_id,
        [
            DocumentKind.INVOICE_DETAILS.value,
            DocumentKind.CERTIFICATE_APPLICATION.value,
        ],
    )
    assert [tuple(r) for r in rows] == [
        (DocumentKind.INVOICE_DETAILS.value, None, False),
        (DocumentKind.CERTIFICATE_APPLICATION.value, None, False),
    ]
    details = "SELECT count(*) FROM invoice_details WHERE plan_id = $1"
    assert await pool.fetchval(details, plan_id) == 0
    assert DocumentKind.INVOICE_DETAILS not in (await driver.status()).documents
