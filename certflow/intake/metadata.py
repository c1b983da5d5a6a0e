"""The title and metadata rows of a sheet, compared with the exam plan.

A summary's title usually names the site, the certificate and the level, and a
metadata line names the plan id, the site code and the exam date. Whatever is
stated there must be this plan's; what is not stated (a CSV has no title) is not
required.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime

from openpyxl.utils import get_column_letter

from certflow.i18n import t
from certflow.intake.cells import CellValue, clean_text
from certflow.models import Level, PlanInfo, Problem
from certflow.text import halfwidth
from certflow.timeutil import DATE_TEXT

_PLAN_ID = re.compile(r"(?:考试)?计划编号\s*[:：]?\s*([A-Za-z0-9][A-Za-z0-9-]{2,40})")
_SITE = re.compile(
    r"考核站点(?:名称)?\s*[:：]\s*([^\s()（]+)\s*(?:[(（]\s*([A-Za-z0-9-]+)\s*[)）])?"
)
_SITE_CODE = re.compile(r"站点(?:编号|代码|编码)\s*[:：]\s*([A-Za-z0-9-]+)")
_CERTIFICATE = re.compile(r"([\u4e00-\u9fff0-9A-Za-z+]+?)职业技能等级证书")
_CERTIFICATE_LABEL = re.compile(r"证书名称\s*[:：]\s*([^\s(（]+)")
_BRACKETED = re.compile(r"[(（]\s*([A-Za-z0-9][A-Za-z0-9-]{2,40})\s*[)）]")
_LEVEL = re.compile(r"(?:[(（]\s*|等级\s*[:：]\s*)(初级|中级|高级)")
# The label, then a colon, a digit or the cell's end (考试日期及地点 is no label).
_EXAM_DATE_LABEL = re.compile(r"(?:考核|考试)日期\s*(?:[:：]\s*|(?=[0-9])|$)")
# 2026-11-04, 2026/11/4, 2026.11.04, 2026年11月4日; a range ends with a whole
# date, a month and day, or a day: 2026-11-03至2026-11-04, 2026年11月3日至4日.
_YMD = DATE_TEXT
_END = r"(?:(?:([0-9]{4})\s*[-/.年]\s*)?([0-9]{1,2})\s*[-/.月]\s*)?([0-9]{1,2})\s*日?"
_EXAM_DATES = re.compile(rf"{_YMD}(?:\s*(?:至|到|~|—|–|-)\s*{_END})?")
# A whole date (or range) standing in the title rows, not inside a longer number.
_TITLE_DATES = re.compile(rf"(?<![0-9]){_EXAM_DATES.pattern}")
# What ends a label of another date (制表日期：, 打印时间 …): a date after it is
# not the exam's.
_OTHER_LABEL_END = ("：", ":", "日期", "时间")
_ANY_DATE = re.compile(_YMD)
# A date written with its year last (11/04/2026, 4.11.2026): whole, but which
# of the two numbers is the month depends on where the writer learnt it.
_YEAR_LAST = re.compile(
    r"([0-9]{1,2})\s*[-/.]\s*([0-9]{1,2})\s*[-/.]\s*([0-9]{4})(?![0-9])"
)
# A number in Chinese numerals before 年, 月 or 日 (号): 二〇二六年十一月四日.
# A year is written digit by digit (〇, the circle ○ often typed for it, or
# 零), a month or day with 十 (十一, 二十四).
_CHINESE_NUMBER = re.compile(r"([〇○零一二三四五六七八九十]+)(?=\s*[年月日号])")
_CHINESE_DIGITS = {ch: n for n, ch in enumerate("〇一二三四五六七八九")} | {
    "○": 0,
    "零": 0,
}
# What follows a label ends where the next "label：" begins (a blank date may be
# followed at once by 考核站点：… in its cell or in the next one).
_NEXT_LABEL = re.compile(r"(?:^|\s)\S+[:：]")


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


def check_exam_date(
    rows: list[list[CellValue]], plan: PlanInfo, sheet: str
) -> list[Problem]:
    """Return a problem for each 考核日期 above the header that is not the plan's.

    ``rows`` are the sheet's rows above the header. The plan knows one date, its
    exam end date: a stated date must be that day, and a stated range (a
    multi-day exam) must end on it and not start after it. A date the reader
    cannot take as a whole date is refused as unreadable, never guessed; a label
    with no digits after it (a blank template) states nothing.

    Without a labelled date, a whole date standing in the title without any
    label (``2026年11月8日 Web前端开发 职业技能等级考核成绩表``) is taken for
    the exam date, but only when it is the one whole date of the title rows:
    beside another, neither is known to be the exam's.
    """
    problems = []
    stated_any = False
    for index, row in enumerate(rows):
        for position, cell in enumerate(row):
            text = clean_text(cell)
            for label in _EXAM_DATE_LABEL.finditer(text):
                stated = _stated_date(text[label.end() :], row, position)
                if stated is None:
                    continue
                stated_any = True
                value, column = stated
                found = _date_problem(value, plan, sheet, (index + 1, column))
                if found is not None:
                    problems.append(found)
    if stated_any:
        return problems
    dates = list(_title_dates(rows))
    if len(dates) != 1 or dates[0][2]:
        return problems  # none, several, or one another label names
    value, place, _ = dates[0]
    found = _date_problem(value, plan, sheet, place, unlabelled=True)
    return problems if found is None else [*problems, found]


def _date_problem(
    value: str | date,
    plan: PlanInfo,
    sheet: str,
    place: tuple[int, int],
    *,
    unlabelled: bool = False,
) -> Problem | None:
    """The problem of ``value`` stated as the exam date in the cell at
    ``place`` (1-based row, 0-based column), or None when it is the plan's."""
    code = _exam_date_fault(value, plan.exam_end_date)
    if code is None:
        return None
    key = f"intake.{code}_unlabelled" if unlabelled else f"intake.{code}"
    row, column = place
    end = plan.exam_end_date
    readings = _year_last_readings(value) if isinstance(value, str) else []
    return Problem(
        code=code,
        message=t(
            key,
            stated=_shown(value),
            expected=end.isoformat(),
            written=_chinese_date(end),
            readings="，也可读作 ".join(map(_chinese_date, readings)),
        ),
        sheet=sheet,
        row=row,
        column=get_column_letter(column + 1),
        value=_shown(value),
    )


