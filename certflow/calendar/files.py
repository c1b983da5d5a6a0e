"""Reading a year schedule from a file an administrator uploads.

Three forms are accepted (docs/calendar.md shows each): a TOML file with
``year``, ``holidays`` and ``makeup_workdays``; a CSV file with ``date,kind`` rows;
or the text of the State Council notice itself. Either list may hold single dates
or inclusive ranges written ``2027-02-05..2027-02-11``.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import math
import tomllib
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import PurePath

from certflow.arguments import shown
from certflow.calendar.notice import NoticeError, parse_notice
from certflow.calendar.schedule import (
    WEEKDAY_NAMES,
    ScheduleError,
    YearSchedule,
    calendar_problem,
    check_schedule,
    is_weekend,
    outside_year,
)
from certflow.config import toml_error_at_end, toml_error_position
from certflow.i18n import t
from certflow.intake.container import OLE2_MAGIC, ZIP_MAGICS, is_blank
from certflow.models import Problem

# The largest schedule file read. A year's notice, or a schedule of every day
# of a year, is some ten kilobytes.
SCHEDULE_MAX_BYTES = 1024 * 1024
# The longest range a schedule lists, in days: a whole year.
_LONGEST_RANGE = 366
# What a schedule in TOML holds (docs/calendar.md).
_TOML_KEYS = ("year", "holidays", "makeup_workdays", "source")
_HOLIDAY_KINDS = {"holiday", "放假", "休"}
_MAKEUP_KINDS = {"makeup_workday", "makeup", "上班", "班", "调休上班"}


def load_schedule_file(
    data: bytes, filename_hint: str | None = None, year: int | None = None
) -> YearSchedule:
    """Read a schedule from an uploaded file: TOML, CSV, or the notice text.

    ``filename_hint`` (the uploader's file name) picks the form by its suffix
    (.toml, .csv, .txt); otherwise TOML is tried, then CSV, then the notice
    text. ``year``, when given, is the year the caller expects. Raises
    ``ScheduleError`` (``NoticeError`` for notice text) with every reason in
    Chinese; an empty file (or one of blank lines) with the one reason that
    it is empty and what it should hold.
    """
    if len(data) > SCHEDULE_MAX_BYTES:
        # Read as a schedule, a file of tens of megabytes took seconds and a
        # gigabyte of memory to be refused.
        raise ScheduleError([calendar_problem("file_too_big", size=_mb(len(data)))])
    if is_blank(data):
        # Not "unreadable": there is nothing to read, whatever its form.
        raise ScheduleError([calendar_problem("file_empty")])
    form = _binary_form(data)
    if form is not None:
        named = t(f"calendar.form_{form}")
        raise ScheduleError([calendar_problem("file_not_text", form=named)])
    text = _decode(data)
    digest = hashlib.sha256(data).hexdigest()[:12]
    suffix = PurePath(filename_hint or "").suffix.lower()
    detect = suffix not in (".toml", ".csv", ".txt")

    if suffix == ".toml" or (detect and _looks_like_toml(text)):
        schedule = _from_toml(text, digest)
    elif suffix == ".csv" or (detect and _looks_like_csv(text)):
        schedule = _from_csv(text, digest)
    else:
        schedule = _from_notice(text, year, known_form=not detect, digest=digest)

    if year is not None and schedule.year != year:
        raise ScheduleError(
            [calendar_problem("year_mismatch", found=schedule.year, expected=year)]
        )
    return check_schedule(schedule)


def _binary_form(data: bytes) -> str | None:
    """What a file that is no text at all is, by its content (not its name):
    a workbook, a zip, a PDF or an image (the end of its ``calendar.form_``
    key); None for anything else."""
    if data.startswith(ZIP_MAGICS):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            names = set()
        if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
            return "xlsx"
        if "mimetype" in names and "content.xml" in names:
            return "ods"
        return "zip"
    for magic, form in _BINARY_MAGICS:
        if data.startswith(magic):
            return form
    return None


_BINARY_MAGICS = (
    (OLE2_MAGIC, "ole2"),
    (b"%PDF", "pdf"),
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
)


def _mb(size: int) -> str:
    """A size in megabytes as the refusal says it, rounded up: ``57.3``
    (never ``1.0`` for a file just over the 1 MB allowed)."""
    return f"{math.ceil(size * 10 / (1024 * 1024)) / 10:.1f}"


def _decode(data: bytes) -> str:
    # Staff on Windows often save as GB18030 (ANSI); UTF-8 is tried first because
    # a UTF-8 text practically never decodes as valid GB18030 by accident the
    # other way round.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ScheduleError([calendar_problem("file_encoding")])


def _looks_like_toml(text: str) -> bool:
    try:
        return "holidays" in tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False


def _looks_like_csv(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.replace(" ", "").lower().startswith("date,kind")


def _from_notice(
    text: str, year: int | None, known_form: bool, digest: str
) -> YearSchedule:
    try:
        # Named by the file's own bytes, as the other forms are: a notice
        # saved in GB18030 and one in UTF-8 are two files.
        schedule = parse_notice(text, year)
        return schedule.model_copy(update={"source": f"notice:{digest}"})
    except NoticeError as error:
        unreadable = {"notice_no_year", "notice_no_holidays"}
        if not known_form and all(p.code in unreadable for p in error.problems):
            raise NoticeError([calendar_problem("file_unreadable")]) from error
        raise


def _from_toml(text: str, digest: str) -> YearSchedule:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        at = toml_error_position(error)
        if at is not None:
            problem = calendar_problem("toml_invalid_at", row=at[0], column=at[1])
        elif toml_error_at_end(error):
            problem = calendar_problem("toml_invalid_end")
        else:
            problem = calendar_problem("toml_invalid")
        raise ScheduleError([problem]) from error

    problems = [_unknown_key(key) for key in table if key not in _TOML_KEYS]
    for key in ("year", "holidays"):
        if key not in table:
            problems.append(calendar_problem("toml_missing_key", key=key))
    year = table.get("year", 0)
    if "year" in table and not (
        isinstance(year, int) and not isinstance(year, bool) and 1000 <= year <= 9999
    ):
        problems.append(calendar_problem("toml_bad_year"))
    if problems:
        raise ScheduleError(problems)
    given_source = table.get("source", "")
    if not isinstance(given_source, str):
        problems.append(calendar_problem("toml_bad_source"))

    lists: dict[str, list[date]] = {}
    for key in ("holidays", "makeup_workdays"):
        values = table.get(key, [])
        if not isinstance(values, list):
            problems.append(calendar_problem("toml_bad_list", key=key))
            continue
        lists[key] = [day for value in values for day in _dates(value, problems)]
    if problems:
        raise ScheduleError(problems)

    source = f"file:{digest}" + (
        f" {given_source.strip()}" if given_source.strip() else ""
    )
    return YearSchedule(
        year=table["year"],
        holidays=lists["holidays"],
        makeup_workdays=lists["makeup_workdays"],
        source=source,
    )


def _unknown_key(key: str) -> Problem:
    """A key no schedule file holds, named with the one it was likely meant
    to be: a misspelt ``makeup_workday`` was read as no make-up days at all,
    and the load replaced the year's stored ones with none."""
    like = difflib.get_close_matches(key, _TOML_KEYS, n=1)
    if like:
        return calendar_problem("toml_unknown_key_like", key=shown(key), like=like[0])
    return calendar_problem("toml_unknown_key", key=shown(key))


def _from_csv(text: str, digest: str) -> YearSchedule:
    rows = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if header[:2] != ["date", "kind"]:
        raise ScheduleError([calendar_problem("csv_bad_header")])

    problems: list[Problem] = []
    listed: list[_Listed] = []
    # Row numbers as a spreadsheet shows them: the header is row 1.
    for number, row in enumerate(rows[1:], start=2):
        if len(row) < 2:
            problems.append(calendar_problem("csv_bad_row", row=number))
            continue
        kind = row[1].strip().lower()
        days = _dates(row[0].strip(), problems, row=number)
        if kind in _HOLIDAY_KINDS:
            listed.extend(_Listed(number, day, makeup=False) for day in days)
        elif kind in _MAKEUP_KINDS:
            listed.extend(_Listed(number, day, makeup=True) for day in days)
        else:
            problems.append(
                calendar_problem("csv_bad_kind", row=number, value=row[1].strip())
            )
    if not listed and not problems:
        # The header alone: there is no line 2 to blame, only days to add.
        raise ScheduleError([calendar_problem("csv_no_days")])
    year = _csv_year(listed)
    problems.extend(_row_problems(listed, year))
    if problems:
        raise ScheduleError(sorted(problems, key=lambda p: p.row or 0))

    return YearSchedule(
        year=year,
        holidays=[entry.day for entry in listed if not entry.makeup],
        makeup_workdays=[entry.day for entry in listed if entry.makeup],
        source=f"file:{digest}",
    )


@dataclass(frozen=True)
class _Listed:
    """One day a CSV row lists (a range lists several), and of which kind."""

    row: int
    day: date
    makeup: bool


def _csv_year(listed: list[_Listed]) -> int:
    """The year of a CSV schedule: the one most of its rows are in (by each
    row's first day; the first row's on a tie), so the row of a mistyped
    year is the one named, however long a range it holds."""
    first_days: dict[int, date] = {}
    for entry in listed:
        first_days.setdefault(entry.row, entry.day)
    counts = Counter(day.year for day in first_days.values())
    if not counts:
        return 0
    most = max(counts.values())
    return next(d.year for d in first_days.values() if counts[d.year] == most)


def _row_problems(listed: list[_Listed], year: int) -> list[Problem]:
    """What is wrong with the days of a CSV schedule, each at its row: a day
    of another year, one listed again (at the row listing it again), a day
    listed as both kinds, a make-up day on a weekday. Also said when other
    rows could not be read, so one pass over the file finds every problem."""
    problems: list[Problem] = []
    seen: dict[date, bool] = {}
    counts = Counter((entry.day, entry.makeup) for entry in listed)
    outside: dict[int, list[date]] = {}
    said: set[tuple[date, bool]] = set()
    for entry in listed:
        day, row = entry.day, entry.row
        if day.year != year:
            outside.setdefault(row, []).append(day)
            continue
        if day in seen:
            if (day, entry.makeup) in said:
                continue  # said at the row that first listed it again
            said.add((day, entry.makeup))
            if seen[day] == entry.makeup:
                code = "duplicate_makeup" if entry.makeup else "duplicate_holiday"
                count = counts[day, entry.makeup]
                problems.append(calendar_problem(code, row=row, day=day, count=count))
            else:
                problems.append(
                    calendar_problem("holiday_and_makeup", row=row, day=day)
                )
            continue
        seen[day] = entry.makeup
        if entry.makeup and not is_weekend(day):
            weekday = WEEKDAY_NAMES[day.weekday()]
            problems.append(
                calendar_problem(
                    "makeup_not_weekend", row=row, day=day, weekday=weekday
                )
            )
    # A row's days of another year, said as the TOML form's are: as a range.
    problems.extend(
        outside_year(days[0], days[-1], year, row) for row, days in outside.items()
    )
    return problems


def _dates(
    value: object, problems: list[Problem], row: int | None = None
) -> list[date]:
    """Return the days ``value`` names: a TOML date, ``YYYY-MM-DD``, or ``A..B``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return [value]
    text = str(value).strip()
    first_text, _, last_text = text.partition("..")
    try:
        first = date.fromisoformat(first_text.strip())
        last = date.fromisoformat(last_text.strip()) if last_text else first
    except ValueError:
        problems.append(calendar_problem("bad_date_value", row=row, value=text))
        return []
    if last < first:
        problems.append(calendar_problem("bad_range", row=row, value=text))
        return []
    if (last - first).days >= _LONGEST_RANGE:
        # 1000-01-01..9999-12-31 is 45 bytes and three million days.
        problems.append(calendar_problem("range_too_long", row=row, value=text))
        return []
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
