"""The words and numbers a score summary is written with, shared by both row checks."""

from __future__ import annotations

import re
from decimal import Decimal

from certflow.intake.cells import CellValue, clean_text, plain_decimal
from certflow.models import ExamStatus

# 考试状态 as schools write it.
STATUS_WORDS: dict[str, ExamStatus] = {
    **dict.fromkeys(
        ("正常", "参考", "已考", "到考", "出勤", "在考"), ExamStatus.PRESENT
    ),
    **dict.fromkeys(("缺考", "缺席", "未到", "未参考", "缺"), ExamStatus.ABSENT),
    **dict.fromkeys(("违纪", "作弊", "违规", "取消成绩"), ExamStatus.DISQUALIFIED),
}
# 考核结果 as schools write it.
RESULT_WORDS: dict[str, bool] = {
    **dict.fromkeys(("合格", "通过", "是", "及格", "pass", "√"), True),
    **dict.fromkeys(("不合格", "未通过", "不通过", "否", "不及格", "fail", "×"), False),
}
# The words the template itself uses for a status and for a result.
STATUS_NAMES: dict[ExamStatus, str] = {
    ExamStatus.PRESENT: "正常",
    ExamStatus.ABSENT: "缺考",
    ExamStatus.DISQUALIFIED: "违纪",
}
# A status as a correction request names it: the template's own words only.
STATUS_BY_NAME: dict[str, ExamStatus] = {
    name: status for status, name in STATUS_NAMES.items()
}
HUNDRED = Decimal(100)
PASS_WORD = "合格"
FAIL_WORD = "不合格"

_MODULE_CODE = re.compile(r"^([0-9A-Za-z]+(?:-[0-9A-Za-z]+)*)")


def module_matches(text: str, module_code: str) -> bool:
    """Tell whether a 考核模块 cell ("1-1 汽车动力…") names ``module_code``."""
    match = _MODULE_CODE.match(text.replace("—", "-").replace("－", "-"))
    return match is not None and match.group(1) == module_code


def numeric_cents(value: CellValue) -> int | None:
    """Return a numeric cell holding a valid score (0–100, two decimals) in cents.

    None for anything else: text, a number out of range or with more decimals.
    """
    if type(value) is not float and type(value) is not int:
        return None
    if not 0 <= value <= 100:  # also NaN, infinity and 1e308 (whose cents overflow)
        return None
    cents = round(value * 100)
    if 0 <= value <= 100 and abs(value * 100 - cents) < 1e-6:
        return cents
    return None


def score_fault(value: Decimal) -> str | None:
    """Return why a number is no score (a problem code), or None when it is one.

    A score is 0 to 100 with at most two decimals; trailing zeros do not count
    (``85.500`` is 85.5). The score summary and correction requests share this
    rule, so a value one accepts the other accepts too.
    """
    if not Decimal(0) <= value <= HUNDRED:
        return "score_out_of_range"
    if -value.normalize().as_tuple().exponent > 2:  # type: ignore[operator]
        return "score_too_many_decimals"
    return None


# A comma (full width made ASCII by ``clean_text``), or the full stop or the
# enumeration comma a Chinese input method types for ".", between digits.
_DECIMAL_SLIP = re.compile(r"(\d+)[,。、](\d+)")


def decimal_mark_slip(text: str) -> str | None:
    """The score ``text`` means when a comma or a Chinese full stop was typed
    for its decimal point (``60,10``, ``60。10``), written as it must be
    (``60.10``); None when ``text`` is no such slip, or no score even then."""
    found = _DECIMAL_SLIP.fullmatch(clean_text(text))
    if found is None:
        return None
    meant = f"{found.group(1)}.{found.group(2)}"
    return meant if parse_score(meant) is not None else None


def parse_score(text: str) -> Decimal | None:
    """A score as people write it, or None: the score summary's rule for text cells.

    A plain decimal number (``plain_decimal``: no ``1e1``, ``0x10``, ``NaN`` or
    digits of other scripts) from 0 to 100 with at most two decimals. The digits
    are kept as written, so the history records ``85.50`` as it was asked.
    Correction requests are read with it wherever they are typed: in the staff
    tool, by mail and in the plan.
    """
    value = plain_decimal(clean_text(text))
    if value is None or score_fault(value) is not None:
        return None
    return value
