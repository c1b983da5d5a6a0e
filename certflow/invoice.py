"""Reading and checking the invoice details form a site uploads with its payment.

The form is two columns, a label and its content, one row per field; title rows,
a "项目 | 内容" header and blank rows around it are ignored. Each field is known by
several labels (``LABELS``). The file goes through the same content-sniffing
reader as the score summary, so xlsx, xls, ods and CSV (UTF-8 or GBK) are read
alike and the same files are refused. Pure code: bytes in, a reading out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from openpyxl.utils import get_column_letter
from pydantic import Field

from certflow.arguments import shown
from certflow.i18n import t
from certflow.identity import (
    CREDIT_CODE_CHARSET,
    could_be_id_number,
    is_valid_credit_code,
    mask_person_id_numbers,
)
from certflow.intake.cells import (
    CellValue,
    clean_text,
    compact,
    integer_text,
    is_number_cell,
    lost_digits,
)
from certflow.intake.common import (
    formula_error,
    formula_without_result,
    looks_like_other,
    refusal_problem,
)
from certflow.intake.container import Format, Refusal
from certflow.intake.limits import IntakeLimits
from certflow.intake.workbook import Grid, open_workbook
from certflow.mail_address import is_mail_address
from certflow.models import Model, PlanInfo, Problem
from certflow.text import code_points, is_hidden


class InvoiceField(StrEnum):
    """The fields of the invoice details form, by role rather than by wording."""

    TITLE = "title"
    TAXPAYER_ID = "taxpayer_id"
    ADDRESS = "address"
    PHONE = "phone"
    BANK = "bank"
    ACCOUNT = "account"
    EMAIL = "email"


# The first label of each list is the template's own wording. Labels are compared
# after ``_label_key``: no spaces, no "*", no trailing colon, no bracketed hint.
LABELS: dict[InvoiceField, tuple[str, ...]] = {
    InvoiceField.TITLE: (
        "发票抬头",
        "抬头",
        "单位名称",
        "购买方名称",
        "购方名称",
        "开票名称",
        "学校名称",
        "院校名称",
        "名称",
    ),
    InvoiceField.TAXPAYER_ID: (
        "纳税人识别号",
        "税号",
        "统一社会信用代码",
        "社会信用代码",
        "购买方纳税人识别号",
        "纳税人识别号/统一社会信用代码",
        "识别号",
    ),
    InvoiceField.ADDRESS: ("地址", "单位地址", "注册地址", "开票地址", "购买方地址"),
    InvoiceField.PHONE: ("电话", "联系电话", "单位电话", "注册电话", "电话号码"),
    InvoiceField.BANK: ("开户银行", "开户行", "开户银行名称", "银行名称", "开户行名称"),
    InvoiceField.ACCOUNT: (
        "银行账号",
        "账号",
        "帐号",
        "银行帐号",
        "开户账号",
        "对公账号",
        "银行账户",
    ),
    InvoiceField.EMAIL: (
        "接收电子发票邮箱",
        "邮箱",
        "电子邮箱",
        "电子发票邮箱",
        "收票邮箱",
        "接收邮箱",
        "e-mail",
        "email",
    ),
}

# Decision: every field of the form is required. Finance issues special VAT
# invoices to some schools, which need the address, phone, bank and account.
REQUIRED = tuple(InvoiceField)

# Before 2015 taxpayers carried a 15-character tax registration number: a 6-digit
# region code and the 9-character organisation code (check character 0-9 or X).
_OLD_TAX_NUMBER = re.compile(r"[0-9]{6}[0-9A-Z]{8}[0-9X]")
_ACCOUNT = re.compile(r"[0-9]{8,30}")
# A value starting with one of these is run as a formula when finance pastes or
# imports it into a spreadsheet; such cells are refused, never repaired.
FORMULA_SIGNS = ("=", "+", "-", "@")
_BRACKETED = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")
_MAX_TEXT = 200
# The template's header above the fields (项目 | 内容): where a form has it,
# a problem names its columns by these words, as the office suite shows them.
_HEADER_WORDS = frozenset({"项目", "内容"})


class InvoiceDetails(Model):
    """院校发票信息: what finance needs to invoice a site, as read from its form."""

    title: str
    taxpayer_id: str
    address: str
    phone: str
    bank: str
    account: str
    email: str


class InvoiceReading(Model):
    """The answer to an uploaded invoice details form: the details, or every problem.

    ``notes`` tell the uploader what was read without being wrong (the sheet used,
    an old-style tax number that could only be checked by its pattern).
    """

    accepted: bool
    details: InvoiceDetails | None = None
    problems: list[Problem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _hidden_in(raw: CellValue) -> list[str]:
    """The characters of a text cell that show as nothing or turn what the
    text around them shows (``certflow.text.is_hidden``), but for its line
    breaks and tabs, read as spaces as a one-line field reads them."""
    if not isinstance(raw, str):
        return []
    return [ch for ch in raw if is_hidden(ch) and ch not in _LAYOUT]


# What a cell may hold that shows: its lines (Alt+Enter) and tabs.
_LAYOUT = frozenset("\r\n\t")


@dataclass(frozen=True)
class _Entry:
    """One recognised row of the form: where it is, its label and its value.

    ``column`` is the label's (0-based): the value is the first filled cell
    to its right, in ``value_column`` (the one right of the label when none
    is filled).
    """

    row: int
    column: int
    label: str
    raw: CellValue
    text: str
    value_column: int


def read_invoice_upload(data: bytes, plan: PlanInfo) -> InvoiceReading:
    """``read_invoice_details`` as intake calls each reader of an upload,
    with its plan: the form is the same for every plan. A function of this
    module, so that the process reading it apart has it loaded."""
    return read_invoice_details(data)


def read_invoice_details(
    data: bytes, *, limits: IntakeLimits | None = None
) -> InvoiceReading:
    """Read an uploaded invoice details form and check every field.

    Returns the details when every field is present and valid, otherwise every
    problem found, each naming the row (as the office suite numbers it) and the
    label the uploader wrote.
    """
    book = open_workbook(data, limits or IntakeLimits())
    if isinstance(book, Refusal):
        return InvoiceReading(accepted=False, problems=[refusal_problem(book)])

    found = [(grid, _entries(grid)) for grid in book.sheets]
    grid, entries = max(found, key=lambda pair: len(pair[1]))
    if not entries:
        return InvoiceReading(accepted=False, problems=[_not_the_form(book.sheets)])

    check = _Check(grid, _column_names(grid, entries))
    values = check.collect(entries)
    notes = [
        t("invoice.note_csv_used")
        if book.format is Format.CSV
        else t("invoice.note_sheet_used", sheet=grid.name)
    ]
    notes.extend(check.notes)
    if check.problems:
        return InvoiceReading(accepted=False, problems=check.problems, notes=notes)
    return InvoiceReading(
        accepted=True,
        details=InvoiceDetails(**{field.value: values[field] for field in REQUIRED}),
        notes=notes,
    )


def _not_the_form(sheets: list[Grid]) -> Problem:
    """No field of the form in any sheet: what the file looks like instead
    (a score summary, a sign-in sheet, told by their columns as every
    upload of the wrong document is) and where it belongs, else only that
    the form's fields were not found."""
    other = looks_like_other(sheets, t("invoice.document"))
    if other is None:
        return _problem("no_form", {})
    return _problem(
        "looks_like_other",
        {"other": other.document, "upload": other.upload, "evidence": other.evidence},
        sheet=other.sheet,
    )


