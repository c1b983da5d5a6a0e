"""The title and metadata rows of a sheet, compared with the exam plan.

A summary's title usually names the site, the certificate and the level, and a
metadata line names the plan id and the site code. Whatever is stated there must
be this plan's; what is not stated (a CSV has no title) is not required.
"""

from __future__ import annotations

import re

from certflow.i18n import t
from certflow.intake.cells import halfwidth
from certflow.models import Level, PlanInfo, Problem

_PLAN_ID = re.compile(r"(?:考试)?计划编号\s*[:：]?\s*([A-Za-z0-9][A-Za-z0-9-]{2,40})")
_SITE = re.compile(
    r"考核站点(?:名称)?\s*[:：]\s*([^\s()（]+)\s*(?:[(（]\s*([A-Za-z0-9-]+)\s*[)）])?"
)
_SITE_CODE = re.compile(r"站点(?:编号|代码|编码)\s*[:：]\s*([A-Za-z0-9-]+)")
_CERTIFICATE = re.compile(r"([\u4e00-\u9fff0-9A-Za-z+]+?)职业技能等级证书")
_CERTIFICATE_LABEL = re.compile(r"证书名称\s*[:：]\s*([^\s(（]+)")
_BRACKETED = re.compile(r"[(（]\s*([A-Za-z0-9][A-Za-z0-9-]{2,40})\s*[)）]")
_LEVEL = re.compile(r"(?:[(（]\s*|等级\s*[:：]\s*)(初级|中级|高级)")


def check_metadata(
    lines: list[tuple[int, str]], plan: PlanInfo, sheet: str
) -> list[Problem]:
    """Return a problem for each statement that contradicts ``plan``.

    ``lines`` are the rows above the header as (1-based row, text).
    """
    found: list[tuple[str, int, str, str]] = []  # (code, row, stated, expected)
    plan_shape = _shape(plan.plan_id)
    for row, raw in lines:
        text = halfwidth(raw)
        if match := _PLAN_ID.search(text):
            found.append(("plan_id_mismatch", row, match.group(1), plan.plan_id))
        else:
            # Sign-in titles carry the plan id in brackets, without a label: a
            # bracketed token shaped like this plan's id must be this plan's id.
            for token in _BRACKETED.findall(text):
                if _shape(token) == plan_shape:
                    found.append(("plan_id_mismatch", row, token, plan.plan_id))
        site_code = None
        if match := _SITE.search(text):
            found.append(("site_mismatch", row, match.group(1), plan.site_name))
            site_code = match.group(2)
        if match := _SITE_CODE.search(text):
            site_code = match.group(1)
        if site_code:
            found.append(("site_code_mismatch", row, site_code, plan.site_code))
        if certificate := _CERTIFICATE_LABEL.search(text) or _CERTIFICATE.search(text):
            stated = certificate.group(1).removesuffix("职业技能等级证书")
            # The title often runs the site name into the certificate name.
            expected = stated if stated.endswith(plan.certificate) else plan.certificate
            found.append(("certificate_mismatch", row, stated, expected))
        if match := _LEVEL.search(text):
            level = Level.from_chinese(match.group(1))
            expected = match.group(1) if level is plan.level else plan.level.chinese
            found.append(("level_mismatch", row, match.group(1), expected))

    return [
        Problem(
            code=code,
            message=t(f"intake.{code}", stated=stated, expected=expected),
            sheet=sheet,
            row=row,
            value=stated,
        )
        for code, row, stated, expected in found
        if stated != expected
    ]


def _shape(code: str) -> str:
    """Return the shape of a code: P2026-1104-0412 -> A9-9-9 with run lengths."""
    return re.sub(
        r"[0-9]+|[A-Za-z]+",
        lambda m: ("9" if m.group().isdigit() else "A") + str(len(m.group())),
        code,
    )
