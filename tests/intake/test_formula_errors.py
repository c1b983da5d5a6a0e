"""A cell holding a formula error (#N/A, #DIV/0!) is named as such, not as empty.

Schools fill summaries with VLOOKUP and division formulas; one that finds
nothing leaves #N/A, which the spreadsheet reader sees as an empty cell. The
refusal must say what the cell really holds.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from certflow.intake import read_candidate_sign_in, read_score_summary
from certflow.intake.workbook import xlsx_error_cells
from certflow.models import PlanInfo
from tests.corpus.intake.make_corpus import row, workbook
from tests.intake.conftest import sheet_file, with_sheet_xml

ROWS = [row(1, "黎芬", 80, 90, 87, "合格"), row(2, "胡俊霞", 74, 84.6, 81.42, "合格")]


def _with_errors(data: bytes, errors: dict[str, str]) -> bytes:
    """The xlsx with the given cells ("G4") turned into cached formula errors."""

    def change(text: str) -> str:
        for ref, error in errors.items():
            text = re.sub(
                rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)',
                f'<c r="{ref}" t="e"><f>VLOOKUP(A1,B:C,2,0)</f><v>{error}</v></c>',
                text,
                flags=re.S,
            )
        return text

    return with_sheet_xml(data, change)


def _summary_bytes() -> bytes:
    buffer = io.BytesIO()
    workbook(ROWS).save(buffer)
    return buffer.getvalue()


def test_the_error_cells_of_a_sheet_are_found() -> None:
    data = _with_errors(_summary_bytes(), {"G4": "#N/A", "H5": "#DIV/0!"})
    assert xlsx_error_cells(data, "成绩汇总") == {(4, 6): "#N/A", (5, 7): "#DIV/0!"}
    assert xlsx_error_cells(data, "填表说明") == {}
    assert xlsx_error_cells(b"not a zip", "成绩汇总") == {}


def test_a_score_left_as_n_a_is_refused_as_a_formula_error(plan: PlanInfo) -> None:
    data = _with_errors(_summary_bytes(), {"G4": "#N/A", "D5": "#REF!"})

    reading = read_score_summary(data, plan)

    assert not reading.accepted
    located = {(p.row, p.column): p for p in reading.problems}
    assert located[(4, "理论成绩")].code == "formula_error"
    assert "#N/A" in located[(4, "理论成绩")].render()
    assert "不能为空" not in located[(4, "理论成绩")].render()
    assert located[(5, "证件号码")].code == "formula_error"
    assert "#REF!" in located[(5, "证件号码")].render()


def test_a_sign_in_sheet_names_its_error_cells_too(
    plan: PlanInfo, tmp_path: Path
) -> None:
    data = sheet_file(
        tmp_path / "sign-in.xlsx",
        [
            ["序号", "姓名", "证件号码", "准考证号", "签名"],
            [1, "黎芬", "", "2026110412001", "已签"],
            [2, "胡俊霞", "", "2026110412002", "已签"],
        ],
    )

    reading = read_candidate_sign_in(_with_errors(data, {"D3": "#N/A"}), plan)

    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("formula_error", 3, "准考证号")
    ]
