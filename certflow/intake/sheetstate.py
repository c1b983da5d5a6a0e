"""What a sheet hides and merges, where the cell reader does not say.

The cell reader (python-calamine) gives each sheet's cells, whether the sheet is
hidden, and the merged ranges of xlsx and xls. It does not give hidden rows in
any format, nor the merged ranges of an ods. Both matter: a hidden row is data
the uploader and the signing evaluators never saw on screen or on paper, and a
merged range holds its value in its first cell only, so the rows it covers read
as empty. This module finds them in the file itself, each format its own way:
the ``hidden`` attribute of an xlsx ``<row>``, the ``fDyZero`` flag of an xls
``ROW`` record, the ``table:visibility`` of an ods row and the spans of its cells.

Everything here is best effort: a part it cannot read gives nothing, and the
upload is read as the cell reader sees it.
"""

from __future__ import annotations

import html
import io
import re
import struct
import zipfile
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError, iterparse

from certflow.intake.container import CompoundFile, Format

# A merged range, 0-based and inclusive: first row, first column, last row,
# last column.
Merge = tuple[int, int, int, int]

_MAX_PART = 200 * 2**20
_ROW_TAG = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
_ROW_NUMBER = re.compile(rb'\br="([0-9]+)"')
_HIDDEN = re.compile(rb'\bhidden="(?:1|true)"')

_BIFF_BOF = 0x0809
_BIFF_EOF = 0x000A
_BIFF_BOUNDSHEET = 0x0085
_BIFF_ROW = 0x0208
_ROW_HIDDEN = 0x0020  # fDyZero: the row's height is zero, it is hidden

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


@dataclass
class SheetState:
    """Per sheet name: the 0-based indexes of hidden rows, and merged ranges."""

    hidden_rows: dict[str, frozenset[int]]
    merged: dict[str, list[Merge]]


def sheet_state(
    data: bytes,
    kind: Format,
    names: list[str],
    height: int,
    marked: frozenset[str] | None = None,
) -> SheetState:
    """Hidden rows of each named sheet (and an ods's merges), up to ``height`` rows.

    ``height`` bounds what is kept: rows past the longest sheet hold nothing.
    ``marked``, when known, names the xlsx members holding ``hidden=`` at all
    (found while the container was checked): the others are not read again.
    """
    try:
        if kind is Format.XLSX:
            return SheetState(_xlsx_hidden_rows(data, names, height, marked), {})
        if kind is Format.XLS:
            return SheetState(_xls_hidden_rows(data, height), {})
        if kind is Format.ODS:
            return _ods_state(data, height)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError):
        pass
    except (struct.error, IndexError, StopIteration):
        pass
    return SheetState({}, {})


def sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member of an xlsx holding the sheet named ``sheet``."""
    book = archive.read("xl/workbook.xml").decode("utf-8", "replace")
    rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    for tag in re.findall(r"<(?:\w+:)?sheet\b[^>]*>", book):
        name = re.search(r'\bname="([^"]*)"', tag)
        rid = re.search(r'\br:id="([^"]*)"', tag)
        if name and rid and html.unescape(name.group(1)) == sheet:
            target = re.search(
                rf'<Relationship\b[^>]*\bId="{re.escape(rid.group(1))}"[^>]*>', rels
            )
            path = re.search(r'\bTarget="([^"]*)"', target.group(0)) if target else None
            if path is None:
                return None
            member = path.group(1)
            return member.lstrip("/") if member.startswith("/") else f"xl/{member}"
    return None


def _xlsx_hidden_rows(
    data: bytes, names: list[str], height: int, marked: frozenset[str] | None
) -> dict[str, frozenset[int]]:
    found: dict[str, frozenset[int]] = {}
    if marked is not None and not marked:
        return found  # no member says hidden= anywhere
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in names:
            path = sheet_part(archive, name)
            if path is None or archive.getinfo(path).file_size > _MAX_PART:
                continue
            if marked is not None and path not in marked:
                continue
            xml = archive.read(path)
            if b"hidden=" not in xml or not _HIDDEN.search(xml):
                continue  # the usual sheet: no row to walk
            hidden = set()
            number = 0
            for tag in _ROW_TAG.finditer(xml):
                attributes = tag.group(1)
                stated = _ROW_NUMBER.search(attributes)
                # A row without r="" follows the one before it.
                number = int(stated.group(1)) if stated else number + 1
                if number > height:
                    break
                if _HIDDEN.search(attributes):
                    hidden.add(number - 1)
            if hidden:
                found[name] = frozenset(hidden)
    return found


def _xls_hidden_rows(data: bytes, height: int) -> dict[str, frozenset[int]]:
    compound = CompoundFile(data)
    names = compound.names()
    stream = "workbook" if "workbook" in names else "book"
    biff = compound.read_stream(stream, limit=len(data))
    sheets: list[tuple[str, int]] = []
    offset = 0
    while offset + 4 <= len(biff):
        kind, length = struct.unpack_from("<HH", biff, offset)
        body = biff[offset + 4 : offset + 4 + length]
        if kind == _BIFF_BOUNDSHEET and len(body) >= 8:
            sheets.append((_biff_sheet_name(body), struct.unpack_from("<I", body)[0]))
        if kind == _BIFF_EOF:
            break
        offset += 4 + length
    found: dict[str, frozenset[int]] = {}
    for name, start in sheets:
        hidden = set()
        offset = start
        while offset + 4 <= len(biff):
            kind, length = struct.unpack_from("<HH", biff, offset)
            if kind == _BIFF_EOF:
                break
            if kind == _BIFF_ROW and length >= 14:
                row, flags = struct.unpack_from("<H10xH", biff, offset + 4)
                if flags & _ROW_HIDDEN and row < height:
                    hidden.add(row)
            offset += 4 + length
        if hidden:
            found[name] = frozenset(hidden)
    return found


def _biff_sheet_name(body: bytes) -> str:
    # lbPlyPos(4), hsState(1), dt(1), then a ShortXLUnicodeString.
    count, wide = body[6], body[7] & 0x01
    raw = body[8 : 8 + count * (2 if wide else 1)]
    return raw.decode("utf-16-le" if wide else "latin-1", "replace")


def _ods_state(data: bytes, height: int) -> SheetState:
    hidden: dict[str, frozenset[int]] = {}
    merged: dict[str, list[Merge]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if archive.getinfo("content.xml").file_size > _MAX_PART:
            return SheetState({}, {})
        stream = archive.open("content.xml")
        sheet = ""
        row = 0
        column = 0
        rows: set[int] = set()
        merges: list[Merge] = []
        for event, element in iterparse(stream, events=("start", "end")):
            tag = element.tag
            if event == "start":
                if tag == f"{_TABLE}table":
                    sheet = element.get(f"{_TABLE}name", "")
                    row, rows, merges = 0, set(), []
                elif tag == f"{_TABLE}table-row":
                    column = 0
                continue
            if tag in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
                spanned_rows = int(element.get(f"{_TABLE}number-rows-spanned", "1"))
                spanned_columns = int(
                    element.get(f"{_TABLE}number-columns-spanned", "1")
                )
                if (spanned_rows > 1 or spanned_columns > 1) and row < height:
                    last_row = row + spanned_rows - 1
                    merges.append((row, column, last_row, column + spanned_columns - 1))
                column += int(element.get(f"{_TABLE}number-columns-repeated", "1"))
                element.clear()
            elif tag == f"{_TABLE}table-row":
                repeated = int(element.get(f"{_TABLE}number-rows-repeated", "1"))
                if element.get(f"{_TABLE}visibility", "visible") != "visible":
                    rows.update(range(row, min(row + repeated, height)))
                row += repeated
                element.clear()
            elif tag == f"{_TABLE}table":
                if rows:
                    hidden[sheet] = frozenset(rows)
                if merges:
                    merged[sheet] = merges
                element.clear()
    return SheetState(hidden, merged)
