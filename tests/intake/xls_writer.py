"""A small xls writer, for tests that need an xls no office suite saved.

No xls writer library is installed on the test machines, and the sample xls
holds only what LibreOffice wrote; a test of the shared string table needs
strings of chosen lengths and widths, split over ``CONTINUE`` records where
the tests want them, and cells naming any string of the table. This writes a
BIFF8 workbook as [MS-XLS] lays it out: the globals (``BOF``, a
``BOUNDSHEET`` per sheet pointing at the sheet's ``BOF``, the ``SST`` and its
``CONTINUE`` records, ``EOF``), then each sheet (``BOF``, ``DIMENSIONS``, its
cells, ``EOF``), in the ``Workbook`` stream of an OLE2 compound file
([MS-CFB], version 3, 512-byte sectors). Every reader here reads it: the cell
reader, ``certflow.intake.container.CompoundFile`` and the sheet walks.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

# Record types of BIFF8.
BOF = 0x0809
EOF = 0x000A
BOUNDSHEET = 0x0085
SST = 0x00FC
CONTINUE = 0x003C
DIMENSIONS = 0x0200
LABELSST = 0x00FD
NUMBER = 0x0203
LABEL = 0x0204

# The most bytes a record's body holds; more go into CONTINUE records.
MOST_BODY = 8224

_BIFF8 = 0x0600
_GLOBALS = 0x0005
_WORKSHEET = 0x0010


def record(kind: int, body: bytes) -> bytes:
    """One record: its type, its length, its body."""
    return struct.pack("<HH", kind, len(body)) + body


def records(stream: bytes) -> Iterator[tuple[int, int, bytes]]:
    """The offset, type and body of each record of a BIFF stream, in order."""
    offset = 0
    while offset + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, offset)
        yield offset, kind, stream[offset + 4 : offset + 4 + length]
        offset += 4 + length


@dataclass(frozen=True)
class Shared:
    """A string of the shared string table with what a table may keep beside
    its characters: ``runs`` formatting runs (4 bytes each) and ``phonetic``
    bytes (an ``ExtRst``, the reading of East Asian text), both skipped by a
    reader that wants only the text."""

    text: str
    runs: int = 0
    phonetic: bytes = b""


@dataclass(frozen=True)
class Index:
    """A cell naming the shared string at ``index`` as it is, whether the
    table holds one there or not."""

    index: int


Value = str | int | float | Index | None


def xls_file(
    sheets: Mapping[str, Sequence[Sequence[Value]]],
    *,
    table: Sequence[str | Shared] = (),
    sst: bytes | None = None,
    dimensions: tuple[int, int] | None = None,
) -> bytes:
    """An xls holding ``sheets`` (their rows of values, from A1).

    Text goes into the shared string table, once per distinct text, after
    the strings of ``table`` (in its order); a cell of text is a
    ``LABELSST`` record naming it, a number a ``NUMBER`` record, ``None`` no
    record. ``sst`` (an ``SST`` record and its ``CONTINUE`` records, as
    ``sst_records`` makes them) replaces the table written, for a table no
    office suite writes. ``dimensions`` (rows, columns) replaces what each
    sheet's ``DIMENSIONS`` record says it reaches, for a claim no office
    suite writes.
    """
    listed = list(table)
    strings: dict[str, int] = {}
    for index, item in enumerate(listed):
        strings.setdefault(item.text if isinstance(item, Shared) else item, index)
    bodies = [_sheet(rows, strings, listed, dimensions) for rows in sheets.values()]
    globals_end = sst if sst is not None else sst_records(listed)
    return compound_file(_workbook_stream(list(sheets), bodies, globals_end))


def _sheet(
    rows: Sequence[Sequence[Value]],
    strings: dict[str, int],
    listed: list[str | Shared],
    dimensions: tuple[int, int] | None = None,
) -> bytes:
    """A sheet's records from its DIMENSIONS on (saying ``dimensions``, if
    given); new text goes into ``listed`` and ``strings`` (each text's index
    in the table)."""
    cells = bytearray()
    width = 0
    for row, values in enumerate(rows):
        width = max(width, len(values))
        for column, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, str):
                if value not in strings:
                    strings[value] = len(listed)
                    listed.append(value)
                value = Index(strings[value])
            if isinstance(value, Index):
                body = struct.pack("<HHHI", row, column, 0, value.index)
                cells += record(LABELSST, body)
            else:
                body = struct.pack("<HHHd", row, column, 0, float(value))
                cells += record(NUMBER, body)
    tall, wide = dimensions or (len(rows), width)
    reach = struct.pack("<IIHHH", 0, tall, 0, wide, 0)
    return record(DIMENSIONS, reach) + bytes(cells) + record(EOF, b"")


def _workbook_stream(names: list[str], sheets: list[bytes], table: bytes) -> bytes:
    """The globals, then the sheets, each BOUNDSHEET pointing at its sheet."""
    head = record(BOF, struct.pack("<HHHHII", _BIFF8, _GLOBALS, 0, 0, 0, 0))
    bound_sizes = [4 + 8 + len(name.encode("utf-16-le")) for name in names]
    start = len(head) + sum(bound_sizes) + len(table) + 4
    bounds = b""
    for name, body in zip(names, sheets, strict=True):
        bounds += record(BOUNDSHEET, struct.pack("<IBB", start, 0, 0) + _short(name))
        start += len(_sheet_bof()) + len(body)
    stream = head + bounds + table + record(EOF, b"")
    return stream + b"".join(_sheet_bof() + body for body in sheets)


def _sheet_bof() -> bytes:
    return record(BOF, struct.pack("<HHHHII", _BIFF8, _WORKSHEET, 0, 0, 0, 0))


def _short(name: str) -> bytes:
    """A ShortXLUnicodeString: its length in characters, 16-bit characters."""
    return struct.pack("<BB", len(name), 1) + name.encode("utf-16-le")


def sst_records(table: Sequence[str | Shared], *, declared: int | None = None) -> bytes:
    """The SST record of ``table`` and the CONTINUE records it needs.

    Each string is an XLUnicodeRichExtendedString: its length, a flags byte
    (16-bit characters, phonetic bytes, runs), the run count and phonetic
    length when it has them, its characters, runs and phonetic bytes. Its
    header is never split; its characters are split where a record is full,
    the next record starting with a flags byte of its own (its characters
    8-bit where they all fit in a byte: a string may change width there);
    runs and phonetic bytes are split anywhere. ``declared`` is the count of
    strings the record says it holds, when it is to lie.
    """
    count = len(table) if declared is None else declared
    pieces = _Pieces(struct.pack("<II", len(table), count))
    for item in table:
        shared = item if isinstance(item, Shared) else Shared(item)
        units = shared.text.encode("utf-16-le")
        units_list = list(struct.unpack(f"<{len(units) // 2}H", units))
        header = 3 + (2 if shared.runs else 0) + (4 if shared.phonetic else 0)
        if pieces.room() < header + 2:
            pieces.next_record()
        first = _chunk(units_list, pieces.room() - header)
        flags = (0 if first[1] else 0x01) | (0x08 if shared.runs else 0)
        flags |= 0x04 if shared.phonetic else 0
        fields = struct.pack("<HB", len(units_list), flags)
        if shared.runs:
            fields += struct.pack("<H", shared.runs)
        if shared.phonetic:
            fields += struct.pack("<I", len(shared.phonetic))
        pieces.add(fields)
        done = 0
        while True:
            taken, narrow = _chunk(units_list[done:], pieces.room())
            pieces.add(_units(units_list[done : done + taken], narrow))
            done += taken
            if done == len(units_list):
                break
            pieces.next_record()
            narrow = _chunk(units_list[done:], pieces.room() - 1)[1]
            pieces.add(bytes([0 if narrow else 0x01]))
        runs = b"".join(struct.pack("<HH", n, 0) for n in range(shared.runs))
        pieces.spill(runs + shared.phonetic)
    return pieces.bytes()


def _chunk(units: list[int], room: int) -> tuple[int, bool]:
    """How many of ``units`` fit in ``room`` bytes, and whether 8-bit."""
    narrow = all(unit < 0x100 for unit in units[:room])
    return (min(len(units), room if narrow else room // 2), narrow)


def _units(units: list[int], narrow: bool) -> bytes:
    return bytes(units) if narrow else struct.pack(f"<{len(units)}H", *units)


class _Pieces:
    """The bodies of an SST record and its CONTINUE records, being filled."""

    def __init__(self, first: bytes) -> None:
        self.bodies = [bytearray(first)]

    def room(self) -> int:
        return MOST_BODY - len(self.bodies[-1])

    def next_record(self) -> None:
        self.bodies.append(bytearray())

    def add(self, data: bytes) -> None:
        assert len(data) <= self.room()
        self.bodies[-1] += data

    def spill(self, data: bytes) -> None:
        """Add ``data`` wherever it falls, across as many records as it needs."""
        while data:
            if not self.room():
                self.next_record()
            taken = data[: self.room()]
            self.bodies[-1] += taken
            data = data[len(taken) :]

    def bytes(self) -> bytes:
        first, *rest = self.bodies
        return record(SST, bytes(first)) + b"".join(
            record(CONTINUE, bytes(body)) for body in rest
        )


# --- The compound file ----------------------------------------------------------

_SECTOR = 512
_FREE_SECTOR = 0xFFFFFFFF
_END_OF_CHAIN = 0xFFFFFFFE
_FAT_SECTOR = 0xFFFFFFFD
_NO_STREAM = 0xFFFFFFFF
# Streams shorter than this live in the mini stream; the writer pads to it.
_MINI_CUTOFF = 4096
_HEADER_FAT_ENTRIES = 109


def compound_file(stream: bytes) -> bytes:
    """An OLE2 compound file holding ``stream`` as its ``Workbook`` stream.

    The stream's sectors come first, then the FAT's, then the directory's
    one sector (the root and the ``Workbook`` entry). A stream shorter than
    4 KB is padded with zero bytes, so that it needs no mini stream: a
    reader reads a BIFF stream up to its last ``EOF``, never the padding.
    """
    stream = stream.ljust(_MINI_CUTOFF, b"\0")
    data_sectors = -(-len(stream) // _SECTOR)
    fat_sectors = 1
    while fat_sectors * (_SECTOR // 4) < data_sectors + fat_sectors + 1:
        fat_sectors += 1
    assert fat_sectors <= _HEADER_FAT_ENTRIES, "a stream this long needs a DIFAT"
    directory = data_sectors + fat_sectors

    fat = [*range(1, data_sectors), _END_OF_CHAIN]
    fat += [_FAT_SECTOR] * fat_sectors + [_END_OF_CHAIN]
    fat += [_FREE_SECTOR] * (fat_sectors * (_SECTOR // 4) - len(fat))
    fat_list = list(range(data_sectors, directory))
    fat_list += [_FREE_SECTOR] * (_HEADER_FAT_ENTRIES - fat_sectors)

    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
    header += struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
    header += struct.pack("<IIII", 0, fat_sectors, directory, 0)
    header += struct.pack("<IIIII", _MINI_CUTOFF, _END_OF_CHAIN, 0, _END_OF_CHAIN, 0)
    header += struct.pack(f"<{_HEADER_FAT_ENTRIES}I", *fat_list)

    entries = _entry("Root Entry", 5, _NO_STREAM, 1, _END_OF_CHAIN, 0)
    entries += _entry("Workbook", 2, _NO_STREAM, _NO_STREAM, 0, len(stream))
    entries += (_entry("", 0, _NO_STREAM, _NO_STREAM, 0, 0)) * 2

    body = stream.ljust(data_sectors * _SECTOR, b"\0")
    body += struct.pack(f"<{len(fat)}I", *fat)
    return header + body + entries


def _entry(
    name: str, kind: int, sibling: int, child: int, start: int, size: int
) -> bytes:
    """A 128-byte directory entry: its name, type, tree links, first sector
    and size (black in the red-black tree, as one entry a level is)."""
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    fields = encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
    fields += struct.pack("<III", sibling, sibling, child) + bytes(16 + 4 + 16)
    return fields + struct.pack("<IQ", start, size)
