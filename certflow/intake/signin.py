"""Reading sign-in sheets (签到表) of candidates and of evaluators."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import Field

from certflow.i18n import t
from certflow.identity import is_staff_id, mask_person_id_numbers
from certflow.intake.cells import (
    CellValue,
    clean_text,
    compact,
    has_invisible_letter,
    integer_text,
    unwrap_text_formula,
)
from certflow.intake.common import (
    Duplicates,
    Located,
    bad_admission_number,
    explain_empty_cells,
    locate,
    name_too_long,
    problem,
    read_id,
)
from certflow.intake.layout import SYNONYMS, Column
from certflow.intake.limits import IntakeLimits
from certflow.models import Model, PlanInfo, Problem
from certflow.privacy import mask_id_numbers_in, mask_name
from certflow.text import code_points, hidden_in, normalise_name

# How a signature or sign-in time cell says that nobody signed (see
# docs/intake-templates.md, "Sign-in sheet templates"). Brackets around a mark
# do not count: （缺考） is 缺考.
#
# A line or a cross drawn where a signature would be: dashes, slashes, dots,
# "×" and the "x" typed for it.
_STRUCK_OUT = re.compile(r"[-_/\\.。、·…—–－―─／＿×✗✘╳xX]+")
# A cell holding only one of these words.
_NO_WORDS = frozenset(("否", "无", "没有", "缺", "0", "FALSE", "N", "NO"))
# A cell holding one of these anywhere says the person did not come, whatever
# else it says (缺考（病假）, 请假-家中有事).
_ABSENT_WORDS = re.compile(
    "未签|缺考|缺席|未到|未参加|未参考|请假|病假|事假|弃考|放弃|旷考|缺勤|没来"
)
# Marks that mean "came" on some sheets and "did not" on others (○ and △ are
# 请假 and 迟到 in many attendance sheets), and the column's own prompt
# (本人签名) copied down: neither says who came, so the cell is refused.
_UNCLEAR_MARKS = re.compile(r"[○〇◯oO△▲?？]+")
_PROMPTS = frozenset(SYNONYMS[Column.SIGNATURE])
# The columns a sign-in sheet's rows are read from: one header cell each.
_SHARED_COLUMNS = {Column.SEQ, Column.NAME, Column.SIGN_TIME, Column.SIGNATURE}
_CANDIDATE_COLUMNS = frozenset(
    {*_SHARED_COLUMNS, Column.ID_TYPE, Column.ID_NUMBER, Column.ADMISSION_NUMBER}
)
_EVALUATOR_COLUMNS = frozenset({*_SHARED_COLUMNS, Column.ROLE, Column.STAFF_ID})


class CandidateSignIn(Model):
    """One row of the candidates' sign-in sheet. Personal data: never log it."""

    seq: int | None = None
    name: str
    id_number: str = ""
    admission_number: str
    signed: bool
    row: int | None = None


class EvaluatorSignIn(Model):
    """One row of the evaluators' sign-in sheet."""

    seq: int | None = None
    name: str
    role_text: str = ""
    staff_id: str
    signed: bool = True
    row: int | None = None


class SignInReading(Model):
    """The outcome of reading a sign-in sheet: its rows, or every problem.

    A candidates' sheet fills ``candidates``, an evaluators' sheet ``evaluators``.
    """

    accepted: bool
    candidates: list[CandidateSignIn] = Field(default_factory=list)
    evaluators: list[EvaluatorSignIn] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    sheet: str | None = None
    notes: list[str] = Field(default_factory=list)


