"""A CSV saved with ";" between its columns, uploaded with the staff tool.

Regression: office software where the list separator is ";" saves CSV so;
the upload was refused (CSV 文件用分号“;”分隔各列，无法按列读取…) though its
separator is plain to see. It is read as the same file with commas; one whose
numbers have a decimal comma (85,5) is refused once, saying so.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from certflow.i18n import t
from tests.cli.conftest import Certflow
from tests.cli.test_commands import SITE, start_argv
from tests.support import CANDIDATE_SIGN_IN, PlanDriver, retitled

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


def _saved_with_semicolons(workbook: Path, target: Path) -> Path:
    """``workbook``'s first sheet as office software saves CSV in a locale
    whose list separator is ";": every row padded to the sheet's width, GBK."""
    sheet = openpyxl.load_workbook(workbook).worksheets[0]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    for row in sheet.iter_rows(values_only=True):
        writer.writerow(["" if value is None else value for value in row])
    target.write_bytes(buffer.getvalue().encode("gbk"))
    return target


async def test_a_sign_in_sheet_saved_with_semicolons_is_accepted(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    plan = new_driver.plan
    sheet = retitled(CANDIDATE_SIGN_IN, plan, new_driver.tmp)
    saved = _saved_with_semicolons(sheet, new_driver.tmp / "考生签到表.csv")
    assert ";;" in saved.read_bytes().decode("gbk")  # the title row, padded

    started = await certflow(*start_argv(plan))
    uploaded = await certflow(*SITE, "upload", "candidates", plan.plan_id, str(saved))

    assert started.status == 0, started.out
    assert uploaded.status == 0, uploaded.out
    assert t("plan.upload_accepted", version=1) in uploaded.out
    assert "已按 CSV 文件读取" in uploaded.out, uploaded.out
