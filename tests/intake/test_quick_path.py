"""The quick check of ordinary rows agrees with the full check on every row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certflow.identity import make_resident_id
from certflow.intake import IntakeLimits, read_score_summary
from certflow.intake.common import Located, locate
from certflow.intake.layout import Column
from certflow.intake.summary import _RowChecker, compute_total, passes, required_columns
from certflow.models import PassRule, PassRuleKind, PlanInfo
from tests.intake.conftest import CORPUS, SAMPLES, sample_plan

MODULE = "1-1 汽车动力与驱动系统综合分析技术"
HONEST = [
    SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx",
    SAMPLES / "P2026-1104-0412-成绩汇总表.xls",
    SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv",
    SAMPLES / "broken-mixed.xlsx",
    CORPUS / "honest-layout-libreoffice.xls",
    CORPUS / "broken-scores.ods",
    CORPUS / "broken-identity.xlsx",
]


def _located(plan: PlanInfo) -> Located:
    data = (SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx").read_bytes()
    located = locate(data, plan, IntakeLimits(), required_columns(plan.pass_rule), "")
    assert isinstance(located, Located)
    return located


def _both(plan: PlanInfo, rows: list[dict[Column, object]]) -> tuple[object, object]:
    located = _located(plan)
    outcomes = []
    for quick in (True, False):
        checker = _RowChecker(plan, located, quick=quick)
        checked = [checker.check_values(v, n) for n, v in enumerate(rows, start=4)]  # type: ignore[arg-type]
        outcomes.append((checked, checker.problems, checker.notes))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("path", HONEST, ids=[p.name for p in HONEST])
def test_both_paths_read_every_file_alike(path: object) -> None:
    plan = sample_plan()
    data = path.read_bytes()  # type: ignore[attr-defined]
    located = locate(data, plan, IntakeLimits(), required_columns(plan.pass_rule), "")
    assert isinstance(located, Located)

    results = []
    for quick in (True, False):
        checker = _RowChecker(plan, located, quick=quick)
        rows = [checker.check(index) for index in located.table.data_rows]
        results.append((rows, checker.problems, checker.notes))
    assert results[0] == results[1]
    assert (
        read_score_summary(data, plan).rows == [r for r in results[1][0] if r]
        or (results[1][1])
    )


scores = st.one_of(
    st.integers(-5, 105),
    st.floats(-1, 101, allow_nan=False),
    st.decimals(-1, 101, places=3).map(float),
    st.sampled_from(["", "八十", "缺考", " 60 ", "６０"]),
)
words = st.sampled_from(["", "合格", "不合格", "合 格", "pass", "优秀", 1.0])
statuses = st.sampled_from(["", "正常", "缺考", "违纪", "迟到", " 正常"])
names = st.sampled_from(
    ["黎芬", "买买提·艾力", "阿依古丽•吐尔逊", " 王秀 ", "", "ＪＯＨＮ"]
)
ids = st.one_of(
    st.builds(
        make_resident_id,
        st.sampled_from(["420106", "110105", "990000"]),
        st.dates(date(1990, 1, 1), date(2030, 1, 1)),
        st.integers(0, 3),
    ),
    st.sampled_from(["4.2E+17", "", "42010619900101001x"]),
    st.just(4.2e17),
)
admissions = st.one_of(
    st.sampled_from(["2026110412001", "2026110412002", " 2026110412003"]),
    st.just(2026110412004.0),
)
rows = st.fixed_dictionaries(
    {
        Column.SEQ: st.one_of(st.integers(1, 3), st.floats(1, 3), st.just("")),
        Column.NAME: names,
        Column.ID_TYPE: st.sampled_from(["居民身份证", "", "身份证", "军官证"]),
        Column.ID_NUMBER: ids,
        Column.ADMISSION_NUMBER: admissions,
        Column.MODULE: st.sampled_from([MODULE, "1-2 其他", "", "1-1"]),
        Column.THEORY: scores,
        Column.PRACTICAL: scores,
        Column.TOTAL: scores,
        Column.STATUS: statuses,
        Column.RESULT: words,
        Column.REMARK: st.sampled_from(["", "缺考", "补考"]),
    }
)
rules = st.builds(
    PassRule,
    kind=st.sampled_from(list(PassRuleKind)),
    threshold=st.sampled_from([60, 59.5, 60.005]),
    theory_weight=st.sampled_from([0.3, 0.4, 0.25]),
    practical_weight=st.sampled_from([0.7, 0.6, 0.75]),
)


@st.composite
def ordinary_rows(draw: st.DrawFn, rule: PassRule) -> dict[Column, object]:
    """Rows that are mostly right: valid cells, total and result near the truth."""
    row = draw(rows)
    theory = draw(st.integers(0, 10_000)) / 100
    practical = draw(st.integers(0, 10_000)) / 100
    computed = compute_total(rule, Decimal(str(theory)), Decimal(str(practical)))
    offset = draw(st.sampled_from([0, 0, 0, 1, -1, 2]))
    total = float(computed + Decimal(offset) / 100)
    passed = passes(rule, Decimal(str(theory)), Decimal(str(practical)), computed)
    result = draw(st.sampled_from(["合格" if passed else "不合格", "", "合格"]))
    row.update(
        {
            Column.THEORY: theory,
            Column.PRACTICAL: practical,
            Column.TOTAL: total,
            Column.RESULT: result,
            Column.STATUS: draw(st.sampled_from(["正常", "", "缺考"])),
            Column.NAME: draw(st.sampled_from(["黎芬", "买买提·艾力", "王 秀"])),
            Column.ID_TYPE: draw(st.sampled_from(["居民身份证", ""])),
            Column.ID_NUMBER: make_resident_id(
                "420106", date(2000, 1, 1), draw(st.integers(0, 999))
            ),
            Column.ADMISSION_NUMBER: draw(
                st.one_of(
                    st.from_regex(r"2026[0-9]{9}", fullmatch=True),
                    st.integers(1, 10**13).map(float),
                )
            ),
            Column.MODULE: draw(st.sampled_from([MODULE, MODULE, "1-2 其他"])),
            Column.SEQ: draw(st.sampled_from([1.0, 2, "", "3"])),
            Column.REMARK: draw(st.sampled_from(["", "", "缺考"])),
        }
    )
    return row


@settings(max_examples=300, deadline=None)
@given(rule=rules, batch=st.lists(rows, min_size=1, max_size=4))
def test_both_paths_agree_on_generated_rows(
    rule: PassRule, batch: list[dict[Column, object]]
) -> None:
    plan = sample_plan().model_copy(update={"pass_rule": rule})
    quick, full = _both(plan, batch)
    assert quick == full


@settings(max_examples=300, deadline=None)
@given(data=st.data(), rule=rules)
def test_both_paths_agree_on_mostly_right_rows(
    data: st.DataObject, rule: PassRule
) -> None:
    batch = data.draw(st.lists(ordinary_rows(rule), min_size=1, max_size=4))
    plan = sample_plan().model_copy(update={"pass_rule": rule})
    quick, full = _both(plan, batch)
    assert quick == full
