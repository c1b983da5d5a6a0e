"""Recognise an uploaded file by its content and refuse what must not be opened.

The format is chosen from magic bytes and container members, never from a file
name: a zip holding ``xl/workbook.xml`` is an xlsx, a zip whose ``mimetype`` says
spreadsheet is an ods, an OLE2 compound file holding a ``Workbook`` stream is an
xls, and text is CSV. Macro workbooks, encrypted files and zip bombs are refused
here, before any spreadsheet parser sees the bytes.
"""

from __future__ import annotations

import codecs
import io
import re
import struct
import zipfile
from array import array
from dataclasses import dataclass, field
from enum import StrEnum
from xml.parsers import expat

from openpyxl.utils import get_column_letter

from certflow.intake.biff import BiffError, copied_text, workbook_globals
from certflow.intake.extent import OdsExtent, SheetExtent
from certflow.intake.limits import IntakeLimits
from certflow.text import HAN

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_CHUNK = 64 * 1024
# How an xlsx sheet marks a hidden row (``<row ... hidden="1">``).
HIDDEN_MARK = b"hidden="
# How an xlsx sheet may show a formula saved without its result: the formula
# closes the cell (``<f>A1+B1</f></c>``) or its value is empty (``<v />``,
# ``<v></v>``), the elements with or without a namespace prefix (``</x:f>``).
# A hit is only a hint (an empty text result looks the same), which
# ``certflow.intake.sheetstate`` checks cell by cell. The other cells of a
# shared formula (``<f t="shared" si="0"/>``) are not looked for here: the
# cell that holds the shared formula's text is saved like them. An array
# formula (``ARRAY_MARK``) is a hint too: the other cells of its range hold no
# formula, only their values, if the file keeps them.
UNCALCULATED_MARK = re.compile(
    rb"f>(?:</(?:\w+:)?c>|<(?:\w+:)?v ?/>|<(?:\w+:)?v></(?:\w+:)?v>)"
)
ARRAY_MARK = b't="array"'
# How an xlsx sheet marks a cell holding a formula error.
ERROR_MARK = b't="e"'
# Either of the two, in one pass over the bytes (a pass per mark costs as much).
_TYPED_MARK = re.compile(rb't="(?:e|array)"')
# How an xlsx sheet may place a cell far from A1: a reference past column Z
# (``r="XFD4"``) or a row of six digits or more (``r="L1048576"``, or a row's
# ``r="1048576"``). The cell reader makes every cell from A1 to the farthest
# holding a value, the empty ones between included, before any cap is
# checked: one value in XFD1048576 asks it for 17 billion cells, and it
# aborts the process. A hit is only a hint (a real form may reach column AA),
# which ``certflow.intake.sheetstate.xlsx_extents`` measures cell by cell;
# a sheet holding none reaches at most 99,999 rows of 26 columns. The reader
# takes a reference as XML writes it, so the hint does too: in either quote,
# in lower case, a run of letters of any length (16 are far past any sheet),
# and with the space XML allows around ``=`` (``_SPACED_EQUALS``: any, as
# its length is not bounded; office suites write none).
FAR_MARK = re.compile(
    rb"""r=["'](?:[A-Za-z]{2,}[0-9]|[A-Za-z]*[0-9]{6}|[A-Za-z]{16})"""
)
# Space after ``=``, found before it too by reading the bytes backwards: a
# pattern for space before ``=`` has no first byte to look for, and costs
# ten times as much.
_SPACED_EQUALS = re.compile(rb"=\s")
# A cell placed by its order, not by a reference: a ``<c>`` (of any prefix)
# whose first attribute is not ``r``. The reader puts such a cell right of
# the one before it, so 16,384 of them reach column XFD with no far reference
# written anywhere: a 12 KB sheet of them and a value in A9999 had the reader
# ask for 5 GB. Office suites write ``r`` first, so their sheets hold none.
# The space looked at is bounded, and a tag cut short by the end of a read is
# no hit, as it is seen whole at the seam: a cut tag hid no cell and a long
# space no tag. One pattern for ``<c`` and one for a prefix's ``:c``: each
# then has its first two bytes to look for, and costs a fifth of one for both.
_NOT_PLACED = rb"c(?=[\s/>])(?!\s{1,40}r\s*=|\s{0,40}\Z|\s{1,40}r\s*\Z)"
_PLACED_BY_ORDER = (re.compile(b"<" + _NOT_PLACED), re.compile(b":" + _NOT_PLACED))
# Marks may straddle two reads: this much of the previous read is looked at
# again (a mark with long namespace prefixes included).
_SEAM = 64
_MAX_ZIP_MEMBERS = 5000
# An xlsx's table of shared strings (``xl/sharedStrings.xml``).
_SHARED_STRINGS = "sharedstrings.xml"
# Where the cell reader opens an xlsx sheet's part (in either case): it
# refuses a workbook naming a sheet elsewhere.
SHEET_FOLDERS = ("xl/worksheets/", "xl/chartsheets/", "xl/dialogsheets/")
# A sheet has at most this many columns in any office suite.
MAX_COLUMNS = 16384
# How much of a part expat is fed at once: the expat here (2.5) scans a
# token cut by a feed again from its start at each feed after, so a long
# comment fed 64 KB at a time (or 2 KB, as ``ParseFile`` feeds) costs the
# square of its length over the feed; fed a megabyte at a time, a token is
# scanned again once a megabyte.
PARSED_AT_ONCE = 1 << 20


