"""The invoice details form: the filled template is read; broken forms are refused."""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from certflow.identity import (
    CREDIT_CODE_CHARSET,
    could_be_id_number,
    credit_code_check_character,
    is_valid_credit_code,
)
from certflow.intake import annotated_copy
from certflow.invoice import InvoiceReading, read_invoice_details
from tests.intake.conftest import SAMPLES, ods_file, ods_text_cell

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "templates" / "invoice-details.xlsx"

# A code whose check character comes from GB 32100's own worked example, so the
# algorithm is checked against an answer it did not produce.
REFERENCE_CODE = "91350100M000100Y43"
VALID_CODE = "12420000MB0123456" + credit_code_check_character("12420000MB0123456")

HONEST = {
    "发票抬头": "武汉市交通职业技术学校",
    "纳税人识别号": VALID_CODE,
    "地址": "湖北省武汉市江岸区解放大道 1 号",
    "电话": "027-82812345",
    "开户银行": "中国工商银行武汉江岸支行",
    "银行账号": "3202 0011 0920 0123 456",
    "接收电子发票邮箱": "caiwu@whjtxx.edu.cn",
}
EXPECTED = {
    "title": "武汉市交通职业技术学校",
    "taxpayer_id": VALID_CODE,
    "address": "湖北省武汉市江岸区解放大道 1 号",
    "phone": "027-82812345",
    "bank": "中国工商银行武汉江岸支行",
    "account": "3202001109200123456",
    "email": "caiwu@whjtxx.edu.cn",
}
# The template's rows: a title, a note, the "项目 | 内容" header, then the fields.
ROW = {label: 4 + index for index, label in enumerate(HONEST)}


