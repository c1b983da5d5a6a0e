"""Reading and checking a score summary (成绩汇总表) against its exam plan."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter

from pydantic import Field

from certflow.i18n import t
from certflow.intake.cells import (
    CellValue,
    clean_text,
    compact,
    decimal_of,
    has_invisible_letter,
    integer_text,
    is_number_cell,
    lost_digits,
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
from certflow.intake.fastpath import ORDER, FastRows
from certflow.intake.layout import Column, Table
from certflow.intake.limits import IntakeLimits
from certflow.intake.metadata import check_exam_date
from certflow.intake.vocabulary import (
    FAIL_WORD,
    PASS_WORD,
    RESULT_WORDS,
    STATUS_NAMES,
    STATUS_WORDS,
    module_matches,
    numeric_cents,
    score_fault,
)
from certflow.models import (
    CandidateScore,
    ExamStatus,
    Model,
    PassRule,
    PassRuleKind,
    PlanInfo,
    Problem,
)
from certflow.privacy import mask_id_number, mask_id_numbers_in, mask_name
from certflow.text import normalise_name

CENT = Decimal("0.01")
TOLERANCE = Decimal("0.01")


class SummaryReading(Model):
    """The outcome of reading a score summary: accepted rows, or every problem.

    ``accepted`` is True only when ``problems`` is empty; ``rows`` is empty when
    the summary is refused. ``notes`` tell the uploader, in Chinese, what was
    taken (which sheet) and what was normalised.
    """

    accepted: bool
    rows: list[CandidateScore] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    sheet: str | None = None
    notes: list[str] = Field(default_factory=list)
    candidates: int = 0
    passed: int = 0
    failed: int = 0
    absent: int = 0
    disqualified: int = 0


# The columns a summary's rows are read from: one header cell each.
SUMMARY_COLUMNS = frozenset(
    {
        Column.SEQ,
        Column.NAME,
        Column.ID_TYPE,
        Column.ID_NUMBER,
        Column.ADMISSION_NUMBER,
        Column.MODULE,
        Column.THEORY,
        Column.PRACTICAL,
        Column.TOTAL,
        Column.STATUS,
        Column.RESULT,
        Column.REMARK,
    }
)


def required_columns(rule: PassRule) -> set[Column]:
    """Return the columns a summary must have under ``rule``."""
    required = {
        Column.NAME,
        Column.ID_NUMBER,
        Column.ADMISSION_NUMBER,
        Column.PRACTICAL,
    }
    if rule.kind is not PassRuleKind.PRACTICAL_ONLY:
        required.add(Column.THEORY)
    return required


def read_score_summary(
    data: bytes,
    plan: PlanInfo,
    *,
    limits: IntakeLimits | None = None,
    unprintable: Callable[[str], Sequence[str]] | None = None,
) -> SummaryReading:
    """Read a score summary in any accepted format and check every row.

    Returns all problems found, never just the first; the rows are returned only
    when there is none. ``unprintable`` returns the characters of a name the
    certificate font lacks: any candidate's name holding one is a problem of
    its cell, found with the others. Not only a passing one's: a correction
    during publicity may make any candidate pass, absent or failed.
    """
    located = locate(
        data,
        plan,
        limits or IntakeLimits(),
        required_columns(plan.pass_rule),
        t("intake.document_summary"),
        reads=SUMMARY_COLUMNS,
    )
    if isinstance(located, list):
        return SummaryReading(accepted=False, problems=located)

    # Only the summary's date is compared: a sign-in sheet of a multi-day exam
    # states the day it was signed, which need not be the last.
    title = located.grid.rows[: located.table.header_row]
    dated = check_exam_date(title, plan, located.grid.name)
    checker = _RowChecker(plan, located, unprintable=unprintable)
    rows = checker.check_all()
    problems = located.problems + dated + checker.problems
    problems = explain_empty_cells(located, problems)
    notes = located.notes + checker.notes
    if problems:
        return SummaryReading(
            accepted=False, problems=problems, sheet=located.grid.name, notes=notes
        )
    passed = sum(r.passed for r in rows)
    statuses = Counter(r.status for r in rows)
    return SummaryReading(
        accepted=True,
        rows=rows,
        sheet=located.grid.name,
        notes=notes,
        candidates=len(rows),
        passed=passed,
        failed=statuses[ExamStatus.PRESENT] - passed,
        absent=statuses[ExamStatus.ABSENT],
        disqualified=statuses[ExamStatus.DISQUALIFIED],
    )


def compute_total(
    rule: PassRule, theory: Decimal | None, practical: Decimal
) -> Decimal:
    """Return the weighted total, rounded half up to two decimals.

    Under ``practical_only`` with no theory score the total is the practical score.
    """
    return _RuleNumbers(rule).total(theory, practical)


def parts_complete(
    rule: PassRule, theory: Decimal | None, practical: Decimal | None
) -> bool:
    """Whether the part scores ``rule`` needs are all there to derive a total.

    The practical score always; the theory score too, except under
    ``practical_only``. Until then there is no total to derive and no pass.
    """
    if practical is None:
        return False
    return theory is not None or rule.kind is PassRuleKind.PRACTICAL_ONLY


def parts_for_total(
    rule: PassRule, theory: Decimal | None, practical: Decimal, total: Decimal
) -> dict[str, Decimal]:
    """Return the part scores that, each changed alone, give ``total``.

    Keyed by the correction field ("theory", "practical"). A total is derived
    from its parts, so staff asked for another total are told which part to
    correct, and to what. A part is left out where no score from 0 to 100 with
    two decimals gives that total: its weight is 0, or the total is beyond it.
    """
    numbers = _RuleNumbers(rule)
    guesses: dict[str, Decimal] = {}
    if theory is None:
        guesses["practical"] = total
    else:
        if numbers.theory_weight:
            rest = total - numbers.practical_weight * practical
            guesses["theory"] = rest / numbers.theory_weight
        if numbers.practical_weight:
            rest = total - numbers.theory_weight * theory
            guesses["practical"] = rest / numbers.practical_weight
    found: dict[str, Decimal] = {}
    for field, guess in guesses.items():
        near = guess.quantize(CENT, rounding=ROUND_HALF_UP)
        # Rounding the total may hide the exact part: look one cent either side.
        for value in (near, near - CENT, near + CENT):
            parts = (value, practical) if field == "theory" else (theory, value)
            if 0 <= value <= 100 and numbers.total(*parts) == total:
                found[field] = value
                break
    return found


class _RuleNumbers:
    """A pass rule's weights and threshold as Decimals, converted once per upload."""

    def __init__(self, rule: PassRule) -> None:
        self.theory_weight = Decimal(str(rule.theory_weight))
        self.practical_weight = Decimal(str(rule.practical_weight))
        self.threshold = Decimal(str(rule.threshold))
        self.kind = rule.kind

    def total(self, theory: Decimal | None, practical: Decimal) -> Decimal:
        if theory is None:
            return practical.quantize(CENT, rounding=ROUND_HALF_UP)
        weighted = self.theory_weight * theory + self.practical_weight * practical
        return weighted.quantize(CENT, rounding=ROUND_HALF_UP)

    def passes(
        self, theory: Decimal | None, practical: Decimal, total: Decimal
    ) -> bool:
        return _passes(self.kind, self.threshold, theory, practical, total)


