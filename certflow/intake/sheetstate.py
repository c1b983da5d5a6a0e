"""What a sheet hides and merges, where the cell reader does not say.

The cell reader (python-calamine) gives each sheet's cells, whether the sheet
is hidden, and the merged ranges of xlsx and xls. It does not give hidden rows
or columns in any format, nor the merged ranges of an ods, nor which cells hold
a formula whose result the file does not keep, nor which hold a formula error,
nor which hold a formula at all. The first four matter wherever the table is
read: a hidden row (or column) is data the uploader and the signing evaluators
never saw on screen or on paper; a merged range holds its value in its first
cell only, so the rows it covers read as empty; a formula saved without its
result (a workbook written by a program rather than saved by Excel, WPS or
LibreOffice) reads as empty though the office suite shows a value there; and a
formula error (``#N/A`` from a VLOOKUP that found nothing) reads as empty
though the office suite shows the error. The last tells a template's computed
cells from what a school typed, in the rows left over below the last candidate
(``certflow.intake.layout``). This module finds them in the file itself, each
format its own way: the ``hidden`` attribute of an xlsx ``<row>`` (and
``<col>``), its ``<f>`` elements (those without a ``<v>`` value) and its cells
typed ``t="e"``; the ``fDyZero`` flag of an xls ``ROW`` record (``fHidden`` of
a ``COLINFO`` record), its ``FORMULA`` records, and the ``FORMULA`` and
``BOOLERR`` records holding an error (an xls formula always keeps its result);
the ``table:visibility`` of an ods row (and column), the spans of its cells,
its formula cells, those without a value type and those whose value is an
error, and the cells its matrix formulas fill past their first keeping no
value.

Everything here is best effort: a part it cannot read gives nothing, and the
upload is read as the cell reader sees it. Except for one thing: a few bytes
can claim a great many cells (an ods cell or row repeated thousands of times,
an xlsx array formula or an ods matrix formula over a whole sheet), so every set
of cells kept here is capped while it is filled, never after. Cells whose value
was not read past the cap (``IntakeLimits.max_unread_cells``, the whole file
counted) refuse the upload (``TooManyUnreadCells``): a row of them left out
would read as empty. The formula cells and the merged ranges stop being kept at
``_MAX_KEPT``: they only tell the rows left over apart and name a merged cell's
range, and a cell not kept reads as typed data (a problem said), never as
nothing.
"""

from __future__ import annotations

import html
import io
import re
import struct
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, islice
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, iterparse
from xml.parsers import expat

from openpyxl.utils import column_index_from_string

from certflow.intake.biff import sheet_name
from certflow.intake.container import (
    MAX_COLUMNS,
    PARSED_AT_ONCE,
    SHEET_FOLDERS,
    CompoundFile,
    Format,
    Marks,
    raise_out_of_memory,
)
from certflow.intake.extent import SheetExtent
from certflow.intake.limits import IntakeLimits

# A merged range, 0-based and inclusive: first row, first column, last row,
# last column.
Merge = tuple[int, int, int, int]
# A cell as the office suite numbers it: 1-based row, 0-based column.
Cell = tuple[int, int]

_MAX_PART = 200 * 2**20
_ROW_TAG = re.compile(rb"<(?:\w+:)?row\b([^<>]*)>")
_ROW_NUMBER = re.compile(rb'\br="([0-9]+)"')
_HIDDEN = re.compile(rb'\bhidden="(?:1|true)"')
# A column range's width and look (``<col min="3" max="4" hidden="1"/>``),
# written before the sheet's cells.
_COL_TAG = re.compile(rb"<(?:\w+:)?col\b([^<>]*)>")
_COL_SPAN = (re.compile(rb'\bmin="([0-9]+)"'), re.compile(rb'\bmax="([0-9]+)"'))
_CELL_REFERENCE = re.compile(rb'\br="([A-Z]{1,3})([0-9]+)"')
# Literal, so that the search skips through the bytes: the byte before it is
# checked to be a space.
_ERROR_TYPE = re.compile(rb't="e"')
_RANGE = re.compile(rb'\bref="([A-Z]{1,3})([0-9]+)(?::([A-Z]{1,3})([0-9]+))?"')
# The element holding a sheet's cells, and the prefix of its namespace.
_SHEET_DATA = re.compile(rb"<(\w+:)?sheetData\b")
# A start tag's attributes are read as ``[^<>]*``: XML allows no ``<`` in
# them, and a pattern reading ``[^>]*`` went on from each ``<f`` of a comment
# holding 100,000 of them to the comment's end, 11 to 17 seconds for a 9 KB
# file (a 1 MB one, minutes); each attempt now stops at the next tag.
# The patterns of an xlsx sheet's elements, ``{p}`` standing for the prefix
# the spreadsheet namespace is bound to: none as office suites and most
# libraries write it, ``x:`` as some .NET libraries do (``<x:c>``, ``<x:f>``).
# One prefix is looked for per sheet, so the patterns stay literal and fast.
_XLSX_PATTERNS = {
    # The end of a formula followed by no value, or by an empty one (the end
    # of a shared formula's other cells too).
    "formula_without_value": (
        rb"(?:</{p}f>|<{p}f\b[^<>]*/>)(</{p}c>|<{p}v\s*/>|<{p}v></{p}v>)"
    ),
    # An array formula, written once in the first cell of the range it fills.
    "array_formula": rb'<{p}f\b[^<>]*\bt="array"[^<>]*>',
    # Any formula's start (``<f>``, ``<f t="shared" si="0"/>``).
    "formula": rb"<{p}f\b",
    # A row's or a cell's start tag: which it is, its attributes.
    "row_or_cell": rb"<{p}(row|c)\b([^<>]*)>",
    # A value a cell keeps: a number or text (``<v>81.42</v>``), inline text;
    # or any value, the empty text included.
    "held_value": rb"<{p}v>[^<]|<{p}is[\s>]",
    "any_value": rb"<{p}v\b",
    # An error cell's value (``<v>#N/A</v>``).
    "error_value": rb"<{p}v>([^<]+)</",
    # A cell's end tag.
    "cell_end": rb"</{p}c>",
}
_TAG_END = re.compile(rb">")
# A workbook's sheets, its relationships, and their attributes, as
# ``sheet_parts`` reads them.
_SHEET_TAG = re.compile(r"<(?:\w+:)?sheet\b[^<>]*>")
_RELATIONSHIP = re.compile(r"<Relationship\b[^<>]*>")
_ATTRIBUTE = re.compile(r'([\w:]+)="([^"]*)"')


