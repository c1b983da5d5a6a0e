"""The approval batch report (发证批次审批表): one xlsx and one PDF per batch.

The general manager approves a batch from this report, so it states per plan
what is being approved and what was paid for it: the site, the certificate, how
many candidates passed, the fee those candidates owe, and the payment finance
confirmed. It is about plans, never people: scores are only counted, and no
name or identity number is ever read from the database.

The payment facts are not columns of the database; they travel in the details
of the plan's audit lines (``upload_application``, ``confirm_payment``,
``record_invoice``). A fact missing there is shown as not recorded, never
guessed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import asyncpg
from fpdf.enums import Align, WrapMode, XPos, YPos
from fpdf.fonts import FontFace
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.document_records import keep_produced, put_produced
from activities.documents import DocumentStore
from activities.heartbeat import beats_while_running
from certflow.activity_models import BatchReportRequest
from certflow.certificates.fonts import find_font, load_font
from certflow.certificates.pdffont import CjkPDF
from certflow.config import Settings
from certflow.i18n import t
from certflow.intake.export import safe_cell
from certflow.joint_payment import LEFT_PAYMENT
from certflow.linebreak import Rule, break_lines, widest_piece
from certflow.models import DocumentRef, Level
from certflow.timeutil import cst_date, format_cst

log = logging.getLogger(__name__)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"

# Audit actions whose details carry the payment facts, and the detail keys read.
# Each key has the spelling the plan workflow writes first, then accepted others.
APPLICATION_ACTION = "upload_application"
PAYMENT_ACTION = "confirm_payment"
INVOICE_ACTION = "record_invoice"
# Finance's corrections of its own record: the same facts, newer.
PAYMENT_CORRECTION = "correct_payment"
# Finance's settlement of a difference a late correction made: the confirmed
# payment's new total, and the absentees it is for.
PAYMENT_SETTLEMENT = "settle_payment_difference"
# A late correction that left the confirmed money as it is (an absentee paid
# for who now passes, a difference undone): the absentees it is now for.
PAYMENT_FIGURES_FOLLOW = "payment_difference_cleared"
INVOICE_CORRECTION = "correct_invoice"
AMOUNT_KEYS = ("amount", "received_amount")
PAID_PLANS_KEYS = ("paid_plans", "paid_plan_ids")
ABSENTEES_PAID_KEY = "absentees_paid"
INVOICE_KEY = "invoice"
# The day the money arrived, as finance confirmed it; older audit lines lack
# it, and then the day finance confirmed stands in (the latest it can be).
RECEIVED_ON_KEY = "received_on"
# The reference of the money received, as finance confirmed it (a correction
# that left it as it was names it as its old one), and a settlement's own.
REFERENCE_KEY = "reference"
OLD_REFERENCE_KEY = "old_reference"
SETTLEMENT_REFERENCE_KEY = "settlement_reference"

CENT = Decimal("0.01")
_PLAN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,40}")

COLUMNS = (
    "seq",
    "plan_id",
    "site_name",
    "site_code",
    "certificate",
    "level",
    "module",
    "exam_end_date",
    "candidates",
    "passed",
    "billable",
    "fee",
    "expected",
    "paid",
    "difference",
    "invoice",
    "received_on",
    "received_reference",
    "check",
)
_WIDTHS = (6, 18, 28, 13, 18, 7, 24, 13, 10, 10, 10, 12, 14, 14, 12, 22, 13, 22, 30)
_MONEY_FORMAT = "#,##0.00"
_FLAG_FILL = PatternFill(
    fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE"
)
_HEAD_FILL = PatternFill(
    fill_type="solid", start_color="FFD9D9D9", end_color="FFD9D9D9"
)
_BOLD = Font(bold=True)
# Cells that may hold more than one line: a whole-payment invoice's total,
# a settlement's day and reference.
_XLSX_WRAPPED = ("invoice", "received_on", "received_reference")

_FONT = "cjk"
# The PDF's columns (the workbook's, the site code under the site's name,
# the level under the certificate and the received references under the day
# the money arrived) and how each aligns its text. Their widths are drawn
# from the text they hold (``_column_widths``).
_PDF_COLUMNS = (
    ("seq", Align.C),
    ("plan_id", Align.L),
    ("site_name", Align.L),
    ("certificate", Align.L),
    ("module", Align.L),
    ("exam_end_date", Align.C),
    ("candidates", Align.R),
    ("passed", Align.R),
    ("billable", Align.R),
    ("fee", Align.R),
    ("expected", Align.R),
    ("paid", Align.R),
    ("difference", Align.R),
    ("invoice", Align.L),
    ("received_on", Align.C),
    ("check", Align.L),
)
# The headings of the PDF's columns that hold two of the workbook's.
_PDF_HEADINGS = {"received_on": "received_on_and_reference"}
# Flagged in red on a plan whose payment needs checking, as in the workbook.
_PDF_FLAGGED = ("paid", "difference", "check")
_TABLE_SIZE = 7.5
_TABLE_PADDING = 1.0
# The widest (mm) a piece of text that may not break widens its column to:
# a 20-digit invoice number fits; a longer piece (a pasted link as a site's
# name) breaks between characters rather than squeeze every other column.
_WIDEST_PIECE = 36.0
_FLAG_INK = (170, 20, 20)


# The latest audit line of each payment action of a plan: its time and details.
AuditFacts = dict[str, tuple[datetime, dict[str, Any]]]


class Check(StrEnum):
    """How a plan's paid amount compares with the fee owed for it."""

    MATCH = "match"
    DIFFERENT = "different"
    NOT_RECORDED = "not_recorded"
    NO_FEE = "no_fee"