def _label_key(text: str) -> str:
    key = _BRACKETED.sub("", clean_text(text))
    return key.replace(" ", "").replace("*", "").rstrip(":：").lower()


_BY_LABEL = {
    _label_key(label): field for field, labels in LABELS.items() for label in labels
}


def _entries(grid: Grid) -> list[tuple[InvoiceField, _Entry]]:
    """Find the rows whose first filled cell is a known label."""
    entries = []
    for index, row in enumerate(grid.rows):
        filled = [(col, cell) for col, cell in enumerate(row) if clean_text(cell)]
        if not filled:
            continue
        label_cell = filled[0][1]
        field = _BY_LABEL.get(_label_key(clean_text(label_cell)))
        if field is None:
            continue
        column = filled[0][0]
        value_column, raw = filled[1] if len(filled) > 1 else (column + 1, None)
        label = clean_text(label_cell)
        entry = _Entry(index + 1, column, label, raw, clean_text(raw), value_column)
        entries.append((field, entry))
    return entries


def _column_names(
    grid: Grid, entries: list[tuple[InvoiceField, _Entry]]
) -> dict[int, str]:
    """The names of the form's columns (0-based) from its header row above
    the fields (``项目 | 内容``); none where the form has no such row."""
    first = min(entry.row for _, entry in entries)
    for row in reversed(grid.rows[: first - 1]):
        names = {col: clean_text(cell) for col, cell in enumerate(row)}
        names = {col: name for col, name in names.items() if name}
        if any(_label_key(name) in _HEADER_WORDS for name in names.values()):
            return names
    return {}


