"""The candidates, plans and issued numbers the web service tests share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

import httpx

from certflow.models import Level, PlanInfo

ISSUED_ON = date(2026, 12, 4)


@dataclass(frozen=True)
class Holder:
    """A candidate as the tests know them: name, ID number, admission number."""

    name: str
    id_number: str
    admission_number: str


LI_FEN = Holder("黎芬", "11010519491231002X", "A001")
WANG = Holder("王小明", "440524188001010014", "A002")
SUN = Holder("孙丽", "320311197001011234", "A003")
FAILED = Holder("赵六", "510105199203030016", "A004")
# A name of two parts, stored as intake stores it: one "·" between them.
AILI = Holder("买买提·艾力", "650102199001010017", "A005")

PLAN_A = PlanInfo(
    plan_id="P2026-WEB-0001",
    site_code="S01",
    site_name="测试职业技术学院",
    certificate="汽车运用与维修",
    level=Level.INTERMEDIATE,
    module_code="1-1",
    module_name="汽车动力与驱动综合分析技术",
    exam_end_date=date(2026, 10, 20),
    lead_evaluator_id="E01",
)
PLAN_B = PLAN_A.model_copy(
    update={
        "plan_id": "P2026-WEB-0002",
        "certificate": "智能新能源汽车",
        "level": Level.ELEMENTARY,
        "module_name": "新能源汽车动力电池及管理系统检修",
    }
)


@dataclass(frozen=True)
class Issued:
    """The numbers issued by the fixture, by holder and plan."""

    numbers: dict[tuple[str, str], str]

    def of(self, holder: Holder, plan: PlanInfo = PLAN_A) -> str:
        return self.numbers[(holder.admission_number, plan.plan_id)]


# Makes an httpx client of a fresh app: ``make(address=..., limits=...)``.
ClientFactory = Callable[..., httpx.AsyncClient]
# Reads the issued PDF of a holder's PLAN_A certificate: ``await pdf_of(WANG)``.
PdfOf = Callable[[Holder], Awaitable[bytes]]