_BIFF_BOF = 0x0809
_BIFF_EOF = 0x000A
_BIFF_BOUNDSHEET = 0x0085
_BIFF_ROW = 0x0208
_ROW_HIDDEN = 0x0020  # fDyZero: the row's height is zero, it is hidden
_BIFF_COLINFO = 0x007D
_COLUMN_HIDDEN = 0x0001  # fHidden of a COLINFO record's options
_BIFF_FORMULA = 0x0006
_BIFF_BOOLERR = 0x0205
# A FORMULA record's cached result is not a number when its last two bytes are
# 0xFFFF; its first byte then says which kind, 2 being an error.
_BIFF_NOT_A_NUMBER = 0xFFFF
_BIFF_ERROR_RESULT = 2
# The error codes of BIFF8 (and BIFF5), as every office suite shows them.
_BIFF_ERRORS = {
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
    0x2B: "#GETTING_DATA",
}
# What an error is called when the file says nothing more.
UNKNOWN_ERROR = "#ERROR"

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_TEXT_P = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}p"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_VALUE_TYPE = f"{_OFFICE}value-type"
# LibreOffice keeps a formula's error in its own attribute (ODF has no error
# type): calcext:value-type="error", the error's text in the cell's paragraph.
_CALC_VALUE_TYPE = (
    "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}value-type"
)
# Without that attribute (an older LibreOffice, or another writer) an error is
# a formula whose text result is empty and whose shown text is an error's.
_ODS_ERROR_TEXT = re.compile(
    r"#(?:NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A)|Err:[0-9]{3}"
)
# How many formula cells, and merged ranges, are kept for the whole file: past
# this many, no more are (see the module's docstring).
_MAX_KEPT = 100_000


class TooManyUnreadCells(Exception):
    """The file holds more cells whose value was not read (formulas without a
    result, formula errors) than ``limit``: it is refused, not read in part."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} cells whose value was not read")
        self.limit = limit


class _Allowance:
    """How many more cells one kind of set may take, the whole file counted.

    ``refuse`` says what happens past it: ``TooManyUnreadCells``, or the cells
    past it are left out. The cells are taken a slice at a time, so a repeated
    cell's millions of places are never all made; a place already kept (an
    xlsx may name a cell twice) costs nothing.
    """

    def __init__(self, limit: int, *, refuse: bool) -> None:
        self.limit = limit
        self.left = limit
        self.refuse = refuse

    def keep(self, found: set[Any] | dict[Any, Any], cells: Iterable[Any]) -> None:
        """Add ``cells`` (places, or places with their error) to ``found``."""
        source = iter(cells)
        while (room := self.left + 1 if self.refuse else self.left) > 0:
            chunk = list(islice(source, room))
            if not chunk:
                return
            before = len(found)
            found.update(chunk)
            self.left -= len(found) - before
            if self.left < 0:
                raise TooManyUnreadCells(self.limit)

    def take(self) -> bool:
        """Whether one more item may be kept; counts it when so."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _unread(limit: int | None) -> _Allowance:
    """The allowance of cells whose value was not read: ``limit`` or the
    default cap, refusing past it."""
    cap = IntakeLimits().max_unread_cells if limit is None else limit
    return _Allowance(cap, refuse=True)


def _kept() -> _Allowance:
    """The allowance of formula cells or merged ranges: past it, left out."""
    return _Allowance(_MAX_KEPT, refuse=False)


@dataclass
class SheetState:
    """Per sheet name: the 0-based indexes of hidden rows (and of hidden
    columns), merged ranges, the
    cells holding a formula whose result the file does not keep (those of
    them that an array (ods: matrix) formula fills past its first cell also
    in ``array_uncalculated``), the cells holding a formula error with the
    error as the office suite shows it (``#N/A``), and (xls and ods only:
    an xlsx's are read when asked, ``XlsxFormulas``) every cell
    holding a formula."""

    hidden_rows: dict[str, frozenset[int]]
    merged: dict[str, list[Merge]]
    hidden_columns: dict[str, frozenset[int]] = field(default_factory=dict)
    uncalculated: dict[str, frozenset[Cell]] = field(default_factory=dict)
    array_uncalculated: dict[str, frozenset[Cell]] = field(default_factory=dict)
    errors: dict[str, dict[Cell, str]] = field(default_factory=dict)
    formulas: dict[str, frozenset[Cell]] = field(default_factory=dict)


def sheet_state(
    data: bytes,
    kind: Format,
    names: list[str],
    height: int,
    marks: Marks | None = None,
    *,
    last_row: int | None = None,
    max_unread: int | None = None,
) -> SheetState:
    """Hidden rows, formulas without a result, formula errors (and an ods's
    merges) of each named sheet.

    ``height`` bounds the hidden rows and merges kept: rows past the longest
    sheet hold nothing. Formulas without a result and formula errors are
    looked for up to ``last_row`` (``height`` when not given): the cell reader
    leaves out the last rows and columns when they read as empty.
    ``marks``, when known, names the xlsx members worth reading again (found
    while the container was checked): the others are not read again.

    Raises ``TooManyUnreadCells`` when the file holds more formulas without a
    result and formula errors together than ``max_unread`` (by default
    ``IntakeLimits.max_unread_cells``).
    """
    last = height if last_row is None else last_row
    unread = _unread(max_unread)
    try:
        if kind is Format.XLSX:
            return _xlsx_state(data, names, (height, last), marks, unread)
        if kind is Format.XLS:
            return _xls_state(data, height, last, unread)
        if kind is Format.ODS:
            return _ods_state(data, height, last, unread)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError):
        pass
    except (struct.error, IndexError, StopIteration):
        pass
    return SheetState({}, {})


def sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """The zip member of an xlsx holding each sheet, by the sheet's name.

    The workbook and its relationships are read once for every sheet: a
    workbook may list thousands of sheets, and looking each up in both would
    cost work growing with the square of their number.
    """
    book = archive.read("xl/workbook.xml").decode("utf-8", "replace")
    rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    targets: dict[str, str] = {}
    for tag in _RELATIONSHIP.findall(rels):
        attributes = dict(_ATTRIBUTE.findall(tag))
        if "Id" in attributes and "Target" in attributes:
            targets.setdefault(attributes["Id"], attributes["Target"])
    # Names are unique in a workbook; of two alike, the first is taken.
    found: dict[str, str | None] = {}
    for tag in _SHEET_TAG.findall(book):
        attributes = dict(_ATTRIBUTE.findall(tag))
        if "name" in attributes and "r:id" in attributes:
            name = html.unescape(attributes["name"])
            found.setdefault(name, targets.get(attributes["r:id"]))
    return {
        sheet: member.lstrip("/") if member.startswith("/") else f"xl/{member}"
        for sheet, member in found.items()
        if member is not None
    }