class Format(StrEnum):
    """The spreadsheet formats intake reads."""

    XLSX = "xlsx"
    XLS = "xls"
    ODS = "ods"
    CSV = "csv"


@dataclass(frozen=True)
class Refusal:
    """Why a file is refused before it is parsed: a catalogue key and its fields."""

    code: str
    fields: dict[str, object]


@dataclass
class Marks:
    """Zip members worth reading again, as noted while each was inflated.

    ``hidden`` hold ``HIDDEN_MARK`` (a hidden row, perhaps); ``uncalculated``
    match ``UNCALCULATED_MARK`` or hold ``ARRAY_MARK`` (a formula without its
    result, perhaps); ``errors`` hold ``ERROR_MARK`` (a formula error);
    ``far`` match ``FAR_MARK`` (a cell far from A1, perhaps). Only these need
    reading again, so a plain sheet is inflated once.

    For an xlsx, ``strings`` holds the length of each shared string, at
    most (its characters as the table is written), and ``tags`` the tags
    (``<``) of its sheets together: a cell showing a shared string takes two
    at least (``<v>``, ``</v>``), so the longest string times half of them
    bounds the characters the reader copies into cells
    (``certflow.intake.sheetstate.xlsx_shared_text``).
    """

    hidden: set[str] = field(default_factory=set)
    far: set[str] = field(default_factory=set)
    uncalculated: set[str] = field(default_factory=set)
    errors: set[str] = field(default_factory=set)
    strings: array[int] = field(default_factory=lambda: array("L"))
    tags: int = 0


def sniff(
    data: bytes, limits: IntakeLimits, marks: Marks | None = None
) -> Format | Refusal:
    """Return the format of ``data``, or why it is refused.

    A zip's members are all inflated to check them; ``marks`` (when given)
    receives the names of those worth reading again (see ``Marks``).
    """
    if len(data) > limits.max_bytes:
        return Refusal(
            "file_too_large",
            {"size_mb": _mib(len(data)), "limit_mb": _mib(limits.max_bytes)},
        )
    if is_blank(data):
        return Refusal("empty_file", {})
    if data.startswith(ZIP_MAGICS):
        return _sniff_zip(data, limits, Marks() if marks is None else marks)
    if data.startswith(OLE2_MAGIC):
        return _sniff_ole2(data, limits)
    return _sniff_text(data)


def is_blank(data: bytes) -> bool:
    """Whether an uploaded file holds nothing: no byte at all, or only spaces,
    tabs, line breaks and NUL bytes (a UTF-8 byte order mark before them too).

    Such a file was saved empty or never filled in; every upload refuses it as
    empty, whatever it was meant to be.
    """
    return _BLANK.fullmatch(data) is not None


_BLANK = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n\x0b\x0c\x00]*")


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}"


