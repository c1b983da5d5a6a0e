"""An xlsx with a value far from its table is refused before it is read.

Regression: the cell reader (python-calamine) makes every cell of an xlsx
sheet from A1 to the farthest cell holding a value, the empty ones between
included, before certflow's caps apply. A 7 KB summary with one value in
XFD1048576 asked it for 17 billion cells (512 GiB): the allocation failed and
Rust aborted the whole process, the worker and the stack with it, and the
upload's retry did it again. One value in L1048576 made it hold 400 MB
before the row cap refused the file. The sheet is now measured in its XML
when a cell may stand far from A1 (past column Z, or in a row of six
digits), and refused as an ods is (``too_many_rows``, ``sheet_too_large``)
before the cell reader opens the file.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from openpyxl import Workbook as Book
from openpyxl import load_workbook

from certflow.intake import IntakeLimits, read_score_summary
from certflow.intake.workbook import Workbook, open_workbook
from certflow.models import PlanInfo
from tests.intake.conftest import (
    REPO,
    SAMPLES,
    sheet_file,
    with_member,
    with_sheet_xml,
)
from tests.intake.test_ods_extent import _cell_reader_opened, refused_unread

SAMPLE = SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx"


def _with_cell(data: bytes, row: int, reference: str) -> bytes:
    """``data`` with one text cell at ``reference``, in a row of its own."""
    cell = f'<c r="{reference}" t="inlineStr"><is><t>x</t></is></c>'
    return with_sheet_xml(
        data,
        lambda xml: xml.replace(
            "</sheetData>", f'<row r="{row}">{cell}</row></sheetData>'
        ),
    )


def _summary(tmp_path: Path) -> bytes:
    return sheet_file(
        tmp_path / "summary.xlsx",
        [["序号", "姓名", "证件号码", "准考证号", "理论成绩", "实操成绩"]],
    )


def test_one_value_in_the_last_cell_of_the_sheet_does_not_end_the_process(
    tmp_path: Path,
) -> None:
    """Read in a process of its own: without the check, the reader aborts it."""
    far = {"far": _with_cell(_summary(tmp_path), 1048576, "XFD1048576")}
    assert _opened_apart(far, tmp_path) == {"far": "too_many_rows"}


def test_a_value_far_below_the_table_is_refused_unread(tmp_path: Path) -> None:
    data = _with_cell(_summary(tmp_path), 1048576, "L1048576")

    opened = _cell_reader_opened(lambda: open_workbook(data, IntakeLimits()))
    refused = open_workbook(data, IntakeLimits())

    assert opened == 0
    assert not isinstance(refused, Workbook) and refused.code == "too_many_rows"


def test_a_value_far_right_over_many_rows_is_refused_unread(
    tmp_path: Path, plan: PlanInfo
) -> None:
    """A value in XFD100: 1.6 million cells from A1, as an ods is refused."""
    data = _with_cell(_summary(tmp_path), 100, "XFD100")

    [refused] = refused_unread(data, plan)
    assert refused.code == "sheet_too_large"
    shown = refused.render()
    for said in ("工作表“Sheet”", "第 100 行", "XFD 列", "1638400"):
        assert said in shown


def test_a_stray_value_beside_a_form_is_read_as_before(
    tmp_path: Path, plan: PlanInfo
) -> None:
    """A value in XFD4 of the sample: 622,592 cells from A1, under the cap,
    as a 40-row ods form reaching its last column is."""
    data = _with_cell(SAMPLE.read_bytes(), 40, "XFD40")
    reading = read_score_summary(data, plan)
    assert reading.accepted, reading.problems
    assert len(reading.rows) == 32


def test_references_past_column_z_within_the_cap_are_read(
    tmp_path: Path, plan: PlanInfo
) -> None:
    """A table moved to columns AA onwards is measured and read as usual."""
    rows = [[None] * 26 + list(row) for row in _sample_rows()]
    data = sheet_file(tmp_path / "moved.xlsx", rows)
    opened = open_workbook(data, IntakeLimits())
    assert isinstance(opened, Workbook)
    reading = read_score_summary(data, plan)
    assert reading.accepted, reading.problems
    assert len(reading.rows) == 32


def _sample_rows() -> list[list[object]]:
    sheet = load_workbook(SAMPLE).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_cells_placed_by_their_order_count_against_the_cap(
    tmp_path: Path, plan: PlanInfo
) -> None:
    """Regression: cells without a reference (placed by their order, as the
    format allows) are no far reference to notice, and a 9.8 MB xlsx of
    4.7 million of them was made Python values, then copied cell by cell into
    the refusal's report: the worker held 2 GB and the upload timed out
    after minutes. The cells the reader made are counted before they become
    Python values, against ``max_cells`` as an ods's are; since review, such
    a sheet is measured before the reader opens it, as a far one is."""
    limits = IntakeLimits(max_cells=1000)
    row = "<row>" + "<c><v>7</v></c>" * 30 + "</row>"
    data = with_sheet_xml(
        _summary(tmp_path),
        lambda xml: xml.replace("</sheetData>", row * 50 + "</sheetData>"),
    )

    reading = read_score_summary(data, plan, limits=limits)

    [refused] = reading.problems
    assert refused.code == "sheet_too_large"
    for said in ("工作表“Sheet”", "51 行", "AD 列", "1530 个单元格", "上限 1000 个"):
        assert said in refused.render()
    assert read_score_summary(SAMPLE.read_bytes(), plan, limits=limits).accepted


# One far cell each, written as XML allows and the cell reader reads it, but
# as the patterns first used to find far cells did not: each aborted the
# process. (The cell's own prefix is bound; its sheet's elements have none.)
_FAR_CELLS_AS_XML_ALLOWS = {
    "single quotes": "<row r='1048576'><c r='XFD1048576'><v>1</v></c></row>",
    "space around =": '<row r = "1048576"><c r = "XFD1048576"><v>1</v></c></row>',
    "lower case": '<row r="9000"><c r="xfd9000"><v>1</v></c></row>',
    "another prefix": (
        '<row r="1048576"><y:c xmlns:y="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main" r="XFD1048576"><y:v>1</y:v></y:c></row>'
    ),
    "> in an attribute": '<row r="9000"><c x=">" r="XFD9000"><v>1</v></c></row>',
    "/> in an attribute": '<row r="9000"><c r="XFD9000" x="/>"><v>1</v></c></row>',
    "letters past XFD": f'<row r="9"><c r="{"A" * 40}9"><v>1</v></c></row>',
}


def _with_row_xml(data: bytes, row: str) -> bytes:
    """``data`` with the row written as ``row`` at the end of its sheet."""
    return with_sheet_xml(
        data, lambda xml: xml.replace("</sheetData>", row + "</sheetData>")
    )


# Opens each file named and prints its refusal's code ("read" if none).
_OPEN_EACH = (
    "import sys\n"
    "from certflow.intake import IntakeLimits\n"
    "from certflow.intake.workbook import open_workbook\n"
    "for path in sys.argv[1:]:\n"
    "    opened = open_workbook(open(path, 'rb').read(), IntakeLimits())\n"
    "    print(getattr(opened, 'code', 'read'), flush=True)\n"
)


def _opened_apart(
    files: dict[str, bytes], tmp_path: Path, *, bounded: bool = False
) -> dict[str, str]:
    """What ``open_workbook`` answers for each named file, read in a process
    of its own (with ``bounded``, its memory bounded as a worker's is), which
    must end well: without the walk, the reader aborts it."""
    paths = []
    for number, data in enumerate(files.values()):
        path = tmp_path / f"apart-{number}.xlsx"
        path.write_bytes(data)
        paths.append(str(path))
    limit = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", (limit if bounded else "") + _OPEN_EACH, *paths],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    codes = dict(zip(files, done.stdout.split(), strict=False))
    assert done.returncode == 0, (codes, done.stderr[-2000:])
    return codes


def test_far_cells_however_xml_writes_them_do_not_end_the_process(
    tmp_path: Path,
) -> None:
    """Read in a process of its own: without the walk, the reader aborts it."""
    summary = _summary(tmp_path)
    files = {
        name: _with_row_xml(summary, row)
        for name, row in _FAR_CELLS_AS_XML_ALLOWS.items()
    }
    codes = _opened_apart(files, tmp_path)
    assert codes == {
        "single quotes": "too_many_rows",
        "space around =": "too_many_rows",
        "lower case": "sheet_too_large",
        "another prefix": "too_many_rows",
        "> in an attribute": "sheet_too_large",
        "/> in an attribute": "sheet_too_large",
        "letters past XFD": "sheet_too_large",
    }


# A far sheet found by its workbook as XML allows and the cell reader reads,
# but as the patterns finding sheets did not: each aborted the process.
_SHEETS_FOUND_AS_XML_ALLOWS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "another prefix": (
        "xl/workbook.xml",
        lambda xml: xml.replace(b"xmlns:r=", b"xmlns:q=").replace(b"r:id=", b"q:id="),
    ),
    "single quotes": (
        "xl/workbook.xml",
        lambda xml: xml.replace(b'r:id="rId1"', b"r:id='rId1'"),
    ),
    "space around =": (
        "xl/workbook.xml",
        lambda xml: xml.replace(b'r:id="rId1"', b'r:id = "rId1"'),
    ),
    "a relationship in single quotes": (
        "xl/_rels/workbook.xml.rels",
        lambda xml: xml.replace(b'Id="rId1"', b"Id='rId1'"),
    ),
}


def test_far_sheets_however_the_workbook_names_them_do_not_end_the_process(
    tmp_path: Path,
) -> None:
    """Read in a process of its own: without the walk, the reader aborts it."""
    far = _with_cell(_summary(tmp_path), 1048576, "XFD1048576")
    files = {
        name: with_member(far, member, change)
        for name, (member, change) in _SHEETS_FOUND_AS_XML_ALLOWS.items()
    }
    codes = _opened_apart(files, tmp_path)
    assert codes == dict.fromkeys(_SHEETS_FOUND_AS_XML_ALLOWS, "too_many_rows")


def test_a_far_sheet_that_is_not_xml_is_refused_unread(tmp_path: Path) -> None:
    """Not measured is not read: the reader might read it, reaching far."""
    data = with_sheet_xml(
        _summary(tmp_path),
        lambda xml: xml.replace(
            "</sheetData>", '<row r="9"><c r="XFD9"><v>1</v></c></row></sheetData><'
        ),
    )

    opened = _cell_reader_opened(lambda: open_workbook(data, IntakeLimits()))
    refused = open_workbook(data, IntakeLimits())

    assert opened == 0
    assert not isinstance(refused, Workbook) and refused.code == "damaged"


def test_empty_cells_far_away_are_read_as_before(tmp_path: Path) -> None:
    """A style alone, written either way, is nothing the reader makes."""
    data = with_sheet_xml(
        _summary(tmp_path),
        lambda xml: xml.replace(
            "</sheetData>",
            '<row r="1048576"><c r="XFD1048576" s="0"/><c r="XFC1048576" s="0">'
            "</c></row></sheetData>",
        ),
    )
    opened = open_workbook(data, IntakeLimits())
    assert isinstance(opened, Workbook)
    assert [len(sheet.rows) for sheet in opened.sheets] == [1]


def test_too_many_cells_names_the_largest_sheet_not_the_last(tmp_path: Path) -> None:
    """Review: the refusal named the sheet at which the whole file's count
    passed the cap, so a small sheet read after a large one was the sheet
    the sender was told to cut rows and columns from."""
    book = Book()
    large = book.active
    assert large is not None
    large.title = "大表"
    for _ in range(40):
        large.append(list(range(25)))
    small = book.create_sheet("小表")
    for _ in range(10):
        small.append(list(range(10)))
    path = tmp_path / "two.xlsx"
    book.save(path)

    refused = open_workbook(path.read_bytes(), IntakeLimits(max_cells=1000))

    assert not isinstance(refused, Workbook) and refused.code == "too_many_cells"
    assert refused.fields["sheet"] == "大表"
    assert (refused.fields["rows"], refused.fields["column"]) == (40, "Y")
    assert refused.fields["cells"] == 1100


def _wide_by_order(data: bytes, last_row: int) -> bytes:
    """``data`` with a row of 16,384 cells placed by their order (no ``r``:
    nothing far to notice in the bytes) and a value in ``A{last_row}``.
    Incompressible text keeps the sheet under the zip ratio cap."""
    noise = "".join(f"{n * 7919 % 10007:05d}" for n in range(2000))
    row = (
        f'<row r="2"><c t="inlineStr"><is><t>{noise}</t></is></c>'
        + "<c><v>1</v></c>" * 16383
        + "</row>"
    )
    last = f'<row r="{last_row}"><c r="A{last_row}"><v>1</v></c></row>'
    return _with_row_xml(data, row + last)


def test_cells_placed_by_their_order_far_right_are_refused_unread(
    tmp_path: Path, plan: PlanInfo
) -> None:
    """Review: cells without a reference reach column XFD by their order, so
    a sheet holding them has no far reference to notice: it went unmeasured
    to the cell reader, which made 1.6 million cells for this one before
    anything counted them. A 12 KB file of 9,999 such rows had the reader
    ask for 5 GB (aborting the process under the worker's memory limit)."""
    data = _wide_by_order(_summary(tmp_path), 100)

    [refused] = refused_unread(data, plan)
    assert refused.code == "sheet_too_large"
    for said in ("第 100 行", "XFD 列"):
        assert said in refused.render()


def test_cells_placed_by_their_order_do_not_end_the_process(tmp_path: Path) -> None:
    """Read in a process of its own, its memory bounded as a worker's is:
    without the walk, the reader asks for 5 GB and aborts it."""
    wide = {"wide": _wide_by_order(_summary(tmp_path), 9999)}
    assert _opened_apart(wide, tmp_path, bounded=True) == {"wide": "sheet_too_large"}


def _renamed(data: bytes, old: str, new: str) -> bytes:
    """The xlsx ``data`` with its member ``old`` stored as ``new``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == old:
                item.filename = new
            target.writestr(item, content)
    return out.getvalue()


_RELS = "xl/_rels/workbook.xml.rels"


def test_far_sheets_however_their_target_is_spelled_do_not_end_the_process(
    tmp_path: Path,
) -> None:
    """Review: the reader finds a sheet's part with its target's letters in
    either case and its entities unread (``&#x73;heet1.xml`` is a part of
    that very name); the walk looked for the part the target named, found
    none, and left the far sheet to the reader, which aborted the process."""
    far = _with_cell(_summary(tmp_path), 1048576, "XFD1048576")
    sheet = "xl/worksheets/sheet1.xml"
    files = {
        "another case": with_member(
            far, _RELS, lambda xml: xml.replace(b"sheet1.xml", b"SHEET1.xml")
        ),
        "an entity": _renamed(
            with_member(
                far, _RELS, lambda xml: xml.replace(b"sheet1.xml", b"&#x73;heet1.xml")
            ),
            sheet,
            "xl/worksheets/&#x73;heet1.xml",
        ),
    }
    codes = _opened_apart(files, tmp_path)
    assert codes == dict.fromkeys(files, "too_many_rows")


_NOISE = "".join(f"{n * 7919 % 10007:05d}" for n in range(2000))
_BY_ORDER = "<c><v>1</v></c>" * 16383
# Cells placed by their order in row 99,999, however the sheet hides the row
# from a walk that took a cell's reference as setting it: each had the
# reader ask for 52 GB.
_ROWS_AS_THE_READER_TAKES_THEM = {
    "a cell's reference": f'<row r="99999"><c r="A1"><v>1</v></c>{_BY_ORDER}</row>',
    "letters in a row's reference": f'<row r="A99999"><c><v>1</v></c>{_BY_ORDER}</row>',
    "a prefixed reference": (
        '<row r="99999">'
        + '<c xmlns:x="urn:x" x:r="A1"><v>1</v></c>' * 16384
        + "</row>"
    ),
}


def test_rows_are_walked_as_the_reader_takes_them(tmp_path: Path) -> None:
    """Read in a process of its own, its memory bounded as a worker's is."""
    noise = f'<row r="2"><c t="inlineStr"><is><t>{_NOISE}</t></is></c></row>'
    summary = _summary(tmp_path)
    files = {
        name: _with_row_xml(summary, noise + row)
        for name, row in _ROWS_AS_THE_READER_TAKES_THEM.items()
    }
    codes = _opened_apart(files, tmp_path, bounded=True)
    assert codes == dict.fromkeys(_ROWS_AS_THE_READER_TAKES_THEM, "too_many_rows")