def read_candidate_sign_in(
    data: bytes, plan: PlanInfo, *, limits: IntakeLimits | None = None
) -> SignInReading:
    """Read the candidates' sign-in sheet; ID numbers may be absent but never wrong."""
    located = locate(
        data,
        plan,
        limits or IntakeLimits(),
        {Column.NAME, Column.ADMISSION_NUMBER},
        t("intake.document_candidate_sign_in"),
        reads=_CANDIDATE_COLUMNS,
    )
    if isinstance(located, list):
        return SignInReading(accepted=False, problems=located)
    if unsigned := _without_sign_in_column(located, "document_candidate_sign_in"):
        return unsigned

    table, problems = located.table, list(located.problems)
    admissions = Duplicates()
    rows: list[CandidateSignIn] = []
    for index in table.data_rows:
        cells, row = located.grid.rows[index], index + 1
        before = len(problems)
        name = _name(located, cells, row, problems)
        _, number, id_problems = read_id(
            table,
            table.cell(cells, Column.ID_TYPE),
            table.cell(cells, Column.ID_NUMBER),
            row,
            plan.exam_end_date,
            optional=True,
        )
        problems.extend(id_problems)
        raw_admission = unwrap_text_formula(table.cell(cells, Column.ADMISSION_NUMBER))
        admission = integer_text(raw_admission) or compact(raw_admission)
        _check_key(located, Column.ADMISSION_NUMBER, admission, row, admissions,
                   "duplicate_admission_number", problems)  # fmt: skip
        bad = bad_admission_number(
            admission,
            sheet=table.sheet,
            row=row,
            column=table.headers[Column.ADMISSION_NUMBER],
        )
        if bad is not None:
            problems.append(bad)
        _check_sign_time(located, cells, row, problems)
        signed = _signed(located, cells, row, problems)
        if len(problems) == before:
            rows.append(
                CandidateSignIn(
                    seq=_seq(located, cells),
                    name=name,
                    id_number=number,
                    admission_number=admission,
                    signed=signed,
                    row=row,
                )
            )
    problems = explain_empty_cells(located, problems)
    return _reading(located, problems, candidates=rows)


def read_evaluator_sign_in(
    data: bytes, plan: PlanInfo, *, limits: IntakeLimits | None = None
) -> SignInReading:
    """Read the evaluators' sign-in sheet: who of the team came, by staff id."""
    located = locate(
        data,
        plan,
        limits or IntakeLimits(),
        {Column.NAME, Column.STAFF_ID},
        t("intake.document_evaluator_sign_in"),
        reads=_EVALUATOR_COLUMNS,
    )
    if isinstance(located, list):
        return SignInReading(accepted=False, problems=located)
    if unsigned := _without_sign_in_column(located, "document_evaluator_sign_in"):
        return unsigned

    table, problems = located.table, list(located.problems)
    staff = Duplicates()
    rows: list[EvaluatorSignIn] = []
    for index in table.data_rows:
        cells, row = located.grid.rows[index], index + 1
        before = len(problems)
        name = _name(located, cells, row, problems)
        staff_id = _staff_id(located, cells, row, problems)
        if staff_id is not None:
            _check_key(located, Column.STAFF_ID, staff_id, row, staff,
                       "duplicate_staff_id", problems)  # fmt: skip
        _check_sign_time(located, cells, row, problems)
        signed = _signed(located, cells, row, problems)
        if len(problems) == before and staff_id is not None:
            rows.append(
                EvaluatorSignIn(
                    seq=_seq(located, cells),
                    name=name,
                    role_text=clean_text(table.cell(cells, Column.ROLE)),
                    staff_id=staff_id,
                    signed=signed,
                    row=row,
                )
            )
    problems = explain_empty_cells(located, problems)
    return _reading(located, problems, evaluators=rows)


_SCORE_COLUMNS = (Column.THEORY, Column.PRACTICAL, Column.TOTAL)


def _without_sign_in_column(located: Located, document: str) -> SignInReading | None:
    """Refuse a sheet with neither a signature nor a sign-in time column.

    Without one, nothing says who came: every listed person would count as
    signed in, absentees included (a score summary uploaded as a sign-in sheet
    lists them all). A sheet with score columns is said to look like a summary.
    """
    table = located.table
    if Column.SIGNATURE in table.columns or Column.SIGN_TIME in table.columns:
        return None
    code = (
        "sign_in_looks_like_summary"
        if any(column in table.columns for column in _SCORE_COLUMNS)
        else "no_sign_in_column"
    )
    found = problem(
        code,
        sheet=table.sheet,
        row=table.header_row + 1,
        document=t(f"intake.{document}"),
    )
    return SignInReading(
        accepted=False, problems=[found], sheet=table.sheet, notes=located.notes
    )


