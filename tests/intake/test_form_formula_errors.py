"""The invoice details form and the correction form name their formula errors.

Both forms are read by intake's cell reader, which sees a cell showing
``#N/A`` as empty: a required field then read "missing", and an optional one
(a correction's 证件号码) was silently dropped, the request filed without it.
Each such cell is refused where it is, as the score summary refuses it.

The xlsx files are the committed templates filled by openpyxl, the errors
written as Excel saves them (``with_error_cells``); the xls and ods files are
files LibreOffice saved (the sample summary, the correction form of the mail
corpus) with the cells as LibreOffice writes them (``xls_cells``,
``ods_with_cells``: no office suite runs here to save them).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from openpyxl import load_workbook

from certflow.corrections import read_correction_form_xlsx
from certflow.invoice import read_invoice_details
from certflow.models import Problem
from tests.intake.conftest import (
    REPO,
    SAMPLES,
    ods_text_cell,
    ods_with_cells,
    with_error_cells,
)
from tests.intake.test_invoice_details import HONEST, VALID_CODE
from tests.intake.xls_cells import formula_error, text, with_cells

INVOICE_TEMPLATE = REPO / "templates" / "invoice-details.xlsx"
CORRECTION_TEMPLATE = REPO / "templates" / "correction-request.xlsx"
CORRECTION_FORMS = REPO / "tests" / "corpus" / "mail" / "forms"
SUMMARY = SAMPLES / "P2026-1104-0412-成绩汇总表"
SENDER = "kaowu@whjtxx.example.edu.cn"
# The form's rows 4 to 10: each label and its value, in columns A and B.
INVOICE = HONEST
LOOKUP = "=VLOOKUP(A1,院校!A:H,2,0)"

# The cells to change, each with the error it shows.
Errors = dict[str, str]


def _ods_error(error: str) -> str:
    """A formula cell whose result is ``error``, as LibreOffice saves it."""
    return (
        '<table:table-cell table:formula="of:=VLOOKUP([.A1];$院校.$A$1:$H$9;2;0())"'
        ' office:value-type="string" office:string-value=""'
        f' calcext:value-type="error"><text:p>{error}</text:p></table:table-cell>'
    )


def _invoice_xlsx(errors: Errors) -> bytes:
    book = load_workbook(INVOICE_TEMPLATE)
    sheet = book["发票信息"]
    for row, value in enumerate(INVOICE.values(), start=4):
        sheet.cell(row=row, column=2, value=value)
    for ref in errors:
        sheet[ref] = LOOKUP
    buffer = io.BytesIO()
    book.save(buffer)
    return with_error_cells(buffer.getvalue(), dict(errors))


def _form_cells(errors: Errors) -> dict[str, str]:
    """The form's labels and values by cell, those in ``errors`` left out."""
    cells = {}
    for row, (label, value) in enumerate(INVOICE.items(), start=4):
        cells[f"A{row}"] = label
        cells[f"B{row}"] = value
    return {ref: value for ref, value in cells.items() if ref not in errors}


def _invoice_xls(errors: Errors) -> bytes:
    """The sample summary's xls, its rows 4 to 10 overwritten with the form
    (the summary's other columns left as they are: the form is read from
    where its labels stand)."""
    records = {ref: text(value) for ref, value in _form_cells(errors).items()}
    records |= {ref: formula_error(error) for ref, error in errors.items()}
    return with_cells(SUMMARY.with_suffix(".xls").read_bytes(), records)


def _invoice_ods(errors: Errors) -> bytes:
    """The sample summary's ods, its rows 4 to 10 overwritten with the form."""
    cells = {ref: ods_text_cell(value) for ref, value in _form_cells(errors).items()}
    cells |= {ref: _ods_error(error) for ref, error in errors.items()}
    return ods_with_cells(SUMMARY.with_suffix(".ods").read_bytes(), cells)


INVOICE_FORMATS: dict[str, Callable[[Errors], bytes]] = {
    "xlsx": _invoice_xlsx,
    "xls": _invoice_xls,
    "ods": _invoice_ods,
}


def _located(problems: list[Problem]) -> list[tuple[str, int | None, str, str]]:
    return [(p.code, p.row, p.column or "", p.value or "") for p in problems]