def passes(
    rule: PassRule, theory: Decimal | None, practical: Decimal, total: Decimal
) -> bool:
    """Return whether scores pass ``rule`` (theory None only under practical_only)."""
    return _RuleNumbers(rule).passes(theory, practical, total)


def _passes(
    kind: PassRuleKind,
    threshold: Decimal,
    theory: Decimal | None,
    practical: Decimal,
    total: Decimal,
) -> bool:
    if kind is PassRuleKind.BOTH_AT_LEAST:
        return theory is not None and theory >= threshold and practical >= threshold
    if kind is PassRuleKind.WEIGHTED_TOTAL_AT_LEAST:
        return total >= threshold
    return practical >= threshold


class _RowChecker:
    """Checks rows one by one, remembering what repeats across rows."""

    def __init__(
        self,
        plan: PlanInfo,
        located: Located,
        *,
        quick: bool = True,
        unprintable: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        self.plan = plan
        self.quick = quick
        self.unprintable = unprintable
        self.rule = plan.pass_rule
        self.grid = located.grid
        self.table: Table = located.table
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.ids = Duplicates()
        self.admissions = Duplicates()
        self.numbers = _RuleNumbers(self.rule)
        self.modules: dict[str, bool] = {}
        self.positions = list(self.table.columns.items())
        absent = 1 << 30  # past any row's end, so the cell reads as empty
        self.quick_positions = [self.table.columns.get(c, absent) for c in ORDER]
        # When the table has every column the quick check reads, one C-level
        # getter picks them from any row wide enough to hold the last of them.
        self.quick_width = max(self.quick_positions) + 1
        self.quick_getter: Callable[[list[CellValue]], Sequence[CellValue]] | None = (
            itemgetter(*self.quick_positions) if self.quick_width < absent else None
        )
        self.fast = FastRows(
            plan,
            set(self.table.columns),
            RESULT_WORDS,
            self.ids.seen,
            self.admissions.seen,
        )

    def _add(
        self,
        code: str,
        row: int,
        column: Column | None,
        value: str = "",
        key: str | None = None,
        **fields: object,
    ) -> None:
        header = self.table.headers.get(column) if column else None
        self.problems.append(
            problem(
                code,
                sheet=self.table.sheet,
                row=row,
                column=header,
                value=value,
                key=key,
                **fields,
            )
        )

    def check_all(self) -> list[CandidateScore]:
        """Check every data row in order; return the rows without a problem."""
        getter = self.quick_getter
        if not self.quick or getter is None:
            checked = map(self.check, self.table.data_rows)
            return [score for score in checked if score is not None]

        # The loop of ``check`` with the per-row look-ups hoisted: it runs once
        # per candidate, and most rows stop at the quick check.
        grid_rows, width = self.grid.rows, self.quick_width
        accept = self.fast.accept_values
        scores = []
        for index in self.table.data_rows:
            cells = grid_rows[index]
            if len(cells) < width:
                score = self.check(index)
            elif (
                score := accept(getter(cells), index + 1)
            ) is None or not self._printable(score):
                score = self._check_cells(cells, index)
            if score is not None:
                scores.append(score)
        return scores

    def check(self, index: int) -> CandidateScore | None:
        """Check the data row at ``index`` (0-based) of the grid."""
        cells = self.grid.rows[index]
        width = len(cells)
        if self.quick:
            values: Sequence[CellValue]
            if self.quick_getter is not None and width >= self.quick_width:
                values = self.quick_getter(cells)
            else:
                values = [cells[i] if i < width else "" for i in self.quick_positions]
            accepted = self.fast.accept_values(values, index + 1)
            if accepted is not None and self._printable(accepted):
                return accepted
        return self._check_cells(cells, index)

    def _check_cells(self, cells: list[CellValue], index: int) -> CandidateScore | None:
        # One lookup per column and row; absent columns read as empty.
        width = len(cells)
        v = {c: cells[i] for c, i in self.positions if i < width}
        return self._full_check(v, index + 1)

    def check_values(
        self, v: dict[Column, CellValue], row: int
    ) -> CandidateScore | None:
        """Check one row given as its cells by column; ``row`` is 1-based."""
        if self.quick and (accepted := self.fast.accept(v, row)) is not None:
            if self._printable(accepted):
                return accepted
        return self._full_check(v, row)

    def _printable(self, score: CandidateScore) -> bool:
        """Whether a quickly accepted row needs no font check: a row whose name
        the certificate cannot print goes through the full check, which says
        where it is."""
        return self.unprintable is None or not self.unprintable(score.name)

    def _full_check(
        self, v: dict[Column, CellValue], row: int
    ) -> CandidateScore | None:
        before = len(self.problems)

        raw_name = clean_text(v.get(Column.NAME, ""))
        name = normalise_name(raw_name)
        header = self.table.headers.get(Column.NAME)
        if not name:
            self._add("missing_value", row, Column.NAME)
        elif too_long := name_too_long(
            name, sheet=self.table.sheet, row=row, column=header
        ):
            self.problems.append(too_long)
        elif not name_is_plausible(name):
            # A formula or a note typed into the name cell must never reach the
            # national platform or a certificate.
            self._add("bad_name", row, Column.NAME, mask_name(name))
        elif name != raw_name.replace(" ", "") and "·" in name:
            self.notes.append(t("intake.note_name_separator", row=row))

        kind, number, id_problems = read_id(
            self.table,
            v.get(Column.ID_TYPE, ""),
            v.get(Column.ID_NUMBER, ""),
            row,
            self.plan.exam_end_date,
        )
        self.problems.extend(id_problems)
        if number and (first := self.ids.earlier(number, row)):
            self._add(
                "duplicate_id_number",
                row,
                Column.ID_NUMBER,
                mask_id_number(number),
                first=first,
            )

        admission = self._admission(v, row)
        self._module(v, row)
        status = self._status(v, row)
        theory, practical, total, passed = self._scores(v, row, status)
        # Every candidate, passed or not: a correction may make any one pass,
        # and a certificate must then print the name.
        if name and self.unprintable is not None:
            if missing := self.unprintable(name):
                self._add(
                    "unprintable_name",
                    row,
                    Column.NAME,
                    mask_name(name),
                    characters="".join(missing),
                )

        if len(self.problems) > before or kind is None:
            return None
        assert practical is not None or status is not ExamStatus.PRESENT
        return CandidateScore(
            seq=int(seq) if (seq := integer_text(v.get(Column.SEQ, ""))) else None,
            name=name,
            id_type=kind.value,
            id_number=number,
            admission_number=admission,
            module_code=self.plan.module_code,
            theory=float(theory) if theory is not None else None,
            practical=float(practical) if practical is not None else None,
            total=float(total) if total is not None else None,
            status=status,
            passed=passed,
            remark=clean_text(v.get(Column.REMARK, "")),
        )

    def _admission(self, v: dict[Column, CellValue], row: int) -> str:
        raw = unwrap_text_formula(v.get(Column.ADMISSION_NUMBER, ""))
        if is_number_cell(raw) and lost_digits(raw):
            self._add(
                "admission_stored_as_number",
                row,
                Column.ADMISSION_NUMBER,
                clean_text(raw),
            )
            return ""
        admission = integer_text(raw) or compact(raw)
        header = self.table.headers.get(Column.ADMISSION_NUMBER)
        if not admission:
            self._add("missing_value", row, Column.ADMISSION_NUMBER)
        elif bad := bad_admission_number(
            admission, sheet=self.table.sheet, row=row, column=header
        ):
            self.problems.append(bad)
        elif first := self.admissions.earlier(admission, row):
            self._add(
                "duplicate_admission_number",
                row,
                Column.ADMISSION_NUMBER,
                admission,
                first=first,
            )
        return admission

    def _module(self, v: dict[Column, CellValue], row: int) -> None:
        if Column.MODULE not in self.table.columns:
            return
        text = clean_text(v.get(Column.MODULE, ""))
        if not text:
            self._add("missing_value", row, Column.MODULE)
            return
        matches = self.modules.get(text)
        if matches is None:
            matches = module_matches(text, self.plan.module_code)
            self.modules[text] = matches
        if not matches:
            self._add(
                "module_mismatch",
                row,
                Column.MODULE,
                text,
                expected=f"{self.plan.module_code} {self.plan.module_name}",
            )

    def _status(self, v: dict[Column, CellValue], row: int) -> ExamStatus:
        text = compact(v.get(Column.STATUS, ""))
        if text:
            status = STATUS_WORDS.get(text)
            if status is None:
                self._add("unknown_status", row, Column.STATUS, text)
                return ExamStatus.PRESENT
            return status
        # Without a status, a score cell or the remark may say 缺考 / 违纪.
        for column in (Column.THEORY, Column.PRACTICAL, Column.TOTAL, Column.REMARK):
            marked = STATUS_WORDS.get(compact(v.get(column, "")))
            if marked is not None and marked is not ExamStatus.PRESENT:
                return marked
        return ExamStatus.PRESENT

    def _scores(
        self, v: dict[Column, CellValue], row: int, status: ExamStatus
    ) -> tuple[Decimal | None, Decimal | None, Decimal | None, bool]:
        result_text = compact(v.get(Column.RESULT, "")).lower()
        stated_result = RESULT_WORDS.get(result_text)
        if result_text and stated_result is None:
            self._add("unknown_result", row, Column.RESULT, result_text)

        if status is not ExamStatus.PRESENT:
            for column in (Column.THEORY, Column.PRACTICAL, Column.TOTAL):
                text = compact(v.get(column, ""))
                if text and text not in STATUS_WORDS:
                    self._add(
                        "score_for_absent",
                        row,
                        column,
                        text,
                        status=STATUS_NAMES[status],
                    )
            if stated_result:
                self._add(
                    "result_mismatch",
                    row,
                    Column.RESULT,
                    result_text,
                    expected=FAIL_WORD,
                )
            return None, None, None, False

        theory, theory_ok = self._score(v, row, Column.THEORY)
        practical, practical_ok = self._score(v, row, Column.PRACTICAL)
        total, total_ok = self._score(v, row, Column.TOTAL)
        theory_required = self.rule.kind is not PassRuleKind.PRACTICAL_ONLY
        if theory is None and theory_ok and theory_required:
            self._add("score_missing", row, Column.THEORY)
            theory_ok = False
        if practical is None and practical_ok:
            self._add("score_missing", row, Column.PRACTICAL)
            practical_ok = False
        if total is None and total_ok and Column.TOTAL in self.table.columns:
            self._add("score_missing", row, Column.TOTAL)
        if not (theory_ok and practical_ok) or practical is None:
            return theory, practical, total, False

        computed = self.numbers.total(theory, practical)
        if total is not None and total_ok and abs(total - computed) > TOLERANCE:
            self._add(
                "total_mismatch",
                row,
                Column.TOTAL,
                _plain(total),
                computed=_plain(computed),
            )
        passed = self.numbers.passes(theory, practical, computed)
        if stated_result is not None and stated_result != passed:
            self._add(
                "result_mismatch",
                row,
                Column.RESULT,
                result_text,
                expected=PASS_WORD if passed else FAIL_WORD,
            )
        return theory, practical, total if total is not None else computed, passed

    def _score(
        self, v: dict[Column, CellValue], row: int, column: Column
    ) -> tuple[Decimal | None, bool]:
        raw = v.get(column, "")
        cents = numeric_cents(raw)
        if cents is not None:
            return Decimal(cents).scaleb(-2), True
        text = compact(raw)
        if not text:
            return None, True
        value = decimal_of(raw)
        if value is None:
            key, fields = _not_a_number(text)
            shown = mask_id_numbers_in(text)
            self._add("score_not_a_number", row, column, shown, key=key, **fields)
            return None, False
        if (fault := score_fault(value)) is not None:
            self._add(fault, row, column, _plain(value))
            return value, False
        return value, True


def _not_a_number(text: str) -> tuple[str, dict[str, str]]:
    """How to say that the score ``text`` is no number: the catalogue key and
    its fields. A number in a notation other than plain decimal (``1e1``,
    ``0x10``, ``Infinity``, digits of another script) is told so; a letter
    typed for a digit among digits (``74o``, ``1O0``) is named; anything
    else, a lone ``O`` or ``l`` included (a mark, not a mistyped score), is
    just no number."""
    try:
        Decimal(text)
    except ArithmeticError:
        pass
    else:
        return "score_not_a_number", {}
    try:
        int(text, 0)
    except ValueError:
        pass
    else:
        return "score_not_a_number", {}
    mistyped = [letter for letter in text if letter in _LETTERS_FOR_DIGITS]
    if (
        mistyped
        and any(character.isdigit() for character in text)
        and decimal_of(text.translate(_AS_DIGITS)) is not None
    ):
        letter = mistyped[0]
        return "score_letter_for_digit", {
            "letter": letter,
            "digit": _LETTERS_FOR_DIGITS[letter],
        }
    return "score_not_numeric", {}


# Letters typed for the digits they look like.
_LETTERS_FOR_DIGITS = {"o": "0", "O": "0", "l": "1", "I": "1"}
_AS_DIGITS = str.maketrans(_LETTERS_FOR_DIGITS)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    # A number of hundreds of digits (1e308) is shown as the sheet shows it.
    return text if len(text) <= 20 else format(value, ".6g")


_NAME_TEXT = re.compile(r"(?:[^\W\d_]|·)+(?: (?:[^\W\d_]|·)+)*")


def name_is_plausible(name: str) -> bool:
    """A person's name: letters of any script, the separator "·", single spaces.

    Foreign names keep their spaces (``JOHN SMITH``); digits, brackets, quotes
    and formula signs are never part of a name, nor letters that show as
    nothing (``INVISIBLE_LETTERS``, such as the Hangul filler U+3164).
    """
    return (
        bool(_NAME_TEXT.fullmatch(name))
        and not name.startswith("·")
        and not has_invisible_letter(name)
    )
