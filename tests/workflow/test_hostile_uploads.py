"""Hostile and clumsy uploads through the intake activity, on the real
document store and PostgreSQL: each is refused with its report, and nothing
of it is recorded.

Regressions found in a trial with crafted files: a CSV cell holding a
control character made the annotated report fail, and the refusal went out
without it; a sheet dense with cells placed by their order held the worker
at 2 GB and timed out.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from activities.intake import IntakeActivities
from certflow.activity_models import ProcessUpload
from certflow.models import DocumentKind, PlanInfo
from tests.intake.conftest import SAMPLES, with_sheet_xml
from tests.support import LEAD, registered_plan

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

CSV = SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv"


async def _refused(pool: Any, store: Any, plan: PlanInfo, at: Any, path: Path) -> Any:
    outcome = await IntakeActivities(pool, store).process_upload(
        ProcessUpload(
            plan=plan,
            kind=DocumentKind.SCORE_SUMMARY,
            document=store.put_file(path),
            uploaded_by=LEAD.person,
            at=at,
        )
    )
    assert not outcome.accepted and outcome.version is None
    for table in ("score_versions", "score_rows", "scores"):
        count = await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE plan_id = $1", plan.plan_id
        )
        assert count == 0, table
    return outcome


async def test_a_control_character_in_a_csv_cell_keeps_the_report(
    resources: Any, tmp_path: Path
) -> None:
    pool, store = resources
    plan, at = await registered_plan(pool)
    text = CSV.read_bytes().decode("gbk").replace("黎芬", "黎\x07芬", 1)
    path = tmp_path / "成绩汇总表.csv"
    path.write_bytes(text.encode("utf-8"))

    outcome = await _refused(pool, store, plan, at, path)

    assert [(p.code, p.row) for p in outcome.problems] == [
        ("bad_name", 2),
        ("unprintable_name", 2),
    ]
    assert outcome.report is not None
    report = openpyxl.load_workbook(io.BytesIO(store.get(outcome.report)))
    assert report.worksheets[0]["B2"].value == "黎<U+0007>芬"


async def test_a_sheet_dense_with_unplaced_cells_is_refused_at_once(
    resources: Any, tmp_path: Path
) -> None:
    """1.2 million cells without references: refused before they are made
    Python values, and the report lists the refusal alone."""
    pool, store = resources
    plan, at = await registered_plan(pool)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "准考证号", "实操成绩"])
    buffer = io.BytesIO()
    book.save(buffer)
    # Values of their own, so the zip's ratio stays that of a real sheet.
    numbers = random.Random(7)
    rows = "".join(
        "<row>"
        + "".join(f"<c><v>{numbers.randrange(10**6)}</v></c>" for _ in range(300))
        + "</row>"
        for _ in range(4000)
    )
    data = with_sheet_xml(
        buffer.getvalue(),
        lambda xml: xml.replace("</sheetData>", rows + "</sheetData>"),
    )
    path = tmp_path / "成绩汇总表.xlsx"
    path.write_bytes(data)

    outcome = await _refused(pool, store, plan, at, path)

    assert [p.code for p in outcome.problems] == ["sheet_too_large"]
    assert outcome.report is not None
    report = openpyxl.load_workbook(io.BytesIO(store.get(outcome.report)))
    assert [sheet.max_row for sheet in report.worksheets] == [2]
