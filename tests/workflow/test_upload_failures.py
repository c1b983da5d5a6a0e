"""Bad input never crashes a plan: an upload the readers cannot even open, or one
whose processing keeps failing, gets an answer and leaves the plan as it was."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from activities.intake import IntakeActivities
from activities.store import PlanStore
from certflow.actions import ConfirmSummaryRequest
from certflow.activity_models import PlanRegistration, ProcessUpload
from certflow.i18n import t
from certflow.models import DocumentKind, DocumentRef, Stage
from tests.intake.xls_writer import xls_file
from tests.support import (
    LEAD,
    SCAN_PDF,
    SITE,
    SUMMARY,
    PlanDriver,
    retitled,
    sample_plan,
    unique_plan_id,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


def _date_out_of_range(tmp_path: Path) -> Path:
    """The summary with a cell below the table shown as a date, holding
    -10^15 days: the spreadsheet library panics converting it (a
    ``PanicException``, no ``Exception``)."""
    book = openpyxl.load_workbook(SUMMARY)
    sheet = book.worksheets[0]
    cell = sheet.cell(row=sheet.max_row + 2, column=1, value=-1e15)
    cell.number_format = "yyyy-mm-dd"
    path = tmp_path / "date-out-of-range.xlsx"
    book.save(path)
    return path


def _rows_past_any_sheet() -> bytes:
    """An xls whose dimensions record says it reaches 2^32 rows and 65,535
    columns, one cell in it: the spreadsheet library makes room for them
    all before reading a cell, its allocation fails and Rust aborts the
    process that asked. No check before the reader knows this one."""
    return xls_file({"成绩汇总": [["姓名"]]}, dimensions=(0xFFFFFFFF, 0xFFFF))


async def test_a_file_that_breaks_the_reader_is_refused_as_unreadable(
    make_driver: Any, resources: Any, tmp_path: Path
) -> None:
    """Read in a process of its own: a file that makes the library panic is
    answered as unreadable, and the plan then takes the real file."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start()

    result = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, _date_out_of_range(tmp_path)
    )
    assert not result.accepted
    assert [p.code for p in result.problems] == ["unreadable"]
    assert result.problems[0].message == t("intake_db.unreadable")

    result = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
    )
    assert result.accepted
    refused = await pool.fetchval(
        "SELECT count(*) FROM plan_documents WHERE plan_id = $1 AND NOT accepted",
        driver.plan.plan_id,
    )
    assert refused == 1


async def test_a_file_that_ends_the_reader_leaves_the_worker_running(
    make_driver: Any, tmp_path: Path
) -> None:
    """Regression: the library aborted the worker's own process on this
    file (at every retry, so the worker and every plan on it went down).
    Read apart, the upload is refused and the same worker takes the next."""
    driver: PlanDriver = await make_driver()
    await driver.start()
    path = tmp_path / "rows-past-any-sheet.xls"
    path.write_bytes(_rows_past_any_sheet())

    result = await driver.upload(ExamPlanWorkflow.upload_score_summary, LEAD, path)
    assert not result.accepted
    assert [p.code for p in result.problems] == ["unreadable"]

    result = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
    )
    assert result.accepted


async def test_an_upload_that_keeps_failing_is_answered_and_the_plan_goes_on(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start()
    # A reference to a file that never reached the document store.
    missing = b"never stored"
    ghost = DocumentRef(sha256=hashlib.sha256(missing).hexdigest(), size=len(missing))
    from certflow.actions import UploadRequest

    result = await driver.h.execute_update(
        ExamPlanWorkflow.upload_score_summary, UploadRequest(actor=LEAD, document=ghost)
    )
    assert not result.accepted
    assert result.message == t("plan.upload_failed")

    # The lock was released and the plan still takes the real file.
    result = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
    )
    assert result.accepted
    status = await driver.status()
    assert status.stage == Stage.SCORE_SUBMISSION
    assert status.document_versions["score_summary"] == 1


async def test_a_passing_name_the_certificate_font_cannot_print_is_refused_at_upload(
    make_driver: Any, tmp_path: Any
) -> None:
    """Found at issuance, after approval, such a name would stop the plan's
    certificates; intake refuses it while the school can still answer."""
    import openpyxl

    driver: PlanDriver = await make_driver()
    await driver.start()
    book = openpyxl.load_workbook(driver.files["summary"])
    sheet = book.worksheets[0]
    for row in sheet.iter_rows():
        if row[1].value == "胡俊霞":  # seq 2, who passed
            row[1].value = "胡𠮷霞"
    rare = tmp_path / "rare-name.xlsx"
    book.save(rare)

    result = await driver.upload(ExamPlanWorkflow.upload_score_summary, LEAD, rare)
    assert not result.accepted
    [problem] = result.problems
    assert problem.code == "unprintable_name"
    # Located as every other problem: the cell, not the row's 序号.
    assert (problem.sheet, problem.row, problem.column) == ("成绩汇总", 5, "姓名")
    assert "𠮷" in problem.message
    assert "胡𠮷霞" not in (problem.value or "")