def xlsx_extents(data: bytes, far: set[str], last_row: int) -> list[SheetExtent]:
    """How far the sheets of an xlsx stored in the members ``far`` reach:
    for each, the last row and the farthest column holding a cell that keeps
    something (a cell with an element inside it, a value, a formula or text),
    as the cell reader fills in from A1. Read before the cell reader sees the
    file, and only for the members where a cell may stand far from A1
    (``container.FAR_MARK``). A sheet is walked no further than its first such
    cell past ``last_row``: it is too tall already.

    The walk is expat's, as the cell reader reads XML, not a pattern's: a
    reference in single quotes, in lower case or with space around its ``=``,
    a cell written with another prefix than its sheet's, an attribute value
    holding ``>`` or ``/>`` each hid a far cell from patterns, and the reader
    aborted the process. Every hinted part the reader could open as a sheet
    is walked, named as its workbook names it (``_sheet_members``). Raises
    ``expat.ExpatError`` when a sheet, the workbook or its relationships are
    not XML.
    """

    def measure(stream: IO[bytes], extent: SheetExtent) -> None:
        _walk_cells(stream, extent, last_row)

    return _measured_parts(data, measure, far)


def xlsx_shared_text(data: bytes, lengths: Sequence[int]) -> list[SheetExtent]:
    """How many characters the cell reader copies into the cells of each
    sheet of an xlsx from its shared strings, ``lengths`` long each
    (``container.Marks.strings``): it copies a string into every cell
    showing it, so one long string shown by many cells costs its length in
    each (``SheetExtent.text``). Read before the cell reader sees the file,
    and only when the longest string times the cells that may show one
    passes the cap (a file of long strings and many cells).

    Every part the reader could open as a sheet is walked, as for
    ``xlsx_extents``, and counted as the reader could read it, or more: a
    cell is one whose name ends in ``c`` after a colon (or is ``c``), of
    type ``s`` by any attribute named ``t``, and each ``<v>`` inside it
    names the string (a leading plus allowed, as the reader reads a
    number); an index past the table copies nothing. Raises
    ``expat.ExpatError`` when a sheet or the workbook is not XML.
    """

    def measure(stream: IO[bytes], extent: SheetExtent) -> None:
        extent.text = _shared_text(stream, lengths)

    return _measured_parts(data, measure)


def _measured_parts(
    data: bytes,
    measure: Callable[[IO[bytes], SheetExtent], None],
    hinted: set[str] | None = None,
) -> list[SheetExtent]:
    """Each part of the xlsx ``data`` the cell reader could open as a sheet
    (of ``hinted`` only, if given), ``measure``d into its ``SheetExtent``,
    named as its workbook names it (``_sheet_members``).

    Every such part is walked, not only those the targets name as read
    here: the reader matches a part's name in either case and reads a
    target's entities as they are written (``&#x73;heet1.xml`` is a part of
    that name), so a sheet named so was left unwalked to it, and it aborted
    the process. Each copy of a name stored twice is walked too.

    A part the workbook names as a sheet that is no XML raises
    ``expat.ExpatError`` (or ``ValueError``, for an encoding expat does not
    read): not measured, not read. Another is passed over: an office suite
    may keep other files there (Excel a sheet's binary index), which the
    reader never opens as a sheet; a part it opened all the same, by a name
    read otherwise, is read in a process held to memory and time
    (``certflow.isolation``).
    """
    found: list[SheetExtent] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = {path.lower(): name for name, path in _sheet_members(archive)}
        for member in archive.infolist():
            path = member.filename
            if hinted is not None and path not in hinted:
                continue
            if not path.lower().startswith(SHEET_FOLDERS):
                continue
            extent = SheetExtent(names.get(path.lower(), path))
            try:
                with archive.open(member) as stream:
                    measure(stream, extent)
            except (expat.ExpatError, ValueError):
                if path.lower() in names:
                    raise
                continue
            found.append(extent)
    return found


def _shared_text(stream: IO[bytes], lengths: Sequence[int]) -> int:
    """The characters the shared strings ``lengths`` long copy into the
    cells of the sheet XML in ``stream`` (see ``xlsx_shared_text``)."""
    copied = 0
    shared = False
    index: list[str] | None = None  # the text of a ``<v>`` being read

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal shared, index
        if tag == "c" or tag.endswith(":c"):
            shared = any(
                (key == "t" or key.endswith(":t")) and value.strip() == "s"
                for key, value in attributes.items()
            )
        elif shared and (tag == "v" or tag.endswith(":v")):
            index = []

    def end(tag: str) -> None:
        nonlocal shared, index, copied
        if index is not None and (tag == "v" or tag.endswith(":v")):
            found = _INDEX.fullmatch("".join(index))
            if found is not None and len(found[1]) <= _INDEX_DIGITS:
                number = int(found[1])
                copied += lengths[number] if number < len(lengths) else 0
            index = None
        elif tag == "c" or tag.endswith(":c"):
            shared = False

    def text(piece: str) -> None:
        if index is not None and len(index) < _INDEX_PIECES:
            index.append(piece)

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parse_stream(parser, stream)
    return copied


def parse_stream(parser: expat.XMLParserType, stream: IO[bytes]) -> None:
    """Feed ``parser`` all of ``stream``, a megabyte at a time.

    Not ``ParseFile``, which feeds 2 KB at a time: the expat here (2.5)
    scans a token cut by a feed again from its start at each feed after,
    so an 840 KB comment in a sheet cost 3 seconds, growing with the square
    of its length. Fed a megabyte at a time, a token is scanned again once
    a megabyte.
    """
    try:
        while chunk := stream.read(PARSED_AT_ONCE):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise_out_of_memory(error)
        raise


# A shared string's index as the cell reader reads it; one of more digits
# than any table holds strings names none, nor does a ``<v>`` of more pieces
# of text than a number is written in.
_INDEX = re.compile(r"\s*\+?([0-9]+)\s*")
_INDEX_DIGITS = 18
_INDEX_PIECES = 64


def _sheet_members(archive: zipfile.ZipFile) -> list[tuple[str, str]]:
    """Each sheet's name and zip member, as the cell reader finds them: by
    the local names of the workbook's ``<sheet>`` elements and of their
    relationships, in whichever quotes and with whichever prefix.

    ``sheet_parts`` reads them by patterns, enough for what office suites
    write; here a sheet it missed (its relationship id under another
    prefix than ``r:``, an attribute in single quotes) would go unmeasured
    to the reader, which found it all the same and aborted the process.
    """
    targets: dict[str, list[str]] = {}
    sheets: list[tuple[str, str]] = []

    def relationship(tag: str, attributes: dict[str, str]) -> None:
        if tag.rpartition(":")[2] == "Relationship":
            for key in _attributes(attributes, "Id"):
                targets.setdefault(key, []).extend(_attributes(attributes, "Target"))

    def sheet(tag: str, attributes: dict[str, str]) -> None:
        if tag.rpartition(":")[2] == "sheet":
            for name in _attributes(attributes, "name"):
                sheets.extend((name, key) for key in _attributes(attributes, "id"))

    for member, start in (
        ("xl/_rels/workbook.xml.rels", relationship),
        ("xl/workbook.xml", sheet),
    ):
        parser = expat.ParserCreate()
        parser.StartElementHandler = start
        with archive.open(member) as stream:
            parse_stream(parser, stream)
    # Every reading the attributes allow, where two could be meant: a sheet
    # walked twice costs time, one left out the process.
    return [
        (name, target[1:] if target.startswith("/") else f"xl/{target}")
        for name, key in sheets
        for target in targets.get(key, [])
    ]


