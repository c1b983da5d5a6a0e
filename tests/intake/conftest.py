"""Fixtures of the intake tests: the sample plan and where the files are."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from certflow.models import Level, PassRule, PassRuleKind, PlanInfo

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "intake"
CORPUS = REPO / "tests" / "corpus" / "intake"


def sample_plan() -> PlanInfo:
    """The exam plan the sample files belong to (samples/intake/README.md)."""
    return PlanInfo(
        plan_id="P2026-1104-0412",
        site_code="HB-WH-0031",
        site_name="武汉市交通职业技术学校",
        certificate="汽车运用与维修",
        level=Level.INTERMEDIATE,
        module_code="1-1",
        module_name="汽车动力与驱动系统综合分析技术",
        exam_end_date=date(2026, 11, 4),
        lead_evaluator_id="ZCX-E-0107",
        evaluator_ids=["ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"],
        pass_rule=PassRule(
            kind=PassRuleKind.BOTH_AT_LEAST,
            threshold=60,
            theory_weight=0.3,
            practical_weight=0.7,
        ),
    )


@pytest.fixture
def plan() -> PlanInfo:
    return sample_plan()


def sheet_file(path: Path, rows: list[list[object]]) -> bytes:
    """Save ``rows`` as the only sheet of an xlsx at ``path``; return its bytes."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for values in rows:
        sheet.append(values)
    book.save(path)
    return path.read_bytes()
