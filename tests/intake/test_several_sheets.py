"""One visible sheet holds an upload's list: a list split over sheets is refused.

Regression: a score summary split by exam room into the visible sheets
第一考场 and 第二考场 (16 candidates each, the same header) was accepted as
``共 16 人``, with only a note that 第二考场 had fewer rows and was not read:
half the candidates dropped, as a hidden row would drop one. The three
uploads read alike (``common.locate``): the summary and both sign-in sheets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.intake import (
    SignInReading,
    SummaryReading,
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.models import PlanInfo
from tests.intake.conftest import SAMPLES

Reader = Callable[[bytes, PlanInfo], SummaryReading | SignInReading]
# Each upload: its sample, its reader and its data rows (1-based, inclusive).
UPLOADS: dict[str, tuple[str, Reader, tuple[int, int]]] = {
    "summary": ("成绩汇总表", read_score_summary, (4, 35)),
    "candidates": ("考生签到表", read_candidate_sign_in, (3, 33)),
    "evaluators": ("考评员签到表", read_evaluator_sign_in, (3, 6)),
}


def _split(document: str, data_rows: tuple[int, int], path: Path) -> bytes:
    """The sample with its list split in two: the first half on 第一考场, the
    rest on a copy named 第二考场, the title rows, header and footer on both."""
    book = load_workbook(SAMPLES / f"P2026-1104-0412-{document}.xlsx")
    first = book.worksheets[0]
    second = book.copy_worksheet(first)
    top, bottom = data_rows
    middle = (top + bottom + 1) // 2
    first.delete_rows(middle, bottom - middle + 1)
    second.delete_rows(top, middle - top)
    first.title, second.title = "第一考场", "第二考场"
    book.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("kind", UPLOADS)
def test_a_list_split_over_two_visible_sheets_is_refused_naming_both(
    plan: PlanInfo, tmp_path: Path, kind: str
) -> None:
    document, read, data_rows = UPLOADS[kind]

    reading = read(_split(document, data_rows, tmp_path / "split.xlsx"), plan)

    assert not reading.accepted
    [found] = reading.problems
    assert (found.code, found.sheet) == ("several_sheets", "第一考场")
    assert "“第一考场”、“第二考场”" in found.message
    assert "同一个工作表" in found.message


def test_a_blank_template_beside_the_list_is_still_only_a_note(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """A sheet with the header and no data row holds nobody: it is named in
    a note, and the list beside it read."""
    book = load_workbook(SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx")
    template = book.create_sheet("空白模板")
    template.append(list(next(book["成绩汇总"].iter_rows(3, 3, values_only=True))))
    book.save(tmp_path / "summary.xlsx")

    reading = read_score_summary((tmp_path / "summary.xlsx").read_bytes(), plan)

    assert reading.accepted, reading.problems
    assert reading.sheet == "成绩汇总" and reading.candidates == 32
    assert any("空白模板" in note and "没有数据行" in note for note in reading.notes)
