"""Reading the State Council's yearly holiday notice (部分节假日安排的通知).

The notice arrives as text, usually in November for the next year, long before any
library ships it. Each holiday is one sentence: a clause naming one day or a range
followed by 放假 (with a day count, 共N天, that we check), and optionally a clause
listing the weekend days worked instead, followed by 上班. Weekdays written in
brackets after a date are checked too, which catches a notice read for the wrong
year. Anything we cannot read for certain is refused with the reason, never
guessed.

Not yet supported: a notice that also moves days of the previous year (the 2019
notice made 2018-12-29 a working day) is refused, as a schedule holds one year.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta

from certflow.calendar.schedule import (
    WEEKDAY_NAMES,
    ScheduleError,
    YearSchedule,
    calendar_problem,
    schedule_problems,
)
from certflow.models import Problem


class NoticeError(ScheduleError):
    """Raised when a notice text cannot be read as a schedule; reasons in Chinese."""


_TITLE_YEAR = re.compile(r"关于\s*(\d{4})\s*年[^，。\n]*?节假日")
_BRACKETS = re.compile(r"[（(]([^（）()]*)[）)]")
# After brackets are reduced to ⟨weekday⟩ markers, one date token reads
# [YYYY年][M月]D日[⟨w⟩]; the month and year carry over from the previous token.
_DATE = re.compile(
    r"(?:(\d{4})\s*年)?\s*(?:(\d{1,2})\s*月)?\s*(\d{1,2})\s*日\s*(?:⟨(\d?)⟩)?"
)
_WEEKDAY = re.compile(r"(?:周|星期|礼拜)([一二三四五六日天])")
_WEEKDAY_INDEX = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
}
_RANGE_SEPARATOR = re.compile(r"^\s*(?:至|到|—+|－|–|-|~|～)\s*$")
_SENTENCE_END = re.compile(r"[。；;\n]")
_CLAUSE_END = re.compile(r"[，,：:。；;\n]")
_DAY_COUNT = re.compile(r"(?:共|放假)\s*(\d{1,2})\s*天")


@dataclass(frozen=True)
class _Token:
    day: date | None  # None when the token is not a valid date
    text: str
    weekday: int | None
    start: int
    end: int


def notice_year(text: str) -> int | None:
    """Return the year named in the notice's title, or None when it has none."""
    match = _TITLE_YEAR.search(text)
    return int(match.group(1)) if match else None


def parse_notice(text: str, year: int | None = None) -> YearSchedule:
    """Read a State Council holiday notice into the schedule of its year.

    ``year`` defaults to the year in the title. Raises ``NoticeError`` with every
    reason (in Chinese) when the text cannot be read for certain, or when the
    schedule it gives is not sound (see ``schedule_problems``).
    """
    titled = notice_year(text)
    if year is None and titled is None:
        raise NoticeError([calendar_problem("notice_no_year")])
    if year is not None and titled is not None and year != titled:
        raise NoticeError(
            [calendar_problem("notice_year_mismatch", given=year, titled=titled)]
        )
    chosen = year if year is not None else titled
    assert chosen is not None

    problems: list[Problem] = []
    days_off: list[date] = []
    makeup: list[date] = []
    for sentence in _SENTENCE_END.split(_mark_weekdays(text)):
        off, work = _read_sentence(sentence, chosen, problems)
        days_off.extend(off)
        makeup.extend(work)

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    schedule = YearSchedule(
        year=chosen,
        holidays=sorted(days_off),
        makeup_workdays=sorted(makeup),
        source=f"notice:{digest}",
    )
    if not days_off and not problems:
        problems.append(calendar_problem("notice_no_holidays"))
    elif not problems:
        problems.extend(schedule_problems(schedule))
    if problems:
        raise NoticeError(problems)
    return schedule


def _mark_weekdays(text: str) -> str:
    # Brackets hold remarks such as （农历腊月二十八、周日）, whose 、 would split a
    # clause; keep only the weekday, which we check against the computed date.
    def replace(match: re.Match[str]) -> str:
        weekday = _WEEKDAY.search(match.group(1))
        return f"⟨{_WEEKDAY_INDEX[weekday.group(1)]}⟩" if weekday else "⟨⟩"

    return _BRACKETS.sub(replace, text)


