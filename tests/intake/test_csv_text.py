"""CSV as office suites save it: UTF-16, Big5, semicolons, a stray quote, NUL padding.

Regression: Excel's "Unicode 文本" (UTF-16 with BOM, tab-separated) was refused
as an unknown format; a Big5 file said "no header"; a semicolon-separated file
or an unclosed quote flooded the uploader with "may not be empty" (a
semicolon-separated file is now read, one with decimal commas refused once); a NUL byte
at the end gave a phantom row's problems. A file cut inside a character, or a
row pasted in another encoding, was called a Big5 file, naming no line; a
UTF-8 row that GB18030 decodes whole was read as other characters.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.intake import (
    annotated_copy,
    national_platform_import,
    read_candidate_sign_in,
    read_score_summary,
)
from certflow.intake.container import Refusal
from certflow.intake.limits import IntakeLimits
from certflow.intake.workbook import open_workbook
from certflow.invoice import read_invoice_details
from tests.intake.conftest import SAMPLES
from tests.intake.test_invoice_details import HONEST, csv_form
from tests.support import CANDIDATE_SIGN_IN, sample_plan

PLAN = sample_plan(date(2026, 11, 4))
TEXT = (SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv").read_bytes().decode("gbk")
LINES = TEXT.split("\r\n")


def _codes(data: bytes) -> list[tuple[str | None, int | None]]:
    return [(p.code, p.row) for p in read_score_summary(data, PLAN).problems]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
@pytest.mark.parametrize("delimiter", ["\t", ","])
def test_unicode_text_with_a_byte_order_mark_is_read(
    encoding: str, delimiter: str
) -> None:
    expected = read_score_summary(TEXT.encode("gbk"), PLAN)
    text = TEXT.replace(",", delimiter)
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")

    reading = read_score_summary(data, PLAN)

    assert reading.accepted, reading.problems[:3]
    assert reading.rows == expected.rows


def test_big5_is_refused_with_the_encoding_message() -> None:
    text = (
        "序號,姓名,身份證號碼,準考證號,理論,實操\r\n"
        "1,黎芬,421002200506166066,2026110412001,0,69\r\n"
        "2,陳思彬,110105200412147666,2026110412004,80,90\r\n"
    )

    reading = read_score_summary(text.encode("big5"), PLAN)

    assert [p.code for p in reading.problems] == ["bad_encoding"]
    assert "UTF-8" in reading.problems[0].message
    assert "GBK" in reading.problems[0].message


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_a_csv_separated_by_semicolons_is_read_as_the_comma_one(
    encoding: str, tmp_path: Path
) -> None:
    """Regression: a CSV saved with ";" between its columns (the list
    separator of some locales) was refused (csv_semicolons), though its
    separator is plain to see; it is read as the same file with commas."""
    saved = tmp_path / "成绩汇总表-分号.csv"
    saved.write_bytes(TEXT.replace(",", ";").encode(encoding))
    expected = read_score_summary(TEXT.encode("gbk"), PLAN)

    reading = read_score_summary(saved.read_bytes(), PLAN)

    assert reading.accepted, reading.problems[:3]
    assert reading.rows == expected.rows
    assert reading.notes == expected.notes


def test_a_sign_in_sheet_and_an_invoice_form_separated_by_semicolons_are_read(
    tmp_path: Path,
) -> None:
    """The sign-in sheet with its title line (``标题;;;;;``) and the invoice
    form of two columns, saved with ";", read as their comma files do."""
    sheet = load_workbook(CANDIDATE_SIGN_IN).worksheets[0]
    rows = [["" if v is None else str(v) for v in row] for row in sheet.values]
    signed = tmp_path / "考生签到表.csv"
    signed.write_bytes(_semicolons(rows))
    form = [["院校发票信息收集表"], [], ["项目", "内容"]]
    form += [[label, value] for label, value in HONEST.items()]
    invoice = tmp_path / "发票信息.csv"
    invoice.write_bytes(_semicolons(form))

    read = read_candidate_sign_in(signed.read_bytes(), PLAN)
    by_comma = read_candidate_sign_in(csv_form(rows), PLAN)
    details = read_invoice_details(invoice.read_bytes())

    assert read.accepted, read.problems[:3]
    assert read.candidates == by_comma.candidates
    assert details.accepted, details.problems[:3]
    assert details.details == read_invoice_details(csv_form(form)).details


def test_decimal_commas_in_a_semicolon_csv_give_one_clear_message(
    tmp_path: Path,
) -> None:
    """Where the comma is the decimal sign (85,5), each score would be "not a
    number": the file is refused once, naming the first such line."""
    lines = [
        ";".join(re.sub(r"^(\d+)\.(\d+)$", r"\1,\2", cell) for cell in line.split(","))
        for line in LINES
    ]
    saved = tmp_path / "成绩汇总表-小数逗号.csv"
    saved.write_bytes("\r\n".join(lines).encode("gbk"))

    reading = read_score_summary(saved.read_bytes(), PLAN)

    assert [(p.code, p.row) for p in reading.problems] == [("csv_decimal_comma", 2)]
    assert "分号" in reading.problems[0].message
    assert "第 2 行" in reading.problems[0].message