@dataclass(frozen=True)
class Payment:
    """What the audit trail says was paid for a plan.

    ``covers`` lists the plans one payment was made for (the application form
    may pay for several); it is just the plan itself when the form said nothing.
    ``amount`` is this plan's own share of it, as the site declared it and
    finance confirmed it plan by plan, never the payment's total.
    ``absentees_paid`` counts absent candidates the site chose to pay for too.
    ``invoice_amount`` is the invoice's own amount: for a joint payment
    invoiced whole, the payment's total, more than the plan's share.
    ``reference`` is finance's reference of the money received (到账凭证,
    a bank serial), ``settled_reference`` that of the settlement since.
    """

    amount: Decimal | None
    covers: tuple[str, ...]
    absentees_paid: int
    received_on: date | None
    invoice: str | None
    # The latest settlement of a difference since (补缴 received, or 退还
    # paid back): its kind and day, shown beside the day the money arrived.
    settled: tuple[str, date] | None = None
    invoice_amount: Decimal | None = None
    reference: str = ""
    settled_reference: str = ""

    @property
    def invoiced_whole(self) -> bool:
        """Whether the invoice is a joint payment's whole invoice: for the
        payment's total, more than this plan's share (as the plan tells
        them apart, ``certflow.plan.invoiced_whole``)."""
        share, total = self.amount, self.invoice_amount
        joint = len(self.covers) > 1
        return joint and share is not None and total is not None and total > share

    def invoice_text(self) -> str | None:
        """The invoice number; a whole-payment invoice's total beside it."""
        if self.invoice is None or self.invoice_amount is None:
            return self.invoice
        if not self.invoiced_whole:
            return self.invoice
        total = t("batch_report.invoice_whole", total=f"{self.invoice_amount:,.2f}")
        return f"{self.invoice}\n{total}"

    def reference_text(self) -> str:
        """The references of the money received, the settlement's below."""
        lines = [self.reference] if self.reference else []
        if self.settled is not None and self.settled_reference:
            kind, _ = self.settled
            lines.append(
                t(
                    f"batch_report.settled_{kind}_reference",
                    reference=self.settled_reference,
                )
            )
        return "\n".join(lines)

    def received_text(self) -> str:
        """The day the money arrived, and the settlement's beside it."""
        day = self.received_on.isoformat() if self.received_on else ""
        if self.settled is None:
            return day
        kind, settled_on = self.settled
        return t(
            f"batch_report.settled_{kind}", received=day, day=settled_on.isoformat()
        )


