"""A sheet whose candidates are all strangers to the plan is refused at upload.

A CSV summary has no title rows, so nothing in it names its plan, and a plan
holds no roster of candidates. What it does hold is the other candidate list
once accepted: a summary sharing no admission number with the accepted
candidates' sign-in sheet (or the reverse) belongs to another plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest

from certflow.i18n import t
from tests.support import INTAKE, LEAD, SITE, PlanDriver
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
wf = ExamPlanWorkflow

CSV_SUMMARY = INTAKE / "P2026-1104-0412-成绩汇总表-gbk.csv"
# The sample plan's admission numbers are 2026110412001 … 2026110412099.
OURS, THEIRS = "2026110412", "2026110599"


def _csv_of_another_plan(folder: Path) -> Path:
    text = CSV_SUMMARY.read_bytes().decode("gbk").replace(OURS, THEIRS)
    path = folder / "其他计划-成绩汇总表.csv"
    path.write_bytes(text.encode("gbk"))
    return path


def _sign_in_of_another_plan(source: Path, folder: Path) -> Path:
    book = openpyxl.load_workbook(source)
    for row in book.active.iter_rows():  # type: ignore[union-attr]
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith(OURS):
                cell.value = cell.value.replace(OURS, THEIRS)
    path = folder / "其他计划-考生签到表.xlsx"
    book.save(path)
    return path


async def test_a_csv_summary_of_another_plans_candidates_is_refused(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start()
    result = await driver.upload(
        wf.upload_candidate_sign_in, SITE, driver.files["candidates"]
    )
    assert result.accepted

    result = await driver.upload(
        wf.upload_score_summary, LEAD, _csv_of_another_plan(driver.tmp)
    )

    assert not result.accepted
    assert [p.code for p in result.problems] == ["no_common_candidate"]
    message = result.problems[0].message
    assert t("intake.document_candidate_sign_in") in message
    assert "32 个准考证号" in message and "31 人" in message
    scores = "SELECT count(*) FROM scores WHERE plan_id = $1"
    assert await pool.fetchval(scores, driver.plan.plan_id) == 0

    # The plan's own CSV (no title rows either) shares 30 candidates with it;
    # the two absentees and the extra signer are for the consistency review.
    result = await driver.upload(wf.upload_score_summary, LEAD, CSV_SUMMARY)
    assert result.accepted, result.problems


async def test_a_sign_in_sheet_of_another_plans_candidates_is_refused(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start()
    result = await driver.upload(wf.upload_score_summary, LEAD, CSV_SUMMARY)
    assert result.accepted

    stranger = _sign_in_of_another_plan(driver.files["candidates"], driver.tmp)
    result = await driver.upload(wf.upload_candidate_sign_in, SITE, stranger)

    assert not result.accepted
    assert [p.code for p in result.problems] == ["no_common_candidate"]
    assert t("intake.document_summary") in result.problems[0].message


async def test_before_either_list_is_accepted_nothing_is_compared(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start()

    result = await driver.upload(
        wf.upload_score_summary, LEAD, _csv_of_another_plan(driver.tmp)
    )

    assert result.accepted