def _title_dates(
    rows: list[list[CellValue]],
) -> Iterator[tuple[str | date, tuple[int, int], bool]]:
    """Each whole date (or range) of the title rows: what it states, its cell
    (1-based row, 0-based column) and whether a label of its own stands
    before it (``制表日期：``, ``打印时间``), in its cell or ending the filled
    cell before it."""
    for index, row in enumerate(rows):
        before = ""
        for position, cell in enumerate(row):
            place = (index + 1, position)
            if isinstance(cell, datetime | date):
                day = cell.date() if isinstance(cell, datetime) else cell
                yield day, place, before.endswith(_OTHER_LABEL_END)
                before = day.isoformat()
                continue
            text = _CHINESE_NUMBER.sub(_arabic, clean_text(cell))
            if not text:
                continue
            for match in _TITLE_DATES.finditer(text):
                ahead = text[: match.start()].rstrip() or before
                yield match.group(0).strip(), place, ahead.endswith(_OTHER_LABEL_END)
            before = text


def _stated_date(
    rest: str, row: list[CellValue], position: int
) -> tuple[str | date, int] | None:
    """Return what a label states and the column holding it, or None for nothing.

    The value follows the label in its cell or, when the label ends the cell,
    stands in the next filled cell of the row (often a real date cell).
    """
    if rest.strip():
        return rest, position
    for column in range(position + 1, len(row)):
        cell = row[column]
        if isinstance(cell, datetime):
            return cell.date(), column
        if isinstance(cell, date):
            return cell, column
        if text := clean_text(cell):
            return text, column
    return None


