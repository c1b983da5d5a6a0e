"""Fixtures of the intake tests: the sample plan and where the files are."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from openpyxl import Workbook

from certflow.intake.container import ODS_MIMETYPE
from certflow.models import Level, PassRule, PassRuleKind, PlanInfo

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "intake"
CORPUS = REPO / "tests" / "corpus" / "intake"


def sample_plan() -> PlanInfo:
    """The exam plan the sample files belong to (samples/intake/README.md)."""
    return PlanInfo(
        plan_id="P2026-1104-0412",
        site_code="HB-WH-0031",
        site_name="武汉市交通职业技术学校",
        certificate="汽车运用与维修",
        level=Level.INTERMEDIATE,
        module_code="1-1",
        module_name="汽车动力与驱动系统综合分析技术",
        exam_end_date=date(2026, 11, 4),
        lead_evaluator_id="ZCX-E-0107",
        evaluator_ids=["ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"],
        pass_rule=PassRule(
            kind=PassRuleKind.BOTH_AT_LEAST,
            threshold=60,
            theory_weight=0.3,
            practical_weight=0.7,
        ),
    )


@pytest.fixture
def plan() -> PlanInfo:
    return sample_plan()


def run_hooked(
    action: Callable[[], object],
    hook: Any,
    install: Callable[[Any], None],
    installed: Callable[[], Any],
) -> None:
    """Run ``action`` with ``hook`` installed by ``install`` (``sys.settrace``
    or ``sys.setprofile``), then put back the hook ``installed`` gave before:
    the tests count the work a reading does, not its time."""
    before = installed()
    install(hook)
    try:
        action()
    finally:
        install(before)


def sheet_file(path: Path, rows: list[list[object]]) -> bytes:
    """Save ``rows`` as the only sheet of an xlsx at ``path``; return its bytes."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for values in rows:
        sheet.append(values)
    book.save(path)
    return path.read_bytes()


def with_sheet_xml(data: bytes, change: Callable[[str], str]) -> bytes:
    """The xlsx ``data`` with each worksheet's XML passed through ``change``,
    for cells openpyxl cannot write (saved formula results and errors)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                content = change(content.decode("utf-8")).encode("utf-8")
            target.writestr(item, content)
    return out.getvalue()


def with_member(data: bytes, member: str, change: Callable[[bytes], bytes]) -> bytes:
    """The zip ``data`` (an xlsx, an ods) with its ``member`` passed through
    ``change``, every other member as it was."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            target.writestr(
                item, change(content) if item.filename == member else content
            )
    return out.getvalue()


def with_cell_xml(data: bytes, cells: dict[str, str]) -> bytes:
    """The xlsx ``data`` with each named cell ("G4") written as the given
    ``<c>`` element. Every cell named must be in the file."""
    changed = []

    def change(text: str) -> str:
        for ref, cell in cells.items():
            text, found = re.subn(
                rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', cell, text, flags=re.S
            )
            changed.extend([ref] * found)
        return text

    out = with_sheet_xml(data, change)
    assert sorted(changed) == sorted(cells), "a cell to change is not in the file"
    return out


def with_error_cells(data: bytes, cells: dict[str, str | None]) -> bytes:
    """The xlsx ``data`` with each named cell ("G4") a VLOOKUP saved with the
    given error as its result, as Excel saves it, or emptied (None). Every
    cell named must be in the file."""
    return with_cell_xml(
        data,
        {
            ref: f'<c r="{ref}"/>'
            if error is None
            else f'<c r="{ref}" t="e"><f>VLOOKUP(A1,B:C,2,0)</f><v>{error}</v></c>'
            for ref, error in cells.items()
        },
    )


def ods_text_cell(text: str) -> str:
    """An ods cell holding ``text``, as ``ods_file`` takes it."""
    return (
        '<table:table-cell office:value-type="string">'
        f"<text:p>{escape(text)}</text:p></table:table-cell>"
    )


