"""A candidate typed below the signature lines is reported, never silently lost.

The table ends at the first signature or remark line; what stands below it is
not read. A row there with a sequence number or an identity is a candidate
typed in the wrong place, and the upload is refused naming that row. Signature,
date and seal lines below the footer are the footer's own and change nothing.
"""

from __future__ import annotations

from pathlib import Path

from certflow.intake import read_candidate_sign_in, read_score_summary
from certflow.models import PlanInfo
from tests.corpus.intake.make_corpus import row, workbook
from tests.intake.conftest import SAMPLES, sheet_file

ROWS = [row(1, "黎芬", 80, 90, 87, "合格"), row(2, "胡俊霞", 74, 84.6, 81.42, "合格")]
FOOTER_ROW = 7  # title, meta, header, two rows, an empty row, then 考评员签字：


def _summary(tmp_path: Path, *below_footer: list[object]) -> bytes:
    book = workbook(ROWS)
    for values in below_footer:
        book["成绩汇总"].append(values)
    path = tmp_path / "summary.xlsx"
    book.save(path)
    return path.read_bytes()


def test_a_candidate_below_the_signature_lines_refuses_the_upload(
    plan: PlanInfo, tmp_path: Path
) -> None:
    late = row(3, "夏宇玲", 71.4, 75.8, 74.48, "合格")
    without_seq = ["", *row(4, "陈思彬", 53.1, 60.8, 58.49, "不合格")[1:]]
    data = _summary(tmp_path, late, ["考核站点（盖章）"], without_seq)

    reading = read_score_summary(data, plan)

    assert not reading.accepted
    # Rows 8 (日期：…) and 10 (the seal line) are footer lines; 9 and 11 are not.
    assert [(p.code, p.row) for p in reading.problems] == [
        ("row_below_footer", 9),
        ("row_below_footer", 11),
    ]
    assert f"第 {FOOTER_ROW} 行" in reading.problems[0].message
    assert "夏宇玲" not in reading.problems[0].render()


def test_a_candidate_numbered_as_text_or_only_scored_is_reported_too(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Regression: "３３" (full width), "No.33", and a row with scores but no
    sequence number or identity slipped through below the footer."""
    anonymous = ["", "任强", "", "", "", "", 75.5, 71.9, 72.98, "正常", "合格"]
    data = _summary(tmp_path, ["３３", "任强"], ["No.34", "任强"], anonymous)

    reading = read_score_summary(data, plan)

    # Row 8 is the footer's 日期 line.
    assert [(p.code, p.row) for p in reading.problems] == [
        ("row_below_footer", 9),
        ("row_below_footer", 10),
        ("row_below_footer", 11),
    ]


def test_a_footer_opening_with_the_exam_date_is_a_footer(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Regression: a footer line 考核日期：… was read as a candidate row."""
    book = workbook(ROWS)
    sheet = book["成绩汇总"]
    sheet.insert_rows(FOOTER_ROW)
    sheet.cell(FOOTER_ROW, 1, "考核日期：2026年11月4日")
    path = tmp_path / "summary.xlsx"
    book.save(path)

    reading = read_score_summary(path.read_bytes(), plan)

    assert reading.accepted, [p.render() for p in reading.problems]
    assert len(reading.rows) == 2


def test_signature_date_and_seal_lines_below_the_footer_are_fine(
    plan: PlanInfo, tmp_path: Path
) -> None:
    data = _summary(tmp_path, ["考核站点（盖章）"], ["", "周建国、刘海波"], ["注：无"])

    reading = read_score_summary(data, plan)

    assert reading.accepted, [p.render() for p in reading.problems]
    assert len(reading.rows) == 2


def test_a_sign_in_row_below_the_footer_is_reported_too(
    plan: PlanInfo, tmp_path: Path
) -> None:
    data = sheet_file(
        tmp_path / "sign-in.xlsx",
        [
            ["序号", "姓名", "证件号码", "准考证号", "签名"],
            [1, "黎芬", "", "2026110412001", "已签"],
            ["监考签字："],
            [2, "胡俊霞", "", "2026110412002", "已签"],
        ],
    )

    reading = read_candidate_sign_in(data, plan)

    assert [(p.code, p.row) for p in reading.problems] == [("row_below_footer", 4)]


def test_the_samples_have_nothing_below_their_footer(plan: PlanInfo) -> None:
    for name in ("P2026-1104-0412-成绩汇总表.xlsx", "P2026-1104-0412-成绩汇总表.ods"):
        reading = read_score_summary((SAMPLES / name).read_bytes(), plan)
        assert reading.accepted, [p.render() for p in reading.problems]
        assert any("第 37 行起" in note for note in reading.notes)
