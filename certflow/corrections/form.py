"""The correction request form (成绩修改申请表): its fields and how a record is read.

The same form arrives three ways: as rows of the xlsx template, as a table in an
HTML mail, and as "label：value" lines typed by hand. Each way is turned into
records (label -> cell) here and checked by one function, so all three accept the
same labels and report the same problems.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import get_args

from certflow.corrections.model import CorrectionDraft, ScoreField
from certflow.i18n import t
from certflow.identity import (
    could_be_id_number,
    is_admission_number,
    is_or_holds_id_number,
)
from certflow.intake.cells import lost_digits
from certflow.intake.common import formula_error, formula_without_result
from certflow.models import Problem
from certflow.privacy import holds_id_number, mask_id_number, mask_id_numbers_anywhere
from certflow.text import as_seen, normalise_name, without_hidden

# Form keys and the labels people write for them. The first label is the one the
# template uses and problems name.
LABELS: dict[str, tuple[str, ...]] = {
    "plan_id": ("考试计划编号", "计划编号", "考试计划号", "考试计划"),
    "candidate_name": ("考生姓名", "姓名", "考生"),
    "id_number": ("证件号码", "身份证号码", "身份证号", "证件号"),
    "admission_number": ("准考证号", "准考证号码", "准考证"),
    "module": ("考核模块", "模块", "考核模块代码"),
    "field": ("修改项目", "修改内容", "修改科目"),
    "published_score": ("原成绩", "公示成绩", "原分数"),
    "requested_score": ("申请修改为", "修改为", "修改后成绩", "申请修改成绩"),
    "reason": ("修改原因", "申请原因", "原因", "申请理由"),
    "requester": ("申请人", "申请人姓名", "申请单位"),
    "phone": ("联系电话", "电话", "手机", "手机号"),
}
# 原成绩 may be left blank: a candidate with no score (absent, or a part score
# not yet in) has none to copy. Whether the candidate has one is on record,
# which the reader does not see: the mailbox checks it (``published_missing``).
REQUIRED = (
    "plan_id",
    "candidate_name",
    "admission_number",
    "field",
    "requested_score",
    "reason",
)
# Written once for a whole mail by people who file several requests by hand.
SHARED = ("plan_id", "requester", "phone")
# The fields that may run over several lines (a reason written as a paragraph,
# a spreadsheet cell with line breaks); every other is read as one line.
MULTILINE = frozenset({"reason"})
# The free texts of a request its plan keeps, mails on and shows staff: an ID
# number in one is refused (``holds_id_number``), as the staff tool refuses it.
NO_ID_NUMBER = ("reason", "requester")

SCORE_FIELDS: dict[str, ScoreField] = {
    "理论成绩": "theory",
    "理论": "theory",
    "理论分": "theory",
    "理论考试成绩": "theory",
    "实操成绩": "practical",
    "实操": "practical",
    "实操分": "practical",
    "技能成绩": "practical",
    "实操考核成绩": "practical",
    "总成绩": "total",
    "总分": "total",
    "总评成绩": "total",
    "考试状态": "status",
    "状态": "status",
    "缺考状态": "status",
}
assert set(SCORE_FIELDS.values()) == set(get_args(ScoreField))

PLAN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,40}$")
# A code as people write it: the code, then at most a note in brackets or words
# after a space ("P2026-1104-0412    考核站点：…" copied from the score summary,
# "2026110412004（陈思彬）"). A note starts with a bracket or a (Chinese) letter
# outside ASCII, so "P2026'; DROP TABLE plans;--" or "P2026 P2027" is no code
# with a note but an invalid value.
_CODE_WITH_NOTE = re.compile(
    r"(?P<code>[A-Za-z0-9][A-Za-z0-9-]*)"
    r"(?:\s*[(【\[][^()【】\[\]]*[)】\]]|\s+(?=[^\x00-\x7f])[^\W\d_].*)?",
    re.DOTALL,
)
_SHOWN_VALUE = 40
MODULE_CODE = re.compile(r"^\s*(\d{1,2}-\d{1,2})(?![\d])")
# A form attempt names at least this many form fields; fewer is a signature line
# ("电话：027-…") or a sentence, not an incomplete request.
MIN_FIELDS = 3

_LOOKUP = {label: key for key, labels in LABELS.items() for label in labels}
_DECORATION = re.compile(r"[\s*＊※:：]+|[（(【\[][^）)】\]]*[）)】\]]")


def label_key(text: str) -> str | None:
    """Return the form key a header cell or line label names, or None.

    Notes in brackets (证件号码（选填）), required marks, spaces and characters
    that show as nothing are ignored.
    """
    cleaned = _DECORATION.sub("", unicodedata.normalize("NFKC", without_hidden(text)))
    return _LOOKUP.get(cleaned)


def code_text(value: str) -> str:
    """Normalise a code-like value: full-width digits and letters, spaces removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value))


