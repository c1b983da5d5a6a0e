"""A file whose cells would copy too much text is refused before it is read.

Regression: the cell reader (python-calamine) copies a text into every cell
showing it, and then into a Python string per cell. A 486 KB xlsx of one
10,000-character shared string in 200,000 cells passed every check and had
it hold about 4 GB; a 700-byte ods of one such cell repeated along 26
columns and down 19,000 rows, or of one cell holding
``<text:s text:c="1000000000"/>`` (a billion spaces written as a count),
aborted the process. The characters copied are now counted in the file
(``IntakeLimits.max_cell_text``), and such a file refused as
``too_much_text`` before the reader opens it.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from certflow.intake import IntakeLimits
from certflow.intake.workbook import Workbook, open_workbook
from certflow.models import PlanInfo
from tests.intake.conftest import (
    SAMPLES,
    ods_file,
    ods_text_cell,
    sheet_file,
    with_member,
)
from tests.intake.test_limits import _with_shared_strings
from tests.intake.test_ods_extent import _cell_reader_opened, refused_unread
from tests.intake.test_xlsx_extent import _opened_apart

HEADER = ["序号", "姓名", "证件号码", "准考证号", "理论成绩", "实操成绩"]
# A remark of 10,000 characters: a pasted document, say (of many characters,
# as one would be: one character over and over is refused as a zip bomb).
LONG = "".join(chr(0x4E00 + index * 7919 % 20_000) for index in range(10_000))
LONG_MARK = "长文"


def _shared_file(path: Path, rows: list[list[object]]) -> bytes:
    """An xlsx of ``rows`` whose texts are shared strings, each kept once and
    shown by index, as office suites save them (openpyxl writes each cell's
    text inline). A cell written ``LONG_MARK`` shows ``LONG`` (written
    whole into each cell, 60,000 of them would be 1.8 GB of XML)."""
    data = sheet_file(path, rows)
    table: dict[str, int] = {}

    def shared(cell: re.Match[bytes]) -> bytes:
        index = table.setdefault(cell[3].decode(), len(table))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (cell[1], cell[2], index)

    data = with_member(data, _SHEET, lambda xml: _INLINE_CELL.sub(shared, xml))
    texts = (LONG if text == LONG_MARK else text for text in table)
    strings = "".join(f"<si><t>{text}</t></si>" for text in texts)
    braced = strings.replace("{", "{{").replace("}", "}}")
    return _with_shared_strings(
        data, 0, table='<sst xmlns="{main}">' + braced + "</sst>"
    )


_SHEET = "xl/worksheets/sheet1.xml"
_INLINE_CELL = re.compile(
    rb'<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is>'
    rb"<t(?: xml:space=\"preserve\")?>(.*?)</t></is></c>"
)


def _long_text_everywhere(tmp_path: Path, rows: int, columns: int = 20) -> bytes:
    """An xlsx whose ``rows`` rows below the header show ``LONG`` in each of
    ``columns`` cells: one shared string."""
    table: list[list[object]] = [[*HEADER]]
    table += [[LONG_MARK] * columns for _ in range(rows)]
    return _shared_file(tmp_path / "long.xlsx", table)


def _repeated_long_cell(rows: int, columns: int = 26, text: str = LONG) -> bytes:
    """An ods whose row of ``text`` over ``columns`` cells is repeated
    ``rows`` times: a few hundred bytes."""
    cell = (
        f'<table:table-cell table:number-columns-repeated="{columns}"'
        f' office:value-type="string"><text:p>{text}</text:p></table:table-cell>'
    )
    return ods_file("成绩汇总", [[ods_text_cell("姓名")], [cell]], repeats={1: rows})


def test_text_copied_into_many_cells_does_not_end_the_process(
    tmp_path: Path,
) -> None:
    """Read in a process held to 2 GB, as a worker may be: without the
    count, the reader's copies take more and it aborts."""
    files = {
        "xlsx": _long_text_everywhere(tmp_path, rows=3000),
        "ods": _repeated_long_cell(rows=2000),
        "ods spaces": ods_file(
            "成绩汇总",
            [
                [
                    '<table:table-cell office:value-type="string"><text:p>x'
                    '<text:s text:c="1000000000"/></text:p></table:table-cell>'
                ]
            ],
        ),
    }
    assert max(len(data) for data in files.values()) < 500_000

    assert _opened_apart(files, tmp_path, bounded=True) == {
        "xlsx": "too_much_text",
        "ods": "too_much_text",
        "ods spaces": "too_much_text",
    }


def test_the_refusal_names_the_sheet_its_text_and_the_cap(
    tmp_path: Path, plan: PlanInfo
) -> None:
    data = _long_text_everywhere(tmp_path, rows=150)

    [refused] = refused_unread(data, plan)
    assert refused.code == "too_much_text"
    shown = refused.render()
    # 150 rows of 20 cells, 10,000 characters each, and the header's 20.
    for said in ("工作表“Sheet”", "30000020", "上限 20000000"):
        assert said in shown