@dataclass(frozen=True)
class PlanLine:
    """One plan of the batch as the report shows it: counts and money, no people."""

    plan_id: str
    site_name: str
    site_code: str
    certificate: str
    level: Level
    module_code: str
    module_name: str
    exam_end_date: date
    candidates: int
    passed: int
    fee: Decimal | None
    payment: Payment

    @property
    def billable(self) -> int:
        """Candidates the fee is owed for: the passing ones and paid-for absentees."""
        return self.passed + self.payment.absentees_paid

    @property
    def expected(self) -> Decimal | None:
        """The fee owed: billable candidates times the fee per candidate."""
        return None if self.fee is None else (self.fee * self.billable).quantize(CENT)

    @property
    def shared(self) -> bool:
        return self.payment.covers != (self.plan_id,)


@dataclass(frozen=True)
class CheckedLine:
    """A plan line with the verdict of its payment check, and the plans of its
    joint payment that are not in the batch (``outside``)."""

    line: PlanLine
    check: Check
    difference: Decimal | None
    outside: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchReport:
    """Everything the two files show, computed once so they always agree."""

    batch_id: str
    organisation: str
    gathered_at: datetime
    lines: list[CheckedLine]
    candidates: int
    passed: int
    billable: int
    expected: Decimal
    paid: Decimal
    flagged: int


def check_payments(
    batch_id: str, organisation: str, gathered_at: datetime, lines: Sequence[PlanLine]
) -> BatchReport:
    """Compare each plan's payment with its expected fee and total the batch.

    A plan of a joint payment (one payment for several plans) carries its own
    share of it: the site declares, and finance confirms, each plan's own
    amount. So each plan is checked on its own share against its own fee, and
    the paid total adds each plan's share once, whether or not the other
    plans of the payment are in the batch (theirs are approved with them).
    """
    in_batch = {line.plan_id for line in lines}
    checked = [_check(line, in_batch) for line in lines]
    return BatchReport(
        batch_id=batch_id,
        organisation=organisation,
        gathered_at=gathered_at,
        lines=checked,
        candidates=sum(line.candidates for line in lines),
        passed=sum(line.passed for line in lines),
        billable=sum(line.billable for line in lines),
        expected=sum(
            (e for line in lines if (e := line.expected) is not None), Decimal(0)
        ),
        paid=sum(
            (a for line in lines if (a := line.payment.amount) is not None),
            Decimal(0),
        ),
        flagged=sum(1 for c in checked if c.check is not Check.MATCH),
    )


def _check(line: PlanLine, in_batch: set[str]) -> CheckedLine:
    outside = tuple(p for p in line.payment.covers if p not in in_batch)
    amount = line.payment.amount
    if amount is None:
        return CheckedLine(line, Check.NOT_RECORDED, None, outside)
    expected = line.expected
    if expected is None:
        return CheckedLine(line, Check.NO_FEE, None, outside)
    difference = (amount - expected).quantize(CENT)
    verdict = Check.MATCH if difference == 0 else Check.DIFFERENT
    return CheckedLine(line, verdict, difference, outside)


