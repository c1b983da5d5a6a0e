"""The staff tool's application of 0.00: sent to the plan, which says why.

Regression (trial): on a plan nobody passed, ``application … --head-count 0
--amount 0`` was refused by the tool (--amount：须大于 0) and 0.01 by the plan
(0 人 × 300.00 元 = 0.00 元，相差 +0.01): nothing said that nothing was owed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from certflow.actions import CorrectionDecision
from certflow.i18n import t
from tests.cli.conftest import Certflow
from tests.cli.test_application_args import SITE, _files
from tests.support import MANAGER, PlanDriver
from tests.workflow.test_no_certificates import _filed_then_closed
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


async def _apply(
    certflow: Certflow, driver: PlanDriver, folder: Path, heads: str, amount: str
) -> tuple[int, str]:
    outcome = await certflow(
        *SITE, "application", driver.plan.plan_id, *_files(folder),
        "--paid-plan", driver.plan.plan_id,
        "--head-count", heads, "--amount", amount,
        "--paid-on", driver.plan.exam_end_date.isoformat(),
    )  # fmt: skip
    return outcome.status, outcome.out


async def test_an_application_of_nothing_is_answered_by_the_plan(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    driver = new_driver
    request_id = await _filed_then_closed(driver, "55")

    waiting = await _apply(certflow, driver, tmp_path, "0", "0")

    assert waiting[0] == 2, waiting[1]
    assert t("plan.nothing_to_pay") in waiting[1]
    assert t("plan.nothing_to_pay_pending", count=1) in waiting[1]
    assert "须大于" not in waiting[1]
    shown = await certflow("status", driver.plan.plan_id)
    assert "目前无人合格" in shown.out, shown.out

    await driver.h.execute_update(
        ExamPlanWorkflow.decide_correction,
        CorrectionDecision(
            actor=MANAGER, request_id=request_id, approve=False, reason="核实无误"
        ),
    )
    # Said by the plan while its last mail goes out, and by the tool once it
    # has ended.
    ending = await _apply(certflow, driver, tmp_path, "0", "0")
    await asyncio.wait_for(driver.h.result(), 30)
    ended = await _apply(certflow, driver, tmp_path, "0", "0")

    plan_id = driver.plan.plan_id
    assert ending[0] == 2, ending[1]
    assert any(
        said in ending[1]
        for said in (
            t("plan.nothing_to_pay_closed"),
            t("plan.ended_no_certificates"),
            t("cli.plan_closed_no_certificates", plan_id=plan_id),
        )
    ), ending[1]
    assert ended[0] == 2, ended[1]
    assert t("cli.plan_closed_no_certificates", plan_id=plan_id) in ended[1]
    shown = await certflow("status", plan_id)
    assert f"{t('stages.no_certificates')} (no_certificates)" in shown.out
    assert t("cli.status.nothing_owed") in shown.out


async def test_an_application_of_nothing_for_passing_candidates_is_refused(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    """The sample plan (14 pass, no fee configured): 0.00 is no payment."""
    driver = new_driver
    await driver.reach_payment()

    status, out = await _apply(certflow, driver, tmp_path, "14", "0")

    assert status == 2, out
    assert t("plan.application_amount_zero", passed=14) in out
    assert any(o.duty == "application" for o in (await driver.status()).owed)