def _exam_date_fault(value: str | date, exam_end: date) -> str | None:
    if isinstance(value, date):
        return None if value == exam_end else "exam_date_mismatch"
    value = _CHINESE_NUMBER.sub(_arabic, value)
    match = _EXAM_DATES.match(value)
    if match is None and _YEAR_LAST.match(value):
        return _year_last_fault(value, exam_end)
    if match is None:
        # Digits, or Chinese numerals left unread (十十月), state a date that
        # cannot be read; the blank "  年  月  日" states none.
        stated = _NEXT_LABEL.split(value, maxsplit=1)[0]
        has_digit = any(ch in "0123456789" for ch in stated)
        written = has_digit or _CHINESE_NUMBER.search(stated) is not None
        return "exam_date_unreadable" if written else None
    year, month, day, end_year, end_month, end_day = match.groups()
    # More dates may follow ("2026-11-04、2026-11-10", "（补考2026-11-20）"):
    # each is a day of the exam, so none may fall outside it.
    more = _ANY_DATE.findall(_NEXT_LABEL.split(value[match.end() :], maxsplit=1)[0])
    try:
        first = date(int(year), int(month), int(day))
        last = first
        if end_day is not None:
            last = date(int(end_year or year), int(end_month or month), int(end_day))
        days = [first, last, *(date(int(y), int(m), int(d)) for y, m, d in more)]
    except ValueError:
        return "exam_date_unreadable"
    if first <= last and min(days) == first and max(days) == exam_end:
        return None
    return "exam_date_mismatch"


def _year_last_readings(value: str) -> list[date]:
    """The days a date written with its year last (``11/04/2026``) can be:
    month first, then day first, each once and only when it exists."""
    found = _YEAR_LAST.match(value)
    if found is None:
        return []
    first, second, year = (int(part) for part in found.groups())
    days = []
    for month, day in ((first, second), (second, first)):
        try:
            days.append(date(year, month, day))
        except ValueError:
            continue
    return list(dict.fromkeys(days))


def _year_last_fault(value: str, exam_end: date) -> str | None:
    """The fault of a stated date written with its year last.

    ``11/04/2026`` is a whole date, yet 4 November to one reader and 11
    April to another: it is refused as ambiguous, never guessed. Where only
    one reading is a day (``25/11/2026``; ``04/04/2026`` reads alike either
    way) that day is compared as any other; more dates after it (a range)
    are not read in this form.
    """
    days = _year_last_readings(value)
    if len(days) > 1:
        return "exam_date_ambiguous"
    rest = _YEAR_LAST.sub("", value, count=1)
    rest = _NEXT_LABEL.split(rest, maxsplit=1)[0]
    if not days or any(ch in "0123456789" for ch in rest):
        return "exam_date_unreadable"
    return None if days[0] == exam_end else "exam_date_mismatch"


def _chinese_date(day: date) -> str:
    """A day as the message writes it: 2026年11月4日."""
    return f"{day.year}年{day.month}月{day.day}日"


def _arabic(number: re.Match[str]) -> str:
    """A year, month or day in Chinese numerals in digits, or as written when
    it is no such number (十十, 〇十), so that the date is refused as unreadable."""
    text = number.group(1)
    if "十" not in text:  # 二〇二六, 四
        return "".join(str(_CHINESE_DIGITS[ch]) for ch in text)
    tens, _, ones = text.partition("十")  # 十, 十一, 二十, 二十四
    if tens not in _TENS_OR_ONES or ones not in _TENS_OR_ONES:
        return text
    return str(_CHINESE_DIGITS.get(tens, 1) * 10 + _CHINESE_DIGITS.get(ones, 0))


_TENS_OR_ONES = ("", *"一二三四五六七八九")


def _shown(value: str | date) -> str:
    """The stated date as the uploader wrote it, up to the next label."""
    if isinstance(value, date):
        return value.isoformat()
    match = _EXAM_DATES.match(value)
    stated = _NEXT_LABEL.split(value, maxsplit=1)[0].strip()
    if match is not None and not _ANY_DATE.search(value[match.end() :]):
        return match.group(0).strip()
    return stated