def payment_from_audit(plan_id: str, audit: AuditFacts) -> Payment:
    """Read a plan's payment from its latest audit line of each payment action.

    Finance's confirmed amount wins over the amount the site declared; either
    may be absent (older audit lines carry neither), and then it is unknown.
    A correction by finance replaces what it corrects, and so does its
    settlement of a difference a late correction made (the new total, and
    the absentees paid for it); a late correction that left the money as it
    is gives the absentees paid for, as the plan now counts them. An invoice
    recorded before the latest confirmation of the payment was for a payment
    checked again (the plan was sent back): void, so not shown as the plan's.
    The reference of the money received is the latest line's: a correction
    that left it as it was names it as its old one.
    """
    _, application = audit.get(APPLICATION_ACTION, (None, {}))
    # A settlement, or a correction the money follows, after the application
    # says which absentees are paid for.
    _, counted = _latest(
        audit, APPLICATION_ACTION, PAYMENT_SETTLEMENT, PAYMENT_FIGURES_FOLLOW
    )
    confirmed_at, confirmation = audit.get(PAYMENT_ACTION, (None, {}))
    _, confirmation = _latest(
        audit, PAYMENT_ACTION, PAYMENT_CORRECTION, PAYMENT_SETTLEMENT
    )
    reference = _text(confirmation, REFERENCE_KEY) or _text(
        confirmation, OLD_REFERENCE_KEY
    )
    invoiced_at, invoice = _latest(audit, INVOICE_ACTION, INVOICE_CORRECTION)
    if invoiced_at is not None and confirmed_at is not None:
        if invoiced_at < confirmed_at:
            invoice = {}

    amount = _amount(_first(confirmation, AMOUNT_KEYS))
    if amount is None:
        amount = _amount(_first(application, AMOUNT_KEYS))
    covers = _PLAN_ID.findall(str(_first(application, PAID_PLANS_KEYS) or ""))
    if plan_id not in covers:
        covers = [plan_id]
    absentees = str(counted.get(ABSENTEES_PAID_KEY, "")).strip()
    heads, passed = (str(counted.get(k, "")) for k in ("expected_heads", "passed"))
    if not absentees and heads.isdigit() and passed.isdigit():
        # A cleared line from before it named them: the heads less the passes.
        absentees = str(max(int(heads) - int(passed), 0))
    number = str(invoice.get(INVOICE_KEY, "")).strip()
    received_on = _day(confirmation.get(RECEIVED_ON_KEY))
    if received_on is None and confirmed_at is not None:
        received_on = cst_date(confirmed_at)
    settled_at, settlement = audit.get(PAYMENT_SETTLEMENT, (None, {}))
    settled_on = _day(settlement.get("settled_on"))
    kind = str(settlement.get("kind", ""))
    settled = None
    if settled_on is not None and kind in ("supplement", "refund"):
        # Only a settlement after the payment was last confirmed counts.
        if confirmed_at is None or settled_at is None or settled_at >= confirmed_at:
            settled = (kind, settled_on)
    return Payment(
        amount=amount,
        covers=tuple(dict.fromkeys(covers)),
        absentees_paid=int(absentees) if absentees.isdigit() else 0,
        received_on=received_on,
        invoice=number or None,
        settled=settled,
        invoice_amount=_amount(_first(invoice, AMOUNT_KEYS)) if number else None,
        reference=reference,
        settled_reference=_text(settlement, SETTLEMENT_REFERENCE_KEY),
    )


def _text(details: dict[str, Any], key: str) -> str:
    return " ".join(str(details.get(key) or "").split())


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _latest(audit: AuditFacts, *actions: str) -> tuple[datetime | None, dict[str, Any]]:
    """The latest line of any of ``actions``: a record or its correction."""
    lines = [audit[a] for a in actions if a in audit]
    if not lines:
        return None, {}
    at, details = max(lines, key=lambda line: line[0])
    return at, details


def _first(details: dict[str, Any], keys: Sequence[str]) -> Any:
    return next((details[k] for k in keys if details.get(k) not in (None, "")), None)


