"""The sample plan of ``samples/intake`` and its people, as the demo and the tests
play them: one definition, so both exercise the same plan.

The people are fictitious staff ids; no name or ID number is here.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl

from certflow.files import write_private
from certflow.identity import credit_code_check_character
from certflow.models import Actor, Level, PassRule, PlanInfo, Role

ROOT = Path(__file__).resolve().parent.parent
INTAKE = ROOT / "samples" / "intake"
SUMMARY = INTAKE / "P2026-1104-0412-成绩汇总表.xlsx"
CANDIDATE_SIGN_IN = INTAKE / "P2026-1104-0412-考生签到表.xlsx"
EVALUATOR_SIGN_IN = INTAKE / "P2026-1104-0412-考评员签到表.xlsx"
SAMPLE_PLAN_ID = "P2026-1104-0412"
SAMPLE_EXAM_END = date(2026, 11, 4)  # the exam date the sample summary states
SITE_CODE = "HB-WH-0031"
TEAM = ["ZCX-E-0107", "ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"]

LEAD = Actor(role=Role.LEAD_EVALUATOR, person="ZCX-E-0107")
SITE = Actor(role=Role.SITE, person="whjt-kaowu", site_code=SITE_CODE)
CONTACT = Actor(role=Role.REGIONAL_CONTACT, person="rc-zhang")
MANAGER = Actor(role=Role.REGIONAL_MANAGER, person="rm-wang")
INFO = Actor(role=Role.INFO_CENTER, person="ic-li")
TECH = Actor(role=Role.TECH_DEPT, person="tech-zhao")
FINANCE = Actor(role=Role.FINANCE, person="fin-sun")
GM = Actor(role=Role.GENERAL_MANAGER, person="gm-chen")
ADMIN = Actor(role=Role.ADMIN, person="admin-liu")


def _one_page_pdf() -> bytes:
    """A well-formed PDF of one blank A4 page, its cross-reference table right."""
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj%sendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# A one-page PDF stands in for a scan: intake checks that a scan opens, not
# its pictures (the signed paper summary, the sealed application form).
SCAN_PDF = _one_page_pdf()


INVOICE_TEMPLATE = ROOT / "templates" / "invoice-details.xlsx"
# The sample school's invoice details, made up; the credit code's check
# character is computed, so the form passes intake's checks.
_CODE_BODY = "12420000MB0123456"
SAMPLE_INVOICE_DETAILS = {
    "发票抬头": "武汉市交通职业技术学校",
    "纳税人识别号": _CODE_BODY + credit_code_check_character(_CODE_BODY),
    "地址": "湖北省武汉市江岸区解放大道 1 号",
    "电话": "027-82812345",
    "开户银行": "中国工商银行武汉江岸支行",
    "银行账号": "3202 0011 0920 0123 456",
    "接收电子发票邮箱": "caiwu@whjtxx.edu.cn",
}


def sample_invoice_form() -> bytes:
    """The invoice details template filled in as the sample school would."""
    book = openpyxl.load_workbook(INVOICE_TEMPLATE)
    sheet = book.worksheets[0]
    for row in sheet.iter_rows():
        label = str(row[0].value or "").strip().lstrip("*")
        if label in SAMPLE_INVOICE_DETAILS:
            row[1].value = SAMPLE_INVOICE_DETAILS[label]
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def sample_plan(
    exam_end: date,
    plan_id: str = SAMPLE_PLAN_ID,
    pass_rule: PassRule | None = None,
    fee_per_candidate: Decimal | None = None,
) -> PlanInfo:
    """The plan of the intake samples, ending on ``exam_end``, under ``plan_id``."""
    return PlanInfo(
        plan_id=plan_id,
        site_code=SITE_CODE,
        site_name="武汉市交通职业技术学校",
        certificate="汽车运用与维修",
        level=Level.INTERMEDIATE,
        module_code="1-1",
        module_name="汽车动力与驱动系统综合分析技术",
        exam_end_date=exam_end,
        lead_evaluator_id=TEAM[0],
        evaluator_ids=TEAM[1:],
        pass_rule=pass_rule or PassRule(),
        fee_per_candidate=fee_per_candidate,
    )


def retitled(path: Path, plan: PlanInfo, folder: Path) -> Path:
    """A copy of a sample workbook whose title rows name ``plan`` instead.

    The sample sheets name their plan and the summary its exam date (考核日期)
    in the title rows, and intake checks both; another plan of the same school,
    or the sample plan dated another day, sends the same sheets with its own.
    """
    stated_date = f"考核日期：{SAMPLE_EXAM_END.isoformat()}"
    plan_date = f"考核日期：{plan.exam_end_date.isoformat()}"
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows(max_row=3):
            for cell in row:
                if isinstance(cell.value, str):
                    text = cell.value.replace(SAMPLE_PLAN_ID, plan.plan_id)
                    cell.value = text.replace(stated_date, plan_date)
    target = folder / f"{plan.plan_id}-{path.name.split('-', 3)[-1]}"
    buffer = io.BytesIO()
    book.save(buffer)
    write_private(target, buffer.getvalue())
    return target