def ods_file(
    sheet: str, rows: list[list[str]], *, repeats: Mapping[int, int] | None = None
) -> bytes:
    """A minimal one-sheet OpenDocument spreadsheet: the parts an ods needs, no
    styles. ``rows`` hold each cell's XML (``ods_text_cell``); ``repeats``
    says how many times a row (by its index in ``rows``) is repeated down."""
    times = repeats or {}
    body = "".join(
        (
            f'<table:table-row table:number-rows-repeated="{times[index]}">'
            if index in times
            else "<table:table-row>"
        )
        + "".join(row)
        + "</table:table-row>"
        for index, row in enumerate(rows)
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content office:version="1.2"'
        ' xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
        f"<office:body><office:spreadsheet><table:table table:name={quoteattr(sheet)}>"
        f"{body}</table:table></office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest manifest:version="1.2"'
        ' xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/"'
        f' manifest:media-type="{ODS_MIMETYPE.decode()}"/>'
        '<manifest:file-entry manifest:full-path="content.xml"'
        ' manifest:media-type="text/xml"/></manifest:manifest>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", ODS_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest)
    return buffer.getvalue()


_ODS_ROW = re.compile(r"(<table:table-row\b[^>]*>)(.*?)(</table:table-row>)", re.S)
_ODS_CELL = re.compile(
    r"<table:(?:covered-)?table-cell\b[^>]*?(?:/>|>.*?</table:(?:covered-)?table-cell>)",
    re.S,
)


def ods_with_cells(data: bytes, cells: dict[str, str]) -> bytes:
    """The ods ``data`` (as LibreOffice saved it) with the named cells
    (``"G4"``) replaced by the given cell XML, for cells no library here can
    write. The rows and cells before each must not be repeated ones."""
    wanted = {
        (int(name.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), ord(name[0]) - ord("A")): xml
        for name, xml in cells.items()
    }
    number = 0
    done = []

    def row(match: re.Match[str]) -> str:
        nonlocal number
        number += 1
        found = _ODS_CELL.findall(match.group(2))
        for (at, column), xml in wanted.items():
            if at == number:
                assert "repeated" not in "".join(found[:column])
                found[column] = xml
                done.append((at, column))
        return match.group(1) + "".join(found) + match.group(3)

    source = zipfile.ZipFile(io.BytesIO(data))
    content = _ODS_ROW.sub(row, source.read("content.xml").decode("utf-8"))
    assert sorted(done) == sorted(wanted)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            part = content.encode("utf-8") if item.filename == "content.xml" else None
            target.writestr(item, part if part is not None else source.read(item))
    return out.getvalue()


# The sample summary's CSV has no title rows: its line 1 is the header, row 3
# of the other samples.
CSV_SHIFT = 2


def sample_csv(cells: Mapping[str, object]) -> bytes:
    """The sample GBK CSV summary with the named cells (``"G34"``, as the
    other samples number their rows) written as typed: None empties one."""
    path = SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv"
    lines = [line.split(",") for line in path.read_bytes().decode("gbk").splitlines()]
    for ref, value in cells.items():
        column, row = ord(ref[0]) - ord("A"), int(ref[1:]) - CSV_SHIFT
        lines[row - 1][column] = "" if value is None else str(value)
    return "".join(",".join(line) + "\r\n" for line in lines).encode("gbk")


def ods_number_cell(value: float, formula: str = "") -> str:
    """An ods cell holding the number ``value``, as LibreOffice saves it; the
    result of the formula when ``formula`` gives one (`` table:formula=…``)."""
    return (
        f'<table:table-cell{formula} office:value-type="float"'
        f' office:value="{value}" calcext:value-type="float">'
        f"<text:p>{value}</text:p></table:table-cell>"
    )


def _sign_in_xlsx(rows: list[list[object]], path: Path) -> bytes:
    return sheet_file(path / "sign-in.xlsx", rows)


def _sign_in_ods(rows: list[list[object]], path: Path) -> bytes:
    def cell(value: object) -> str:
        if isinstance(value, int):
            return ods_number_cell(value)
        return ods_text_cell(str(value)) if value else "<table:table-cell/>"

    return ods_file("签到表", [[cell(value) for value in row] for row in rows])


def _sign_in_csv(rows: list[list[object]], path: Path) -> bytes:
    width = len(rows[0])
    lines = [[str(v) for v in row] + [""] * (width - len(row)) for row in rows]
    return "".join(",".join(line) + "\r\n" for line in lines).encode("utf-8")


# A one-sheet sign-in sheet holding ``rows`` (numbers, texts, "" for an empty
# cell), in each format a site may upload it, written under a test's folder.
SIGN_IN_FORMATS: dict[str, Callable[[list[list[object]], Path], bytes]] = {
    "xlsx": _sign_in_xlsx,
    "ods": _sign_in_ods,
    "csv": _sign_in_csv,
}