def _amount(value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None
    return amount.quantize(CENT) if amount.is_finite() else None


# -- the workbook ---------------------------------------------------------------


def render_xlsx(report: BatchReport) -> bytes:
    """Return the report as a workbook: a bold header, one row per plan, totals."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t("batch_report.sheet")

    sheet.append([_inert(t("batch_report.title", batch_id=report.batch_id))])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([_inert(_subtitle(report))])
    header_row = 3
    sheet.append([_inert(t(f"batch_report.column.{key}")) for key in COLUMNS])
    for cell in sheet[header_row]:
        cell.font = _BOLD
        cell.fill = _HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")

    for seq, checked in enumerate(report.lines, start=1):
        sheet.append([_inert(v) for v in _xlsx_values(seq, checked)])
        for key in _XLSX_WRAPPED:
            cell = sheet.cell(sheet.max_row, COLUMNS.index(key) + 1)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        if checked.check is not Check.MATCH:
            for key in ("paid", "difference", "check"):
                sheet.cell(sheet.max_row, COLUMNS.index(key) + 1).fill = _FLAG_FILL

    totals: dict[str, object] = {
        "seq": t("batch_report.totals_label"),
        "plan_id": len(report.lines),
        "candidates": report.candidates,
        "passed": report.passed,
        "billable": report.billable,
        "expected": report.expected,
        "paid": report.paid,
        "check": _flag_text(report),
    }
    sheet.append([_inert(totals.get(key)) for key in COLUMNS])
    for cell in sheet[sheet.max_row]:
        cell.font = _BOLD

    last = sheet.max_row
    for key in ("fee", "expected", "paid", "difference"):
        letter = get_column_letter(COLUMNS.index(key) + 1)
        for cell in sheet[letter][header_row:last]:
            cell.number_format = _MONEY_FORMAT
    letter = get_column_letter(COLUMNS.index("exam_end_date") + 1)
    for cell in sheet[letter][header_row:last]:
        cell.number_format = "yyyy-mm-dd"
    letter = get_column_letter(COLUMNS.index("received_on") + 1)
    for cell in sheet[letter][header_row:last]:
        cell.number_format = "yyyy-mm-dd"
    for index, width in enumerate(_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = sheet.cell(header_row + 1, 1)

    sheet.append([])
    sheet.append([_inert(t("batch_report.source_note"))])
    sheet.append([])
    sheet.append([_inert(t("batch_report.signature"))])

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _inert(value: object) -> object:
    # Only text can run as a formula; numbers, dates and Decimals pass as they are.
    return safe_cell(value) if isinstance(value, str) else value


def _xlsx_values(seq: int, checked: CheckedLine) -> list[object]:
    line = checked.line
    return [
        seq,
        line.plan_id,
        line.site_name,
        line.site_code,
        line.certificate,
        line.level.chinese,
        f"{line.module_code} {line.module_name}",
        line.exam_end_date,
        line.candidates,
        line.passed,
        line.billable,
        line.fee,
        line.expected,
        line.payment.amount,
        checked.difference,
        line.payment.invoice_text() or t("batch_report.not_recorded"),
        # A date cell; with a settlement since, both days as text.
        line.payment.received_on
        if line.payment.settled is None
        else line.payment.received_text(),
        line.payment.reference_text(),
        _check_text(checked),
    ]


# -- the PDF --------------------------------------------------------------------


def render_pdf(report: BatchReport) -> bytes:
    """Return the report as an A4 landscape PDF with a line for the signature."""
    font = load_font(find_font())
    pdf = CjkPDF(orientation="landscape", unit="mm", format="A4")
    pdf.set_margins(10, 12, 10)
    pdf.set_auto_page_break(True, margin=12)
    pdf.set_creation_date(report.gathered_at)
    pdf.set_title(t("batch_report.title", batch_id=report.batch_id))
    pdf.use_cjk_font(font, _FONT)
    pdf.add_page()

    pdf.set_font(_FONT, size=16)
    pdf.cell(
        0,
        10,
        t("batch_report.title", batch_id=report.batch_id),
        align=Align.C,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font(_FONT, size=9)
    pdf.cell(
        0, 6, _subtitle(report), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(2)

    pdf.set_font(_FONT, size=_TABLE_SIZE)
    header = [
        t(f"batch_report.column.{_PDF_HEADINGS.get(key, key)}")
        for key, _ in _PDF_COLUMNS
    ]
    rows = [_pdf_values(seq, checked) for seq, checked in enumerate(report.lines, 1)]
    widths = _column_widths(
        pdf, header, [[row[k] for k, _ in _PDF_COLUMNS] for row in rows]
    )
    plain = FontFace(emphasis="")
    flagged = FontFace(emphasis="", color=_FLAG_INK)
    with pdf.table(
        col_widths=widths,
        text_align=[align for _, align in _PDF_COLUMNS],
        headings_style=FontFace(emphasis="", fill_color=(225, 225, 225)),
        line_height=4,
        wrapmode=WrapMode.CHAR,
        padding=_TABLE_PADDING,
    ) as table:
        heading = table.row()
        for text, width in zip(header, widths, strict=True):
            heading.cell(_wrapped(pdf, text, width, Rule.PHRASES), align=Align.C)
        for checked, values in zip(report.lines, rows, strict=True):
            row = table.row()
            ink = plain if checked.check is Check.MATCH else flagged
            for (key, _), width in zip(_PDF_COLUMNS, widths, strict=True):
                text = _wrapped(pdf, values[key], width, Rule.TEXT)
                row.cell(text, style=ink if key in _PDF_FLAGGED else plain)

    pdf.ln(4)
    for size, height, text in (
        (10, 6, _totals_text(report)),
        (10, 6, _flag_text(report)),
        (8, 5, t("batch_report.source_note")),
    ):
        _paragraph(pdf, size, height, text)
    pdf.ln(10)
    _paragraph(pdf, 11, 8, t("batch_report.signature"))
    return pdf.to_bytes()


def _column_widths(
    pdf: CjkPDF, header: list[str], rows: list[list[str]]
) -> list[float]:
    """Share the page's width among the columns by the text they hold.

    A column is never narrower than its widest piece that may not break (a
    header's word, an amount, a plan id; up to ``_WIDEST_PIECE``), so text
    breaks only where Chinese text may; the width left over goes to the
    columns whose text would otherwise wrap, in proportion to how much more
    they would take on one line. Text that cannot fit so breaks by looser
    rules (``certflow.linebreak``).
    """
    least, most = [], []
    for index, title in enumerate(header):
        texts = [row[index] for row in rows]
        pieces = [widest_piece(text, pdf.get_string_width) for text in texts]
        pieces.append(widest_piece(title, pdf.get_string_width, Rule.PHRASES))
        lines = [line for text in [title, *texts] for line in text.split("\n")]
        least.append(min(max(pieces), _WIDEST_PIECE) + _cell_slack(pdf))
        most.append(max(map(pdf.get_string_width, lines)) + _cell_slack(pdf))

    room = pdf.epw
    if sum(most) <= room:
        return [width * room / sum(most) for width in most]
    if sum(least) > room:
        return [width * room / sum(least) for width in least]
    spare = room - sum(least)
    wants = [high - low for low, high in zip(least, most, strict=True)]
    return [
        low + spare * want / sum(wants) for low, want in zip(least, wants, strict=True)
    ]


def _cell_slack(pdf: CjkPDF) -> float:
    # The padding either side of a cell's text and the rule between cells.
    return 2 * _TABLE_PADDING + pdf.line_width


def _wrapped(pdf: CjkPDF, text: str, width: float, rule: Rule) -> str:
    lines = break_lines(text, width - _cell_slack(pdf), pdf.get_string_width, rule)
    return "\n".join(lines)


def _paragraph(pdf: CjkPDF, size: float, height: float, text: str) -> None:
    # Left-aligned: justified lines of Chinese text get gaps where spaces are.
    # Broken here, by the rules of Chinese text, not where a line runs out.
    pdf.set_font(_FONT, size=size)
    lines = break_lines(text, pdf.epw - 2 * pdf.c_margin, pdf.get_string_width)
    pdf.multi_cell(
        0, height, "\n".join(lines), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )


def _pdf_values(seq: int, checked: CheckedLine) -> dict[str, str]:
    line = checked.line
    missing = t("batch_report.not_recorded")
    return {
        "seq": str(seq),
        "plan_id": line.plan_id,
        "site_name": f"{line.site_name}\n{line.site_code}",
        "certificate": f"{line.certificate}\n{line.level.chinese}",
        "module": f"{line.module_code} {line.module_name}",
        "exam_end_date": line.exam_end_date.isoformat(),
        "candidates": str(line.candidates),
        "passed": str(line.passed),
        "billable": str(line.billable),
        "fee": _money(line.fee, missing),
        "expected": _money(line.expected, missing),
        "paid": _money(line.payment.amount, missing),
        # Blank where the workbook's is: nothing to compare.
        "difference": _money(checked.difference, ""),
        "invoice": line.payment.invoice_text() or missing,
        "received_on": "\n".join(
            text
            for text in (line.payment.received_text(), line.payment.reference_text())
            if text
        ),
        "check": _check_text(checked),
    }


# -- texts shared by both files ---------------------------------------------------


def _subtitle(report: BatchReport) -> str:
    at = t("batch_report.gathered", at=format_cst(report.gathered_at))
    return f"{report.organisation}　{at}" if report.organisation else at


def _money(value: Decimal | None, missing: str) -> str:
    return missing if value is None else f"{value:,.2f}"


def _check_text(checked: CheckedLine) -> str:
    text = t(f"batch_report.check.{checked.check.value}")
    if checked.difference is not None and checked.check is Check.DIFFERENT:
        text = f"{text}（{checked.difference:+,.2f}）"
    if checked.line.shared:
        shared = t(
            "batch_report.shared_note", plans="、".join(checked.line.payment.covers)
        )
        text = f"{text}；{shared}"
    if checked.outside:
        outside = t("batch_report.shared_outside", plans="、".join(checked.outside))
        text = f"{text}；{outside}"
    return text


def _totals_text(report: BatchReport) -> str:
    return t(
        "batch_report.totals_line",
        plans=len(report.lines),
        candidates=report.candidates,
        passed=report.passed,
        billable=report.billable,
        expected=f"{report.expected:,.2f}",
        paid=f"{report.paid:,.2f}",
    )


def _flag_text(report: BatchReport) -> str:
    if report.flagged:
        return t("batch_report.flagged_line", count=report.flagged)
    return t("batch_report.none_flagged")


# -- the activity ---------------------------------------------------------------


class BatchReportActivities:
    """Builds the report of an approval batch and files it in the document store."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, store: DocumentStore
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.store = store

    @activity.defn
    @beats_while_running
    async def build_batch_report(self, req: BatchReportRequest) -> list[DocumentRef]:
        """Return the batch report as two stored documents: the xlsx, then the PDF."""
        report = await self.gather(req)
        xlsx, pdf = await asyncio.to_thread(_render_both, report)

        name = t("batch_report.filename", batch_id=req.batch_id)
        # Named in ``produced_files`` before stored: the files of an attempt
        # that failed after storing them are taken back by the next one.
        refs = [
            await put_produced(
                self.pool,
                self.store,
                data,
                filename=f"{name}{suffix}",
                media_type=media_type,
            )
            for data, suffix, media_type in (
                (xlsx, ".xlsx", XLSX_TYPE),
                (pdf, ".pdf", PDF_TYPE),
            )
        ]
        await keep_produced(self.pool, self.store, refs, refs)
        log.info(
            "batch report built batch_id=%s plans=%d flagged=%d",
            req.batch_id,
            len(report.lines),
            report.flagged,
        )
        return refs

    async def gather(self, req: BatchReportRequest) -> BatchReport:
        """Read the batch's plans, counts and payment facts from PostgreSQL."""
        plans = await self.pool.fetch(
            """
            SELECT p.plan_id, p.site_code, p.site_name, p.certificate, p.level,
                   p.module_code, p.module_name, p.exam_end_date,
                   count(DISTINCT s.admission_number) AS candidates,
                   count(DISTINCT s.admission_number) FILTER (WHERE s.passed)
                       AS passed
            FROM plans p LEFT JOIN scores s ON s.plan_id = p.plan_id
            WHERE p.plan_id = ANY($1)
            GROUP BY p.plan_id
            """,
            req.plan_ids,
        )
        found = {row["plan_id"]: row for row in plans}
        missing = [p for p in req.plan_ids if p not in found]
        if missing:
            named = ", ".join(missing)
            raise ApplicationError(
                f"Batch {req.batch_id} names plans with no record: {named}.",
                type="unknown_plan",
                non_retryable=True,
            )

        audit = await self.pool.fetch(
            """
            SELECT DISTINCT ON (plan_id, action) plan_id, action, at, details
            FROM audit
            WHERE plan_id = ANY($1) AND action = ANY($2) AND accepted
            ORDER BY plan_id, action, at DESC, id DESC
            """,
            req.plan_ids,
            [
                APPLICATION_ACTION,
                PAYMENT_ACTION,
                PAYMENT_CORRECTION,
                PAYMENT_SETTLEMENT,
                PAYMENT_FIGURES_FOLLOW,
                INVOICE_ACTION,
                INVOICE_CORRECTION,
            ],
        )
        facts: dict[str, AuditFacts] = {}
        for row in audit:
            entry = (row["at"], dict(row["details"] or {}))
            facts.setdefault(row["plan_id"], {})[row["action"]] = entry

        gathered_at = await self.pool.fetchval(
            "SELECT created_at FROM batches WHERE batch_id = $1", req.batch_id
        )
        lines = [
            self._line(found[plan_id], facts.get(plan_id, {}))
            for plan_id in dict.fromkeys(req.plan_ids)
        ]
        lines = await self._without_plans_gone(lines)
        return check_payments(
            req.batch_id,
            self.settings.organisation,
            gathered_at or datetime.now(UTC),
            lines,
        )

    async def _without_plans_gone(self, lines: list[PlanLine]) -> list[PlanLine]:
        """The lines with the plans that left their joint payment since its
        application (cancelled, or ended with no certificate to issue:
        ``LEFT_PAYMENT``) out of what it covers, as ``joint_payments`` reads
        the payment: the sheet names none of them."""
        named = sorted({p for line in lines for p in line.payment.covers})
        left = {
            row["plan_id"]
            for row in await self.pool.fetch(
                "SELECT plan_id FROM plans WHERE plan_id = ANY($1) AND stage = ANY($2)",
                named,
                list(LEFT_PAYMENT),
            )
        }
        return [
            replace(
                line,
                payment=replace(
                    line.payment,
                    covers=tuple(
                        p
                        for p in line.payment.covers
                        if p == line.plan_id or p not in left
                    ),
                ),
            )
            for line in lines
        ]

    def _line(self, row: Any, audit: AuditFacts) -> PlanLine:
        level = Level(row["level"])
        fee = self.settings.fee_for(row["certificate"], level)
        return PlanLine(
            plan_id=row["plan_id"],
            site_name=row["site_name"],
            site_code=row["site_code"],
            certificate=row["certificate"],
            level=level,
            module_code=row["module_code"],
            module_name=row["module_name"],
            exam_end_date=row["exam_end_date"],
            candidates=row["candidates"],
            passed=row["passed"],
            fee=None if fee is None else Decimal(str(fee)).quantize(CENT),
            payment=payment_from_audit(row["plan_id"], audit),
        )


def _render_both(report: BatchReport) -> tuple[bytes, bytes]:
    # Both renderers are CPU-bound; they run off the event loop together.
    return render_xlsx(report), render_pdf(report)
