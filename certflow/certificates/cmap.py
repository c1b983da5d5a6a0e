"""Reading the CMaps of a certificate's font, as the writers write them only.

A composite font has two maps of its codes. The encoding CMap says which
glyph (CID) each code draws, and renderers obey it; the ToUnicode CMap says
which text each code reads as, and text extraction (the page check's) reads
it. Both are small PostScript programs, and readers read them differently: a
renderer tokenises PostScript (a mapping behind ``%`` is a comment), pypdf
reads ToUnicode line by line (it skips only lines that start with ``%``).
A map written so that two readers disagree lets the page show one thing
while the checks read another.

So a map is read here by tokenising it as PostScript, and accepted only as
the writers write it: their header and trailer, blocks of at most 100
two-byte codes each, no code twice, and, byte for byte, the writers' layout
of those blocks (one mapping a line, nothing else). Anything else (a
comment, ``usecmap``, a range, vertical writing, another code space) is a
:class:`CMapError`: a map no writer of ours wrote.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from certflow.certificates.pdfwriter import CMAP_HEAD, CMAP_TAIL

_WHITESPACE = b" \t\r\n\f\0"
_DELIMITERS = b"()<>[]{}/%"
_LINE_END = re.compile(rb"[\r\n]")
_HEX = re.compile(rb"(?:[0-9A-Fa-f]{2})*")
_MOST_PER_BLOCK = 100  # Adobe TN 5014; both writers keep to it
_MOST_MAPPINGS = 10_000  # far beyond a certificate's subset


class CMapError(ValueError):
    """A CMap neither writer writes: it is not read, the font is not trusted."""


class Token(NamedTuple):
    """One PostScript token: ``kind`` is ``hex`` (its bytes decoded),
    ``string`` (raw), ``name`` (without the slash), ``delimiter`` or
    ``other`` (numbers and operators)."""

    kind: str
    value: bytes


def tokens(data: bytes) -> list[Token]:
    """The PostScript tokens of ``data``, comments dropped as renderers drop them."""
    found: list[Token] = []
    index, size = 0, len(data)
    while index < size:
        byte = data[index : index + 1]
        if byte in _WHITESPACE:
            index += 1
        elif byte == b"%":
            line_end = _LINE_END.search(data, index)
            index = line_end.start() if line_end else size
        elif byte == b"(":
            index = _string(data, index, found)
        elif data.startswith((b"<<", b">>"), index):
            found.append(Token("delimiter", data[index : index + 2]))
            index += 2
        elif byte == b"<":
            close = data.find(b">", index)
            digits = bytes(c for c in data[index + 1 : close] if c not in _WHITESPACE)
            if close < 0 or not _HEX.fullmatch(digits):
                raise CMapError("a hex string cut short or not of whole bytes")
            found.append(Token("hex", bytes.fromhex(digits.decode("ascii"))))
            index = close + 1
        elif byte in (b"[", b"]", b"{", b"}"):
            found.append(Token("delimiter", byte))
            index += 1
        elif byte in (b")", b">"):
            raise CMapError("a string closed that was never opened")
        else:
            end = index + 1
            while end < size and data[end] not in _WHITESPACE + _DELIMITERS:
                end += 1
            if byte == b"/":
                found.append(Token("name", data[index + 1 : end]))
            else:
                found.append(Token("other", data[index:end]))
            index = end
    return found


def _string(data: bytes, index: int, found: list[Token]) -> int:
    """Read the literal string opening at ``index``; return where it ends."""
    depth, end = 0, index
    while end < len(data):
        byte = data[end : end + 1]
        if byte == b"\\":
            end += 2
            continue
        depth += {b"(": 1, b")": -1}.get(byte, 0)
        end += 1
        if depth == 0:
            found.append(Token("string", data[index + 1 : end - 1]))
            return end
    raise CMapError("a string never closed")


def encoding_cids(data: bytes, ros: tuple[str, str, int]) -> dict[int, int]:
    """Code to CID of an encoding CMap as fpdf2 writes one for a CID-keyed
    CFF subset of the character collection ``ros`` (registry, ordering,
    supplement: the subset's own)."""
    registry, ordering, supplement = ros
    head = _FPDF2_ENCODING_HEAD % (
        registry.encode("ascii"),
        ordering.encode("ascii"),
        supplement,
        registry.encode("ascii"),
        ordering.encode("ascii"),
    )
    cids: dict[int, int] = {}
    for code, cid in _mappings(data, head, "cidchar"):
        if cid.kind != "other" or not cid.value.isdigit() or int(cid.value) > 0xFFFF:
            raise CMapError("a CID no font has")
        cids[code] = int(cid.value)
    return cids


def to_unicode(data: bytes) -> dict[int, str]:
    """Code to text of a ToUnicode CMap as both writers write one."""
    texts: dict[int, str] = {}
    for code, text in _mappings(data, CMAP_HEAD, "bfchar"):
        if text.kind != "hex" or not text.value or len(text.value) % 2:
            raise CMapError("text no UTF-16 spells")
        try:
            texts[code] = text.value.decode("utf-16-be")
        except UnicodeDecodeError:
            raise CMapError("text no UTF-16 spells") from None
    return texts


def _mappings(
    data: bytes, head: bytes, operator: Literal["cidchar", "bfchar"]
) -> list[tuple[int, Token]]:
    """The (code, destination) pairs of the writers' CMap of ``operator``
    blocks between ``head`` and the writers' trailer, in their order."""
    found = tokens(data)
    opening, closing = tokens(head), tokens(CMAP_TAIL)
    if len(found) < len(opening) + len(closing):
        raise CMapError("a CMap cut short")
    if found[: len(opening)] != opening or found[-len(closing) :] != closing:
        # another code space, vertical writing, usecmap, another name...
        raise CMapError("a CMap header or trailer no writer writes")
    body = found[len(opening) : len(found) - len(closing)]

    pairs: list[tuple[int, Token]] = []
    written = [head]
    begin, end = f"begin{operator}".encode(), f"end{operator}".encode()
    while body:
        count = body[0].value
        if body[0].kind != "other" or not count.isdigit() or len(body) < 2:
            raise CMapError("a CMap operator no writer writes")
        entries = int(count)
        block = body[2 : 2 + 2 * entries]
        if (
            body[1] != Token("other", begin)
            or not 0 < entries <= _MOST_PER_BLOCK
            or len(body) < 3 + 2 * entries
            or body[2 + 2 * entries] != Token("other", end)
        ):
            raise CMapError("a CMap block no writer writes")
        written.append(b"%d %s\n" % (entries, begin))
        for code, destination in zip(block[::2], block[1::2], strict=True):
            if code.kind != "hex" or len(code.value) != 2:
                raise CMapError("a code outside the two-byte code space")
            pairs.append((int.from_bytes(code.value, "big"), destination))
            written.append(_line(code, destination))
        written.append(end + b"\n")
        body = body[3 + 2 * entries :]
    written.append(CMAP_TAIL)

    codes = {code for code, _destination in pairs}
    if len(codes) != len(pairs) or len(pairs) > _MOST_MAPPINGS:
        raise CMapError("a code mapped twice")  # readers differ on which wins
    if b"".join(written) != data:
        # Read alike by every reader only as the writers lay it out: one
        # mapping a line, no comment, nothing in between.
        raise CMapError("a CMap not laid out as the writers lay one out")
    return pairs


def _line(code: Token, destination: Token) -> bytes:
    """The writers' line of one mapping: a CID in decimal, text in hex."""
    source = code.value.hex().upper().encode("ascii")
    if destination.kind == "hex":
        return b"<%s> <%s>\n" % (source, destination.value.hex().upper().encode())
    if destination.kind != "other" or not destination.value.isdigit():
        raise CMapError("a mapping to neither a CID nor text")
    return b"<%s> %d\n" % (source, int(destination.value))


# The header fpdf2 writes an encoding CMap with (fpdf/output.py).
_FPDF2_ENCODING_HEAD = (
    b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
    b"/CIDSystemInfo\n<</Registry (%s)\n/Ordering (%s)\n/Supplement %d\n>> def\n"
    b"/CMapName /%s-%s-UCS def\n/CMapType 2 def\n"
    b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
)
