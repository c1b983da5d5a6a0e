"""Regressions from trying certflow as a new user with bad input."""

from __future__ import annotations

from typing import Any

import pytest

from certflow.actions import CorrectionSubmission, ReviewRequest, UploadRequest
from certflow.i18n import t
from certflow.models import Actor, Role
from tests.support import CONTACT, INFO, LEAD, PlanDriver, refused
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
wf = ExamPlanWorkflow


async def plan_in_publicity(make_driver: Any) -> PlanDriver:
    driver: PlanDriver = await make_driver()
    await driver.reach_publicity()
    await driver.open_publicity()
    return driver


@pytest.mark.parametrize(
    "requested", ["NaN", "sNaN", "Infinity", "1e1", "-5", "60.123"]
)
async def test_a_score_that_is_no_plain_number_is_refused_not_retried(
    make_driver: Any, requested: str
) -> None:
    """Regression: "NaN" passed Decimal() and then made the comparison raise, so
    the activity failed for ever and jammed the plan's corrections."""
    driver = await plan_in_publicity(make_driver)
    result = await driver.h.execute_update(
        wf.submit_correction,
        CorrectionSubmission(
            actor=INFO,
            admission_number="2026110412005",
            field="practical",
            requested_score=requested,
            reason="测试",
        ),
    )
    assert not result.accepted
    assert [p.code for p in result.problems] == ["bad_score"]
    # The plan still takes the next request at once.
    good = await driver.h.execute_update(
        wf.submit_correction,
        CorrectionSubmission(
            actor=INFO,
            admission_number="2026110412005",
            field="practical",
            published_score="82.3",
            requested_score="85",
            reason="测试",
        ),
    )
    assert good.accepted


async def test_a_request_quoting_another_published_score_is_refused(
    make_driver: Any,
) -> None:
    driver = await plan_in_publicity(make_driver)
    result = await driver.h.execute_update(
        wf.submit_correction,
        CorrectionSubmission(
            actor=INFO,
            admission_number="2026110412003",
            field="theory",
            published_score="99",  # on record: 71.4
            requested_score="80",
            reason="测试",
        ),
    )
    assert not result.accepted
    assert [p.code for p in result.problems] == ["published_differs"]
    assert "71.40" in result.problems[0].message


async def test_only_the_plans_own_lead_evaluator_may_upload_the_summary(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start()
    stranger = Actor(role=Role.LEAD_EVALUATOR, person="ZCX-E-9999")
    code = await refused(
        driver.h.execute_update(
            wf.upload_score_summary,
            UploadRequest(actor=stranger, document=driver.put(driver.files["summary"])),
        )
    )
    assert code == "wrong_person"


async def test_approving_despite_mismatches_needs_a_reason(make_driver: Any) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start()
    await driver.submit_everything()
    status = await driver.wait_for(
        lambda s: any(o.duty == "consistency_review" for o in s.owed)
    )
    assert status.consistency is not None and not status.consistency.consistent
    code = await refused(
        driver.h.execute_update(
            wf.review_consistency, ReviewRequest(actor=CONTACT, approve=True)
        )
    )
    assert code == "reason_required"
    await driver.approve_review()  # with its reason


async def test_sending_the_accepted_file_again_makes_no_new_version(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start()
    first = await driver.upload(wf.upload_score_summary, LEAD, driver.files["summary"])
    again = await driver.upload(wf.upload_score_summary, LEAD, driver.files["summary"])
    assert first.accepted and again.accepted
    assert again.message == t("plan.same_file", version=1)
    assert (await driver.status()).document_versions["score_summary"] == 1