@pytest.mark.parametrize("kind", INVOICE_FORMATS)
def test_the_invoice_form_is_read_in_each_format(kind: str) -> None:
    reading = read_invoice_details(INVOICE_FORMATS[kind]({}))

    assert reading.accepted, reading.problems
    assert reading.details is not None and reading.details.taxpayer_id == VALID_CODE


@pytest.mark.parametrize("kind", INVOICE_FORMATS)
def test_an_invoice_value_showing_an_error_is_named_by_its_cell(kind: str) -> None:
    """Read as empty, the taxpayer number's #N/A was "此项为空", and the bank
    account's #REF! the same: the sender sees no empty cell there. Named by
    the template's header (“内容”), as the other forms name their columns;
    by its letter in a form without that header (the xls and ods here)."""
    data = INVOICE_FORMATS[kind]({"B5": "#N/A", "B9": "#REF!"})

    reading = read_invoice_details(data)

    column = "内容" if kind == "xlsx" else "B"
    assert not reading.accepted and reading.details is None
    assert _located(reading.problems) == [
        ("formula_error", 5, column, "#N/A"),
        ("formula_error", 9, column, "#REF!"),
    ]
    shown = reading.problems[0].render()
    assert f"第 5 行 “{column}”列" in shown and "#N/A" in shown


def _correction_xlsx(errors: Errors) -> bytes:
    book = load_workbook(CORRECTION_TEMPLATE)
    sheet = book["成绩修改申请表"]
    request = [
        "P2026-1104-0412",
        "熊杰",
        "440305200611035306",
        "2026110412018",
        "1-1",
        "考试状态",
        "缺考",
        "正常",
        "考生因交通管制迟到 10 分钟，经考点同意入场，实际参加考试",
        "熊国栋/武汉市交通职业技术学校",
        "13971234567",
    ]
    for column, value in enumerate(request, start=1):
        sheet.cell(row=4, column=column, value=value)
    for ref in errors:
        sheet[ref] = LOOKUP
    buffer = io.BytesIO()
    book.save(buffer)
    return with_error_cells(buffer.getvalue(), dict(errors))


def _correction_xls(errors: Errors) -> bytes:
    records = {ref: formula_error(error) for ref, error in errors.items()}
    return with_cells((CORRECTION_FORMS / "成绩修改申请表.xls").read_bytes(), records)


def _correction_ods(errors: Errors) -> bytes:
    cells = {ref: _ods_error(error) for ref, error in errors.items()}
    return ods_with_cells((CORRECTION_FORMS / "成绩修改申请表.ods").read_bytes(), cells)


CORRECTION_FORMATS: dict[str, Callable[[Errors], bytes]] = {
    "xlsx": _correction_xlsx,
    "xls": _correction_xls,
    "ods": _correction_ods,
}


@pytest.mark.parametrize("kind", CORRECTION_FORMATS)
def test_the_correction_form_is_read_in_each_format(kind: str) -> None:
    drafts, problems = read_correction_form_xlsx(
        CORRECTION_FORMATS[kind]({}), sender=SENDER
    )

    assert problems == []
    assert [(d.admission_number, d.id_number) for d in drafts] == [
        ("2026110412018", "440305200611035306")
    ]


@pytest.mark.parametrize("kind", CORRECTION_FORMATS)
@pytest.mark.parametrize(
    ("cell", "label"),
    [
        ("B4", "考生姓名"),  # required: it read "missing"
        ("C4", "证件号码"),  # optional: the request was filed without it
    ],
)
def test_a_correction_field_showing_an_error_is_named_and_not_filed(
    kind: str, cell: str, label: str
) -> None:
    data = CORRECTION_FORMATS[kind]({cell: "#N/A"})

    drafts, problems = read_correction_form_xlsx(data, sender=SENDER)

    assert drafts == []
    assert _located(problems) == [("formula_error", 4, label, "#N/A")]
    assert "#N/A" in problems[0].message


def test_a_lookup_filled_down_past_the_last_request_is_no_request() -> None:
    """A row holding nothing but errors is a lookup dragged below the last
    request: blank to the sender, and not a request left incomplete."""
    data = _correction_xlsx({"B5": "#N/A", "C5": "#N/A", "G5": "#N/A"})

    drafts, problems = read_correction_form_xlsx(data, sender=SENDER)

    assert problems == []
    assert [d.admission_number for d in drafts] == ["2026110412018"]