def _sniff_zip(data: bytes, limits: IntakeLimits, marks: Marks) -> Format | Refusal:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return Refusal("damaged", {})

    # The central directory's declared sizes are checked before a single byte is
    # inflated, so an honest bomb is refused at the cost of reading its directory.
    if len(members) > _MAX_ZIP_MEMBERS:
        return Refusal("zip_too_many_members", {"count": len(members)})
    declared = sum(member.file_size for member in members)
    if declared > limits.max_uncompressed_bytes:
        return Refusal(
            "zip_too_large",
            {
                "size_mb": _mib(declared),
                "limit_mb": _mib(limits.max_uncompressed_bytes),
            },
        )
    for member in members:
        if member.file_size > limits.max_zip_ratio * max(member.compress_size, 1):
            return Refusal("zip_ratio", {"ratio": limits.max_zip_ratio})
        if member.flag_bits & 0x1:
            return Refusal("encrypted", {})

    names = {member.filename for member in members}
    kind = _zip_kind(archive, names)
    if isinstance(kind, Refusal):
        return kind

    # A directory can lie about sizes; inflating each member in bounded chunks
    # stops at the declared size and the CRC check exposes the lie. An ods's
    # sheets are measured on the way, before the cell reader makes a cell.
    extent = _Extent(limits) if kind is Format.ODS else None
    return _verify_members(archive, members, marks, extent, limits) or kind


def _zip_kind(archive: zipfile.ZipFile, names: set[str]) -> Format | Refusal:
    if "mimetype" in names:
        if archive.read("mimetype").strip() != ODS_MIMETYPE:
            return Refusal("unsupported_format", {})
        manifest = (
            archive.read("META-INF/manifest.xml")
            if "META-INF/manifest.xml" in names
            else b""
        )
        if b"encryption-data" in manifest:
            return Refusal("encrypted", {})
        if any(name.startswith(("Basic/", "Scripts/")) for name in names):
            return Refusal("macro_workbook", {})
        return Format.ODS
    if "[Content_Types].xml" not in names:
        return Refusal("unsupported_format", {})
    if "xl/workbook.bin" in names:
        return Refusal("xlsb", {})
    if "xl/workbook.xml" not in names:
        return Refusal("unsupported_format", {})
    content_types = archive.read("[Content_Types].xml")
    if (
        "xl/vbaProject.bin" in names
        or any(name.startswith("xl/macrosheets/") for name in names)
        or b"macroEnabled" in content_types
    ):
        return Refusal("macro_workbook", {})
    return Format.XLSX


def _verify_members(
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    marks: Marks,
    extent: _Extent | None,
    limits: IntakeLimits,
) -> Refusal | None:
    overlap = _SEAM
    for member in members:
        name = member.filename
        measure = extent if extent is not None and name == "content.xml" else None
        # An xlsx's shared strings are all held by the cell reader, whichever
        # cells use them: ``max_cells`` of them at most (see ``IntakeLimits``).
        strings = (
            _Strings(limits.max_cells)
            if name.lower().endswith(_SHARED_STRINGS)
            else None
        )
        sheet = name.lower().startswith(SHEET_FOLDERS)
        walks = [walk for walk in (measure, strings) if walk is not None]
        pending: list[bytes] = []  # what the walks are yet to be fed
        try:
            with archive.open(member) as stream:
                tail = b""
                while chunk := stream.read(_CHUNK):
                    # A mark may straddle two reads: the seam is looked at too.
                    _note_marks(name, tail + chunk[:overlap], marks)
                    _note_marks(name, chunk, marks)
                    tail = chunk[-overlap:]
                    if sheet:
                        marks.tags += chunk.count(b"<")
                    if walks:
                        pending.append(chunk)
                        if len(pending) * _CHUNK >= PARSED_AT_ONCE:
                            if refused := _fed(walks, pending, final=False):
                                return refused
            if walks and (refused := _fed(walks, pending, final=True)):
                return refused
            if strings is not None:
                marks.strings = _longer_each(marks.strings, strings.lengths)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
            return Refusal("damaged", {})
        except RuntimeError:
            return Refusal("encrypted", {})
    return None


def _fed(
    walks: list[_Extent | _Strings], pending: list[bytes], *, final: bool
) -> Refusal | None:
    """Feed each of ``walks`` what is ``pending`` (then nothing is); why the
    file is refused, if it is: a part the walks' XML parser cannot read
    (not XML, or in an encoding it does not read, GBK, nor the reader) is
    damaged, one it ran out of memory reading the reading's bound."""
    block = b"".join(pending)
    pending.clear()
    for walk in walks:
        try:
            refused = walk.feed(block, final=final)
        except (expat.ExpatError, ValueError) as error:
            raise_out_of_memory(error)
            return Refusal("damaged", {})
        if refused:
            return refused
    return None