def _attributes(attributes: dict[str, str], local: str) -> list[str]:
    """The values of the attributes named ``local``, whatever their prefix."""
    return [
        value for name, value in attributes.items() if name.rpartition(":")[2] == local
    ]


class _PastLastRow(Exception):
    """The walk met a cell holding something past the last row a sheet may
    reach: the rest of the sheet need not be read."""


def _walk_cells(stream: IO[bytes], extent: SheetExtent, last_row: int) -> None:
    """Note in ``extent`` the last row and farthest column of the sheet XML
    in ``stream`` holding a cell that keeps something.

    Cells are placed as the cell reader places them: elements known by the
    name after their first colon, a reference by the unprefixed ``r`` alone,
    its letters in either case. A row's ``r`` (letters before its digits
    allowed) sets the row, and each row's end moves to the next and back to
    its first column; a cell's ``r`` places that cell and sets the column
    the cells after it follow, never the row. Review: a cell's reference
    setting the row (``<row r="99999"><c r="A1">`` then 16,383 cells placed
    by their order), a row's ``r="A99999"``, or a cell's ``x:r="A1"`` each
    had this walk measure one row where the reader made 99,999, and it
    asked for 52 GB.
    """
    row, column = 1, -1
    cell: tuple[int, int] | None = None
    keeps = False

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal row, column, cell, keeps
        if cell is not None:
            keeps = True  # a value, a formula or text: the reader makes it
            return
        local = tag.partition(":")[2] or tag
        if local == "row":
            stated = _REFERENCE.fullmatch(attributes.get("r", ""))
            if stated is not None:
                row = _row_number(stated[2])
        elif local == "c":
            place = _REFERENCE.fullmatch(attributes.get("r", ""))
            if place is None or not place[1]:
                column += 1
                cell = (row, column)
            else:
                column = _column_number(place[1])
                cell = (_row_number(place[2]), column)
            keeps = False

    def end(tag: str) -> None:
        nonlocal cell, row, column
        local = tag.partition(":")[2] or tag
        if cell is None:
            if local == "row":
                row, column = row + 1, -1
            return
        if local != "c":
            return
        (at, across), cell = cell, None
        if not keeps:
            return  # an empty cell: a style, nothing the reader makes
        extent.rows = max(extent.rows, at)
        if across + 1 > extent.columns:
            extent.columns, extent.widest_row = across + 1, at
        if at > last_row:
            raise _PastLastRow

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parse_stream(parser, stream)
    except _PastLastRow:
        pass


# A cell's reference as the cell reader takes it, its letters however many
# and in either case: it does not stop at the last column an office suite has.
_REFERENCE = re.compile(r"([A-Za-z]*)([0-9]+)")


def _column_number(letters: str) -> int:
    """The 0-based column of ``letters`` (``XFD`` -> 16383), past XFD too."""
    if len(letters) > _DIGITS:
        return _HUGE
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1


def _row_number(digits: str) -> int:
    """The row ``digits`` write, a count of more digits than ``_DIGITS``
    taken as ``_HUGE`` (Python reads no number of thousands of digits)."""
    return int(digits) if len(digits) <= _DIGITS else _HUGE


# A reference of more letters or digits is taken as this far: past any cap.
_DIGITS = 18
_HUGE: int = 10**_DIGITS


def _xlsx_state(
    data: bytes,
    names: list[str],
    bounds: tuple[int, int],
    marks: Marks | None,
    unread: _Allowance,
) -> SheetState:
    height, last = bounds
    state = SheetState({}, {})
    if marks is not None and not (marks.hidden or marks.uncalculated or marks.errors):
        return state  # the usual workbook: no member to read again
    # What each part hides, read once however many sheets name it: a 20 KB
    # file naming one part 1,000 times read its hidden columns 1,000 times.
    hiding: dict[str, tuple[frozenset[int], frozenset[int]]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = sheet_parts(archive)
        for name in names:
            path = parts.get(name)
            if path is None or archive.getinfo(path).file_size > _MAX_PART:
                continue
            hidden = marks is None or path in marks.hidden
            uncalculated = marks is None or path in marks.uncalculated
            errors = marks is None or path in marks.errors
            if not (hidden or uncalculated or errors):
                continue
            xml = archive.read(path)
            if hidden and path not in hiding:
                hiding[path] = (
                    _xlsx_hidden_rows(xml, height),
                    _xlsx_hidden_columns(xml),
                )
            rows, columns = hiding.get(path, (frozenset(), frozenset()))
            if rows:
                state.hidden_rows[name] = rows
            if columns:
                state.hidden_columns[name] = columns
            if uncalculated:
                formulas, arrays = _formulas_without_result(xml, last, unread)
                if formulas or arrays:
                    state.uncalculated[name] = formulas | arrays
                if arrays:
                    state.array_uncalculated[name] = arrays
            if errors and (found := _error_cells(xml, last, unread)):
                state.errors[name] = found
    return state


def _xlsx_hidden_rows(xml: bytes, height: int) -> frozenset[int]:
    if b"hidden=" not in xml or not _HIDDEN.search(xml):
        return frozenset()  # the usual sheet: no row to walk
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
    return frozenset(hidden)


def _xlsx_hidden_columns(xml: bytes) -> frozenset[int]:
    """The 0-based columns an xlsx sheet hides: its ``<col>`` ranges marked
    hidden, which stand before its cells."""
    cells = _SHEET_DATA.search(xml)
    head = xml[: cells.start()] if cells else xml
    spans: list[tuple[int, int]] = []
    for tag in _COL_TAG.finditer(head):
        attributes = tag.group(1)
        first, last = (pattern.search(attributes) for pattern in _COL_SPAN)
        if first is None or not _HIDDEN.search(attributes):
            continue
        stop = int(last.group(1)) if last else int(first.group(1))
        spans.append((int(first.group(1)) - 1, stop))
    return columns_in(spans)


def columns_in(spans: list[tuple[int, int]]) -> frozenset[int]:
    """The 0-based columns of ``spans`` (each its first column and the one
    after its last), those a sheet can have.

    The spans are joined before a column is listed: listed span by span,
    2,000 spans over the whole width cost 33 million steps a sheet, and a
    15 KB file naming one such sheet 50 times took 45 seconds."""
    joined: list[tuple[int, int]] = []
    for first, stop in sorted(spans):
        stop = min(stop, MAX_COLUMNS)
        if joined and first <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], stop))
        elif first < stop:
            joined.append((first, stop))
    return frozenset(chain.from_iterable(range(a, b) for a, b in joined))


