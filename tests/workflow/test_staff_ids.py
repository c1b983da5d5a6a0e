"""Staff ids are matched as staff type them: any case, full width folded.

Trial: ``--as lead_evaluator --person zcx-e-0107`` was refused as not the
plan's lead evaluator ``ZCX-E-0107``, while plan, site and batch codes were
read in lower case and full width. What each side recorded stays as typed.
"""

from __future__ import annotations

from typing import Any

import pytest

from certflow.actions import ConfirmSummaryRequest, UploadRequest
from certflow.models import Actor, Role
from tests.support import SCAN_PDF, SITE, PlanDriver, refused
from workflows import ExamPlanWorkflow as wf

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

TEAM = ["ZCX-E-0107", "ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"]


def _lead(person: str) -> Actor:
    return Actor(role=Role.LEAD_EVALUATOR, person=person)


async def _submit(driver: PlanDriver, lead: Actor, signed_by: list[str]) -> None:
    """Stage 1 done with the lead evaluator and the signers as typed."""
    summary = await driver.upload(
        wf.upload_score_summary, lead, driver.files["summary"]
    )
    assert summary.accepted, summary.message
    scan = driver.tmp / "scan.pdf"
    scan.write_bytes(SCAN_PDF)
    signed = await driver.upload(
        wf.upload_signed_scan, lead, scan, signed_evaluator_ids=signed_by
    )
    assert signed.accepted, signed.message
    for update, name in (
        (wf.upload_candidate_sign_in, "candidates"),
        (wf.upload_evaluator_sign_in, "evaluators"),
    ):
        result = await driver.upload(update, SITE, driver.files[name])
        assert result.accepted, result.problems
    confirmed = await driver.h.execute_update(
        wf.confirm_score_summary, ConfirmSummaryRequest(actor=SITE)
    )
    assert confirmed.accepted, confirmed.message


def _evaluator_mismatches(mismatches: list[str]) -> list[str]:
    return [m for m in mismatches if "考评员" in m]


async def test_the_lead_evaluator_and_signers_typed_in_lower_case_or_full_width(
    make_driver: Any,
) -> None:
    """Regression (trial): the plan's own lead evaluator typing the id in lower
    case was refused as somebody else."""
    driver: PlanDriver = await make_driver()
    await driver.start()

    stranger = await refused(
        driver.h.execute_update(
            wf.upload_score_summary,
            UploadRequest(
                actor=_lead("zcx-e-9999"), document=driver.put(driver.files["summary"])
            ),
        )
    )
    assert stranger == "wrong_person"

    typed = ["zcx-e-0107", "ｚｃｘ－ｅ－０２１３", "ZCX-E-0288", "Zcx-E-0301"]
    await _submit(driver, _lead("ＺＣＸ－Ｅ－０１０７"), typed)

    status = await driver.wait_for(lambda s: s.consistency is not None)
    assert status.consistency is not None
    # Each signer is the one who signed in on the sheet (工号 as written there).
    assert _evaluator_mismatches(status.consistency.mismatches) == []
    # What staff typed is what is kept: the person and the signers.
    [upload] = [h for h in status.history if h.action == "upload_score_summary"]
    assert upload.person == "ＺＣＸ－Ｅ－０１０７"
    assert status.lead_evaluator_id == "ZCX-E-0107"


async def test_a_plan_started_with_lower_case_staff_ids_matches_its_sign_in_sheet(
    make_driver: Any,
) -> None:
    """Regression: a plan started with ``--lead-evaluator zcx-e-0107`` refused
    its lead evaluator typing ZCX-E-0107, and the consistency report called
    every evaluator on the sign-in sheet (ids in capitals) not of the team."""
    lower = [staff_id.lower() for staff_id in TEAM]
    driver: PlanDriver = await make_driver(
        lead_evaluator_id=lower[0], evaluator_ids=lower[1:]
    )
    await driver.start()

    await _submit(driver, _lead("ZCX-E-0107"), TEAM)

    status = await driver.wait_for(lambda s: s.consistency is not None)
    assert status.consistency is not None
    assert _evaluator_mismatches(status.consistency.mismatches) == []
    assert status.lead_evaluator_id == "zcx-e-0107"  # as the plan was started