def test_an_ods_refusal_names_its_sheet_before_the_reader_opens_it() -> None:
    data = _repeated_long_cell(rows=100)

    opened = _cell_reader_opened(lambda: open_workbook(data, IntakeLimits()))
    refused = open_workbook(data, IntakeLimits())

    assert opened == 0
    assert not isinstance(refused, Workbook) and refused.code == "too_much_text"
    # 100 rows of 26 cells of 10,000 characters and a paragraph each, and
    # the header's 姓名 (two and its paragraph).
    assert refused.fields["sheet"] == "成绩汇总"
    assert refused.fields["chars"] == 100 * 26 * 10_001 + 3


def test_a_long_text_shown_once_among_many_cells_is_read(tmp_path: Path) -> None:
    """The longest string times the cells passes the cap, so the sheet is
    walked: one long remark and some 24,000 short cells copy far less."""
    rows: list[list[object]] = [[*HEADER], [1, "张三", "x", "y", 80, 90, LONG_MARK]]
    rows += [[n, f"考生{n}", "x", "y", 80, 90] for n in range(2, 4000)]
    data = _shared_file(tmp_path / "remark.xlsx", rows)
    limits = IntakeLimits(max_cell_text=100_000)

    book = open_workbook(data, limits)

    assert isinstance(book, Workbook)
    assert book.sheets[0].rows[1][6] == LONG


def test_shared_strings_are_counted_however_xml_writes_them(tmp_path: Path) -> None:
    """A cell of another prefix, its type in single quotes with spaces, its
    index with a plus and space about it: each is a copy the reader may
    make, and counts."""
    limits = IntakeLimits(max_cell_text=100_000)
    data = _long_text_everywhere(tmp_path, rows=3, columns=2)
    assert isinstance(open_workbook(data, limits), Workbook)

    def spelled(old: bytes, new: bytes) -> bytes:
        return with_member(data, _SHEET, lambda xml: xml.replace(old, new))

    # Twenty copies of the six cells showing LONG: 120 copies, 1.2 million.
    many = b'<c r="A2" t="s"><v>6</v></c>' * 20
    for written in (
        b'<x:c xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
        b' t="s"><x:v>6</x:v></x:c>',
        b"<c t=' s '><v> +6 </v></c>",
        many,
    ):
        refused = open_workbook(spelled(b"</row>", written * 20 + b"</row>"), limits)
        assert not isinstance(refused, Workbook), written
        assert refused.code == "too_much_text"


def test_an_index_past_the_table_copies_nothing(tmp_path: Path) -> None:
    data = _long_text_everywhere(tmp_path, rows=1, columns=1)
    cells = b'<c t="s"><v>99999</v></c>' * 10_000
    data = with_member(
        data, _SHEET, lambda xml: xml.replace(b"</row>", cells + b"</row>", 1)
    )
    limits = IntakeLimits(max_cell_text=100_000)

    opened = open_workbook(data, limits)
    assert isinstance(opened, Workbook) or opened.code != "too_much_text"


def test_the_samples_are_read_as_before(plan: PlanInfo) -> None:
    for suffix in ("xlsx", "ods"):
        data = (SAMPLES / f"P2026-1104-0412-成绩汇总表.{suffix}").read_bytes()
        assert isinstance(open_workbook(data, IntakeLimits()), Workbook)


def test_a_table_inside_a_repeated_cell_is_counted_in_each_repeat() -> None:
    # The cell reader reads a table written inside a cell as the cell's
    # text, and copies it into each of the cell's repeats: a table of one
    # 10,000-character cell inside a cell repeated over 26 columns and 100
    # rows copies 26 million characters.
    inner = (
        '<table:table table:name="in"><table:table-row>'
        f"{ods_text_cell(LONG)}</table:table-row></table:table>"
    )
    cell = (
        '<table:table-cell table:number-columns-repeated="26"'
        f' office:value-type="string"><text:p>a</text:p>{inner}</table:table-cell>'
    )
    data = ods_file("成绩汇总", [[ods_text_cell("姓名")], [cell]], repeats={1: 100})
    refused = open_workbook(data, IntakeLimits())
    assert not isinstance(refused, Workbook) and refused.code == "too_much_text"


def test_a_binary_part_beside_the_sheets_is_passed_over(tmp_path: Path) -> None:
    """Review: the walks read every part under ``xl/worksheets/`` as XML,
    and refused as damaged a file holding another one there (Excel may keep
    a sheet's binary index beside it), which the reader never opens as a
    sheet. Here both walks pass it: the count of the text (a long remark
    and a low cap) and the look for far cells (its bytes hold a far
    reference and a spaced ``=``)."""
    data = _shared_file(
        tmp_path / "index.xlsx", [[*HEADER], [1, "张三", "x", "y", 80, 90, LONG_MARK]]
    )
    index = b'\x00\x01r="XFD1048576"\x02 = \xff\xfe' * 100
    with_index = _with_part(data, "xl/worksheets/binaryIndex1.bin", index)
    limits = IntakeLimits(max_cell_text=100_000)

    book = open_workbook(with_index, limits)

    assert isinstance(book, Workbook), book
    assert book.sheets[0].rows[1][6] == LONG


def _with_part(data: bytes, name: str, content: bytes) -> bytes:
    """The zip ``data`` with one more part, ``name``, holding ``content``."""
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return out.getvalue()
