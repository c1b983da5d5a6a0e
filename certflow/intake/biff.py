"""The text an xls's cells copy from its shared string table, counted in the
``Workbook`` stream before the cell reader opens the file.

An xls (BIFF8) keeps each distinct text once, in the ``SST`` record of the
workbook globals and the ``CONTINUE`` records after it; a ``LABELSST`` cell
record names one by its index. The cell reader (python-calamine) copies the
text into every cell naming it, then makes a Python string of each copy: a
few MB of ``LABELSST`` records naming one 32,767-character text ask it for
tens of GB, and its failed allocation aborts the process. So the characters
each sheet would copy are counted here first.

The table is read as the reader reads it, which is not always as [MS-XLS]
says: it reads strings until the table's records end, whatever count the
``SST`` record declares, and takes an empty ``CONTINUE`` record met between
two strings for an empty string (the indexes after it move by one). Where
the reader would stop with an error, or panic, ``BiffError`` says so: not
counted is not read.
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass
from itertools import accumulate

BOUNDSHEET = 0x0085
EOF = 0x000A
SST = 0x00FC
CONTINUE = 0x003C
LABELSST = 0x00FD
# A LABELSST record's size: its header, then row, column, format, index.
_LABELSST_SIZE = 4 + 10
_LABELSST_TYPE = struct.pack("<H", LABELSST)
_HEADER = struct.Struct("<HH")
_STRING_HEADER = struct.Struct("<HB")
_INDEX = struct.Struct("<I")
# How many of the longest strings the bound counts apart (each a pass over
# the sheets' bytes): a long note or two in a plain upload.
_LONGEST_APART = 8
# XLUnicodeRichExtendedString flags: 16-bit characters, phonetic bytes, runs.
_WIDE = 0x01
_PHONETIC = 0x04
_RUNS = 0x08


# The length of each shared string, and each sheet's name and the offset of
# its first record (``workbook_globals``).
Globals = tuple[list[int], list[tuple[str, int]]]


class BiffError(ValueError):
    """The workbook stream holds what the cell reader fails on, or what this
    walk cannot read as the reader would."""


@dataclass(frozen=True)
class SheetText:
    """The characters the cell reader copies from the shared string table
    into the cells of the sheet ``name``."""

    name: str
    chars: int


def copied_text(stream: bytes, found: Globals, cap: int) -> list[SheetText]:
    """The characters each sheet of the BIFF8 ``stream`` copies into its
    cells from the shared string table; none when a bound shows the sheets
    together copy at most ``cap``. ``found`` is what ``workbook_globals``
    read of the stream.

    The bound (``_most_copied``) spares a plain upload, whose strings are
    short but for a few notes, the walk of every record in Python; only
    past it are the sheets walked.
    """
    lengths, sheets = found
    if not lengths or not sheets:
        return []
    if _most_copied(stream, [start for _, start in sheets], lengths, cap) <= cap:
        return []
    counted: dict[int, int] = {}
    for _, start in sheets:
        if start not in counted:
            counted[start] = _sheet_chars(stream, start, lengths)
    return [SheetText(name, counted[start]) for name, start in sheets]


def _most_copied(stream: bytes, starts: list[int], lengths: list[int], cap: int) -> int:
    """At least the characters the sheets starting at ``starts`` copy, or
    more than ``cap``, counted at the speed of ``bytes.count``.

    A sheet holds no more ``LABELSST`` records than its bytes (to the
    stream's end) hold the record's type, ``FD 00``, which cannot overlap
    itself; each copies at most the longest string. Past ``cap``, the few
    longest strings are counted apart: no more cells name one than its
    bytes hold its index, as the indexes of two records never overlap and
    ``bytes.count`` finds the most occurrences that do not. The others
    copy at most the longest of the rest. The longest are counted apart
    one by one, until the bound is under ``cap``.
    """
    records = sum(stream.count(_LABELSST_TYPE, start) for start in starts)
    if max(lengths) * records <= cap:
        return max(lengths) * records
    ranked = heapq.nlargest(
        _LONGEST_APART + 1, range(len(lengths)), key=lengths.__getitem__
    )
    apart = 0
    for index in ranked[:_LONGEST_APART]:
        most = apart + lengths[index] * records
        if most <= cap:
            return most
        named = sum(stream.count(_INDEX.pack(index), start) for start in starts)
        apart += lengths[index] * named
    rest = lengths[ranked[_LONGEST_APART]] if len(ranked) > _LONGEST_APART else 0
    return apart + rest * records


def workbook_globals(stream: bytes) -> Globals:
    """The length of each shared string, and each sheet's name and the offset
    of its first record, from the workbook globals (up to their ``EOF``).

    The reader keeps the last ``SST`` record it meets, and fails on a record
    cut short; it panics on a sheet said to start past the stream's end.
    """
    lengths: list[int] = []
    sheets: list[tuple[str, int]] = []
    offset = 0
    size = len(stream)
    while offset + 4 <= size:
        kind, length = struct.unpack_from("<HH", stream, offset)
        end = offset + 4 + length
        if end > size:
            raise BiffError("a record is cut short")
        if kind == EOF:
            break
        if kind == BOUNDSHEET:
            if length < 8:
                raise BiffError("a BOUNDSHEET record is cut short")
            start = struct.unpack_from("<I", stream, offset + 4)[0]
            if start > size:
                raise BiffError("a sheet starts past the stream's end")
            sheets.append((sheet_name(stream[offset + 4 : end]), start))
        offset = end
        pieces = [stream[offset - length : offset]]
        # The reader joins the CONTINUE records after any record to it (one
        # of a bare header at the stream's very end it reads as a record).
        while offset + 4 < size and stream[offset : offset + 2] == b"\x3c\x00":
            more = struct.unpack_from("<H", stream, offset + 2)[0]
            if offset + 4 + more > size:
                raise BiffError("a CONTINUE record is cut short")
            pieces.append(stream[offset + 4 : offset + 4 + more])
            offset += 4 + more
        if kind == SST:
            lengths = string_lengths(pieces)
    return lengths, sheets


def sheet_name(body: bytes) -> str:
    """The name of a sheet as a BOUNDSHEET record's ``body`` holds it:
    lbPlyPos (4 bytes), hsState, dt, then a ShortXLUnicodeString (a length,
    the flag of 16-bit characters, the characters), NUL characters dropped
    as the cell reader drops them."""
    count, wide = body[6], body[7] & _WIDE
    raw = body[8 : 8 + count * (2 if wide else 1)]
    return raw.decode("utf-16-le" if wide else "latin-1", "replace").replace("\0", "")


def string_lengths(pieces: list[bytes]) -> list[int]:
    """The length in characters (UTF-16 code units) of each string of a
    shared string table: ``pieces`` are the ``SST`` record's body and the
    bodies of the ``CONTINUE`` records after it.

    Each string is an XLUnicodeRichExtendedString: its length, a flags byte,
    the run count when it has runs, the phonetic bytes' count when it has
    them (all in one record), its characters, then 4 bytes a run and the
    phonetic bytes. Where characters go on in the next record, that record
    starts with a flags byte of its own (8-bit or 16-bit, an odd byte left
    before it dropped); runs and phonetic bytes go on with none.
    """
    if len(pieces[0]) < 8:
        raise BiffError("an SST record is cut short")
    data = b"".join(pieces)
    ends = list(accumulate(len(piece) for piece in pieces))
    lengths: list[int] = []
    string_header = _STRING_HEADER.unpack_from
    piece, end = 0, ends[0]
    offset = 8
    while True:
        # Between two strings: an exhausted record moves to the next, and
        # the reader takes an empty one for an empty string.
        while offset == end:
            piece += 1
            if piece == len(ends):
                return lengths
            if ends[piece] == end:
                lengths.append(0)
            end = ends[piece]
        if end - offset < 3:
            raise BiffError("a string's header is split")
        count, flags = string_header(data, offset)
        offset += 3
        # Most strings have no runs nor phonetic bytes, and end in their record.
        if (
            not flags & (_RUNS | _PHONETIC)
            and offset + (count << (flags & _WIDE)) <= end
        ):
            offset += count << (flags & _WIDE)
            lengths.append(count)
            continue
        runs = phonetic = 0
        if flags & _RUNS:
            if end - offset < 2:
                raise BiffError("a string's run count is split")
            runs = struct.unpack_from("<H", data, offset)[0]
            offset += 2
        if flags & _PHONETIC:
            if end - offset < 4:
                raise BiffError("a string's phonetic count is split")
            phonetic = struct.unpack_from("<i", data, offset)[0]
            if phonetic < 0:
                raise BiffError("a string's phonetic count is negative")
            offset += 4
        wide = flags & _WIDE
        left = count
        while True:
            taken = min(left, (end - offset) // 2 if wide else end - offset)
            offset += 2 * taken if wide else taken
            left -= taken
            if not left:
                break
            piece += 1
            if piece == len(ends) or ends[piece] == end:
                # No record left, or an empty one, where the reader wants a
                # flags byte: it fails, or panics.
                raise BiffError("a string's characters are cut short")
            offset, end = end, ends[piece]
            wide = data[offset] & _WIDE
            offset += 1
        offset += 4 * runs + phonetic
        while offset > end:
            piece += 1
            if piece == len(ends) or ends[piece] == end:
                raise BiffError("a string's runs or phonetic bytes are cut short")
            end = ends[piece]
        lengths.append(count)


def _sheet_chars(stream: bytes, start: int, lengths: list[int]) -> int:
    """The characters the ``LABELSST`` records of the sheet starting at
    ``start`` copy, up to its ``EOF``: each copies the string it names, and
    one naming no string of the table makes no cell."""
    chars = 0
    offset = start
    size = len(stream)
    strings = len(lengths)
    header, index_at = _HEADER.unpack_from, _INDEX.unpack_from
    while offset + 4 <= size:
        kind, length = header(stream, offset)
        if kind == LABELSST:
            if length < 10 or offset + _LABELSST_SIZE > size:
                raise BiffError("a LABELSST record is cut short")
            index = index_at(stream, offset + 10)[0]
            if index < strings:
                chars += lengths[index]
        elif kind == EOF:
            break
        offset += 4 + length
    return chars