def _problem(
    code: str,
    fields: dict[str, object],
    *,
    sheet: str | None = None,
    row: int | None = None,
    column: str | None = None,
    value: str | None = None,
) -> Problem:
    return Problem(
        code=code,
        message=t(f"invoice.{code}", **fields),
        sheet=sheet,
        row=row,
        column=column,
        # Repeated as every refusal repeats a value: its first 40 characters,
        # and never what could be a person's ID number (the terminal, the
        # plan's history and the annotated report's 问题清单 all show it).
        value=None if value is None else shown(mask_person_id_numbers(value)),
    )


class _Check:
    """Collects the values of one sheet's entries and every problem with them.

    A problem of a field names its row and the column of the cell at fault
    (its value's, or its label's for a field given twice): by the header's
    word (“内容”) where the form has the template's header, else by letter.
    ``problems`` lists them as the sheet reads, by row and then by column,
    and a field missing from the form last.
    """

    def __init__(self, grid: Grid, names: dict[int, str]) -> None:
        self.grid = grid
        self.names = names
        # Each problem found, with where it is: row, then column (0-based).
        self._found: list[tuple[tuple[float, int], Problem]] = []
        self.notes: list[str] = []

    @property
    def problems(self) -> list[Problem]:
        """Every problem found, in row order and then column order (a sort
        is stable: two at one cell keep the order they were found in)."""
        return [found for _, found in sorted(self._found, key=lambda at: at[0])]

    def _put(self, found: Problem, column: int = 0) -> None:
        row = float("inf") if found.row is None else found.row
        self._found.append(((row, column), found))

    def column(self, index: int) -> str:
        return self.names.get(index) or get_column_letter(index + 1)

    def add(
        self,
        code: str,
        entry: _Entry | None,
        *,
        at_label: bool = False,
        **fields: object,
    ) -> None:
        if entry is None:
            self._put(_problem(code, fields, sheet=self.grid.name))
            return
        column = entry.column if at_label else entry.value_column
        self._put(
            _problem(
                code,
                {"label": entry.label, **fields},
                sheet=self.grid.name,
                row=entry.row,
                column=self.column(column),
                value=entry.text or None,
            ),
            column,
        )

    def collect(
        self, entries: list[tuple[InvoiceField, _Entry]]
    ) -> dict[InvoiceField, str]:
        self._formula_cells()
        unread = self._unread_cells()
        seen: dict[InvoiceField, _Entry] = {}
        values: dict[InvoiceField, str] = {}
        for field, entry in entries:
            first = seen.setdefault(field, entry)
            if first is not entry:
                self.add("duplicate_field", entry, at_label=True, first=first.row)
                continue
            if any(entry.column < index for index in unread.get(entry.row, ())):
                continue  # what was read as its value is not the value
            value = self._value(field, entry)
            if value is not None:
                values[field] = value
        for field in REQUIRED:
            if field not in seen:
                self.add("missing_field", None, label=LABELS[field][0])
        return values

    def _formula_cells(self) -> None:
        for index, row in enumerate(self.grid.rows):
            for column, cell in enumerate(row):
                text = clean_text(cell)
                if text.startswith(FORMULA_SIGNS):
                    self._put(
                        _problem(
                            "formula_sign",
                            {},
                            sheet=self.grid.name,
                            row=index + 1,
                            column=self.column(column),
                            value=text,
                        ),
                        column,
                    )

    def _unread_cells(self) -> dict[int, list[int]]:
        """Report each cell whose value was not read; return them by row.

        A formula saved without its result and a formula error (``#N/A``) both
        read as empty, though the sender sees a value or the error there.
        Every cell of the form is read (a label, its value, or text to check),
        so each such cell is reported, by its column: left unsaid, a
        required field would read as missing, or a label as no label at all.
        """
        grid = self.grid
        by_row: dict[int, list[int]] = {}
        for row, index in sorted({*grid.uncalculated, *grid.errors}):
            column = self.column(index)
            error = grid.errors.get((row, index))
            if error is None:
                found = formula_without_result(grid.name, row, column)
            else:
                found = formula_error(grid.name, row, column, error)
            self._put(found, index)
            by_row.setdefault(row, []).append(index)
        return by_row

    def _value(self, field: InvoiceField, entry: _Entry) -> str | None:
        if not entry.text:
            self.add("empty_value", entry)
            return None
        if entry.text.startswith(FORMULA_SIGNS):
            return None  # already reported for the whole sheet
        if hidden := _hidden_in(entry.raw):
            # Printed on a tax invoice: a direction override turns what it
            # shows, a zero-width space (read as a space) splits 武汉市.
            self.add("hidden_characters", entry, chars=code_points(hidden))
            return None
        if len(entry.text) > _MAX_TEXT:
            self.add("too_long", entry, limit=_MAX_TEXT)
            return None
        if field is InvoiceField.TAXPAYER_ID:
            return self._taxpayer_id(entry)
        if field is InvoiceField.ACCOUNT:
            return self._account(entry)
        if field is InvoiceField.EMAIL:
            return self._email(entry)
        if field is InvoiceField.PHONE and is_number_cell(entry.raw):
            return integer_text(entry.raw) or entry.text
        return entry.text

    def _code_text(self, entry: _Entry) -> str | None:
        """Return a code or number cell without spaces, or None if digits were lost."""
        # A long number typed into a "General" cell keeps only 15 digits; the
        # lost ones are never guessed back.
        if lost_digits(entry.raw):
            self.add("stored_as_number", entry)
            return None
        return integer_text(entry.raw) or compact(entry.raw)

    def _taxpayer_id(self, entry: _Entry) -> str | None:
        text = self._code_text(entry)
        if text is None:
            return None
        code = text.upper()
        if len(code) == 15 and _OLD_TAX_NUMBER.fullmatch(code):
            self.notes.append(t("invoice.note_old_tax_number", row=entry.row))
            return code
        if len(code) != 18:
            self.add("taxpayer_id_length", entry, length=len(code))
            return None
        wrong = sorted({c for c in code if c not in CREDIT_CODE_CHARSET})
        if wrong:
            self.add("taxpayer_id_charset", entry, characters="".join(wrong))
            return None
        if could_be_id_number(code) and not is_valid_credit_code(code):
            self.add("taxpayer_id_person", entry)
            return None
        if not is_valid_credit_code(code):
            self.add("taxpayer_id_check", entry)
            return None
        return code

    def _account(self, entry: _Entry) -> str | None:
        account = self._code_text(entry)
        if account is None:
            return None
        if not _ACCOUNT.fullmatch(account):
            self.add("bad_account", entry)
            return None
        return account

    def _email(self, entry: _Entry) -> str | None:
        # Spaces inside an address are refused rather than closed up: the site
        # must say which address it meant.
        email = entry.text
        if not is_mail_address(email):
            self.add("bad_email", entry)
            return None
        return email