def _reading(
    located: Located,
    problems: list[Problem],
    *,
    candidates: list[CandidateSignIn] | None = None,
    evaluators: list[EvaluatorSignIn] | None = None,
) -> SignInReading:
    if problems:
        return SignInReading(
            accepted=False,
            problems=problems,
            sheet=located.grid.name,
            notes=located.notes,
        )
    repeated = _repeated_seq([*(candidates or []), *(evaluators or [])])
    return SignInReading(
        accepted=True,
        candidates=candidates or [],
        evaluators=evaluators or [],
        sheet=located.grid.name,
        notes=[*located.notes, *repeated],
    )


# How many repeated 序号 the note names one by one; the rest are counted.
_REPEATS_NAMED = 10


def _repeated_seq(rows: Sequence[CandidateSignIn | EvaluatorSignIn]) -> list[str]:
    """The note naming the rows whose 序号 an earlier row has, if any.

    A sign-in sheet is read by admission number (or 工号), never by 序号: a
    number given twice loses nobody, and a person added at the end of the
    list (the samples' 严豪刚, numbered 31 again) is what the consistency
    review lists. So the rows are read, and the note lets staff see that
    the numbering, which they may count the attendance by, is off.
    """
    seen = Duplicates()
    repeats = [
        t("intake.note_repeated_seq_item", row=entry.row, seq=entry.seq, first=first)
        for entry in rows
        if entry.seq is not None
        and entry.row is not None
        and (first := seen.earlier(str(entry.seq), entry.row))
    ]
    if not repeats:
        return []
    named = "、".join(repeats[:_REPEATS_NAMED])
    if len(repeats) > _REPEATS_NAMED:
        named = t("intake.note_repeated_seq_more", named=named, count=len(repeats))
    return [t("intake.note_repeated_seq", repeats=named)]


def _name(
    located: Located, cells: list[CellValue], row: int, problems: list[Problem]
) -> str:
    name = normalise_name(clean_text(located.table.cell(cells, Column.NAME)))
    sheet, header = located.table.sheet, located.table.headers[Column.NAME]
    if not name:
        problems.append(problem("missing_value", sheet=sheet, row=row, column=header))
    elif too_long := name_too_long(name, sheet=sheet, row=row, column=header):
        problems.append(too_long)
    elif has_invisible_letter(name):
        problems.append(
            problem(
                "bad_name", sheet=sheet, row=row, column=header, value=mask_name(name)
            )
        )
    elif hidden := hidden_in(name):
        # A direction override, a zero-width joiner, an escape: the name
        # looks like another, and would be compared and kept so.
        problems.append(
            problem(
                "name_hidden_characters",
                sheet=sheet,
                row=row,
                column=header,
                value=mask_name(name),
                chars=code_points(hidden),
            )
        )
    return name


def _staff_id(
    located: Located, cells: list[CellValue], row: int, problems: list[Problem]
) -> str | None:
    """The row's 工号 as compared (half width, upper case, no spaces), or None
    when the cell holds something else: a name, an ID number, ``工号 姓名``.

    The id is repeated wherever the plan shows the evaluators' sheet (the
    review list, the status, the consistency report): an ID number there
    would be kept whole for good, and a name beside the id makes every
    comparison with the plan's team a false mismatch. Such a cell is refused
    as ``--person`` and ``--signed-by`` refuse it, shown masked.
    """
    cell = located.table.cell(cells, Column.STAFF_ID)
    staff_id = compact(cell).upper()
    if not staff_id or is_staff_id(staff_id):
        return staff_id
    problems.append(
        problem(
            "bad_staff_id",
            sheet=located.table.sheet,
            row=row,
            column=located.table.headers[Column.STAFF_ID],
            value=_masked_staff_cell(clean_text(cell)),
        )
    )
    return None


