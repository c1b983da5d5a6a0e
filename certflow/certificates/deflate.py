"""zlib streams assembled from parts, some of them compressed ahead of time.

A certificate repeats most of its bytes from one document to the next: the
font's own tables, the outlines of the template's glyphs, the template's drawing
operators. Deflate lets a stream be a sequence of independent blocks, so those
parts are compressed once (:class:`Deflated`, ending on a byte boundary with a
sync flush) and each document compresses only what is its own
(:func:`zlib_stream`). Any zlib reader sees one ordinary stream.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_ZLIB_HEADER = b"\x78\x9c"  # deflate, 32 KiB window, default level
_STORED_MAX = 0xFFFF


@dataclass(frozen=True)
class Deflated:
    """Bytes with their raw deflate blocks, ready to splice into a stream."""

    raw: bytes
    deflated: bytes
    adler: int  # Adler-32 of raw

    @classmethod
    def of(cls, raw: bytes, level: int = 9) -> Deflated:
        """Compress ``raw`` on its own, ending on a byte boundary, not final."""
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        deflated = compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return cls(raw=raw, deflated=deflated, adler=zlib.adler32(raw))


Part = bytes | Deflated


def _stored(data: bytes) -> bytes:
    """``data`` as stored (uncompressed) deflate blocks, none of them final."""
    blocks = []
    for start in range(0, len(data), _STORED_MAX):
        chunk = data[start : start + _STORED_MAX]
        blocks.append(struct.pack("<BHH", 0, len(chunk), len(chunk) ^ 0xFFFF) + chunk)
    return b"".join(blocks)


def zlib_stream(parts: Sequence[Part], level: int = 6) -> bytes:
    """Return the zlib stream of the parts' bytes, in order.

    :class:`Deflated` parts are copied as they are; bytes between them are
    stored uncompressed (they are short headers in practice), and bytes after
    the last one are compressed at ``level`` and end the stream.
    """
    out = [_ZLIB_HEADER]
    checksum = 1
    tail = len(parts)
    while tail and not isinstance(parts[tail - 1], Deflated):
        tail -= 1
    for part in parts[:tail]:
        if isinstance(part, Deflated):
            out.append(part.deflated)
            checksum = adler32_combine(checksum, part.adler, len(part.raw))
        else:
            out.append(_stored(part))
            checksum = zlib.adler32(part, checksum)
    rest = b"".join(p for p in parts[tail:] if isinstance(p, bytes))
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    out.append(compressor.compress(rest) + compressor.flush(zlib.Z_FINISH))
    out.append(struct.pack(">I", zlib.adler32(rest, checksum)))
    return b"".join(out)


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """Adler-32 of two byte strings in a row, from the checksum of each.

    As zlib's adler32_combine (not exposed by Python's zlib module): the
    second sum counts every byte of the second string once more per byte
    before it, so the first's sum is shifted by its length.
    """
    base = 65521
    rest = second_length % base
    low = (first & 0xFFFF) + (second & 0xFFFF) + base - 1
    high = (rest * (first & 0xFFFF)) % base
    high += (first >> 16) + (second >> 16) + base - rest
    return (low % base) | (high % base) << 16


def joined(parts: Iterable[Part]) -> bytes:
    """Return the parts' bytes, uncompressed."""
    return b"".join(p.raw if isinstance(p, Deflated) else p for p in parts)