def test_semicolons_no_line_holds_alike_are_refused_with_one_message() -> None:
    """A file where ";" outnumbers commas but no separator is regular (rows
    cut short, unpadded) cannot be told by its separator: one message, not a
    "may not be empty" per row."""
    text = "\r\n".join(
        ";".join(line.split(",")[: 12 - (index * 5) % 7])
        for index, line in enumerate(LINES[:8])
    )

    reading = read_score_summary(text.encode("gbk"), PLAN)

    assert [p.code for p in reading.problems] == ["csv_semicolons"]
    assert "分号" in reading.problems[0].message


def test_a_comma_csv_with_semicolons_in_its_cells_stays_a_comma_csv() -> None:
    """Semicolons in a cell (a note, 备注) do not make them the separator."""
    lines = [f"{line}甲;乙;丙;丁" if line.endswith(",") else line for line in LINES]
    expected = read_score_summary(TEXT.encode("gbk"), PLAN)

    reading = read_score_summary("\r\n".join(lines).encode("gbk"), PLAN)

    assert reading.accepted, reading.problems[:3]
    assert [r.admission_number for r in reading.rows] == [
        r.admission_number for r in expected.rows
    ]


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_semicolons_in_every_note_and_quoted_commas_keep_a_comma_csv(
    ending: str,
) -> None:
    """Regression: a comma file whose every 备注 held ";" (已缴费;已通知) and
    two of whose first lines quoted a note holding a comma was refused as
    no_header (没有找到成绩汇总表的表头) when its lines ended as Excel ends
    them (CRLF): the separator was guessed from lines that kept their "\r",
    so the quoted cells never showed it, and ";" was taken."""
    rows = [line for line in LINES[1:] if line]
    notes = [
        '"缺考,已通知;补考"' if index < 2 else "已缴费;已通知"
        for index in range(len(rows))
    ]
    lines = [LINES[0], *(row + note for row, note in zip(rows, notes, strict=True))]
    expected = read_score_summary(TEXT.encode("gbk"), PLAN)

    data = (ending.join(lines) + ending).encode("gbk")

    reading = read_score_summary(data, PLAN)
    # Read by what its lines tell alone (no header looked for), as a mailed
    # form is, it has its twelve columns too.
    book = open_workbook(data, IntakeLimits())

    assert reading.accepted, reading.problems[:3]
    assert reading.rows == [
        row.model_copy(update={"remark": note.strip('"')})
        for row, note in zip(expected.rows, notes, strict=True)
    ]
    assert not isinstance(book, Refusal)
    assert {len(row) for row in book.sheets[0].rows} == {12}