def read_code(value: str) -> tuple[str, bool]:
    """Return the code a value holds and whether it holds one.

    The whole value is read: a code may be followed by a note (see
    ``_CODE_WITH_NOTE``), and anything else makes the value invalid, returned
    whole (spaces collapsed) for the problem to show. Cutting at the first
    unexpected character would file "P2026'; DROP TABLE…" as plan P2026.
    """
    text = " ".join(unicodedata.normalize("NFKC", value).split())
    match = _CODE_WITH_NOTE.fullmatch(text)
    if match is not None:
        return match.group("code").rstrip("-"), True
    return text, False


def shown_value(value: str) -> str:
    """A value of the form as a reply or a stored reason repeats it: any ID
    number in it masked (``mask_id_numbers_anywhere``), then a pasted
    paragraph cut. Masked first, so a cut never leaves half a number whole."""
    masked = mask_id_numbers_anywhere(value)
    return masked if len(masked) <= _SHOWN_VALUE else masked[:_SHOWN_VALUE] + "…"


def requester_fallback(sender_name: str, sender: str) -> str:
    """Who a request without 申请人 is from: the sender's display name, else
    the address. A display name holding an ID number is the mail program's,
    not the site's doing: it is passed over, never refused; an ID number in
    the address itself is masked. The requester goes into the plan's history
    and the regional manager's mail."""
    if sender_name and not holds_id_number(sender_name):
        return sender_name
    return mask_id_numbers_anywhere(sender)


@dataclass
class Record:
    """One request as found, before checking: form key -> text, and where it was.

    ``sheet`` and ``row`` locate a spreadsheet row; ``ordinal`` numbers requests
    in a mail body, where there are no rows to point at. ``uncalculated`` are
    the form keys whose cell holds a formula saved without its result,
    ``errors`` those whose cell holds a formula error, with the error
    (``#N/A``): each reads as empty, and is named instead.
    """

    values: dict[str, str] = field(default_factory=dict)
    sheet: str | None = None
    row: int | None = None
    ordinal: int | None = None
    id_as_number: bool = False
    uncalculated: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def attempted(self) -> bool:
        """Tell whether the record names enough form fields to be a request.

        A field whose formula was saved without its result counts: the sender
        filled it in, and sees its value. So does a formula error, in a row
        that names a field otherwise: a row of nothing but errors is a lookup
        filled down past the last request, blank to the sender.
        """
        keys = {*self.values, *self.uncalculated}
        if keys - {"requester", "phone"}:
            keys.update(self.errors)
        named = [k for k in keys if k not in ("requester", "phone")]
        return len(named) >= MIN_FIELDS


def share_common_fields(records: list[Record]) -> None:
    """Fill plan id, requester and phone left out of some records of one text.

    A value is lent only when every record that states it states the same one,
    so two requests for different plans never borrow each other's plan id.
    """
    for key in SHARED:
        stated = {r.values[key] for r in records if r.values.get(key)}
        if len(stated) != 1:
            continue
        (value,) = stated
        for record in records:
            record.values.setdefault(key, value)
            if not record.values[key]:
                record.values[key] = value