# A run of letters no staff id holds (a name's characters): masked but its first.
_NOT_ASCII = re.compile(r"[^\x00-\x7f\s]+")


def _masked_staff_cell(text: str) -> str:
    """A refused 工号 cell as its refusal repeats it: every ID number in it
    masked (a whole run or one typed in groups), and each run of letters no
    staff id holds (a name) shown by its first letter only."""
    masked = mask_person_id_numbers(mask_id_numbers_in(text))
    masked = _NOT_ASCII.sub(lambda run: mask_name(run.group()), masked)
    return masked if len(masked) <= 24 else f"{masked[:24]}…"


def _check_key(
    located: Located,
    column: Column,
    value: str,
    row: int,
    seen: Duplicates,
    duplicate_code: str,
    problems: list[Problem],
) -> None:
    """A row's identifying value (admission number, staff id): present, unique."""
    sheet, header = located.table.sheet, located.table.headers[column]
    if not value:
        problems.append(problem("missing_value", sheet=sheet, row=row, column=header))
    elif first := seen.earlier(value, row):
        problems.append(
            problem(duplicate_code, sheet=sheet, row=row, column=header,
                    value=value, first=first)
        )  # fmt: skip


def _seq(located: Located, cells: list[CellValue]) -> int | None:
    text = integer_text(located.table.cell(cells, Column.SEQ))
    return int(text) if text else None


# A time of day as typed (08:11, 8:11:30, 2026-11-04 08:11), its hours,
# minutes and seconds.
_TIME = re.compile(
    r"(?<![0-9])([0-9]{1,2})\s*:\s*([0-9]{1,2})(?:\s*:\s*([0-9]{1,2}))?(?![0-9])"
)


def _check_sign_time(
    located: Located, cells: list[CellValue], row: int, problems: list[Problem]
) -> None:
    """Refuse a sign-in time no clock shows (``25:61``), naming the cell.

    Such a time is a typing slip that may hide the real one (a late arrival,
    a row copied from another session): it is not guessed. A time cell of
    the spreadsheet's own is a real time; a mark (``√``, ``缺考``) holds no
    time and is read as the signature column's marks are (``_sign_mark``).
    """
    table = located.table
    if Column.SIGN_TIME not in table.columns:
        return
    text = clean_text(table.cell(cells, Column.SIGN_TIME))
    for found in _TIME.finditer(text):
        hour, minute, second = (int(part or 0) for part in found.groups())
        if hour > 23 or minute > 59 or second > 59:
            problems.append(
                problem(
                    "bad_sign_time",
                    sheet=table.sheet,
                    row=row,
                    column=table.headers[Column.SIGN_TIME],
                    value=text,
                )
            )
            return


def _signed(
    located: Located, cells: list[CellValue], row: int, problems: list[Problem]
) -> bool:
    """Tell whether a row records a signature; a mark of no clear meaning is a
    problem of its cell (and the row counts as not signed).

    The signature column decides when there is one, else the sign-in time (a
    sheet has one of them: ``_without_sign_in_column``).
    """
    table = located.table
    column = Column.SIGNATURE if Column.SIGNATURE in table.columns else Column.SIGN_TIME
    text = compact(table.cell(cells, column))
    signed = _sign_mark(text)
    if signed is None:
        problems.append(
            problem(
                "unclear_sign_mark",
                sheet=table.sheet,
                row=row,
                column=table.headers[column],
                value=text,
            )
        )
        return False
    return signed


def _sign_mark(text: str) -> bool | None:
    """What a signature or sign-in time cell (spaces removed) says: True for
    signed, False for not signed, None when the mark says neither clearly."""
    mark = text.strip("()（）[]【】")
    if not mark or _STRUCK_OUT.fullmatch(mark):
        return False
    if mark.upper() in _NO_WORDS or _ABSENT_WORDS.search(mark):
        return False
    if _UNCLEAR_MARKS.fullmatch(mark) or mark in _PROMPTS:
        return None
    return True
