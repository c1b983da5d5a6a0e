"""The quick check of an ordinary score-summary row.

Almost every row of a real summary has the same shape: text name, ID number and
admission number, numeric scores, 正常 and 合格/不合格. ``FastRows.accept`` checks
such a row with integer arithmetic on cents and no intermediate objects, and
returns the row only when every rule holds. Anything else (another shape, an
absent candidate, any doubt at all) returns None and the row goes through the
full check in ``summary.py``, which finds and words the problems. Both paths
apply the same rules, so a row gets the same result whichever path takes it;
the intake tests run both on every corpus file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from math import ceil, lcm

from certflow.identity import (
    ADMISSION_NUMBER,
    NAME_MAX_LENGTH,
    IdType,
    parse_id_type,
    validate_number,
)
from certflow.intake.cells import INVISIBLE_LETTERS, CellValue, clean_text, compact
from certflow.intake.layout import Column
from certflow.intake.vocabulary import STATUS_WORDS, module_matches, numeric_cents
from certflow.models import CandidateScore, ExamStatus, PassRule, PassRuleKind, PlanInfo
from certflow.text import SEPARATOR_LOOKALIKES

# A name holding none of these is unchanged by clean_text and normalise_name
# (and holds no letter that shows as nothing, which the full check refuses).
_NAME_NEEDS_WORK = re.compile(
    r"[\s\u00a0\u2000-\u200b\u202f\u205f\ufeff\u3000\uff01-\uff5e"
    rf"{re.escape(SEPARATOR_LOOKALIKES)}{INVISIBLE_LETTERS}]|[^\S\s]"
)
# Letters of any script and the name separator: anything else (digits, brackets,
# quotes, "=", "+", "@") is checked by the full row check, which refuses it.
_NAME_PLAIN = re.compile(r"(?:[^\W\d_]|·)+")
_ADMISSION = ADMISSION_NUMBER.fullmatch
# Every valid score as the float a spreadsheet stores for it, with its cents:
# one dict look-up instead of arithmetic for almost every score cell.
_CENTS: dict[float, int] = {cents / 100: cents for cents in range(10_001)}
# Module constants: looking a member up on an enum class costs a Python call.
_PRESENT = ExamStatus.PRESENT
_BOTH_AT_LEAST = PassRuleKind.BOTH_AT_LEAST
_WEIGHTED_TOTAL_AT_LEAST = PassRuleKind.WEIGHTED_TOTAL_AT_LEAST
# The schema validator that CandidateScore(...) and model_validate call.
_validate_score = CandidateScore.__pydantic_validator__.validate_python

# The cells the quick check reads, in the order ``accept_values`` takes them.
ORDER = (
    Column.NAME,
    Column.ID_TYPE,
    Column.ID_NUMBER,
    Column.ADMISSION_NUMBER,
    Column.MODULE,
    Column.STATUS,
    Column.REMARK,
    Column.THEORY,
    Column.PRACTICAL,
    Column.TOTAL,
    Column.RESULT,
    Column.SEQ,
)


class FastRows:
    """Checks ordinary rows of one upload; remembers what it has seen."""

    def __init__(
        self,
        plan: PlanInfo,
        columns: set[Column],
        results: dict[str, bool],
        seen_ids: dict[str, int],
        seen_admissions: dict[str, int],
    ) -> None:
        rule: PassRule = plan.pass_rule
        theory = Fraction(Decimal(str(rule.theory_weight)))
        practical = Fraction(Decimal(str(rule.practical_weight)))
        self.scale = lcm(theory.denominator, practical.denominator)
        self.theory_weight = int(theory * self.scale)
        self.practical_weight = int(practical * self.scale)
        # Scores are whole cents, so ">= threshold" is ">= its cents rounded up".
        self.threshold = ceil(Fraction(Decimal(str(rule.threshold))) * 100)
        self.kind = rule.kind
        self.today = plan.exam_end_date
        self.module_code = plan.module_code
        self.has_module = Column.MODULE in columns
        self.has_total = Column.TOTAL in columns
        self.results = results
        self.seen_ids = seen_ids
        self.seen_admissions = seen_admissions
        # The type and its key, parsed once per distinct cell: they repeat on
        # every row, and an enum's ``.value`` is a Python-level property.
        self.id_types: dict[CellValue, tuple[IdType, str] | None] = {}
        self.modules: dict[CellValue, bool] = {}

    def accept(self, v: dict[Column, CellValue], row: int) -> CandidateScore | None:
        """Return the checked row, or None when it needs the full check."""
        return self.accept_values([v.get(column, "") for column in ORDER], row)

    def accept_values(
        self, values: Sequence[CellValue], row: int
    ) -> CandidateScore | None:
        """Like ``accept``, with the row's cells listed in ``ORDER``."""
        (
            name,
            id_type,
            raw_id,
            admission,
            module,
            status,
            remark,
            raw_theory,
            raw_practical,
            raw_total,
            result,
            seq,
        ) = values
        if (
            type(name) is not str
            or not name
            or len(name) > NAME_MAX_LENGTH
            or _NAME_NEEDS_WORK.search(name)
            or not _NAME_PLAIN.fullmatch(name)
        ):
            return None
        try:
            parsed = self.id_types[id_type]
        except KeyError:
            parsed = self.id_types[id_type] = _parsed_id_type(id_type)
        if parsed is None or type(raw_id) is not str or not raw_id.isascii():
            return None
        kind, kind_key = parsed
        number = raw_id.upper()
        if not number or validate_number(kind, number, self.today) is not None:
            return None
        if type(admission) is float and admission.is_integer() and admission < 1e15:
            admission = str(int(admission))
        elif type(admission) is not str or not _ADMISSION(admission):
            return None
        if number in self.seen_ids or admission in self.seen_admissions:
            return None
        if self.has_module and not self._module(module):
            return None
        if status and (
            type(status) is not str or STATUS_WORDS.get(status) is not _PRESENT
        ):
            return None
        if type(remark) is not str:
            return None
        if (
            not status
            and remark
            and STATUS_WORDS.get(compact(remark), _PRESENT) is not _PRESENT
        ):
            return None

        theory = _cents(raw_theory)
        practical = _cents(raw_practical)
        if theory is None or practical is None:
            return None
        weighted = theory * self.theory_weight + practical * self.practical_weight
        computed = (2 * weighted + self.scale) // (2 * self.scale)  # half up
        total = computed
        if self.has_total:
            stated = _cents(raw_total)
            if stated is None or abs(stated - computed) > 1:
                return None
            total = stated
        if self.kind is _BOTH_AT_LEAST:
            passed = theory >= self.threshold and practical >= self.threshold
        elif self.kind is _WEIGHTED_TOTAL_AT_LEAST:
            passed = computed >= self.threshold
        else:
            passed = practical >= self.threshold
        if result:
            if type(result) is not str or self.results.get(result) is not passed:
                return None
        if (type(seq) is float and seq.is_integer() and seq < 1e15) or type(seq) is int:
            seq_number: int | None = int(seq)
        elif seq == "" or seq is None:
            seq_number = None
        else:
            return None

        self.seen_ids[number] = row
        self.seen_admissions[admission] = row
        # Still fully validated, by the model's own validator, without the
        # keyword arguments and Python frame of __init__.
        score: CandidateScore = _validate_score(
            {
                "seq": seq_number,
                "name": name,
                "id_type": kind_key,
                "id_number": number,
                "admission_number": admission,
                "module_code": self.module_code,
                "theory": theory / 100,
                "practical": practical / 100,
                "total": total / 100,
                "status": _PRESENT,
                "passed": passed,
                "remark": clean_text(remark) if remark else "",
            }
        )
        return score

    def _module(self, value: CellValue) -> bool:
        if value not in self.modules:
            self.modules[value] = module_matches(clean_text(value), self.module_code)
        return self.modules[value]


def _cents(value: CellValue) -> int | None:
    # The type test keeps True and 1 from finding the entry of 1.0.
    if type(value) is float and (cents := _CENTS.get(value)) is not None:
        return cents
    return numeric_cents(value)


def _parsed_id_type(cell: CellValue) -> tuple[IdType, str] | None:
    kind = parse_id_type(clean_text(cell))
    return None if kind is None else (kind, kind.value)