def uncalculated_cells(
    xml: bytes, height: int, *, limit: int | None = None
) -> frozenset[Cell]:
    """The cells of an xlsx sheet's XML holding a formula without its result.

    A formula followed by no ``<v>``, or by an empty one, has no result: Excel,
    WPS and LibreOffice always save one, programs writing workbooks often do
    not. An empty value of a text formula (``t="str"``) is a result, the empty
    text (``=IF(A1="","",…)``), and is left alone. The cells an array formula
    fills past its first cell are written without the formula: each one that
    keeps no value has no result either. Rows past ``height`` are left out.
    Past ``limit`` cells (``IntakeLimits.max_unread_cells`` by default),
    ``TooManyUnreadCells`` is raised.
    """
    formulas, arrays = _formulas_without_result(xml, height, _unread(limit))
    return formulas | arrays


def _formulas_without_result(
    xml: bytes, height: int, unread: _Allowance
) -> tuple[frozenset[Cell], frozenset[Cell]]:
    """``uncalculated_cells`` in two: the cells whose own formula has no
    result, and the cells an array formula fills past its first keeping no
    value."""
    sheet = _Sheet(xml)
    closed = b"</" + sheet.prefix + b"c>"
    found: set[Cell] = set()
    for match in sheet.patterns["formula_without_value"].finditer(xml):
        tag = sheet.start_tag(match.start())
        if tag is None:
            continue  # no cell of its own: not a cell's formula
        start, attributes = tag
        if match.group(1) != closed and b't="str"' in attributes:
            continue
        place = sheet.place(start, attributes)
        if place is not None and place[0] <= height:
            unread.keep(found, (place,))
    arrays: set[Cell] = set()
    if b'"array"' in xml:
        arrays = _array_cells_without_value(sheet, height, unread)
    return frozenset(found), frozenset(arrays)


def error_cells(
    xml: bytes, height: int, *, limit: int | None = None
) -> dict[Cell, str]:
    """The cells of an xlsx sheet's XML holding a formula error, with the error.

    Excel, WPS and LibreOffice save a formula whose result is an error as a
    cell typed ``t="e"`` whose value is the error's text (``#N/A``); so does
    an error pasted as a value. A cell without a value is left to
    ``uncalculated_cells``. Rows past ``height`` are left out. Past ``limit``
    cells (``IntakeLimits.max_unread_cells`` by default), ``TooManyUnreadCells``
    is raised.
    """
    return _error_cells(xml, height, _unread(limit))


def _error_cells(xml: bytes, height: int, unread: _Allowance) -> dict[Cell, str]:
    sheet = _Sheet(xml)
    opened = b"<" + sheet.prefix + b"c "
    # Each search goes on from where the one for the match before it ended
    # (``_Ahead``): a sheet of a great many cells is read once, not once per
    # cell.
    cell_starts, tag_ends_before = _Behind(xml, opened), _Behind(xml, b">")
    tag_ends = _Ahead(xml, _TAG_END)
    cell_ends = _Ahead(xml, sheet.patterns["cell_end"])
    values = _Ahead(xml, sheet.patterns["error_value"])
    found: dict[Cell, str] = {}
    done = -1
    for typed in _ERROR_TYPE.finditer(xml):
        at = typed.start()
        start, end = cell_starts.find(at), tag_ends.find(at)
        if start < 0 or end < 0 or tag_ends_before.find(at) >= start:
            continue  # not in a cell's start tag
        if start == done:
            continue  # a tag naming t="e" again (in another attribute's value)
        if not xml[at - 1 : at].isspace():
            continue  # another attribute's end (``cmt="e"``)
        done = start
        close = cell_ends.find(end)
        if xml[end - 1 : end] == b"/" or close < 0:
            continue  # closed in its start tag, or never: no value
        value = values.match(end)
        if value is not None and value.end() > close:
            value = None  # another cell's
        place = sheet.place(start, xml[start + len(opened) : end])
        if value is not None and place is not None and place[0] <= height:
            error = value.group(1).decode("utf-8", "replace").strip()
            unread.keep(found, ((place, error),))
    return found


class XlsxFormulas:
    """The cells of an xlsx's sheets holding a formula, each sheet read for
    them only when first asked.

    Most uploads never ask, and an ordinary workbook's members are not read
    again (``Marks``). The archive is opened, and its sheets listed, once for
    the whole file: a workbook may hold thousands of sheets, each asked while
    the table is looked for, and opening it again for each would cost work
    growing with the square of their number. Best effort, as the rest of this
    module: a part it cannot read gives nothing.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._opened: tuple[zipfile.ZipFile | None, dict[str, str]] | None = None

    def cells(self, name: str, height: int) -> frozenset[Cell]:
        """The cells of the sheet named ``name`` holding a formula, whatever
        it shows, and those an array formula fills; rows past ``height`` are
        left out."""
        archive, parts = self._open()
        path = parts.get(name)
        if archive is None or path is None:
            return frozenset()
        try:
            if archive.getinfo(path).file_size > _MAX_PART:
                return frozenset()
            xml = archive.read(path)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError):
            return frozenset()
        sheet = _Sheet(xml)
        kept = _kept()
        found: set[Cell] = set()
        for match in sheet.patterns["formula"].finditer(xml):
            tag = sheet.start_tag(match.start())
            place = None if tag is None else sheet.place(*tag)
            if place is not None and place[0] <= height:
                kept.keep(found, (place,))
        for span in _array_ranges(sheet, height):
            kept.keep(found, _filled(span))
        return frozenset(found)

    def _open(self) -> tuple[zipfile.ZipFile | None, dict[str, str]]:
        if self._opened is None:
            try:
                archive = zipfile.ZipFile(io.BytesIO(self._data))
                self._opened = archive, sheet_parts(archive)
            except (zipfile.BadZipFile, KeyError, OSError, ValueError):
                self._opened = None, {}
        return self._opened


class _Sheet:
    """An xlsx sheet's XML, its namespace prefix, and where its cells are.

    A cell names its place (``r="G4"``) as every office suite writes it. The
    format lets it leave that out, the cell then following the one before it
    in its row (and a row without its number following the row before it);
    only for such a cell is the sheet walked, once.
    """

    def __init__(self, xml: bytes) -> None:
        self.xml = xml
        found = _SHEET_DATA.search(xml)
        self.prefix: bytes = (found.group(1) or b"") if found else b""
        self.patterns = _patterns(self.prefix)
        self._walked: dict[int, Cell] | None = None
        # The searches ``start_tag`` and ``holds_value`` make, each going on
        # from where the one before it ended: asked in the sheet's order, as
        # each walk over it asks, the sheet is read once, not once per cell.
        opened = b"<" + self.prefix + b"c"
        self._opened = opened
        self._cell_starts = (_Behind(xml, opened + b" "), _Behind(xml, opened + b">"))
        self._tag_ends = _Ahead(xml, _TAG_END)
        self._cell_ends = _Ahead(xml, self.patterns["cell_end"])
        self._values = {
            kind: _Ahead(xml, self.patterns[kind])
            for kind in ("any_value", "held_value")
        }

    def start_tag(self, inside: int) -> tuple[int, bytes] | None:
        """Where the start tag of the cell holding the element at ``inside``
        begins, and its attributes; None when that element is in no cell."""
        start = max(found.find(inside) for found in self._cell_starts)
        if start < 0:
            return None
        end = self._tag_ends.find(start)
        if end < 0 or end >= inside:
            return None
        close = self._cell_ends.match(end)
        if close is not None and close.end() <= inside:
            return None
        return start, self.xml[start + len(self._opened) : end]

    def place(self, start: int, attributes: bytes) -> Cell | None:
        """The place of the cell whose start tag begins at ``start``."""
        where = _CELL_REFERENCE.search(attributes)
        if where is not None:
            return _place(*where.groups())
        if self._walked is None:
            self._walked = {tag.start(): place for tag, place in self.cells()}
        return self._walked.get(start)

    def cells(self) -> Iterator[tuple[re.Match[bytes], Cell]]:
        """Each cell's start tag with its place, counting as the format allows."""
        row, column = 0, -1
        for tag in self.patterns["row_or_cell"].finditer(self.xml):
            attributes = tag.group(2)
            if tag.group(1) == b"row":
                stated = _ROW_NUMBER.search(attributes)
                row = int(stated.group(1)) if stated else row + 1
                column = -1
                continue
            where = _CELL_REFERENCE.search(attributes)
            row, column = _place(*where.groups()) if where else (row, column + 1)
            yield tag, (row, column)

    def holds_value(self, tag: re.Match[bytes]) -> bool:
        """Whether the cell whose start tag is ``tag`` keeps a value."""
        attributes = tag.group(2)
        if attributes.endswith(b"/"):
            return False
        close = self._cell_ends.find(tag.end())
        if close < 0:
            return False
        # The empty text is a value.
        kind = "any_value" if b't="str"' in attributes else "held_value"
        value = self._values[kind].match(tag.end())
        return value is not None and value.end() <= close


