"""Each application a plan takes up records its scan: accepted with the next
version, or refused with its application. The plan goes by the last one taken.

In a module of its own: its own time-skipping clock starts at today, inside
the years whose holiday schedule is known. Every plan here is replayed at the
end of its test (see ``make_driver``), its patch markers with it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from certflow.models import DocumentKind
from tests.support import SCAN_PDF, PlanDriver, empty_workbook
from tests.workflow.test_finance import _application
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_each_application_scan_is_recorded_and_the_plan_goes_by_the_last(
    make_driver: Any, resources: Any
) -> None:
    pool, store = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    await driver.reach_payment()
    first = _application(driver, 14, 0, "4200.00", await driver.today())

    def scan(tag: str) -> Any:
        data = SCAN_PDF + b"\0" + f"{plan_id}-{tag}".encode()
        return store.put(data, filename=f"{tag}.pdf", media_type="application/pdf")

    second = first.model_copy(
        update={"application_scan": scan("second"), "invoice_details": None}
    )
    form_refused = first.model_copy(
        update={
            "application_scan": scan("third"),
            "invoice_details": store.put_file(empty_workbook(driver.tmp)),
        }
    )
    answers = [
        await driver.h.execute_update(ExamPlanWorkflow.upload_application, request)
        for request in (first, second, form_refused)
    ]

    assert [a.accepted for a in answers] == [True, True, False]
    status = await driver.status()
    application = DocumentKind.CERTIFICATE_APPLICATION
    assert status.documents[application] == second.application_scan
    assert status.document_versions[application] == 2
    rows = await pool.fetch(
        "SELECT version, accepted, problems, sha256, uploaded_by FROM plan_documents"
        " WHERE plan_id = $1 AND kind = $2 ORDER BY id",
        plan_id,
        application.value,
    )
    assert [(r["version"], r["accepted"], r["sha256"]) for r in rows] == [
        (1, True, first.application_scan.sha256),
        (2, True, second.application_scan.sha256),
        (None, False, form_refused.application_scan.sha256),
    ]
    assert rows[2]["problems"] == answers[2].problem_count > 0
    assert {r["uploaded_by"] for r in rows} == {first.actor.person}