def test_a_comma_csv_whose_header_is_found_is_read_with_commas() -> None:
    """Whatever its lines suggest: a note on every row writing 'quoted' words
    between semicolons makes them look separated by ";" to the guess, yet the
    header read with commas is the summary's, and so is the copy of a refused
    one, its problems marked in their cells."""
    rows = [line for line in LINES[1:] if line]
    rows[3] = rows[3].replace(",正常,", ",正长,", 1)
    lines = [LINES[0], *(row + "缺考;'补考';已通知" for row in rows)]
    data = ("\n".join(lines) + "\n").encode("gbk")

    reading = read_score_summary(data, PLAN)

    assert [(p.code, p.row) for p in reading.problems] == [("unknown_status", 5)]
    copy = load_workbook(io.BytesIO(annotated_copy(data, reading.problems)))
    assert [cell.value for cell in copy.worksheets[0][1]][:3] == [
        "序号",
        "考生姓名",
        "证件类型",
    ]
    assert copy.worksheets[0]["L2"].value == "缺考;'补考';已通知"


def test_decimal_commas_in_a_tab_separated_csv_give_one_clear_message() -> None:
    """Regression: a tab-separated file (Excel's "Unicode 文本") whose
    numbers have a decimal comma said "not a number" of every such score; it
    is refused once, as one separated by semicolons is."""
    lines = [
        "\t".join(re.sub(r"^(\d+)\.(\d+)$", r"\1,\2", cell) for cell in line.split(","))
        for line in LINES
    ]

    reading = read_score_summary("\r\n".join(lines).encode("utf-16"), PLAN)

    assert [(p.code, p.row) for p in reading.problems] == [("csv_decimal_comma", 2)]
    assert "制表符" in reading.problems[0].message