class _Ahead:
    """Where a pattern next matches in a sheet's XML, from a position on.

    Asked from positions that only move forward, as the walks over a sheet
    ask, it reads each byte once: the match found last answers every
    position up to its start. A position behind the one asked before is
    searched afresh.
    """

    def __init__(self, xml: bytes, pattern: re.Pattern[bytes]) -> None:
        self._xml = xml
        self._pattern = pattern
        self._asked = len(xml) + 1  # nothing asked yet: the first is searched
        self._found: re.Match[bytes] | None = None

    def match(self, position: int) -> re.Match[bytes] | None:
        """The first match starting at ``position`` or after it."""
        found = self._found
        if position < self._asked or (found is not None and found.start() < position):
            found = self._found = self._pattern.search(self._xml, position)
        self._asked = position
        return found

    def find(self, position: int) -> int:
        """Where the first match at ``position`` or after it starts; -1 when
        there is none."""
        found = self.match(position)
        return -1 if found is None else found.start()


class _Behind:
    """Where ``needle`` last occurs in a sheet's XML before a position
    (``xml.rfind(needle, 0, position)``), read as ``_Ahead`` reads: asked
    from positions that only move forward, only the bytes since the last
    one asked are searched."""

    def __init__(self, xml: bytes, needle: bytes) -> None:
        self._xml = xml
        self._needle = needle
        self._asked = 0
        self._found = -1

    def find(self, position: int) -> int:
        """Where the last occurrence ending at ``position`` or before it
        starts; -1 when there is none."""
        if position < self._asked:
            self._found = self._xml.rfind(self._needle, 0, position)
        else:
            since = max(self._asked - len(self._needle) + 1, 0)
            later = self._xml.rfind(self._needle, since, position)
            if later >= 0:
                self._found = later
        self._asked = position
        return self._found


@cache
def _patterns(prefix: bytes) -> dict[str, re.Pattern[bytes]]:
    """``_XLSX_PATTERNS`` for the namespace prefix ``prefix`` (``b"x:"``)."""
    escaped = re.escape(prefix)
    return {
        name: re.compile(pattern.replace(b"{p}", escaped), re.S)
        for name, pattern in _XLSX_PATTERNS.items()
    }


def _place(letters: bytes, number: bytes) -> Cell:
    """The place of the cell whose reference is ``letters`` and ``number``."""
    return int(number), column_index_from_string(letters.decode()) - 1


def _array_cells_without_value(
    sheet: _Sheet, height: int, unread: _Allowance
) -> set[Cell]:
    """The cells array formulas fill, past each one's first, keeping no value.

    Excel, WPS and LibreOffice save every cell of the range with its value; a
    program may save the formula alone, or leave out the cells whose value is
    the empty text, and those cells then read as empty (or are not written at
    all).
    """
    ranges = _array_ranges(sheet, height)
    if not ranges:
        return set()
    kept = {place for tag, place in sheet.cells() if sheet.holds_value(tag)}
    filled = chain.from_iterable(islice(_filled(span), 1, None) for span in ranges)
    # Ranges do not overlap in a file an office suite wrote: past this many
    # cells, more than ``unread`` allows keep no value, or ranges overlap.
    walked = islice(filled, unread.left + len(kept) + 1)
    found: set[Cell] = set()
    unread.keep(found, (cell for cell in walked if cell not in kept))
    if next(filled, None) is not None:
        raise TooManyUnreadCells(unread.limit)
    return found


def _filled(span: tuple[int, int, int, int]) -> Iterator[Cell]:
    """The cells of a range (1-based rows, 0-based columns, inclusive), row by
    row, its first cell first."""
    top, left, bottom, right = span
    return (
        (row, column)
        for row in range(top, bottom + 1)
        for column in range(left, right + 1)
    )


def _array_ranges(sheet: _Sheet, height: int) -> list[tuple[int, int, int, int]]:
    """The ranges (1-based rows, 0-based columns, inclusive) the sheet's array
    formulas fill, cut at row ``height``."""
    ranges = []
    for formula in sheet.patterns["array_formula"].finditer(sheet.xml):
        span = _RANGE.search(formula.group())
        if span is None:
            continue
        first, last = span.group(1, 2), span.group(3, 4)
        top, left = _place(*first)
        bottom, right = (top, left) if last[0] is None else _place(*last)
        ranges.append((top, left, min(bottom, height), min(right, MAX_COLUMNS - 1)))
    return ranges


