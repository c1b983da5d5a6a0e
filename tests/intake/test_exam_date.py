"""The summary's exam date (考核日期) must be the plan's exam end date.

The plan knows one date, the end of its exam. A summary stating another day is
refused naming the cell and both dates; a multi-day exam may state its range,
which must end on that day. A date that is not a whole date is refused, never
guessed; a blank label states nothing. Without a label, the title rows' one
whole date is taken for the exam date.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.intake import annotated_copy, read_candidate_sign_in, read_score_summary
from certflow.models import PlanInfo
from tests.corpus.intake.make_corpus import META, TITLE, row, workbook
from tests.intake.conftest import sheet_file

ROWS = [row(1, "黎芬", 80, 90, 87, "合格")]


def _summary(tmp_path: Path, meta: str) -> bytes:
    path = tmp_path / "summary.xlsx"
    workbook(ROWS, meta=meta).save(path)
    return path.read_bytes()


@pytest.mark.parametrize(
    "stated",
    [
        "2026-11-04",
        "2026/11/4",
        "2026.11.04",
        "2026年11月4日",
        "２０２６年１１月４日",
        "2026-11-03至2026-11-04",
        "2026年11月3日至4日",
        "2026-11-02 ~ 11-04",
        "2026-11-03、2026-11-04",  # the days of a two-day exam, listed
        "    年   月   日",  # the template's blank
        "考评组长：ZCX-E-0107",  # a blank date, then the next label
    ],
)
def test_the_plans_exam_date_is_accepted(
    plan: PlanInfo, tmp_path: Path, stated: str
) -> None:
    reading = read_score_summary(
        _summary(tmp_path, f"{META}  考核日期：{stated}"), plan
    )

    assert reading.accepted, [p.render() for p in reading.problems]


@pytest.mark.parametrize(
    ("stated", "code"),
    [
        ("2026-11-03", "exam_date_mismatch"),
        ("2025年11月4日", "exam_date_mismatch"),
        ("2026-11-04至2026-11-05", "exam_date_mismatch"),
        ("2026-11-05至2026-11-04", "exam_date_mismatch"),
        # Regression: only the first date of a cell was checked.
        ("2026-11-04、2026-11-10", "exam_date_mismatch"),
        ("2026-11-04(补考2026-11-20)", "exam_date_mismatch"),
        ("2026-11-04、2026-02-30", "exam_date_unreadable"),
        ("11月4日", "exam_date_unreadable"),
        ("2026-11-31", "exam_date_unreadable"),
    ],
)
def test_another_exam_date_is_refused_naming_the_cell_and_both_dates(
    plan: PlanInfo, tmp_path: Path, stated: str, code: str
) -> None:
    meta = f"考核日期：{stated}  {META}"
    reading = read_score_summary(_summary(tmp_path, meta), plan)

    assert not reading.accepted
    assert [(p.code, p.row, p.column, p.value) for p in reading.problems] == [
        (code, 2, "A", stated)
    ]
    line = reading.problems[0].render()
    assert "第 2 行" in line and "“A”列" in line
    assert stated in line and "2026-11-04" in line


def test_a_longer_heading_is_no_exam_date_label(plan: PlanInfo, tmp_path: Path) -> None:
    meta = f"{META}  考试日期及地点安排：2026-11-03 实训楼"

    assert read_score_summary(_summary(tmp_path, meta), plan).accepted


@pytest.mark.parametrize("label", ["考核日期：", None])
def test_a_date_cell_beside_the_label_is_compared_and_named(
    plan: PlanInfo, tmp_path: Path, label: str | None
) -> None:
    """Without the label (None), the date cell is the title rows' one date:
    compared as the exam date (trial: it was not read)."""
    book = workbook(ROWS)
    sheet = book["成绩汇总"]
    sheet.unmerge_cells("A2:L2")
    sheet["A2"] = META
    sheet["H2"] = label
    sheet["J2"] = datetime(2026, 11, 3)
    path = tmp_path / "summary.xlsx"
    book.save(path)

    reading = read_score_summary(path.read_bytes(), plan)

    assert [(p.code, p.row, p.column, p.value) for p in reading.problems] == [
        ("exam_date_mismatch", 2, "J", "2026-11-03")
    ]
    copy = load_workbook(
        io.BytesIO(annotated_copy(path.read_bytes(), reading.problems))
    )
    assert "2026-11-04" in copy.worksheets[0]["J2"].comment.text

    sheet["J2"] = date(2026, 11, 4)
    book.save(path)
    assert read_score_summary(path.read_bytes(), plan).accepted

    # Another label names another date: not the exam's.
    sheet["H2"], sheet["J2"] = "制表日期：", datetime(2026, 11, 3)
    book.save(path)
    assert read_score_summary(path.read_bytes(), plan).accepted


def test_a_sign_in_sheet_states_its_own_day(plan: PlanInfo, tmp_path: Path) -> None:
    """A multi-day exam has a sign-in sheet per day; only the summary's date is
    compared with the plan."""
    data = sheet_file(
        tmp_path / "sign-in.xlsx",
        [
            ["考生签到表  考核日期：2026-11-03"],
            ["序号", "姓名", "证件号码", "准考证号", "签名"],
            [1, "黎芬", "", "2026110412001", "已签"],
        ],
    )

    assert read_candidate_sign_in(data, plan).accepted


@pytest.mark.parametrize(
    ("stated", "code"),
    [
        ("二〇二六年十一月四日", None),
        ("二零二六年十一月四日", None),
        ("二○二六年十一月四号", None),  # the circle typed for 〇
        ("二〇二六年十一月三日至四日", None),
        ("二〇二五年十月一日", "exam_date_mismatch"),
        ("二零二五年十月一日", "exam_date_mismatch"),
        ("二〇二六年十一月二十四日", "exam_date_mismatch"),
        ("2025年10月1日", "exam_date_mismatch"),
        ("2025.10.1", "exam_date_mismatch"),
        ("2025/10/01", "exam_date_mismatch"),
        ("二〇二六年十一月", "exam_date_unreadable"),
        ("二〇二六年十十月四日", "exam_date_unreadable"),
        ("二〇二六年十一月三十一日", "exam_date_unreadable"),
        ("两千零二十六年十一月四日", "exam_date_unreadable"),
    ],
)
def test_a_date_in_chinese_numerals_is_compared_too(
    plan: PlanInfo, tmp_path: Path, stated: str, code: str | None
) -> None:
    """Regression (trial): 考核日期：二〇二五年十月一日 held no digit, so it was
    taken for the blank template and never compared with the plan's date."""
    reading = read_score_summary(
        _summary(tmp_path, f"{META}  考核日期：{stated}"), plan
    )

    found = [(p.code, p.row, p.column, p.value) for p in reading.problems]
    assert found == ([] if code is None else [(code, 2, "A", stated)])