async def test_a_duplicate_id_and_an_unprintable_name_are_reported_in_one_round(
    make_driver: Any, tmp_path: Path
) -> None:
    """Regression: the font was checked only once the rest of the summary was
    accepted, so the school fixed a duplicate ID number, uploaded again, and
    only then heard of the name (located by 序号, not by cell)."""
    driver: PlanDriver = await make_driver()
    await driver.start()
    book = openpyxl.load_workbook(driver.files["summary"])
    sheet = book.worksheets[0]
    sheet["B5"] = "胡𠮷霞"  # passed
    sheet["B6"] = "夏𠮷玲"  # passed, and below given row 5's ID number
    sheet["D6"] = sheet["D5"].value
    both = tmp_path / "two-problems.xlsx"
    book.save(both)

    result = await driver.upload(ExamPlanWorkflow.upload_score_summary, LEAD, both)

    assert not result.accepted
    found = sorted((p.code, p.sheet, p.row, p.column) for p in result.problems)
    assert found == [
        ("duplicate_id_number", "成绩汇总", 6, "证件号码"),
        ("unprintable_name", "成绩汇总", 5, "姓名"),
        ("unprintable_name", "成绩汇总", 6, "姓名"),
    ]


async def test_a_refused_scan_leaves_the_signers_of_the_accepted_one(
    make_driver: Any, tmp_path: Any
) -> None:
    """Regression: the signers were taken from the request before the scan was
    checked, so a refused scan still changed whose signatures the review saw."""
    from certflow.actions import UploadRequest

    not_a_scan = tmp_path / "scan.txt"
    not_a_scan.write_text("not a scan")
    other: PlanDriver = await make_driver()
    await other.start()
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(SCAN_PDF)
    team = ["ZCX-E-0107", "ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"]
    wf = ExamPlanWorkflow
    assert (
        await other.upload(wf.upload_signed_scan, LEAD, scan, signed_evaluator_ids=team)
    ).accepted
    refused_scan = await other.h.execute_update(
        wf.upload_signed_scan,
        UploadRequest(
            actor=LEAD,
            document=other.put(not_a_scan),
            signed_evaluator_ids=["ZCX-E-0107"],
        ),
    )
    assert not refused_scan.accepted
    await other.upload(wf.upload_score_summary, LEAD, other.files["summary"])
    await other.upload(wf.upload_candidate_sign_in, SITE, other.files["candidates"])
    await other.upload(wf.upload_evaluator_sign_in, SITE, other.files["evaluators"])
    await other.h.execute_update(
        wf.confirm_score_summary, ConfirmSummaryRequest(actor=SITE, summary_version=1)
    )
    status = await other.wait_for(lambda s: s.consistency is not None)
    assert status.consistency is not None
    # Only 严豪刚's extra sign-in: all four evaluators still count as signers.
    assert status.consistency.mismatch_count == 1


async def test_two_files_refused_within_one_second_keep_their_own_reports(
    resources: Any, tmp_path: Path
) -> None:
    """Regression: reports were named by plan, document and second only, so a
    second refusal within the same second replaced the first one's report."""
    pool, store = resources
    plan = sample_plan(date(2026, 11, 4), unique_plan_id())
    at = datetime.now(UTC).replace(microsecond=0)
    await PlanStore(pool).register_plan(
        PlanRegistration(info=plan, workflow_id=f"test-{plan.plan_id}", started_at=at)
    )
    intake_activities = IntakeActivities(pool, store)
    reports = []
    for n in range(2):
        # A formula typed into a name cell, one row apart.
        book = openpyxl.load_workbook(retitled(SUMMARY, plan, tmp_path))
        book.worksheets[0].cell(row=5 + n, column=2).value = "=A2"
        path = tmp_path / f"broken-{n}.xlsx"
        book.save(path)
        outcome = await intake_activities.process_upload(
            ProcessUpload(
                plan=plan,
                kind=DocumentKind.SCORE_SUMMARY,
                document=store.put_file(path),
                uploaded_by=LEAD.person,
                at=at + timedelta(milliseconds=300 * n),
            )
        )
        assert not outcome.accepted and outcome.report is not None
        reports.append(outcome.report)

    # The staff tool copies each report into one folder under this name.
    assert reports[0].filename != reports[1].filename
    assert reports[0].sha256 != reports[1].sha256