def _xls_state(data: bytes, height: int, last: int, unread: _Allowance) -> SheetState:
    """Hidden rows, formula errors and formula cells of each sheet of an xls,
    in one walk."""
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
            sheets.append((sheet_name(body), struct.unpack_from("<I", body)[0]))
        if kind == _BIFF_EOF:
            break
        offset += 4 + length
    state = SheetState({}, {})
    kept = _kept()
    for name, start in sheets:
        hidden = set()
        columns: list[tuple[int, int]] = []
        errors: dict[Cell, str] = {}
        formulas: set[Cell] = set()
        offset = start
        while offset + 4 <= len(biff):
            kind, length = struct.unpack_from("<HH", biff, offset)
            if kind == _BIFF_EOF:
                break
            if kind == _BIFF_ROW and length >= 14:
                row, flags = struct.unpack_from("<H10xH", biff, offset + 4)
                if flags & _ROW_HIDDEN and row < height:
                    hidden.add(row)
            elif kind == _BIFF_COLINFO and length >= 10:
                first, last, options = struct.unpack_from("<HH4xH", biff, offset + 4)
                if options & _COLUMN_HIDDEN:
                    columns.append((first, last + 1))
            elif kind in (_BIFF_FORMULA, _BIFF_BOOLERR):
                error = _biff_error(kind, biff[offset + 4 : offset + 4 + length])
                if error is not None and error[0] < last:
                    row, column, text = error
                    unread.keep(errors, (((row + 1, column), text),))
                if kind == _BIFF_FORMULA and length >= 4:
                    row, column = struct.unpack_from("<HH", biff, offset + 4)
                    if row < last:
                        kept.keep(formulas, ((row + 1, column),))
            offset += 4 + length
        if hidden:
            state.hidden_rows[name] = frozenset(hidden)
        if hidden_columns := columns_in(columns):
            state.hidden_columns[name] = hidden_columns
        if errors:
            state.errors[name] = errors
        if formulas:
            state.formulas[name] = frozenset(formulas)
    return state


def _biff_error(kind: int, body: bytes) -> tuple[int, int, str] | None:
    """The 0-based row and column and the error of a FORMULA record whose
    result is an error, or of a BOOLERR record holding one; else None."""
    if kind == _BIFF_FORMULA and len(body) >= 14:
        # rw, col, ixfe, then the 8-byte result: its kind, a byte, the error
        # code, three bytes and 0xFFFF.
        row, column, _, result, code, not_a_number = struct.unpack_from(
            "<HHHBxBxxxH", body
        )
        if not_a_number == _BIFF_NOT_A_NUMBER and result == _BIFF_ERROR_RESULT:
            return row, column, _BIFF_ERRORS.get(code, UNKNOWN_ERROR)
    elif kind == _BIFF_BOOLERR and len(body) >= 8:
        row, column, _, code, is_error = struct.unpack_from("<HHHBB", body)
        if is_error:
            return row, column, _BIFF_ERRORS.get(code, UNKNOWN_ERROR)
    return None


def _ods_state(data: bytes, height: int, last: int, unread: _Allowance) -> SheetState:
    state = SheetState({}, {})
    kept, merged = _kept(), _kept()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if archive.getinfo("content.xml").file_size > _MAX_PART:
            return state
        stream = archive.open("content.xml")
        sheet = ""
        row = 0
        column = 0
        rows: set[int] = set()
        # The sheet's hidden columns, as its column elements describe them in
        # turn, and how many they have described.
        collapsed: set[int] = set()
        described = 0
        merges: list[Merge] = []
        formulas: set[Cell] = set()
        arrays: set[Cell] = set()
        errors: dict[Cell, str] = {}
        computed: set[Cell] = set()
        # How far down the sheet's matrix formulas reach, column by column; the
        # ranges of those written in the current row; and the columns of the
        # current row whose cells keep a value or a formula.
        reach = _Reach()
        fresh: list[tuple[int, int, int, int]] = []
        valued: list[tuple[int, int]] = []
        # The columns of the current row whose formula has no value (a value
        # type says which value the cell keeps: ods keeps one for each formula),
        # those whose formula's value is an error, with the error, and those
        # holding any formula.
        pending: list[int] = []
        failed: list[tuple[int, str]] = []
        holding: list[int] = []
        for event, element in iterparse(stream, events=("start", "end")):
            tag = element.tag
            if event == "start":
                if tag == f"{_TABLE}table":
                    sheet = element.get(f"{_TABLE}name", "")
                    row, rows, merges, formulas, errors = 0, set(), [], set(), {}
                    collapsed, described = set(), 0
                    computed, arrays, reach, fresh = set(), set(), _Reach(), []
                elif tag == f"{_TABLE}table-row":
                    column, pending, failed, holding = 0, [], [], []
                    valued = []
                continue
            if tag == f"{_TABLE}table-column":
                repeated = _count(element, "number-columns-repeated")
                if element.get(f"{_TABLE}visibility", "visible") != "visible":
                    stop = min(described + repeated, MAX_COLUMNS)
                    collapsed.update(range(described, stop))
                described += repeated
                element.clear()
            elif tag in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
                spanned_rows = _count(element, "number-rows-spanned")
                spanned_columns = _count(element, "number-columns-spanned")
                spanned = spanned_rows > 1 or spanned_columns > 1
                if spanned and row < height and merged.take():
                    last_row = row + spanned_rows - 1
                    merges.append((row, column, last_row, column + spanned_columns - 1))
                repeated = _count(element, "number-columns-repeated")
                columns = range(column, min(column + repeated, MAX_COLUMNS))
                if element.get(f"{_TABLE}formula") is not None:
                    holding.extend(columns)
                    error = _ods_error(element)
                    if error is not None:
                        failed.extend((position, error) for position in columns)
                    elif element.get(_VALUE_TYPE) is None:
                        pending.extend(columns)
                    valued.append((columns.start, columns.stop))
                    if (span := _matrix(element, row + 1, column, last)) is not None:
                        fresh.append(span)
                        kept.keep(computed, _filled(span))
                elif element.get(_VALUE_TYPE) is not None:
                    valued.append((columns.start, columns.stop))
                column += repeated
                element.clear()
            elif tag == f"{_TABLE}table-row":
                repeated = _count(element, "number-rows-repeated")
                if element.get(f"{_TABLE}visibility", "visible") != "visible":
                    rows.update(range(row, min(row + repeated, height)))
                below = range(row + 1, min(row + repeated, last) + 1)
                # A repeated row repeats its cells: the places are made a
                # slice at a time, up to the caps.
                if pending:
                    unread.keep(formulas, ((n, at) for n in below for at in pending))
                if failed:
                    cells = (((n, at), text) for n in below for at, text in failed)
                    unread.keep(errors, cells)
                if holding:
                    kept.keep(computed, ((n, at) for n in below for at in holding))
                if fresh or reach.deepest >= below.start:
                    unread.keep(arrays, _matrix_gaps(reach, fresh, below, valued))
                fresh = []
                row += repeated
                element.clear()
            elif tag == f"{_TABLE}table":
                if (fresh or reach.deepest > row) and row < last:
                    # Rows a matrix reaches that the sheet never writes.
                    unwritten = range(row + 1, last + 1)
                    unread.keep(arrays, _matrix_gaps(reach, fresh, unwritten, []))
                if rows:
                    state.hidden_rows[sheet] = frozenset(rows)
                if collapsed:
                    state.hidden_columns[sheet] = frozenset(collapsed)
                if merges:
                    state.merged[sheet] = merges
                if formulas or arrays:
                    state.uncalculated[sheet] = frozenset(formulas | arrays)
                if arrays:
                    state.array_uncalculated[sheet] = frozenset(arrays)
                if errors:
                    state.errors[sheet] = errors
                if computed:
                    state.formulas[sheet] = frozenset(computed)
                element.clear()
    return state


