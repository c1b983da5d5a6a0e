"""Admission numbers and names that a score correction could never match are refused.

Regression: intake took an admission number of 200 nines, ``ABC-<script>`` and a
1,000-character name, while the correction reader takes only admission numbers
of ASCII letters, digits and hyphens up to 40 characters: a candidate accepted
so could never have a correction matched. Both sides now apply one rule
(``certflow.identity.is_admission_number``).
"""

from __future__ import annotations

import argparse
import unicodedata
from datetime import date

import pytest

from certflow.actions import CorrectionSubmission
from certflow.corrections import read_correction_form_text
from certflow.intake import read_candidate_sign_in, read_score_summary
from starter.cli import admission_argument
from tests.intake.conftest import SAMPLES
from tests.support import INFO, sample_plan

SUMMARY_CSV = SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv"
SIGN_IN_CSV = (
    "序号,姓名,证件号码,准考证号,签到时间,签名\r\n"
    "1,黎芬,421002200506166066,{admission},08:11,已签\r\n"
    "2,{name},330106200308287009,2026110412002,08:12,已签\r\n"
)
PLAN = sample_plan(date(2026, 11, 4))
TYPED = (
    "考试计划编号：P2026-1104-0412\n考生姓名：黎芬\n准考证号：{admission}\n"
    "修改项目：理论成绩\n原成绩：0\n申请修改为：10\n修改原因：漏登\n"
)


def _summary(admission: str = "2026110412001", name: str = "黎芬") -> bytes:
    text = SUMMARY_CSV.read_bytes().decode("gbk")
    text = text.replace("黎芬", name, 1).replace("2026110412001", admission, 1)
    return text.encode("utf-8")


def _problems(reading: object) -> list[tuple[str | None, int | None, str | None]]:
    problems = getattr(reading, "problems")  # noqa: B009 - either reading
    return [(p.code, p.row, p.column) for p in problems]


@pytest.mark.parametrize(
    "admission", ["9" * 200, "A" * 41, "ABC-<script>", "2026 1104 12001x!"]
)
def test_an_admission_number_no_correction_can_name_is_refused(admission: str) -> None:
    summary = read_score_summary(_summary(admission=admission), PLAN)
    sign_in = read_candidate_sign_in(
        SIGN_IN_CSV.format(admission=admission, name="胡俊霞").encode(), PLAN
    )

    assert _problems(summary) == [("bad_admission_number", 2, "准考证号")]
    assert _problems(sign_in) == [("bad_admission_number", 2, "准考证号")]
    assert "40" in summary.problems[0].message
    assert len(summary.problems[0].value or "") <= 25
    # No correction request can name it either (at most a code it starts with).
    drafts, _ = read_correction_form_text(
        TYPED.format(admission=admission), sender="t@school.edu.cn"
    )
    assert all(draft.admission_number != admission for draft in drafts)


def test_the_longest_admission_number_is_taken_on_both_sides() -> None:
    longest = "HB-" + "9" * 37
    summary = read_score_summary(_summary(admission=longest), PLAN)
    drafts, problems = read_correction_form_text(
        TYPED.format(admission=longest), sender="t@school.edu.cn"
    )

    assert summary.accepted, summary.problems
    assert problems == [] and drafts[0].admission_number == longest
    # The plan's correction update takes it too (it once stopped at 32).
    request = CorrectionSubmission(
        actor=INFO,
        admission_number=longest,
        field="theory",
        requested_score="10",
        reason="漏登",
    )
    assert request.admission_number == longest
    assert read_score_summary(_summary(admission=longest + "9"), PLAN).problems


def test_a_name_past_fifty_characters_is_refused_with_a_clear_message() -> None:
    long_name = "黎" * 1000
    summary = read_score_summary(_summary(name=long_name), PLAN)
    sign_in = read_candidate_sign_in(
        SIGN_IN_CSV.format(admission="2026110412001", name=long_name).encode(), PLAN
    )

    assert _problems(summary) == [("name_too_long", 2, "考生姓名")]
    assert _problems(sign_in) == [("name_too_long", 3, "姓名")]
    message = summary.problems[0].message
    assert "1000" in message and "50" in message
    assert long_name[:3] not in (summary.problems[0].value or "")
    assert _problems(read_score_summary(_summary(name="黎" * 51), PLAN))
    assert read_score_summary(_summary(name="黎" * 50), PLAN).accepted


@pytest.mark.parametrize(
    "typed",
    [
        "421002200506166066",  # the sample's own ID number, valid
        "421002200506166060",  # mistyped check character: still an ID number
        "4210-0220-0506-1660-66",  # typed in groups
        "９１１００２２００５０６１６６０６６",  # a foreign card's, in full width
    ],
)
def test_an_id_number_in_the_admission_column_is_refused_masked_everywhere(
    typed: str,
) -> None:
    summary = read_score_summary(_summary(admission=typed), PLAN)
    sign_in = read_candidate_sign_in(
        SIGN_IN_CSV.format(admission=typed, name="胡俊霞").encode(), PLAN
    )
    drafts, problems = read_correction_form_text(
        TYPED.format(admission=typed), sender="t@school.edu.cn"
    )

    assert _problems(summary) == [("admission_is_id_number", 2, "准考证号")]
    assert _problems(sign_in) == [("admission_is_id_number", 2, "准考证号")]
    assert drafts == []
    assert [p.code for p in problems] == ["admission_is_id_number"]
    digits = unicodedata.normalize("NFKC", typed).replace("-", "")
    for problem in [*summary.problems, *sign_in.problems, *problems]:
        assert digits[6:12] not in problem.render()
    with pytest.raises(argparse.ArgumentTypeError):
        admission_argument(typed)


@pytest.mark.parametrize(
    "admission",
    [
        "202611041201234567",  # 18 digits, a year first: no province
        "212611041201234",  # 15 digits: the old IDs are out of use since 2013
        "2026110412001",  # the sample's own
        "HB-4210022005061660",  # a code and digits that are no ID number
    ],
)
def test_a_long_admission_number_that_is_no_id_number_is_taken_on_every_side(
    admission: str,
) -> None:
    summary = read_score_summary(_summary(admission=admission), PLAN)
    drafts, problems = read_correction_form_text(
        TYPED.format(admission=admission), sender="t@school.edu.cn"
    )

    assert summary.accepted, summary.problems
    assert problems == [] and drafts[0].admission_number == admission
    assert admission_argument(admission) == admission
