"""A hidden column holding data is refused, as a hidden row is.

Regression: hidden rows were refused (nobody saw them on screen or on paper)
while hidden columns were read as if shown: a 理论成绩 column hidden in the
summary was imported unchecked. Hidden columns are found in each format's
file (xlsx ``<col hidden>``, xls ``COLINFO`` ``fHidden``, ods
``table:visibility`` of a column); an empty one, or one holding title text
only, is harmless.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.intake import read_candidate_sign_in, read_score_summary
from certflow.models import PlanInfo
from tests.intake.conftest import SAMPLES
from tests.intake.xls_cells import with_hidden_columns

SUMMARY = SAMPLES / "P2026-1104-0412-成绩汇总表"
# The summary's 理论成绩 column: G, the seventh.
THEORY = 6


def _xlsx(hidden: int, path: Path, **cells: str) -> bytes:
    book = load_workbook(f"{SUMMARY}.xlsx")
    sheet = book["成绩汇总"]
    for ref, value in cells.items():
        sheet[ref] = value
    letter = chr(ord("A") + hidden)
    sheet.column_dimensions[letter].hidden = True
    book.save(path)
    return path.read_bytes()


def _xls(hidden: int, path: Path) -> bytes:
    return with_hidden_columns(Path(f"{SUMMARY}.xls").read_bytes(), hidden, hidden)


def _ods(hidden: int, path: Path) -> bytes:
    """The sample ods (LibreOffice's one column element repeated over the
    sheet) with the column ``hidden`` collapsed, as LibreOffice writes it."""
    source = zipfile.ZipFile(f"{SUMMARY}.ods")
    content = source.read("content.xml").decode("utf-8")

    def split(match: re.Match[str]) -> str:
        style, total, rest = match.group(1), int(match.group(2)), match.group(3)

        def column(count: int, extra: str = "") -> str:
            return (
                f'<table:table-column{style} table:number-columns-repeated="{count}"'
                f"{rest}{extra}/>"
            )

        return (
            column(hidden)
            + column(1, ' table:visibility="collapse"')
            + column(total - hidden - 1)
        )

    content, found = re.subn(
        r'<table:table-column( table:style-name="\w+")'
        r' table:number-columns-repeated="(\d+)"([^>]*)/>',
        split,
        content,
    )
    assert found == 1
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            part = source.read(item)
            if item.filename == "content.xml":
                part = content.encode("utf-8")
            target.writestr(item, part)
    return out.getvalue()


@pytest.mark.parametrize("write", [_xlsx, _xls, _ods], ids=["xlsx", "xls", "ods"])
def test_a_hidden_score_column_is_refused_naming_it(
    plan: PlanInfo, tmp_path: Path, write: Callable[[int, Path], bytes]
) -> None:
    data = write(THEORY, tmp_path / "summary")

    reading = read_score_summary(data, plan)

    assert not reading.accepted and reading.rows == []
    [found] = reading.problems
    assert (found.code, found.sheet, found.row, found.column) == (
        "hidden_column",
        "成绩汇总",
        3,
        "G",
    )
    assert "第 G 列“理论成绩”被隐藏" in found.message


def test_an_empty_or_title_only_hidden_column_is_harmless(
    plan: PlanInfo, tmp_path: Path
) -> None:
    empty = read_score_summary(_xlsx(13, tmp_path / "empty.xlsx"), plan)
    titled = read_score_summary(
        _xlsx(13, tmp_path / "titled.xlsx", N1="打印区域说明"), plan
    )
    # Below the signature lines nothing is read, hidden or not.
    footer = read_score_summary(
        _xlsx(13, tmp_path / "footer.xlsx", N38="2026年11月4日"), plan
    )

    for reading in (empty, titled, footer):
        assert reading.accepted, reading.problems
        assert reading.candidates == 32


def test_a_hidden_helper_column_beside_the_table_is_refused_too(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """A column the reader does not use still holds what nobody saw: which
    column the school meant is not guessed."""
    reading = read_score_summary(
        _xlsx(13, tmp_path / "helper.xlsx", N3="复核", N4="62"), plan
    )

    [found] = reading.problems
    assert (found.code, found.column) == ("hidden_column", "N")


def test_a_sign_in_sheet_s_hidden_signature_column_is_refused(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = load_workbook(SAMPLES / "P2026-1104-0412-考生签到表.xlsx")
    book.active.column_dimensions["F"].hidden = True  # type: ignore[union-attr]
    book.save(tmp_path / "sign-in.xlsx")

    reading = read_candidate_sign_in((tmp_path / "sign-in.xlsx").read_bytes(), plan)

    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("hidden_column", 2, "F")
    ]
    assert "签名" in reading.problems[0].message
