"""Cells of a real xls replaced by cells no library here can write.

No office suite runs on the test machines and no xls writer is installed, so
the cases an office suite saves (a formula whose result is an error or a
number, an error typed as a constant) are written into a workbook
LibreOffice saved (the sample summary): its ``Workbook`` stream is walked
record by record, the chosen cells' records are replaced by ``FORMULA`` or
``BOOLERR`` records laid out as [MS-XLS] 2.4.127 and 2.4.24 say Excel, WPS
and LibreOffice write them, and the stream is written back into the file's
own sectors. Every other byte stays as LibreOffice wrote it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from tests.intake.xls_writer import record as _record
from tests.intake.xls_writer import records as _records

# Record types of BIFF8.
_FORMULA = 0x0006
_BOOLERR = 0x0205
_RK = 0x027E
_NUMBER = 0x0203
_LABELSST = 0x00FD
_BLANK = 0x0201
_MULRK = 0x00BD
_MULBLANK = 0x00BE
_STRING = 0x0207
_LABEL = 0x0204
_BOF = 0x0809
_BOUNDSHEET = 0x0085
_COLINFO = 0x007D
_COLUMN_HIDDEN = 0x0001  # fHidden of a COLINFO record's options
_SINGLE_CELLS = (_RK, _NUMBER, _LABELSST, _LABEL, _BLANK, _FORMULA, _BOOLERR)

ERROR_CODES = {
    "#NULL!": 0x00,
    "#DIV/0!": 0x07,
    "#VALUE!": 0x0F,
    "#REF!": 0x17,
    "#NAME?": 0x1D,
    "#NUM!": 0x24,
    "#N/A": 0x2A,
}
# The parsed formula NA(): ptgFunc (0x21) of function number 10.
_NA_FORMULA = bytes([0x21, 0x0A, 0x00])

# The parsed formula ROW()-3: ptgFuncVar (0x22) of function number 8 with no
# argument, ptgInt (0x1E) 3, ptgSub (0x04).
_ROW_FORMULA = bytes([0x22, 0x00, 0x08, 0x00, 0x1E, 0x03, 0x00, 0x04])

# Makes a cell's record from its 0-based row and column and its format index.
CellRecord = Callable[[int, int, int], bytes]


def formula_error(error: str) -> CellRecord:
    """A formula saved with an error as its result, as an office suite saves it."""

    def record(row: int, column: int, xf: int) -> bytes:
        # The result: 2 (an error), a byte, the error code, three bytes, 0xFFFF.
        result = bytes([2, 0, ERROR_CODES[error], 0, 0, 0, 0xFF, 0xFF])
        body = struct.pack("<HHH", row, column, xf) + result
        body += struct.pack("<HIH", 0, 0, len(_NA_FORMULA)) + _NA_FORMULA
        return _record(_FORMULA, body)

    return record


def formula_number(value: float) -> CellRecord:
    """The formula ``=ROW()-3`` saved with ``value`` as its result, as an office
    suite saves a sequence number filled down."""

    def record(row: int, column: int, xf: int) -> bytes:
        body = struct.pack("<HHH", row, column, xf) + struct.pack("<d", value)
        body += struct.pack("<HIH", 0, 0, len(_ROW_FORMULA)) + _ROW_FORMULA
        return _record(_FORMULA, body)

    return record


def formula_text(text: str) -> CellRecord:
    """A formula saved with the text ``text`` as its result, as an office
    suite saves ``=IF(H4>=60,"合格","不合格")``: the ``FORMULA`` record says
    its result is text, the ``STRING`` record after it holds the text."""

    def record(row: int, column: int, xf: int) -> bytes:
        # The result: 0 (text, in the next record), five bytes, 0xFFFF.
        result = bytes([0, 0, 0, 0, 0, 0, 0xFF, 0xFF])
        body = struct.pack("<HHH", row, column, xf) + result
        # The parsed formula: ptgStr (0x17) of the text, as its constant.
        parsed = bytes([0x17, len(text), 1]) + text.encode("utf-16-le")
        body += struct.pack("<HIH", 0, 0, len(parsed)) + parsed
        return _record(_FORMULA, body) + _record(_STRING, _unicode_string(text))

    return record


def number(value: float) -> CellRecord:
    """A number typed into a cell (a ``NUMBER`` record)."""

    def record(row: int, column: int, xf: int) -> bytes:
        body = struct.pack("<HHHd", row, column, xf, value)
        return _record(_NUMBER, body)

    return record


def text(value: str) -> CellRecord:
    """Text typed into a cell, in a ``LABEL`` record (Excel writes the text
    into the shared string table instead; every reader reads both)."""

    def record(row: int, column: int, xf: int) -> bytes:
        body = struct.pack("<HHH", row, column, xf) + _unicode_string(value)
        return _record(_LABEL, body)

    return record


def _unicode_string(value: str) -> bytes:
    """An XLUnicodeString: its length, the flag of two-byte characters, them."""
    return struct.pack("<HB", len(value), 1) + value.encode("utf-16-le")


def constant_error(error: str) -> CellRecord:
    """An error typed into a cell as a value (Excel keeps ``#N/A`` so)."""

    def record(row: int, column: int, xf: int) -> bytes:
        body = struct.pack("<HHHBB", row, column, xf, ERROR_CODES[error], 1)
        return _record(_BOOLERR, body)

    return record


def blank(row: int, column: int, xf: int) -> bytes:
    """An empty cell keeping its format, as an office suite saves a cleared one."""
    return _record(_BLANK, struct.pack("<HHH", row, column, xf))


def with_cells(data: bytes, cells: dict[str, CellRecord]) -> bytes:
    """The xls ``data`` with the named cells (``"G4"``) replaced."""
    wanted = {_place(name): make for name, make in cells.items()}
    stream = _rewritten(_workbook_stream(data), wanted)
    return _with_stream(data, stream)


def _place(name: str) -> tuple[int, int]:
    letters = name.rstrip("0123456789")
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - ord("A") + 1
    return int(name[len(letters) :]) - 1, column - 1


def _rewritten(stream: bytes, cells: dict[tuple[int, int], CellRecord]) -> bytes:
    """The stream with ``cells`` replaced; a MULRK or MULBLANK holding one is
    written as single cells first. Sheet offsets follow the moved bytes."""
    out = bytearray()
    moved: dict[int, int] = {}
    replaced = set()
    for offset, kind, body in _records(stream):
        if kind == _BOF:
            moved[offset] = len(out)
        if kind in _SINGLE_CELLS:
            row, column, xf = struct.unpack_from("<HHH", body)
            if (row, column) in cells:
                out += cells[(row, column)](row, column, xf)
                replaced.add((row, column))
                continue
        if kind in (_MULRK, _MULBLANK):
            row, first = struct.unpack_from("<HH", body)
            size = 6 if kind == _MULRK else 2
            items = [body[i : i + size] for i in range(4, len(body) - 2, size)]
            if any((row, first + n) in cells for n in range(len(items))):
                single = _RK if kind == _MULRK else _BLANK
                for n, item in enumerate(items):
                    column = first + n
                    if (row, column) in cells:
                        xf = struct.unpack_from("<H", item)[0]
                        out += cells[(row, column)](row, column, xf)
                        replaced.add((row, column))
                    else:
                        out += _record(single, struct.pack("<HH", row, column) + item)
                continue
        out += _record(kind, body)
    assert replaced == set(cells), "a cell to replace is not in the workbook"
    return _sheets_moved(out, moved)


def _sheets_moved(out: bytearray, moved: dict[int, int]) -> bytes:
    """The rewritten stream ``out`` with each BOUNDSHEET record pointing at
    its sheet's BOF where it now stands (``moved``: old offset to new)."""
    for offset, kind, body in _records(bytes(out)):
        if kind == _BOUNDSHEET:
            sheet = moved[struct.unpack("<I", body[:4])[0]]
            struct.pack_into("<I", out, offset + 4, sheet)
    return bytes(out)


def with_hidden_columns(data: bytes, first: int, last: int) -> bytes:
    """The xls ``data`` with its 0-based columns ``first`` to ``last`` hidden,
    as an office suite saves them: the ``COLINFO`` record covering them is
    split, the part over them flagged ``fHidden`` ([MS-XLS] 2.4.53)."""
    stream = _workbook_stream(data)
    out = bytearray()
    moved: dict[int, int] = {}
    split = False
    for offset, kind, body in _records(stream):
        if kind == _BOF:
            moved[offset] = len(out)
        if kind == _COLINFO and not split:
            start, stop, width, xf, flags = struct.unpack_from("<HHHHH", body)
            if start <= first and last <= stop:
                parts = [
                    (start, first - 1, flags),
                    (first, last, flags | _COLUMN_HIDDEN),
                    (last + 1, stop, flags),
                ]
                for low, high, options in parts:
                    if low <= high:
                        fields = struct.pack("<HHHHH", low, high, width, xf, options)
                        out += _record(kind, fields + body[10:])
                split = True
                continue
        out += _record(kind, body)
    assert split, "no COLINFO record covers the columns"
    return _with_stream(data, _sheets_moved(out, moved))


class _Compound:
    """The sectors, FAT and directory of a compound file, enough to rewrite
    one stream in place."""

    def __init__(self, data: bytes) -> None:
        self.size = 1 << struct.unpack_from("<H", data, 0x1E)[0]
        fat_sectors = [
            s for s in struct.unpack_from("<109I", data, 0x4C) if s < 0xFFFFFFFA
        ]
        self.fat = b"".join(self.sector(data, s) for s in fat_sectors)
        self.directory = list(self.chain(struct.unpack_from("<I", data, 0x30)[0]))

    def sector(self, data: bytes, number: int) -> bytes:
        return data[(number + 1) * self.size : (number + 2) * self.size]

    def chain(self, first: int) -> Iterator[int]:
        sector = first
        while sector < 0xFFFFFFFA:
            yield sector
            sector = struct.unpack_from("<I", self.fat, sector * 4)[0]

    def entry(self, data: bytes, name: str) -> int:
        """The file offset of the directory entry named ``name``."""
        per_sector = self.size // 128
        for index in range(len(self.directory) * per_sector):
            sector = self.directory[index // per_sector]
            at = (sector + 1) * self.size + (index % per_sector) * 128
            length = struct.unpack_from("<H", data, at + 64)[0]
            if data[at : at + max(length - 2, 0)].decode("utf-16-le") == name:
                return at
        raise AssertionError(f"no stream {name}")


def _workbook_stream(data: bytes) -> bytes:
    compound = _Compound(data)
    at = compound.entry(data, "Workbook")
    start, size = struct.unpack_from("<IQ", data, at + 116)
    assert size >= 4096, "a stream this small lives in the mini stream"
    sectors = b"".join(compound.sector(data, s) for s in compound.chain(start))
    return sectors[:size]


def _with_stream(data: bytes, stream: bytes) -> bytes:
    """``data`` with its Workbook stream's content replaced by ``stream``, in
    the sectors it has (the stream keeps its place; it must fit)."""
    compound = _Compound(data)
    at = compound.entry(data, "Workbook")
    sectors = list(compound.chain(struct.unpack_from("<I", data, at + 116)[0]))
    room = len(sectors) * compound.size
    assert len(stream) <= room, "the rewritten stream outgrows its sectors"
    padded = stream + bytes(room - len(stream))
    out = bytearray(data)
    for n, sector in enumerate(sectors):
        piece = padded[n * compound.size : (n + 1) * compound.size]
        out[(sector + 1) * compound.size : (sector + 2) * compound.size] = piece
    struct.pack_into("<Q", out, at + 120, len(stream))
    return bytes(out)