def _titled(tmp_path: Path, title: str, meta: str = META) -> bytes:
    path = tmp_path / "summary.xlsx"
    workbook(ROWS, title=title, meta=meta).save(path)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("title", "stated"),
    [
        (f"2026年11月8日 {TITLE}", "2026年11月8日"),
        (f"{TITLE}（2026-11-03）", "2026-11-03"),
        (f"二〇二六年十一月八日 {TITLE}", "2026年11月8日"),
        (f"{TITLE} 2026.11.02-2026.11.05", "2026.11.02-2026.11.05"),
    ],
)
def test_a_date_in_the_title_without_its_label_is_compared(
    plan: PlanInfo, tmp_path: Path, title: str, stated: str
) -> None:
    """Trial: a summary titled 2026年11月8日 … 考核成绩表 for an exam that
    ended on 4 November was accepted: only a date after 考核日期 was read."""
    reading = read_score_summary(_titled(tmp_path, title), plan)

    assert [(p.code, p.row, p.column, p.value) for p in reading.problems] == [
        ("exam_date_mismatch", 1, "A", stated)
    ]
    line = reading.problems[0].render()
    assert "未注明是什么日期" in line and "2026-11-04" in line


@pytest.mark.parametrize(
    ("title", "meta"),
    [
        # The plan's day, or a range ending on it.
        (f"2026年11月4日 {TITLE}", META),
        (f"{TITLE}（2026年11月3日至4日）", META),
        # Two dates: neither is known to be the exam's.
        (f"2026年11月8日 {TITLE}", f"{META}  制表日期：2026-11-05"),
        (f"{TITLE} 2026-11-08", f"{META}  2026-11-05"),
        # The one date names itself as another.
        (TITLE, f"{META}  制表日期：2026-11-05"),
        (TITLE, f"{META}  打印时间 2026-11-05 10:30"),
        # The labelled date decides.
        (f"2026年11月8日 {TITLE}", f"{META}  考核日期：2026-11-04"),
        # No whole date.
        (f"2026年11月 {TITLE}", META),
    ],
)
def test_an_unlabelled_date_is_compared_only_when_it_is_the_one(
    plan: PlanInfo, tmp_path: Path, title: str, meta: str
) -> None:
    reading = read_score_summary(_titled(tmp_path, title, meta), plan)

    assert reading.accepted, [p.render() for p in reading.problems]


@pytest.mark.parametrize(
    ("stated", "readings"),
    [
        ("11/04/2026", "2026年11月4日，也可读作 2026年4月11日"),
        ("04.11.2026", "2026年4月11日，也可读作 2026年11月4日"),
        ("11/04/2026-11/05/2026", "2026年11月4日，也可读作 2026年4月11日"),
    ],
)
def test_a_date_with_its_year_last_is_whole_but_ambiguous(
    plan: PlanInfo, tmp_path: Path, stated: str, readings: str
) -> None:
    """Trial: 考核日期：11/04/2026 was called 不是完整的日期. It is whole; which
    number is the month is what cannot be known."""
    reading = read_score_summary(
        _summary(tmp_path, f"考核日期：{stated}  {META}"), plan
    )

    assert [(p.code, p.row, p.column, p.value) for p in reading.problems] == [
        ("exam_date_ambiguous", 2, "A", stated)
    ]
    message = reading.problems[0].message
    assert "是完整的日期" in message and "不是完整的日期" not in message
    assert f"可读作 {readings}" in message
    assert "2026-11-04" in message and "2026年11月4日" in message


@pytest.mark.parametrize(
    ("stated", "code"),
    [
        ("04/11/2026", "exam_date_ambiguous"),
        ("04/04/2026", "exam_date_mismatch"),  # either way 4 April
        ("25/11/2026", "exam_date_mismatch"),  # only 25 November exists
        ("31/31/2026", "exam_date_unreadable"),  # no day either way
    ],
)
def test_a_year_last_date_with_one_reading_is_compared_as_that_day(
    plan: PlanInfo, tmp_path: Path, stated: str, code: str
) -> None:
    reading = read_score_summary(
        _summary(tmp_path, f"考核日期：{stated}  {META}"), plan
    )

    assert [p.code for p in reading.problems] == [code]


def test_a_year_last_date_that_can_only_be_the_exam_end_is_accepted(
    plan: PlanInfo, tmp_path: Path
) -> None:
    ended = plan.model_copy(update={"exam_end_date": date(2026, 11, 25)})

    reading = read_score_summary(
        _summary(tmp_path, f"考核日期：25/11/2026  {META}"), ended
    )

    assert reading.accepted, [p.render() for p in reading.problems]