def _matrix(
    cell: Element, top: int, left: int, last: int
) -> tuple[int, int, int, int] | None:
    """The range (1-based rows, 0-based columns, inclusive, cut at row
    ``last``) an ods matrix formula in ``cell`` at ``top``, ``left`` fills, or
    None when its formula is no matrix formula.

    LibreOffice writes a matrix (array) formula once, in the first cell of
    its range, with the range's size; the other cells keep only their values.
    """
    columns = cell.get(f"{_TABLE}number-matrix-columns-spanned")
    rows = cell.get(f"{_TABLE}number-matrix-rows-spanned")
    if columns is None and rows is None:
        return None
    width = max(int(columns or "1"), 1)
    height = max(int(rows or "1"), 1)
    right = min(left + width, MAX_COLUMNS) - 1
    return top, left, min(top + height - 1, last), right


def _matrix_gaps(
    reach: _Reach,
    fresh: list[tuple[int, int, int, int]],
    rows: range,
    valued: list[tuple[int, int]],
) -> Iterator[Cell]:
    """The cells of ``rows`` (a row and its repeats) that the sheet's matrices
    fill past their first and that keep no value: the columns no span of
    ``valued`` (the row's cells keeping a value or a formula, as ``start,
    stop``) covers. ``fresh`` are the matrices written in the row itself,
    added to ``reach`` here. The cells are made one at a time: a repeated row
    may stand for a great many.

    The work is the row's gaps and the runs of cells found, never the
    matrices seen so far: a sheet may write one in every row.
    """
    gaps = _uncovered(0, MAX_COLUMNS, sorted(valued))
    # A fresh matrix's first cell holds the formula itself: the matrix fills
    # its first row past that cell, and its whole width below.
    for _, left, bottom, right in fresh:
        reach.add(left + 1, right, bottom)
    first = _reached(reach, gaps, rows.start) if rows else []
    for _, left, bottom, _ in fresh:
        reach.add(left, left, bottom)
    below = _reached(reach, gaps, rows.start + 1) if len(rows) > 1 else []
    last = rows.stop - 1
    return chain(
        (
            (rows.start, place)
            for start, stop, _ in first
            for place in range(start, stop)
        ),
        (
            (number, place)
            for start, stop, deepest in below
            for number in range(rows.start + 1, min(last, deepest) + 1)
            for place in range(start, stop)
        ),
    )


def _reached(
    reach: _Reach, gaps: list[tuple[int, int]], row: int
) -> list[tuple[int, int, int]]:
    """The runs of columns of ``gaps`` that a matrix reaches at ``row``."""
    return [run for start, stop in gaps for run in reach.runs(start, stop, row)]


class _Reach:
    """How far down an ods sheet's matrix formulas reach, column by column.

    A tree over the sheet's columns, each node holding the deepest row a
    matrix over all of its columns reaches: a matrix is added in as many
    steps as the tree is deep, whatever its width, and the columns still
    reached are found in as many steps as they make runs. Rows are read
    downwards, so a matrix that ends above the row being read is never
    taken out: it reaches no row still to come.
    """

    def __init__(self) -> None:
        # Per node (1 the root, ``n`` over ``2n`` and ``2n + 1``, the column
        # ``c`` at ``MAX_COLUMNS + c``, a power of two so that every leaf is
        # as deep): the deepest row reached by every column under it, and by
        # any (at least; the excess is what a node above it holds for all).
        self._every: dict[int, int] = {}
        self._any: dict[int, int] = {}

    @property
    def deepest(self) -> int:
        """The deepest row any matrix reaches; 0 when there is none."""
        return self._any.get(1, 0)

    def add(self, left: int, right: int, bottom: int) -> None:
        """Columns ``left`` to ``right`` (inclusive) reach row ``bottom``."""
        right = min(right, MAX_COLUMNS - 1)
        if left > right:
            return
        low, high = left + MAX_COLUMNS, right + 1 + MAX_COLUMNS
        ends = (low >> 1, (high - 1) >> 1)
        while low < high:
            if low & 1:
                self._mark(low, bottom)
                low += 1
            if high & 1:
                high -= 1
                self._mark(high, bottom)
            low, high = low >> 1, high >> 1
        # The nodes marked hang from the paths up from either end.
        for node in ends:
            while node:
                self._any[node] = max(self._any.get(node, 0), bottom)
                node >>= 1

    def _mark(self, node: int, bottom: int) -> None:
        self._every[node] = max(self._every.get(node, 0), bottom)
        self._any[node] = max(self._any.get(node, 0), bottom)

    def runs(self, start: int, stop: int, row: int) -> list[tuple[int, int, int]]:
        """The columns ``start`` to ``stop`` (exclusive) that reach ``row``, as
        runs reaching the same row: first column, past the last, that row."""
        found = []
        nodes = [(1, 0, MAX_COLUMNS, 0)]
        while nodes:
            node, low, high, above = nodes.pop()
            if high <= start or stop <= low:
                continue
            above = max(above, self._every.get(node, 0))
            under = self._any.get(node, 0)
            if max(above, under) < row:
                continue
            if above >= under:  # every column under it reaches ``above``
                found.append((max(low, start), min(high, stop), above))
                continue
            middle = (low + high) // 2
            nodes.append((2 * node + 1, middle, high, above))
            nodes.append((2 * node, low, middle, above))
        return found


def _uncovered(
    start: int, stop: int, spans: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The parts of ``start``..``stop`` that no span of ``spans`` (sorted)
    covers."""
    gaps = []
    for first, last in spans:
        if last <= start:
            continue
        if first >= stop:
            break
        if first > start:
            gaps.append((start, first))
        start = max(start, last)
    if start < stop:
        gaps.append((start, stop))
    return gaps


def _count(element: Element, name: str) -> int:
    """How many columns or rows an ods cell or row spans or repeats: at least
    one, whatever the file says (a count below one would walk back over
    columns already counted)."""
    return max(int(element.get(f"{_TABLE}{name}", "1")), 1)


def _ods_error(cell: Element) -> str | None:
    """The error an ods formula cell shows, or None when its value is not one.

    LibreOffice marks the error (``calcext:value-type="error"``) and writes its
    text in the cell's paragraph: ``#N/A``, ``#DIV/0!``, or one of its own
    (``Err:502``). Without the mark, a formula whose text result is empty and
    which shows an error's text is one.
    """
    shown = "\n".join("".join(p.itertext()) for p in cell.findall(_TEXT_P)).strip()
    if cell.get(_CALC_VALUE_TYPE) == "error":
        return shown or UNKNOWN_ERROR
    if cell.get(f"{_OFFICE}string-value", "") == "" and _ODS_ERROR_TEXT.fullmatch(
        shown
    ):
        return shown
    return None
