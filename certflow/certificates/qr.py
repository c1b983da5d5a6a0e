"""QR codes for the verification URL, built from a per-version plan.

Every certificate's URL has the same length, so every QR code of a run has the
same version, error level and mask. All that depends only on the version (the
function patterns, format and version information, where each data bit lands,
which modules the mask inverts, the Reed-Solomon divisor) is worked out once
and cached (:func:`_plan`); a symbol then costs the error correction of a few
hundred bytes and one gather of the modules. This is ISO/IEC 18004 model 2 in
byte mode at error level M with a fixed mask: any valid mask scans, and the
choice among the eight only tunes how evenly dark modules spread.

The symbols are checked against an independent encoder and a real scanner in
the tests.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import cache

from PIL import Image

# Error level M: error correction codewords per block and number of blocks, by
# version (index 0 unused).
_ECC_PER_BLOCK = (
    0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26,
    26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
)  # fmt: skip
_BLOCKS = (
    0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17,
    18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49,
)  # fmt: skip
_LEVEL_M_BITS = 0b00  # the format information's code for level M
MASK = 2  # modules whose column is a multiple of three are inverted
QUIET_ZONE = 4  # light modules around the symbol, as the standard requires


class QrTooLongError(ValueError):
    """The text does not fit the largest QR code at error level M."""


@dataclass(frozen=True)
class QrSymbol:
    """A QR code with its quiet zone: ``modules`` holds ``width`` rows of ``width``
    bytes, 1 for a dark module and 0 for a light one."""

    version: int
    width: int
    modules: bytes

    @property
    def rows(self) -> list[str]:
        """The symbol without its quiet zone, one string per row, "1" dark."""
        text = self.modules.translate(_AS_DIGITS).decode("ascii")
        width, quiet = self.width, QUIET_ZONE
        return [
            text[y * width + quiet : (y + 1) * width - quiet]
            for y in range(quiet, width - quiet)
        ]

    def image(self, pixels: int) -> Image.Image:
        """Return a greyscale image, ``pixels`` image pixels per module."""
        grey = Image.frombytes(
            "L", (self.width, self.width), self.modules.translate(_AS_GREY)
        )
        side = self.width * pixels
        return grey.resize((side, side), Image.Resampling.NEAREST)


_AS_DIGITS = bytes.maketrans(b"\0\1", b"01")
_AS_GREY = bytes.maketrans(b"\0\1", b"\xff\0")


def encode(text: str) -> QrSymbol:
    """Return the smallest level-M QR code of ``text`` (UTF-8, byte mode)."""
    data = text.encode("utf-8")
    for version in range(1, 41):
        plan = _plan(version)
        if len(data) <= plan.capacity:
            return plan.symbol(data)
    raise QrTooLongError(f"{len(data)} bytes do not fit a QR code at level M")


def _gf_multiply(a: int, b: int) -> int:
    """Multiply in GF(2^8) modulo the QR polynomial x^8 + x^4 + x^3 + x^2 + 1."""
    product = 0
    for bit in range(7, -1, -1):
        product = (product << 1) ^ (0x11D if product & 0x80 else 0)
        if (b >> bit) & 1:
            product ^= a
    return product


def _divisor(degree: int) -> list[int]:
    """Coefficients of the Reed-Solomon generator polynomial, highest first."""
    result = [0] * (degree - 1) + [1]
    root = 1
    for _ in range(degree):
        for j in range(degree):
            result[j] = _gf_multiply(result[j], root)
            if j + 1 < degree:
                result[j] ^= result[j + 1]
        root = _gf_multiply(root, 0x02)
    return result


def _bch(value: int, bits: int, generator: int) -> int:
    """``value`` followed by its BCH remainder (format and version information)."""
    degree = generator.bit_length() - 1
    remainder = value
    for _ in range(bits):
        remainder = (remainder << 1) ^ ((remainder >> (degree - 1)) * generator)
    return value << degree | remainder


def _alignment_positions(version: int, size: int) -> list[int]:
    if version == 1:
        return []
    count = version // 7 + 2
    step = (version * 8 + count * 3 + 5) // (count * 4 - 4) * 2
    return [6] + [size - 7 - i * step for i in range(count - 2, -1, -1)]


class _Plan:
    """Everything about one version's symbols that does not depend on the data."""

    def __init__(self, version: int) -> None:
        self.version = version
        size = self.size = version * 4 + 17
        modules: list[int | None] = [None] * (size * size)  # None: carries data

        def put(x: int, y: int, dark: bool) -> None:
            modules[y * size + x] = int(dark)

        for i in range(size):
            put(6, i, i % 2 == 0)
            put(i, 6, i % 2 == 0)
        for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < size and 0 <= y < size:
                        put(x, y, max(abs(dx), abs(dy)) not in (2, 4))
        centres = _alignment_positions(version, size)
        last = len(centres) - 1
        for i, cx in enumerate(centres):
            for j, cy in enumerate(centres):
                if (i, j) in ((0, 0), (0, last), (last, 0)):
                    continue  # where the finder patterns are
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        put(cx + dx, cy + dy, max(abs(dx), abs(dy)) != 1)

        fmt = _bch(_LEVEL_M_BITS << 3 | MASK, 10, 0x537) ^ 0x5412
        for i in range(15):
            bit = bool((fmt >> i) & 1)
            if i < 6:
                put(8, i, bit)
            elif i < 8:
                put(8, i + 1, bit)
            elif i == 8:
                put(7, 8, bit)
            else:
                put(14 - i, 8, bit)
            if i < 8:
                put(size - 1 - i, 8, bit)
            else:
                put(8, size - 15 + i, bit)
        put(8, size - 8, True)
        if version >= 7:
            info = _bch(version, 12, 0x1F25)
            for i in range(18):
                bit = bool((info >> i) & 1)
                a, b = size - 11 + i % 3, i // 3
                put(a, b, bit)
                put(b, a, bit)

        # The zigzag order in which data bits fill the free modules.
        order: list[int] = []
        right = size - 1
        while right >= 1:
            if right == 6:
                right = 5
            upward = (right + 1) & 2 == 0
            for vert in range(size):
                y = size - 1 - vert if upward else vert
                for x in (right, right - 1):
                    if modules[y * size + x] is None:
                        order.append(y * size + x)
            right -= 2

        self.codewords = len(order) // 8
        self.blocks = _BLOCKS[version]
        self.ecc = _ECC_PER_BLOCK[version]
        short_blocks = self.blocks - self.codewords % self.blocks
        short_length = self.codewords // self.blocks - self.ecc
        self.block_lengths = [
            short_length + (0 if b < short_blocks else 1) for b in range(self.blocks)
        ]
        self.data_codewords = sum(self.block_lengths)
        count_bits = 8 if version < 10 else 16
        self.count_bits = count_bits
        self.capacity = (self.data_codewords * 8 - 4 - count_bits) // 8

        # Products of the divisor with every byte, as integers of ``ecc`` bytes,
        # so that one division step is a shift and an exclusive or.
        divisor = _divisor(self.ecc)
        self.products = [
            int.from_bytes(bytes(_gf_multiply(c, f) for c in divisor))
            for f in range(256)
        ]

        # Codeword k of the interleaved message is codeword order[k] of the
        # natural one: the data blocks one after another, then their error
        # correction blocks in the same order.
        starts = [sum(self.block_lengths[:b]) for b in range(self.blocks)]
        interleaved = [
            starts[b] + i
            for i in range(self.block_lengths[-1])
            for b in range(self.blocks)
            if i < self.block_lengths[b]
        ] + [
            self.data_codewords + b * self.ecc + i
            for i in range(self.ecc)
            for b in range(self.blocks)
        ]
        # Module i of the symbol (quiet zone included) is source[gather[i]]: the
        # source is the natural message as a string of bits, its complement (for
        # masked modules), then one light and one dark module.
        message_bits = 8 * self.codewords
        light, dark = 2 * message_bits, 2 * message_bits + 1
        width = self.width = size + 2 * QUIET_ZONE
        gather = [light] * (width * width)

        def at(index: int) -> int:
            return (index // size + QUIET_ZONE) * width + index % size + QUIET_ZONE

        for index, cell in enumerate(modules):
            if cell is not None:
                gather[at(index)] = dark if cell else light
        for position, index in enumerate(order):
            masked = index % size % 3 == 0  # mask 2: the column is a multiple of 3
            if position < message_bits:
                source = interleaved[position // 8] * 8 + position % 8
                gather[at(index)] = source + message_bits if masked else source
            else:  # remainder bits: light before masking
                gather[at(index)] = dark if masked else light
        self.message_bits = message_bits
        self.pick = operator.itemgetter(*gather)

    def _ecc_of(self, block: bytes | bytearray) -> bytes:
        shift = 8 * (self.ecc - 1)
        mask = (1 << (8 * self.ecc)) - 1
        products = self.products
        remainder = 0
        for byte in block:
            factor = byte ^ (remainder >> shift)
            remainder = ((remainder << 8) & mask) ^ products[factor]
        return remainder.to_bytes(self.ecc)

    def symbol(self, data: bytes) -> QrSymbol:
        capacity_bits = self.data_codewords * 8
        stream = (0b0100 << self.count_bits | len(data)) << (8 * len(data)) | (
            int.from_bytes(data)
        )
        used = 4 + self.count_bits + 8 * len(data)
        terminator = min(4, capacity_bits - used)
        used += terminator
        stream <<= terminator + (-used % 8)
        used += -used % 8
        message = bytearray(stream.to_bytes(used // 8))
        message += _PADS[: self.data_codewords - len(message)]
        start = 0
        for length in self.block_lengths:
            message += self._ecc_of(message[start : start + length])
            start += length
        bits = format(int.from_bytes(message), f"0{self.message_bits}b").encode()
        source = bits + bits.translate(_FLIP) + b"01"
        modules = bytes(self.pick(source)).translate(_FROM_DIGITS)
        return QrSymbol(version=self.version, width=self.width, modules=modules)


_PADS = b"\xec\x11" * 1500
_FLIP = bytes.maketrans(b"01", b"10")
_FROM_DIGITS = bytes.maketrans(b"01", b"\0\1")


@cache
def _plan(version: int) -> _Plan:
    return _Plan(version)