def filled_template(values: Mapping[str, object]) -> bytes:
    """Fill the committed template's 内容 column as a site would."""
    workbook = load_workbook(TEMPLATE)
    sheet = workbook["发票信息"]
    for label, value in values.items():
        cell = sheet.cell(row=ROW[label], column=2, value=value)
        if isinstance(value, str) and value.startswith("="):
            # Stored as text, as a site typing "=..." into a text-format cell does;
            # openpyxl would otherwise write a formula without a cached value.
            cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_form(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def ods_form(rows: list[list[str]]) -> bytes:
    """The form as a minimal OpenDocument spreadsheet of text cells."""
    return ods_file("发票信息", [[ods_text_cell(text) for text in row] for row in rows])


def codes(reading: InvoiceReading) -> list[tuple[str, int | None]]:
    return [(p.code, p.row) for p in reading.problems]


def test_the_filled_template_is_accepted() -> None:
    reading = read_invoice_details(filled_template(HONEST))

    assert reading.problems == []
    assert reading.accepted
    assert reading.details is not None
    assert reading.details.model_dump() == EXPECTED


def test_the_empty_template_names_every_field_as_empty() -> None:
    reading = read_invoice_details(TEMPLATE.read_bytes())

    assert not reading.accepted
    assert codes(reading) == [("empty_value", row) for row in ROW.values()]
    assert "“*发票抬头”不能为空" in reading.problems[0].render()
    assert "第 4 行" in reading.problems[0].render()


def test_the_committed_template_is_what_the_script_writes() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_invoice_template", REPO / "templates" / "make_invoice_template.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert module.build() == TEMPLATE.read_bytes()


def test_a_gbk_csv_reads_the_same_as_the_template() -> None:
    rows = [["院校发票信息收集表"], [], ["项目", "内容"]]
    rows += [[label, value] for label, value in HONEST.items()]

    reading = read_invoice_details(csv_form(rows, "gbk"))

    assert reading.accepted, reading.problems
    assert reading.details is not None
    assert reading.details.model_dump() == EXPECTED


def test_an_ods_reads_the_same_as_the_template() -> None:
    rows = [["院校发票信息收集表"], ["项目", "内容"]]
    rows += [[label, value] for label, value in HONEST.items()]

    reading = read_invoice_details(ods_form(rows))

    assert reading.accepted, reading.problems
    assert reading.details is not None
    assert reading.details.model_dump() == EXPECTED


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_reading_not_an_exception(data: bytes) -> None:
    reading = read_invoice_details(data)

    assert reading.accepted == (reading.details is not None)
    assert reading.accepted or reading.problems


def test_synonyms_spacing_and_full_width_text_are_read() -> None:
    rows = [
        ["", "发票信息（2026 年）"],
        ["", "单位名称：", " 武汉市交通职业技术学校 "],
        ["", "税号（统一社会信用代码）", VALID_CODE.lower()],
        ["", "单位 地址", HONEST["地址"]],
        ["", "联系电话", "０２７-82812345"],
        ["", "开户行", HONEST["开户银行"]],
        ["", "账号", "3202001109200123456"],
        ["", "邮箱", "caiwu＠whjtxx.edu.cn"],
    ]

    reading = read_invoice_details(csv_form(rows))

    assert reading.accepted, reading.problems
    assert reading.details is not None
    assert reading.details.model_dump() == EXPECTED


BAD_CODE = VALID_CODE[:17] + ("0" if VALID_CODE[17] != "0" else "1")


@pytest.mark.parametrize(
    ("label", "value", "code"),
    [
        ("纳税人识别号", BAD_CODE, "taxpayer_id_check"),
        ("纳税人识别号", VALID_CODE[:16], "taxpayer_id_length"),
        ("纳税人识别号", "91350100M00010OY43", "taxpayer_id_charset"),
        ("银行账号", "3202-0011-0920", "bad_account"),
        ("银行账号", "1234567", "bad_account"),
        ("银行账号", "1" * 31, "bad_account"),
        ("银行账号", 3202001109200123456.0, "stored_as_number"),
        ("接收电子发票邮箱", "caiwu@whjtxx", "bad_email"),
        ("接收电子发票邮箱", "caiwu whjtxx.edu.cn", "bad_email"),
        ("接收电子发票邮箱", "cai wu@whjtxx.edu.cn", "bad_email"),
        ("接收电子发票邮箱", "caiwu@whjtxx..edu.cn", "bad_email"),
        ("发票抬头", "", "empty_value"),
        ("地址", '=HYPERLINK("http://example.invalid","地址")', "formula_sign"),
        ("电话", "+86 27 82812345", "formula_sign"),
        ("开户银行", "-工商银行", "formula_sign"),
        ("接收电子发票邮箱", "@caiwu.cn", "formula_sign"),
    ],
)
def test_a_broken_field_is_refused_at_its_row(
    label: str, value: object, code: str
) -> None:
    reading = read_invoice_details(filled_template({**HONEST, label: value}))

    assert not reading.accepted
    assert reading.details is None
    assert codes(reading) == [(code, ROW[label])]
    assert reading.problems[0].sheet == "发票信息"


@pytest.mark.parametrize(
    ("label", "value", "named"),
    [
        ("发票抬头", "武汉市交通职业\u202e学校技术", "U+202E"),
        ("地址", "湖北省武汉\u200b市江岸区解放大道 1 号", "U+200B"),
        ("开户银行", "\ufeff中国工商银行武汉江岸支行", "U+FEFF"),
    ],
)
def test_a_character_nobody_sees_is_refused_not_printed_on_the_invoice(
    label: str, value: str, named: str
) -> None:
    """Regression (trial): a direction override in 发票抬头 was stored as it
    came, and a zero-width space in 地址 was made a space (武汉 市)."""
    reading = read_invoice_details(filled_template({**HONEST, label: value}))

    assert not reading.accepted
    assert codes(reading) == [("hidden_characters", ROW[label])]
    assert named in reading.problems[0].message
    assert label in reading.problems[0].message


def test_a_line_break_in_a_cell_is_read_as_a_space() -> None:
    reading = read_invoice_details(
        filled_template({**HONEST, "开户银行": "中国工商银行\n武汉江岸支行"})
    )

    assert reading.accepted, reading.problems
    assert reading.details is not None
    assert reading.details.bank == "中国工商银行 武汉江岸支行"


def test_the_message_names_the_label() -> None:
    reading = read_invoice_details(
        filled_template({**HONEST, "纳税人识别号": BAD_CODE})
    )

    assert "“*纳税人识别号”的校验位不正确" in reading.problems[0].message


def test_a_refusal_names_the_row_and_the_column() -> None:
    """Regression (trial): the form's refusals said 第 5 行 and no column,
    where the other forms say 第 N 行“列名”列; the annotated copy marked
    column A, the label, not the value at fault."""
    data = filled_template({**HONEST, "纳税人识别号": BAD_CODE})

    [problem] = read_invoice_details(data).problems

    assert (problem.row, problem.column) == (ROW["纳税人识别号"], "内容")
    assert problem.render().startswith("工作表“发票信息” 第 5 行 “内容”列：")
    copy = load_workbook(io.BytesIO(annotated_copy(data, [problem]))).worksheets[0]
    marked = [
        cell.coordinate for row in copy.iter_rows() for cell in row if cell.comment
    ]
    assert marked == ["B5"]

    # A form without the template's header names the column by its letter;
    # a field given twice is named at its label, empty or not.
    rows = [[label, value] for label, value in HONEST.items()]
    rows[3][1] = "+86 27 82812345"
    rows.append(["", "税号", ""])
    found = read_invoice_details(csv_form(rows)).problems
    assert [(p.code, p.row, p.column) for p in found] == [
        ("formula_sign", 4, "B"),
        ("duplicate_field", 8, "B"),
    ]
    assert "第 8 行 “B”列" in found[1].render()


def test_a_missing_row_and_a_repeated_field_are_refused() -> None:
    rows = [[label, value] for label, value in HONEST.items() if label != "银行账号"]
    rows.append(["单位名称", "另一所学校"])

    reading = read_invoice_details(csv_form(rows))

    assert codes(reading) == [("duplicate_field", 7), ("missing_field", None)]
    assert "与第 1 行" in reading.problems[0].message
    assert "“银行账号”" in reading.problems[1].message


def test_an_old_tax_registration_number_is_accepted_with_a_note() -> None:
    reading = read_invoice_details(
        filled_template({**HONEST, "纳税人识别号": "42010217734960X"})
    )

    assert reading.accepted, reading.problems
    assert reading.details is not None
    assert reading.details.taxpayer_id == "42010217734960X"
    assert any("15 位旧税务登记号" in note for note in reading.notes)


def test_short_numbers_stored_as_numbers_keep_their_digits() -> None:
    values = {**HONEST, "银行账号": 320200110920, "电话": 82812345}

    reading = read_invoice_details(filled_template(values))

    assert reading.accepted, reading.problems
    assert reading.details is not None
    assert (reading.details.account, reading.details.phone) == (
        "320200110920",
        "82812345",
    )


def test_a_file_that_is_not_the_form_is_refused() -> None:
    assert codes(
        read_invoice_details(csv_form([["姓名", "成绩"], ["张三", "90"]]))
    ) == [("no_form", None)]
    assert codes(read_invoice_details(b"")) == [("empty_file", None)]


@pytest.mark.parametrize(
    ("sample", "upload", "evidence"),
    [
        ("成绩汇总表.xlsx", "summary", "“实操成绩”"),
        ("成绩汇总表-gbk.csv", "summary", "“实操成绩”"),
        ("考生签到表.xlsx", "candidates", "“准考证号”、“签名”"),
        ("考评员签到表.xlsx", "evaluators", "“工号”"),
    ],
)
def test_another_document_as_the_form_is_said_to_look_like_it(
    sample: str, upload: str, evidence: str
) -> None:
    """Trial: a score summary given as ``--invoice-form`` got only 没有找到发票信息,
    where every other upload of the wrong document says what it looks like
    and where it belongs (told by the same columns)."""
    data = (SAMPLES / f"P2026-1104-0412-{sample}").read_bytes()
    other = sample.split("-")[0].removesuffix(".xlsx")

    [found] = read_invoice_details(data).problems

    assert found.code == "looks_like_other"
    assert found.message.startswith("没有找到发票信息")
    assert f"此文件有{evidence}列，像是{other}" in found.message
    assert f"certflow upload {upload}" in found.message
    assert "院校发票信息收集表" in found.message


def test_problems_are_listed_in_row_and_then_column_order() -> None:
    """Trial: a form's problems were listed rows 7, 5, 10: the whole sheet's
    formula cells first, then each field's, then fields given twice."""
    rows = [[label, value] for label, value in HONEST.items()]
    rows[4][1] = ""  # row 5: an empty bank
    rows[6][1] = "@caiwu.cn"  # row 7: a formula sign
    rows[1][1] = BAD_CODE  # row 2: a wrong check character
    rows += [["", ""], ["", ""], ["电话", "+86 27 82812345"]]  # row 10, twice

    found = read_invoice_details(csv_form(rows)).problems

    assert [(p.row, p.column, p.code) for p in found] == [
        (2, "B", "taxpayer_id_check"),
        (5, "B", "empty_value"),
        (7, "B", "formula_sign"),
        (10, "A", "duplicate_field"),
        (10, "B", "formula_sign"),
    ]
    # A field missing from the form has no row: it comes last.
    rows = [[label, value] for label, value in HONEST.items() if label != "地址"]
    rows[0][1] = ""
    found = read_invoice_details(csv_form(rows)).problems
    assert [(p.row, p.code) for p in found] == [
        (1, "empty_value"),
        (None, "missing_field"),
    ]


def test_the_reference_code_is_valid() -> None:
    assert is_valid_credit_code(REFERENCE_CODE)
    assert credit_code_check_character(REFERENCE_CODE[:17]) == "3"


credit_code_bodies = st.text(alphabet=CREDIT_CODE_CHARSET, min_size=17, max_size=17)


@given(credit_code_bodies)
def test_generated_credit_codes_pass(body: str) -> None:
    assert is_valid_credit_code(body + credit_code_check_character(body))


@given(
    credit_code_bodies,
    st.integers(min_value=0, max_value=17),
    st.sampled_from(CREDIT_CODE_CHARSET + "IOZSV"),
)
def test_any_single_changed_character_fails(
    body: str, position: int, replacement: str
) -> None:
    code = body + credit_code_check_character(body)
    changed = code[:position] + replacement + code[position + 1 :]

    if changed != code:
        assert not is_valid_credit_code(changed)


@given(credit_code_bodies)
def test_generated_codes_are_read_from_a_form(body: str) -> None:
    code = body + credit_code_check_character(body)
    rows = [[label, value] for label, value in {**HONEST, "纳税人识别号": code}.items()]

    reading = read_invoice_details(csv_form(rows))

    assert reading.accepted, reading.problems


def test_a_long_value_is_repeated_cut_to_40_characters() -> None:
    """Regression: a 250-character 地址 was repeated in full in its refusal,
    although a repeated value is cut to 40 characters and "…"."""
    reading = read_invoice_details(filled_template({**HONEST, "地址": "地" * 250}))

    [problem] = reading.problems
    assert problem.code == "too_long"
    assert problem.value == "地" * 40 + "…"
    assert problem.render().endswith(f"（值：{'地' * 40}…）。")


# What a school's 纳税人识别号 is not: a person's ID number (黎芬's, in the
# samples), typed whole or in the groups people read it in.
PERSON_ID = "421002200506166066"
# An all-digit credit code whose digits could also be read as an ID number
# (a province first, a real day in digits 7-14): the check character decides.
DIGIT_CODE = "11010519491230001" + credit_code_check_character("11010519491230001")


@pytest.mark.parametrize("typed", [PERSON_ID, "421002 20050616 6066"])
def test_a_person_s_id_number_as_taxpayer_id_is_refused_masked(
    typed: str, tmp_path: Path
) -> None:
    """Regression: an ID number typed as 纳税人识别号 was refused for its check
    character and repeated whole, on the terminal (（值：421002200506166066）)
    and in the annotated report's 问题清单."""
    data = filled_template({**HONEST, "纳税人识别号": typed})

    reading = read_invoice_details(data)

    assert codes(reading) == [("taxpayer_id_person", ROW["纳税人识别号"])]
    [problem] = reading.problems
    assert "个人身份证号码" in problem.message
    assert problem.value is not None and problem.value.endswith("6066")
    listing = load_workbook(io.BytesIO(annotated_copy(data, reading.problems)))
    texts = [problem.render(), *_cells(listing.worksheets[1])]
    assert not [text for text in texts if "2005061" in text.replace(" ", "")]


def test_an_all_digit_credit_code_is_neither_refused_nor_masked() -> None:
    assert could_be_id_number(DIGIT_CODE) and is_valid_credit_code(DIGIT_CODE)

    reading = read_invoice_details(
        filled_template({**HONEST, "纳税人识别号": DIGIT_CODE})
    )
    assert reading.accepted, reading.problems

    twice = [[label, value] for label, value in HONEST.items()]
    twice.append(["税号", DIGIT_CODE])
    [problem] = read_invoice_details(csv_form(twice)).problems
    assert (problem.code, problem.value) == ("duplicate_field", DIGIT_CODE)


def _cells(sheet: Worksheet) -> list[str]:
    return [str(value) for row in sheet.iter_rows(values_only=True) for value in row]
