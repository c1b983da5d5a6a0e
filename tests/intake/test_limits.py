"""Caps on uploads: size, rows, zip bombs (honest and lying), odd containers."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

from certflow.intake import (
    IntakeLimits,
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.intake.container import _scan_biff_globals
from certflow.models import PlanInfo
from tests.intake.conftest import (
    CORPUS,
    SAMPLES,
    ods_file,
    ods_text_cell,
    sheet_file,
    with_member,
    with_sheet_xml,
)

SUMMARY = (SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx").read_bytes()
MIB = 1024 * 1024


def _codes(
    data: bytes, plan: PlanInfo, limits: IntakeLimits | None = None
) -> list[str]:
    reading = read_score_summary(data, plan, limits=limits or IntakeLimits())
    assert not reading.accepted and reading.rows == []
    return [p.code for p in reading.problems]


def _bomb(size: int, *, members: int = 1) -> bytes:
    """An xlsx-shaped zip whose sheets inflate to ``size`` bytes of zeros each."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        chunk = bytes(MIB)
        for number in range(members):
            with archive.open(f"xl/worksheets/sheet{number + 1}.xml", "w") as sheet:
                for _ in range(size // MIB):
                    sheet.write(chunk)
    return buffer.getvalue()


def _refused_quickly(data: bytes, plan: PlanInfo, limits: IntakeLimits) -> list[str]:
    tracemalloc.start()
    started = time.perf_counter()
    codes = _codes(data, plan, limits)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 4 * MIB + len(data)
    return codes


def test_a_zip_bomb_is_refused_by_its_ratio_before_inflating(plan: PlanInfo) -> None:
    bomb = _bomb(64 * MIB)
    assert len(bomb) < MIB

    assert _refused_quickly(bomb, plan, IntakeLimits()) == ["zip_ratio"]


def test_a_zip_past_the_uncompressed_cap_is_refused(plan: PlanInfo) -> None:
    bomb = _bomb(8 * MIB, members=3)
    limits = IntakeLimits(max_uncompressed_bytes=16 * MIB, max_zip_ratio=10_000)

    assert _refused_quickly(bomb, plan, limits) == ["zip_too_large"]


def test_a_zip_that_lies_about_its_sizes_is_refused_without_inflating_it(
    plan: PlanInfo,
) -> None:
    bomb = bytearray(_bomb(32 * MIB))
    # Declare 1,000 bytes for the sheet in the central directory and local header.
    central = bomb.rfind(b"PK\x01\x02")
    struct.pack_into("<I", bomb, central + 24, 1000)
    local = bomb.find(b"PK\x03\x04", bomb.find(b"xl/worksheets/sheet1.xml") - 40)
    struct.pack_into("<I", bomb, local + 22, 1000)

    assert _refused_quickly(bytes(bomb), plan, IntakeLimits()) == ["damaged"]


def test_too_many_zip_members_are_refused(plan: PlanInfo) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(5001):
            archive.writestr(f"xl/part{number}.xml", "")

    assert _codes(buffer.getvalue(), plan) == ["zip_too_many_members"]


def test_file_size_cap(plan: PlanInfo) -> None:
    assert _codes(SUMMARY, plan, IntakeLimits(max_bytes=1000)) == ["file_too_large"]


def test_row_cap_counts_data_rows(plan: PlanInfo) -> None:
    reading = read_score_summary(SUMMARY, plan, limits=IntakeLimits(max_rows=31))
    assert "too_many_rows" in [p.code for p in reading.problems]
    assert read_score_summary(SUMMARY, plan, limits=IntakeLimits(max_rows=32)).accepted


def test_row_cap_refuses_huge_csv_before_reading_it_all(plan: PlanInfo) -> None:
    text = "姓名,证件号码,准考证号,理论成绩,实操成绩\n" + "a,b,c,1,2\n" * 5000
    codes = _codes(text.encode(), plan, IntakeLimits(max_rows=100))
    assert codes == ["too_many_rows"]


def test_truncated_xlsx_is_damaged(plan: PlanInfo) -> None:
    assert _codes(SUMMARY[: len(SUMMARY) // 2], plan) == ["damaged"]


def test_xlsb_is_refused_with_advice(plan: PlanInfo) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.bin", b"\x83\x01")
    assert _codes(buffer.getvalue(), plan) == ["xlsb"]


def test_undecodable_csv_is_refused(plan: PlanInfo) -> None:
    assert _codes(b"\xff\xfe\xfd,\xff\n", plan) == ["bad_encoding"]


def test_utf8_csv_with_and_without_bom_read_alike(plan: PlanInfo) -> None:
    gbk = (SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv").read_bytes()
    utf8 = gbk.decode("gbk").encode("utf-8")

    plain = read_score_summary(utf8, plan)
    bom = read_score_summary(b"\xef\xbb\xbf" + utf8, plan)
    assert plain.accepted and bom.accepted
    assert plain.rows == bom.rows == read_score_summary(gbk, plan).rows


def test_biff_globals_with_a_password_or_a_macro_sheet() -> None:
    bof = struct.pack("<HH", 0x0809, 4) + bytes(4)
    eof = struct.pack("<HH", 0x000A, 0)
    filepass = struct.pack("<HH", 0x002F, 2) + bytes(2)
    sheet = struct.pack("<HH", 0x0085, 8) + struct.pack("<IBBBB", 0, 0, 0, 1, 0)
    macro = struct.pack("<HH", 0x0085, 8) + struct.pack("<IBBBB", 0, 0, 1, 1, 0)

    assert _scan_biff_globals(bof + sheet + eof) is None
    assert _scan_biff_globals(bof + filepass + sheet + eof).code == "encrypted"  # type: ignore[union-attr]
    assert _scan_biff_globals(bof + macro + eof).code == "macro_workbook"  # type: ignore[union-attr]


def test_tab_separated_text_is_read_as_csv(plan: PlanInfo) -> None:
    gbk = (SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv").read_bytes().decode("gbk")
    tabbed = "\n".join(line.replace(",", "\t") for line in gbk.splitlines())

    reading = read_score_summary(tabbed.encode("utf-8"), plan)
    assert reading.accepted
    assert len(reading.rows) == 32


def test_a_compound_file_without_a_workbook_is_unsupported(plan: PlanInfo) -> None:
    # An OLE2 file of another kind (a Word document, say): rename the streams of
    # the encrypted package so none is a workbook or an encryption stream.
    data = (CORPUS / "encrypted.xlsx").read_bytes()
    for old, new in (
        ("EncryptionInfo", "WordDocument00"),
        ("EncryptedPackage", "Data000000000000"),
    ):
        data = data.replace(old.encode("utf-16-le"), new.encode("utf-16-le"))

    assert _codes(data, plan) == ["unsupported_format"]


# ASCII text of no column, as a key or a note saved under a .xlsx name is:
# lines of words and one long unbroken token, no comma, tab or semicolon.
_ASCII_TEXT = b"""Exam plan P2026-1104-0412 scores
The scores are in the workbook sent with the signed summary.
SGVsbG8gY2VydGZsb3cgaW50YWtlIHRlc3QgdGV4dCB3aXRob3V0IGNvbHVtbnM
"""


def test_text_without_any_column_is_an_unrecognised_format(plan: PlanInfo) -> None:
    """Staff trial: a key file named .xlsx was read as a CSV and refused as a
    summary without its header (请使用模板), while a real image is refused as
    a format intake does not read. Text with no comma, tab or semicolon has
    no columns: it is refused as the image is, whatever its name."""
    for data in (_ASCII_TEXT, "成绩请见附件\n周建国\n".encode("gbk")):
        assert _codes(data, plan) == ["unsupported_format"]
        for reader in (read_candidate_sign_in, read_evaluator_sign_in):
            codes = [p.code for p in reader(data, plan).problems]
            assert codes == ["unsupported_format"]
    # An image (a PNG's signature and header) is refused as before.
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + b"\x00" * 64
    assert _codes(png, plan) == ["unsupported_format"]
    # Comma-separated text is still read as a CSV.
    assert _codes("姓名,准考证号\n黎芬,2026110412001\n".encode(), plan) == [
        "missing_columns"
    ]


def test_a_truncated_compound_file_is_damaged(plan: PlanInfo) -> None:
    data = (CORPUS / "honest-layout-libreoffice.xls").read_bytes()
    assert _codes(data[:1024], plan) == ["damaged"]


# A cell repeated across a whole row, as an ods says it in a few bytes.
_ROW_OF = ' table:number-columns-repeated="16384"'
# A formula saved without its value (no value type), and one showing #N/A.
_NO_VALUE = f'<table:table-cell table:formula="of:=[.A1]*2"{_ROW_OF}/>'
_NA = (
    f'<table:table-cell table:formula="of:=NA()"{_ROW_OF} office:value-type="string"'
    ' office:string-value=""><text:p>#N/A</text:p></table:table-cell>'
)


def _read_measured(
    data: bytes, plan: PlanInfo, limits: IntakeLimits | None = None
) -> tuple[list[str], int]:
    """The problem codes of reading ``data`` as a score summary, and the most
    memory the reading held at once."""
    tracemalloc.start()
    try:
        reading = read_score_summary(data, plan, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not reading.accepted
    return [p.code for p in reading.problems], peak


def test_an_ods_claiming_millions_of_formulas_without_values_is_refused(
    plan: PlanInfo,
) -> None:
    """A row of formulas without their value, the row repeated 200 times: a
    file of a few KB naming 3.2 million cells. Each is kept until the cap,
    never all made, and the file is refused rather than read in part. (The
    sheet reaches past ``max_cells`` too, refused before any cell is made
    under the default caps; raised here, the cap on unread cells still
    holds.)"""
    data = ods_file(
        "成绩汇总", [[ods_text_cell("姓名")], [_NO_VALUE]], repeats={1: 200}
    )
    assert len(data) < 4096

    codes, peak = _read_measured(data, plan, IntakeLimits(max_cells=4_000_000))

    assert codes == ["too_many_unread_cells"]
    assert peak < 40 * MIB


def test_an_ods_claiming_too_many_formula_errors_is_refused(plan: PlanInfo) -> None:
    data = ods_file("成绩汇总", [[ods_text_cell("姓名")], [_NA]], repeats={1: 10})

    reading = read_score_summary(data, plan)

    assert [p.code for p in reading.problems] == ["too_many_unread_cells"]
    assert "100000" in reading.problems[0].message


def test_an_xlsx_array_formula_over_a_whole_sheet_is_refused(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """One array formula filling every cell of 20,000 rows, saved without a
    value: 300 million cells claimed in one element."""
    written = sheet_file(tmp_path / "summary.xlsx", [["姓名"], ["张三"]])
    array = '<row r="3"><c r="A3"><f t="array" ref="A3:XFD20000">ROW()</f></c></row>'
    data = with_sheet_xml(
        written, lambda xml: xml.replace("</sheetData>", f"{array}</sheetData>")
    )
    assert len(data) < 8192

    codes, peak = _read_measured(data, plan)

    assert codes == ["too_many_unread_cells"]
    assert peak < 40 * MIB


def test_an_ods_matrix_formula_over_a_whole_sheet_is_refused(plan: PlanInfo) -> None:
    """One matrix formula claiming every cell of 20,000 rows, its other cells
    never written: 300 million cells claimed in one attribute, gathered
    against the cap a slice at a time."""
    matrix = (
        '<table:table-cell table:number-matrix-columns-spanned="16384"'
        ' table:number-matrix-rows-spanned="20000" table:formula="of:=ROW()"'
        ' office:value-type="float" office:value="3"><text:p>3</text:p>'
        "</table:table-cell>"
    )
    data = ods_file("成绩汇总", [[ods_text_cell("姓名")], [matrix]])
    assert len(data) < 8192

    codes, peak = _read_measured(data, plan)

    assert codes == ["too_many_unread_cells"]
    assert peak < 40 * MIB


def _with_shared_strings(
    data: bytes,
    count: int,
    string: str = "<si><t>{n:x}</t></si>",
    table: str = '<sst xmlns="{main}">{strings}</sst>',
) -> bytes:
    """The xlsx ``data`` with a shared-strings table of ``count`` strings that
    no cell uses (openpyxl writes its text inline), each written as
    ``string`` says, in a table written as ``table`` says."""
    source = zipfile.ZipFile(io.BytesIO(data))
    strings = "".join(string.format(n=n) for n in range(count))
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    table = table.format(main=main, strings=strings)
    kind = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
    )
    relationship = (
        '<Relationship Id="rIdStrings" Target="sharedStrings.xml" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                override = (
                    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{kind}"/>'
                )
                content = content.replace(b"</Types>", override.encode() + b"</Types>")
            if item.filename == "xl/_rels/workbook.xml.rels":
                content = content.replace(
                    b"</Relationships>", relationship.encode() + b"</Relationships>"
                )
            target.writestr(item, content)
        target.writestr("xl/sharedStrings.xml", table)
    return out.getvalue()


def test_a_shared_strings_table_past_the_cell_cap_is_refused_unread(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Regression: the cell reader holds every shared string, used or not: an
    11 MB xlsx of 9 million one-letter strings was accepted holding 570 MB,
    and the worker kept 290 MB of it afterwards. A table of more strings than
    ``max_cells`` is refused while it is inflated."""
    data = sheet_file(tmp_path / "sheet.xlsx", [["姓名", "准考证号", "实操成绩"]])
    limits = IntakeLimits(max_cells=1000)

    assert _codes(_with_shared_strings(data, 1001), plan, limits) == [
        "too_many_strings"
    ]
    assert _codes(_with_shared_strings(data, 1000), plan, limits) == ["missing_columns"]
    assert read_score_summary(SUMMARY, plan, limits=limits).accepted


def test_shared_strings_are_counted_however_xml_writes_them(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Regression: counted as tag ends in bytes (``si>``), an empty string
    (``<si/>``) counted for nothing and a tag with a space in it
    (``<si >``) for half or nothing, so a table of any size passed."""
    data = sheet_file(tmp_path / "sheet.xlsx", [["姓名", "准考证号", "实操成绩"]])
    limits = IntakeLimits(max_cells=1000)
    prefixed = '<x:sst xmlns:x="{main}">{strings}</x:sst>'

    for string, table in (
        ("<si/>", '<sst xmlns="{main}">{strings}</sst>'),
        ("<si ><t>{n:x}</t></si >", '<sst xmlns="{main}">{strings}</sst>'),
        ("<x:si><x:t>{n:x}</x:t></x:si>", prefixed),
    ):
        over = _with_shared_strings(data, 1001, string, table)
        under = _with_shared_strings(data, 1000, string, table)
        assert _codes(over, plan, limits) == ["too_many_strings"], string
        assert _codes(under, plan, limits) == ["missing_columns"], string


def test_a_shared_strings_table_saying_it_holds_too_many_is_refused(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Regression: the cell reader makes room for as many strings as the
    table's ``uniqueCount`` says before reading one: a 1 KB xlsx saying
    ``uniqueCount="4000000000"`` had it ask for 96 GB and abort the process.
    The count said is held to ``max_cells`` too, however it is written."""
    data = sheet_file(tmp_path / "sheet.xlsx", [["姓名", "准考证号", "实操成绩"]])
    limits = IntakeLimits(max_cells=1000)

    for said in ('uniqueCount="1001"', "uniqueCount = '+1001'", "x:uniqueCount='1001'"):
        table = f'<sst xmlns="{{main}}" xmlns:x="{{main}}" {said}>{{strings}}</sst>'
        refused = _with_shared_strings(data, 3, table=table)
        assert _codes(refused, plan, limits) == ["too_many_strings"], said
    table = '<sst xmlns="{main}" uniqueCount="1000">{strings}</sst>'
    read = _with_shared_strings(data, 3, table=table)
    assert _codes(read, plan, limits) == ["missing_columns"]


def _in_gbk(data: bytes, member: str) -> bytes:
    """The zip ``data`` with ``member`` declared and written in GBK."""

    def in_gbk(content: bytes) -> bytes:
        return content.decode("utf-8").replace('"UTF-8"', '"GBK"', 1).encode("gbk")

    return with_member(data, member, in_gbk)


def test_a_part_measured_in_an_encoding_expat_does_not_read_is_damaged(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Review: a part the container check measures (an ods's content, an
    xlsx's shared strings, an xlsx sheet reaching far) declared in GBK made
    the measuring parser raise ValueError ("multi-byte encodings are not
    supported") out of the intake, not a refusal; the cell reader does not
    read such a part either. Each is refused as damaged."""
    ods = (SAMPLES / "P2026-1104-0412-成绩汇总表.ods").read_bytes()
    far = with_sheet_xml(
        SUMMARY,
        lambda xml: xml.replace(
            "</sheetData>", '<row r="40"><c r="AB40"><v>1</v></c></row></sheetData>'
        ),
    )

    assert _codes(_in_gbk(ods, "content.xml"), plan) == ["damaged"]
    assert _codes(_in_gbk(SUMMARY, "xl/sharedStrings.xml"), plan) == ["damaged"]
    assert _codes(_in_gbk(far, "xl/worksheets/sheet1.xml"), plan) == ["damaged"]