def _semicolons(rows: list[list[str]]) -> bytes:
    """``rows`` as office software saves CSV where ";" separates the columns."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("gbk")


def test_an_unclosed_quote_names_its_line_once() -> None:
    lines = TEXT.split("\r\n") if "\r\n" in TEXT else TEXT.split("\n")
    lines[2] = lines[2].replace("胡俊霞", '"胡俊霞', 1)
    data = "\r\n".join(lines).encode("gbk")

    reading = read_score_summary(data, PLAN)

    assert [(p.code, p.row) for p in reading.problems] == [("csv_open_quote", 3)]
    assert "第 3 行" in reading.problems[0].message


@pytest.mark.parametrize("padding", [1, 3, 5000])
def test_nul_bytes_at_the_end_are_ignored(padding: int) -> None:
    expected = read_score_summary(TEXT.encode("gbk"), PLAN)

    reading = read_score_summary(TEXT.encode("gbk") + b"\x00" * padding, PLAN)

    assert reading.accepted, reading.problems[:3]
    assert reading.rows == expected.rows


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_a_nul_byte_in_a_cell_is_named_where_it_is(encoding: str) -> None:
    """Regression: a NUL byte in a cell of the first 4 KB made the file "an
    unrecognised format, upload a CSV", though it was one, while one further
    down was named by its row and column. Either is now named where it is."""
    near = TEXT.replace("黎芬", "黎\x00芬", 1)
    far = TEXT.replace("任强", "任\x00强", 1)

    for text, row in ((near, 2), (far, 33)):
        assert _codes(text.encode(encoding)) == [("bad_name", row)]


def test_a_binary_file_with_nul_bytes_is_still_no_csv() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    assert _codes(png) == [("unsupported_format", None)]
    utf16 = TEXT.encode("utf-16-le")  # no byte order mark: half its bytes NUL
    assert _codes(utf16) == [("unsupported_format", None)]


def test_a_file_of_nul_bytes_only_is_empty() -> None:
    assert _codes(b"\x00" * 10) == [("empty_file", None)]


def test_a_file_of_blank_lines_only_is_empty() -> None:
    """Regression: it was read as a CSV without a header (没有找到表头)."""
    assert _codes(b"\xef\xbb\xbf\r\n \r\n\t\n") == [("empty_file", None)]


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_a_file_cut_inside_a_character_names_its_last_line(encoding: str) -> None:
    """Trial: a GBK file cut in the middle of a character said "编码无法识别"."""
    whole = "\r\n".join([*LINES[:2], "2,胡俊霞"]).encode(encoding)

    reading = read_score_summary(whole[:-1], PLAN)

    assert [(p.code, p.row) for p in reading.problems] == [("csv_cut_short", 3)]
    assert "第 3 行" in reading.problems[0].message
    assert read_score_summary(whole, PLAN).problems[0].code != "csv_cut_short"


@pytest.mark.parametrize(
    ("encoding", "pasted", "name"), [("utf-8", "gbk", "UTF-8"), ("gbk", "utf-8", "GBK")]
)
def test_rows_in_another_encoding_are_named(
    encoding: str, pasted: str, name: str
) -> None:
    """Trial: a UTF-8 file with one row pasted from a GBK file was called a
    Big5 file, naming no row."""
    data = b"\r\n".join(
        line.encode(pasted if number in (6, 9) else encoding)
        for number, line in enumerate(LINES, start=1)
    )

    reading = read_score_summary(data, PLAN)

    assert [(p.code, p.row) for p in reading.problems] == [("csv_mixed_encoding", 6)]
    assert "第 6、9 行" in reading.problems[0].message
    assert f"全文是 {name} 编码" in reading.problems[0].message


def _exported(line: str) -> bytes:
    """A row as another program's UTF-8 export writes it: the document type
    left to its default, the module by its code (every field then decodes
    as GB18030 too, as other characters)."""
    cells = line.split(",")
    cells[2], cells[5] = "", "1-1"
    return ",".join(cells).encode("utf-8")


def test_a_utf8_row_that_gbk_reads_as_other_characters_is_named() -> None:
    """Trial: rows pasted from a UTF-8 export into a GBK file decoded whole
    as GB18030, 姜嘉 read as 濮滃槈: the summary was refused for an unknown
    status and result, the rows' encoding never named."""
    data = b"\r\n".join(
        _exported(line) if number in (9, 23) else line.encode("gbk")
        for number, line in enumerate(LINES, start=1)
    )
    assert "濮滃槈" in data.decode("gb18030")

    reading = read_score_summary(data, PLAN)

    assert [(p.code, p.row) for p in reading.problems] == [("csv_mixed_encoding", 9)]
    assert "第 9、23 行" in reading.problems[0].message
    assert "全文是 GBK 编码" in reading.problems[0].message


def test_a_utf8_name_in_a_gbk_sign_in_sheet_is_not_read_as_another() -> None:
    """Trial: a sign-in row pasted from a UTF-8 file was accepted, its name
    read as 濮滃槈 and compared as such with the summary."""
    lines = ["序号,姓名,准考证号,签名", "1,黎芬,2026110412001,已签"]
    pasted = "2,姜嘉,2026110412008,1".encode()
    data = b"\r\n".join([*(line.encode("gbk") for line in lines), pasted])

    reading = read_candidate_sign_in(data, PLAN)

    assert [(p.code, p.row) for p in reading.problems] == [("csv_mixed_encoding", 3)]
    assert "第 3 行" in reading.problems[0].message


def test_gbk_names_that_happen_to_be_utf8_are_read_as_gbk() -> None:
    """A few GBK names are valid UTF-8 too, as letters of other scripts:
    袁一 is the bytes of Ԭһ. Such a line is GBK and read as it is."""
    assert "袁一".encode("gbk").decode("utf-8") == "Ԭһ"
    lines = ["序号,姓名,准考证号,签名", "1,黎芬,2026110412001,已签"]
    lines.append("2,袁一,2026110412002,1")  # the line's only letters: 袁一
    data = "\r\n".join(lines).encode("gbk")

    reading = read_candidate_sign_in(data, PLAN)

    assert reading.accepted, reading.problems
    assert [c.name for c in reading.candidates] == ["黎芬", "袁一"]