def check_record(
    record: Record, *, sender: str, sender_name: str = ""
) -> CorrectionDraft | list[Problem]:
    """Turn one record into a draft, or into the problems that stop it.

    Each value is read as its sender sees it (``as_seen``): a character that
    shows as nothing (a zero-width space, a soft hyphen, a BOM, as mail
    programs and HTML mails write them) or turns the text around it (a bidi
    override) is left out, a line end of the reason made a line feed, any
    other control character a space. A request is then refused only for
    what the sender can see and put right; none of these is.
    """
    values = {
        k: as_seen(v, multiline=k in MULTILINE).strip()
        for k, v in record.values.items()
    }
    problems: list[Problem] = [
        formula_without_result(record.sheet, record.row, LABELS[key][0])
        for key in record.uncalculated
    ]
    problems.extend(
        formula_error(record.sheet, record.row, LABELS[key][0], error)
        for key, error in record.errors.items()
    )
    unread = {*record.uncalculated, *record.errors}

    for key in REQUIRED:
        if not values.get(key) and key not in unread:
            problems.append(
                _problem(record, "missing_field", key, label=LABELS[key][0])
            )

    plan_id, whole = read_code(values.get("plan_id", ""))
    if plan_id and is_or_holds_id_number(plan_id):
        # Never looked up, logged or stored: the plan id is all three.
        problems.append(
            _problem(
                record,
                "plan_id_is_id_number",
                "plan_id",
                value=shown_value(plan_id),
            )
        )
    elif plan_id and not (whole and PLAN_ID.match(plan_id)):
        problems.append(
            _problem(record, "bad_plan_id", "plan_id", value=shown_value(plan_id))
        )

    admission, whole = read_code(values.get("admission_number", ""))
    if admission and could_be_id_number(admission):
        problems.append(
            _problem(
                record,
                "admission_is_id_number",
                "admission_number",
                value=mask_id_number(admission),
            )
        )
    elif admission and not (whole and is_admission_number(admission)):
        problems.append(
            _problem(
                record,
                "bad_admission_number",
                "admission_number",
                value=shown_value(admission),
            )
        )

    score_field = SCORE_FIELDS.get(code_text(values.get("field", "")))
    if values.get("field") and score_field is None:
        problems.append(
            _problem(
                record,
                "unknown_score_field",
                "field",
                value=shown_value(values["field"]),
            )
        )

    for key in NO_ID_NUMBER:
        if holds_id_number(values.get(key, "")):
            # Named by its label, never repeated: the number would go into the
            # plan's history, the database and the regional manager's mail.
            problems.append(
                _problem(record, "text_holds_id_number", key, label=LABELS[key][0])
            )

    id_number = code_text(values.get("id_number", "")).upper() or None
    if record.id_as_number or lost_digits(values.get("id_number", "")):
        problems.append(
            _problem(
                record,
                "id_number_as_number",
                "id_number",
                value=mask_id_number(id_number or ""),
            )
        )

    if problems or score_field is None:
        return problems

    module = values.get("module") or None
    module_match = MODULE_CODE.match(code_text(module or ""))
    return CorrectionDraft(
        plan_id=plan_id,
        admission_number=admission,
        candidate_name=normalise_name(values["candidate_name"]),
        id_number=id_number,
        module_code=module_match.group(1) if module_match else module,
        field=score_field,
        published_score=code_text(values.get("published_score", "")),
        requested_score=code_text(values["requested_score"]),
        reason=values["reason"],
        requester=values.get("requester") or requester_fallback(sender_name, sender),
        requester_email=sender,
        phone=code_text(values.get("phone", "")) or None,
        sheet=record.sheet,
        row=record.row,
        ordinal=record.ordinal,
    )


def check_records(
    records: list[Record], *, sender: str, sender_name: str = ""
) -> tuple[list[CorrectionDraft], list[Problem]]:
    """Check every record; return the drafts of the good ones and all problems."""
    drafts: list[CorrectionDraft] = []
    problems: list[Problem] = []
    for record in records:
        outcome = check_record(record, sender=sender, sender_name=sender_name)
        if isinstance(outcome, CorrectionDraft):
            drafts.append(outcome)
        else:
            problems.extend(outcome)
    return drafts, problems


def _problem(
    record: Record, code: str, key: str, *, value: str | None = None, **fields: str
) -> Problem:
    message = t(f"corrections.problem.{code}", **fields)
    if record.ordinal is not None:
        message = t("corrections.problem.in_body", n=record.ordinal, message=message)
    return Problem(
        code=code,
        message=message,
        sheet=record.sheet,
        row=record.row,
        # A body request has no columns; its message names the label already.
        column=LABELS[key][0] if record.ordinal is None else None,
        value=value,
    )