class _Extent:
    """An ods's ``content.xml`` measured as it is inflated (``OdsExtent``),
    refused as soon as a sheet reaches past the row cap or the sheets
    together past ``max_cells``: the cell reader would make every cell."""

    def __init__(self, limits: IntakeLimits) -> None:
        self.limits = limits
        self.walk = OdsExtent()

    def feed(self, chunk: bytes, *, final: bool = False) -> Refusal | None:
        """Measure the next ``chunk``; why the file is refused, if it is.
        Raises ``expat.ExpatError`` (or ``ValueError``) where it is no XML."""
        self.walk.feed(chunk, final=final)
        walk = self.walk
        return (
            sheets_refusal(walk.sheets, self.limits)
            or extent_refusal(walk.tallest, walk.largest, walk.cells, self.limits)
            or text_refusal(walk.wordiest, walk.text, self.limits)
        )


class _Strings:
    """An xlsx's table of shared strings counted as it is inflated, refused
    as soon as it holds more than ``limit`` strings or says it does: the
    cell reader makes room for as many as the table's ``uniqueCount`` says
    before it reads one, and holds every string it reads.

    Counted by expat, elements and attributes known by their local name, as
    the reader reads them: counting tags as bytes missed an empty string
    (``<si/>``) and a tag with a space in it (``<si >``), and a 1 KB table
    saying it held four billion strings had the reader ask for 96 GB and
    abort the process.

    Each string's length is kept (``lengths``): every character of text
    inside its ``<si>``, what the reader keeps of it (a phonetic guide left
    out) or more.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.declared = 0
        self.lengths = array("L")
        self._parser = expat.ParserCreate()
        self._parser.StartElementHandler = self._start
        self._parser.CharacterDataHandler = self._text

    def feed(self, chunk: bytes, *, final: bool = False) -> Refusal | None:
        """Count the next ``chunk``; why the file is refused, if it is.
        Raises ``expat.ExpatError`` (or ``ValueError``) where it is no XML."""
        self._parser.Parse(chunk, final)
        if max(self.held, self.declared) > self.limit:
            return Refusal("too_many_strings", {"limit": self.limit})
        return None

    def _start(self, tag: str, attributes: dict[str, str]) -> None:
        if tag.rpartition(":")[2] == "si":
            self.held += 1
            if self.held <= self.limit:
                self.lengths.append(0)
        for name, value in attributes.items():
            if name.rpartition(":")[2] == "uniqueCount":
                found = _DECLARED.fullmatch(value)
                if found is not None:
                    digits = found.group(1)
                    huge = len(digits) > _COUNT_DIGITS
                    declared = 10**_COUNT_DIGITS if huge else int(digits)
                    self.declared = max(self.declared, declared)

    def _text(self, text: str) -> None:
        if self.lengths:
            self.lengths[-1] += len(text)


def _longer_each(first: array[int], second: array[int]) -> array[int]:
    """The longer of two lengths at each index: what a table of shared
    strings stored twice (in two cases of its name) may hold, whichever
    the reader takes."""
    if not first:
        return second
    longer, shorter = (first, second) if len(first) >= len(second) else (second, first)
    merged = array("L", longer)
    for index, length in enumerate(shorter):
        merged[index] = max(merged[index], length)
    return merged


# A count as the cell reader reads one (a leading plus allowed); one of more
# digits is far past any cap, and not read as a number.
_DECLARED = re.compile(r"\+?([0-9]+)")
_COUNT_DIGITS = 18


def extent_refusal(
    tallest: SheetExtent | None,
    largest: SheetExtent | None,
    cells: int,
    limits: IntakeLimits,
) -> Refusal | None:
    """Why sheets reaching so far are refused, if they are: the ``tallest``
    past the row cap, or the ``cells`` of them all (``largest`` the sheet of
    the most) past ``max_cells``."""
    if tallest is not None and tallest.rows > limits.max_sheet_rows:
        return Refusal("too_many_rows", {"limit": limits.max_rows})
    if largest is not None and cells > limits.max_cells:
        letter = get_column_letter(min(largest.columns, MAX_COLUMNS))
        fields = {
            "sheet": largest.name,
            "rows": largest.rows,
            "row": largest.widest_row,
            "column": letter,
            "cells": cells,
            "limit": limits.max_cells,
        }
        return Refusal("sheet_too_large", fields)
    return None


def raise_out_of_memory(error: Exception) -> None:
    """Raise ``MemoryError`` where expat failed for want of memory: the
    reading's bound was met (``certflow.isolation``), the file is not
    damaged. A trial with a 300 MB bound was told its file was damaged."""
    if isinstance(error, expat.ExpatError) and error.code == _NO_MEMORY:
        raise MemoryError from error


_NO_MEMORY = expat.errors.codes[expat.errors.XML_ERROR_NO_MEMORY]


def sheets_refusal(count: int, limits: IntakeLimits) -> Refusal | None:
    """Why a file of ``count`` sheets is refused, if it is: past
    ``max_sheets``."""
    if count <= limits.max_sheets:
        return None
    return Refusal("too_many_sheets", {"count": count, "limit": limits.max_sheets})


def text_refusal(
    wordiest: SheetExtent | None, total: int, limits: IntakeLimits
) -> Refusal | None:
    """Why a file whose cells the reader would copy ``total`` characters
    into is refused, if it is: past ``max_cell_text``, naming the sheet of
    the most (``wordiest``)."""
    if wordiest is None or total <= limits.max_cell_text:
        return None
    fields = {
        "sheet": wordiest.name,
        "chars": wordiest.text,
        "total": total,
        "limit": limits.max_cell_text,
    }
    return Refusal("too_much_text", fields)


def _note_marks(name: str, piece: bytes, marks: Marks) -> None:
    """Note the member ``name`` in ``marks`` for each mark ``piece`` holds."""
    if HIDDEN_MARK in piece:
        marks.hidden.add(name)
    if name not in marks.far and (
        FAR_MARK.search(piece)
        or _SPACED_EQUALS.search(piece)
        or _SPACED_EQUALS.search(piece[::-1])
        or any(pattern.search(piece) for pattern in _PLACED_BY_ORDER)
    ):
        marks.far.add(name)
    if name not in marks.uncalculated and UNCALCULATED_MARK.search(piece):
        marks.uncalculated.add(name)
    if (
        name not in marks.errors or name not in marks.uncalculated
    ) and _TYPED_MARK.search(piece):
        if ERROR_MARK in piece:
            marks.errors.add(name)
        if ARRAY_MARK in piece:
            marks.uncalculated.add(name)


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Header words of a score summary or sign-in sheet in traditional characters:
# found in a Big5 reading of a file that GB18030 also decodes, they tell a Big5
# file from a GBK one (GB18030 decodes most Big5 bytes into other characters).
_BIG5_HEADER_WORDS = ("姓名", "準考證", "准考證", "證件", "序號", "成績", "簽到")
_GB_HEADER_WORDS = ("姓名", "准考证", "证件", "序号", "成绩", "签到", "工号")


def _sniff_text(data: bytes) -> Format | Refusal:
    # Excel's "Unicode 文本" is UTF-16 with a byte order mark: NUL bytes are
    # its every other byte, not a sign of a binary file.
    if data.startswith(UTF16_BOMS):
        return Format.CSV
    # Some tools pad a file with NUL bytes at its end; they hold nothing.
    head = data.rstrip(b"\x00")[:4096]
    if b"\x00" in head and not _text_with_stray_nuls(head):
        return Refusal("unsupported_format", {})
    if head.lstrip().lower().startswith((b"<", b"\xef\xbb\xbf<")):
        return Refusal("xml_or_html", {})
    if head.startswith(b"%PDF"):
        return Refusal("unsupported_format", {})
    return Format.CSV


def _text_with_stray_nuls(head: bytes) -> bool:
    """Whether ``head``, holding NUL bytes, is text all the same: a few NUL
    bytes (a cell a tool or a broken copy left one in) among lines that read
    as UTF-8 or GBK. Other control characters are left to the reader, which
    names each cell holding one.

    Read as a CSV, such a file has the cell holding a NUL named by its row and
    column, as one past the first 4 KB always was; called an unknown format,
    the sender was told to upload a CSV, which it was. A binary file holds
    NUL bytes by the hundred, or bytes neither encoding reads.
    """
    if head.count(b"\x00") * _MOST_NULS > len(head):
        return False
    text = head.replace(b"\x00", b"")
    for codec in ("utf-8", "gb18030"):
        try:
            # The head may end inside a character: only what follows is unread.
            codecs.getincrementaldecoder(codec)().decode(text, final=False)
        except UnicodeDecodeError:
            continue
        return True
    return False


# At most one byte in this many of a text's head may be NUL.
_MOST_NULS = 100


def decode_text(data: bytes) -> str | Refusal:
    """Decode CSV bytes, or say why they cannot be read.

    UTF-16 with a byte order mark (Excel's "Unicode 文本"), UTF-8 with or
    without BOM, else GB18030 (a superset of GBK). A Big5 file is refused,
    though GB18030 decodes most of its bytes: as other characters, whose header
    would then be "missing". NUL bytes at the end are dropped. A file cut in
    the middle of a character (``csv_cut_short``) and lines in another
    encoding than the rest (``csv_mixed_encoding``, a row pasted from a GBK
    file into a UTF-8 one) are told apart from an unknown encoding, naming the
    line; so is a UTF-8 row in a GBK file that GB18030 decodes whole, as other
    characters (``_utf8_lines``).
    """
    if data.startswith(UTF16_BOMS):
        try:
            text = data.decode("utf-16").rstrip("\x00")
        except UnicodeDecodeError:
            return Refusal("bad_encoding", {})
        # Text saved as UTF-16 has its line breaks and separators as ASCII
        # code units; bytes that only start like a BOM decode to neither.
        if any(mark in text[:4096] for mark in "\n\t,"):
            return text
        return Refusal("bad_encoding", {})
    data = data.rstrip(b"\x00")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if _written_in_utf8(data, error):
            return _faulty("utf-8", "UTF-8", data, error)
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as error:
        return _faulty("gb18030", "GBK", data, error)
    if _is_big5(data, text):
        return Refusal("bad_encoding", {})
    pasted = _utf8_lines(data)
    return _mixed(pasted, "GBK") if pasted else text


def _written_in_utf8(data: bytes, error: UnicodeDecodeError) -> bool:
    """Whether bytes UTF-8 fails on are a UTF-8 file all the same: cut short
    inside its last character, or with most of its lines that are not ASCII
    reading as UTF-8. A few GBK characters read as UTF-8 by chance (院 is the
    bytes of Ժ), so one line, or the text before the fault, says nothing.
    """
    if error.end == len(data) and error.reason in _CUT_SHORT:
        return not data[: error.start].isascii()
    read = failed = 0
    for line in data.split(b"\n"):
        if not line.isascii():
            if _decodes(line, "utf-8"):
                read += 1
            else:
                failed += 1
    return read > failed


def _faulty(
    codec: str, encoding: str, data: bytes, error: UnicodeDecodeError
) -> Refusal:
    """Why ``data``, in ``codec`` but for ``error``, cannot be read.

    A fault at the very end that a further byte could have completed is a file
    cut short: named by its last line. Otherwise the lines that do not decode
    are named when they decode in the other codec (a row pasted from a file in
    another encoding), and the encoding is unknown when they do not.
    """
    if error.end == len(data) and error.reason in _CUT_SHORT:
        return Refusal("csv_cut_short", {"line": data.count(b"\n") + 1})
    other = "gb18030" if codec == "utf-8" else "utf-8"
    foreign = []
    for number, line in enumerate(data.split(b"\n"), 1):
        try:
            line.decode(codec)
        except UnicodeDecodeError:
            if not _decodes(line, other):
                return Refusal("bad_encoding", {})
            foreign.append(number)
    return _mixed(foreign, encoding)


def _utf8_lines(data: bytes) -> list[int]:
    """The lines (1-based) of a file GB18030 decodes whole that are UTF-8
    Chinese text all the same: a row pasted from a UTF-8 file, which GB18030
    reads as other characters (a name turned to nonsense, never refused).

    A line is taken for UTF-8 when it is not ASCII, decodes as UTF-8, and
    reads there as Chinese text (see ``_CHINESE_TEXT``). GBK text rarely
    decodes as UTF-8, and then mostly as letters of other scripts (院 is the
    bytes of Ժ) or a lone character of the planes beyond. Measured when this
    was written: no line of the GBK samples, none of some 4,600 lines of the
    project's Chinese messages and documents saved as GBK, none of 200,000
    random names of common characters and one of 300,000 random strings of
    one to four GB2312 characters read so. A summary's row, whose 居民身份证
    or module name is never valid UTF-8 in GBK, cannot.
    """
    found = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if line.isascii():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if _CHINESE_TEXT.fullmatch(text) and _BMP_HAN.search(text):
            found.append(number)
    return found


def _mixed(lines: list[int], encoding: str) -> Refusal:
    """The refusal of a file in ``encoding`` whose ``lines`` are in another."""
    shown = "、".join(map(str, lines[:_LINES_SHOWN]))
    if len(lines) > _LINES_SHOWN:
        shown += "…"
    fields = {"line": lines[0], "lines": shown, "encoding": encoding}
    return Refusal("csv_mixed_encoding", fields)


# What Chinese text reads as: ASCII, Han characters of every block, CJK and
# general punctuation, full-width forms, the middle dot and ×. A line of it
# holds at least one Han character of the BMP (``_BMP_HAN``): where GBK bytes
# read as UTF-8 by chance, a character of planes 2 and 3 may stand alone.
_CHINESE_TEXT = re.compile(
    rf"[\x00-\x7f{HAN}\u2000-\u206f\u3000-\u303f\uff00-\uffef\u00b7\u00d7]*"
)
_BMP_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# How each codec says its input ended inside a character.
_CUT_SHORT = ("unexpected end of data", "incomplete multibyte sequence")
_LINES_SHOWN = 10


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _is_big5(data: bytes, gb_text: str) -> bool:
    head = data[:4096]
    if any(word in gb_text[:4096] for word in _GB_HEADER_WORDS):
        return False
    big5 = head.decode("big5", errors="ignore")
    return any(word in big5 for word in _BIG5_HEADER_WORDS)


# --- OLE2 compound files (xls, and encrypted OOXML packages) -------------------

_FREE = 0xFFFFFFFF
_END_OF_CHAIN = 0xFFFFFFFE
_BIFF_BOF = 0x0809
_BIFF_EOF = 0x000A
_BIFF_FILEPASS = 0x002F
_BIFF_BOUNDSHEET = 0x0085
_MACRO_SHEET_TYPES = {0x01, 0x06}  # Excel 4.0 macro sheet, VBA module


def _sniff_ole2(data: bytes, limits: IntakeLimits) -> Format | Refusal:
    try:
        compound = CompoundFile(data)
        names = compound.names()
    except (ValueError, struct.error, IndexError):
        return Refusal("damaged", {})

    if "encryptioninfo" in names or "encryptedpackage" in names:
        return Refusal("encrypted", {})
    if "_vba_project_cur" in names or "_vba_project" in names:
        return Refusal("macro_workbook", {})
    stream = "workbook" if "workbook" in names else "book" if "book" in names else None
    if stream is None:
        return Refusal("unsupported_format", {})
    try:
        biff = compound.read_stream(stream, limit=len(data))
    except (ValueError, struct.error, IndexError):
        return Refusal("damaged", {})
    return _scan_biff_globals(biff) or _shared_text(biff, limits) or Format.XLS


def _shared_text(biff: bytes, limits: IntakeLimits) -> Refusal | None:
    """Why an xls is refused for its sheets, if it is: more than
    ``max_sheets`` of them (the reader reads every one as it opens the
    file: 270,000 sheet records naming one small sheet, in 7 MB, took it
    past 2.6 GB), or cells copying too much text from its shared string
    table (the reader copies a string into every cell naming it,
    ``certflow.intake.biff``), before any other cap applies."""
    try:
        found = workbook_globals(biff)
        if refused := sheets_refusal(len(found[1]), limits):
            return refused
        sheets = copied_text(biff, found, limits.max_cell_text)
    except BiffError:
        # Not counted is not read: the reader fails on it, panics, or might
        # read it otherwise than the count did.
        return Refusal("damaged", {})
    most = max(sheets, key=lambda sheet: sheet.chars, default=None)
    wordiest = None if most is None else SheetExtent(most.name, text=most.chars)
    return text_refusal(wordiest, sum(sheet.chars for sheet in sheets), limits)


def _scan_biff_globals(head: bytes) -> Refusal | None:
    """Look through the workbook globals for a password record or a macro sheet."""
    offset = 0
    while offset + 4 <= len(head):
        kind, length = struct.unpack_from("<HH", head, offset)
        body = head[offset + 4 : offset + 4 + length]
        if kind == _BIFF_FILEPASS:
            return Refusal("encrypted", {})
        if (
            kind == _BIFF_BOUNDSHEET
            and len(body) >= 6
            and body[5] in _MACRO_SHEET_TYPES
        ):
            return Refusal("macro_workbook", {})
        if kind == _BIFF_EOF:
            return None
        offset += 4 + length
    return None


class CompoundFile:
    """Just enough of an OLE2 reader to list entries and read a stream's start."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        sector_shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
        if sector_shift not in (9, 12) or mini_shift != 6:
            raise ValueError("not a compound file")
        self.sector_size = 1 << sector_shift
        (
            fat_count,
            self.first_dir,
            _,
            self.mini_cutoff,
            self.first_minifat,
            _,
            first_difat,
            difat_count,
        ) = struct.unpack_from("<IIIIIIII", data, 0x2C)
        self.max_sector = (len(data) - 1) // self.sector_size
        fat_sectors = [
            s for s in struct.unpack_from("<109I", data, 0x4C) if s < _END_OF_CHAIN
        ]
        sector = first_difat
        for _ in range(difat_count):
            if sector >= _END_OF_CHAIN:
                break
            entries = struct.unpack_from(
                f"<{self.sector_size // 4}I", self._sector(sector)
            )
            fat_sectors.extend(s for s in entries[:-1] if s < _END_OF_CHAIN)
            sector = entries[-1]
        fat_sectors = fat_sectors[:fat_count]
        self.fat = b"".join(self._sector(s) for s in fat_sectors)
        self.entries = self._directory()

    def _sector(self, number: int) -> bytes:
        if number > self.max_sector:
            raise ValueError("sector outside the file")
        start = (number + 1) * self.sector_size
        return self.data[start : start + self.sector_size]

    def _chain(self, first: int, table: bytes, limit: int) -> list[int]:
        chain: list[int] = []
        sector = first
        entries = len(table) // 4
        while sector < _END_OF_CHAIN and len(chain) < limit:
            if sector >= entries or sector in chain[-1:]:
                raise ValueError("broken chain")
            chain.append(sector)
            sector = struct.unpack_from("<I", table, sector * 4)[0]
        return chain

    def _directory(self) -> list[tuple[str, int, int, int]]:
        raw = b"".join(
            self._sector(s) for s in self._chain(self.first_dir, self.fat, limit=4096)
        )
        entries = []
        for offset in range(0, len(raw) - 127, 128):
            name_length = struct.unpack_from("<H", raw, offset + 64)[0]
            kind = raw[offset + 66]
            start, size = struct.unpack_from("<IQ", raw, offset + 116)
            name = raw[offset : offset + max(name_length - 2, 0)].decode(
                "utf-16-le", errors="replace"
            )
            entries.append((name, kind, start, size & 0xFFFFFFFF))
        return entries

    def names(self) -> set[str]:
        return {name.lower() for name, kind, _, _ in self.entries if kind in (1, 2)}

    def read_stream(self, name: str, limit: int) -> bytes:
        """Return at most ``limit`` bytes from the start of the named stream."""
        _, _, start, size = next(e for e in self.entries if e[0].lower() == name)
        wanted = min(size, limit)
        if size >= self.mini_cutoff:
            sectors = self._chain(start, self.fat, limit=wanted // self.sector_size + 1)
            return b"".join(self._sector(s) for s in sectors)[:wanted]

        # Small streams live in 64-byte mini sectors inside the root's stream.
        root_start, root_size = self.entries[0][2], self.entries[0][3]
        root = b"".join(
            self._sector(s)
            for s in self._chain(
                root_start, self.fat, root_size // self.sector_size + 1
            )
        )
        minifat = b"".join(
            self._sector(s)
            for s in self._chain(self.first_minifat, self.fat, limit=4096)
        )
        sectors = self._chain(start, minifat, limit=wanted // 64 + 1)
        return b"".join(root[s * 64 : s * 64 + 64] for s in sectors)[:wanted]