def test_numbers_in_excels_text_formula_are_read_as_the_text_it_shows() -> None:
    """Trial: ="421002200506166066", the way a CSV keeps a long number as text
    in Excel, was refused as no 18-character ID number. What it shows is read;
    nothing of the formula is kept."""
    lines = list(LINES)
    lines[1] = lines[1].replace(
        "421002200506166066,2026110412001", '="421002200506166066",="2026110412001"'
    )
    lines[2] = lines[2].replace("330106200308287009", '="330106200308287009"')
    expected = read_score_summary(TEXT.encode("gbk"), PLAN)

    reading = read_score_summary("\r\n".join(lines).encode("gbk"), PLAN)

    assert reading.accepted, [p.render() for p in reading.problems]
    assert reading.rows == expected.rows
    assert reading.rows[0].id_number == "421002200506166066"
    assert reading.rows[0].admission_number == "2026110412001"
    platform = load_workbook(io.BytesIO(national_platform_import(PLAN, reading.rows)))
    assert platform.active is not None
    assert platform.active["D2"].value == "421002200506166066"
    assert platform.active["E2"].value == "2026110412001"


@pytest.mark.parametrize(
    "cell", ['="4.21002E+17"', '="42100220050616606"&"6"', '="=1+1"', "=421002"]
)
def test_any_other_formula_in_an_id_cell_is_refused_as_before(cell: str) -> None:
    lines = list(LINES)
    lines[1] = lines[1].replace("421002200506166066", cell)

    reading = read_score_summary("\r\n".join(lines).encode("gbk"), PLAN)

    assert [(p.row, p.column) for p in reading.problems] == [(2, "身份证号码")]


def test_a_csv_is_said_to_be_read_as_csv_not_as_a_sheet() -> None:
    """Staff trial: the note of a CSV upload said 已读取工作表“CSV”, a sheet
    the file does not have; a workbook's note still names its sheet."""
    csv_data = (SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv").read_bytes()
    xlsx_data = (SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx").read_bytes()

    read = read_score_summary(csv_data, PLAN)
    assert read.accepted and read.notes[0] == "已按 CSV 文件读取成绩汇总表"
    assert not any("工作表" in note for note in read.notes)
    workbook = read_score_summary(xlsx_data, PLAN)
    assert workbook.notes[0] == "已读取工作表“成绩汇总”作为成绩汇总表"

    rows = [["院校发票信息收集表"], [], ["项目", "内容"]]
    rows += [[label, value] for label, value in HONEST.items()]
    invoice = read_invoice_details(csv_form(rows, "gbk"))
    assert invoice.accepted and invoice.notes[0] == "已按 CSV 文件读取发票信息"


def test_hidden_characters_in_an_id_number_are_named() -> None:
    """Regression: an ID number holding a direction override, a NUL or a DEL
    was refused as "should be 18 characters" with its value shown masked
    without them: 18 characters, seemingly whole. The characters are named."""
    text = (
        TEXT.replace("421002200506166066", "\u202d421002200506166066", 1)
        .replace("330106200308287009", "3301062003082870\x0009", 1)
        .replace("421002200311115648", "42100220031111564\x7f8", 1)
    )
    reading = read_score_summary(text.encode("utf-8"), PLAN)

    assert [(p.code, p.row, p.value) for p in reading.problems] == [
        ("id_hidden_characters", 2, "4210**********6066"),
        ("id_hidden_characters", 3, "3301**********7009"),
        ("id_hidden_characters", 4, "4210**********5648"),
    ]
    shown = [p.render() for p in reading.problems]
    for said, code in zip(shown, ("U+202D", "U+0000", "U+007F"), strict=True):
        assert code in said