def _read_sentence(
    sentence: str, year: int, problems: list[Problem]
) -> tuple[list[date], list[date]]:
    days_off: list[date] = []
    makeup: list[date] = []
    clause_start = 0
    for boundary in [
        *(m.start() for m in _CLAUSE_END.finditer(sentence)),
        len(sentence),
    ]:
        clause = sentence[clause_start:boundary]
        clause_start = boundary + 1
        if "放假" in clause:
            head = clause[: clause.index("放假")]
            tokens = _tokens(head, year, problems)
            if tokens:
                # The day count (共N天) may sit in a later clause of the sentence.
                rest = sentence[boundary - len(clause) + len(head) :]
                days_off.extend(_holiday_days(head, tokens, rest, problems))
        elif "上班" in clause:
            head = clause[: clause.index("上班")]
            makeup.extend(
                token.day for token in _tokens(head, year, problems) if token.day
            )
    return days_off, makeup


def _tokens(clause: str, year: int, problems: list[Problem]) -> list[_Token]:
    tokens: list[_Token] = []
    current_year, current_month = year, None
    for match in _DATE.finditer(clause):
        year_text, month_text, day_text, weekday_text = match.groups()
        text = _BRACKET_MARK.sub("", match.group(0)).strip()
        if year_text:
            current_year = int(year_text)
        if month_text:
            current_month = int(month_text)
        if current_month is None:
            problems.append(calendar_problem("notice_missing_month", text=text))
            continue
        try:
            day = date(current_year, current_month, int(day_text))
        except ValueError:
            problems.append(calendar_problem("notice_bad_date", text=text))
            tokens.append(_Token(None, text, None, match.start(), match.end()))
            continue
        weekday = int(weekday_text) if weekday_text else None
        if weekday is not None and weekday != day.weekday():
            problems.append(
                _weekday_problem(day, weekday, explicit_year=bool(year_text))
            )
        tokens.append(_Token(day, text, weekday, match.start(), match.end()))
    return tokens


_BRACKET_MARK = re.compile(r"⟨\d?⟩")


def _weekday_problem(day: date, written: int, explicit_year: bool) -> Problem:
    # Older notices name late-December days of the previous year without the
    # year ("12月31日（星期六）上班" in the 2006 notice); say so rather than
    # suggest the whole notice has the wrong year.
    before = day.replace(year=day.year - 1) if (day.month, day.day) != (2, 29) else None
    if not explicit_year and day.month == 12 and before and before.weekday() == written:
        return calendar_problem("notice_previous_year_day", day=before, year=day.year)
    return calendar_problem(
        "notice_weekday_mismatch",
        day=day,
        written=WEEKDAY_NAMES[written],
        actual=WEEKDAY_NAMES[day.weekday()],
        year=day.year,
    )


def _holiday_days(
    head: str, tokens: list[_Token], rest: str, problems: list[Problem]
) -> list[date]:
    if len(tokens) > 2 or (
        len(tokens) == 2
        and not _RANGE_SEPARATOR.match(head[tokens[0].end : tokens[1].start])
    ):
        problems.append(
            calendar_problem(
                "notice_bad_range", text=_BRACKET_MARK.sub("", head).strip()
            )
        )
        return []
    first, last = tokens[0].day, tokens[-1].day
    if first is None or last is None:
        return []  # already reported as a bad date
    if last < first:
        problems.append(
            calendar_problem(
                "notice_range_reversed", first=first.isoformat(), last=last.isoformat()
            )
        )
        return []

    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    count = _DAY_COUNT.search(rest)
    if count and int(count.group(1)) != len(days):
        problems.append(
            calendar_problem(
                "notice_count_mismatch",
                first=first.isoformat(),
                last=last.isoformat(),
                actual=len(days),
                written=int(count.group(1)),
            )
        )
    return days
