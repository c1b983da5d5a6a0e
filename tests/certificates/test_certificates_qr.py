"""The certificate's QR encoder, checked against an independent encoder and a scanner.

segno is a separate, widely used implementation. Where the standard leaves no
choice, at full capacity (no terminator or pad codewords, which segno writes
with an extra zero byte), every version's symbol must equal segno's module for
module. Every other length is read back by zbar, a real scanner.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
import segno

from certflow.certificates import qr

ALPHABET = "abcXYZ0189/:?=&-_."


def _text(length: int, seed: int) -> str:
    chooser = random.Random(seed)
    return "".join(chooser.choice(ALPHABET) for _ in range(length))


def _segno_rows(text: str, version: int) -> list[str]:
    symbol = segno.make(
        text, error="m", version=version, mode="byte", mask=qr.MASK, boost_error=False
    )
    return ["".join(str(int(module)) for module in row) for row in symbol.matrix]


@pytest.mark.parametrize("version", range(1, 41))
def test_a_full_symbol_equals_the_independent_encoders(version: int) -> None:
    capacity = qr._plan(version).capacity
    text = _text(capacity, version)
    symbol = qr.encode(text)
    assert symbol.version == version
    assert symbol.rows == _segno_rows(text, version)
    # one byte more does not fit this version for segno either
    with pytest.raises(segno.DataOverflowError):
        segno.make(text + "a", error="m", version=version, mode="byte",
                   boost_error=False)  # fmt: skip


def test_the_quiet_zone_is_light_and_modules_are_zero_or_one() -> None:
    symbol = qr.encode("https://zhengshu.example.org/verify/X")
    width, quiet = symbol.width, qr.QUIET_ZONE
    assert width == symbol.version * 4 + 17 + 2 * quiet
    assert set(symbol.modules) == {0, 1}
    grid = [symbol.modules[y * width : (y + 1) * width] for y in range(width)]
    for row in grid[:quiet] + grid[-quiet:]:
        assert not any(row)
    for row in grid:
        assert not any(row[:quiet]) and not any(row[-quiet:])
    assert symbol.image(4).size == (width * 4, width * 4)


def test_text_too_long_for_any_version_is_refused() -> None:
    with pytest.raises(qr.QrTooLongError):
        qr.encode("a" * (qr._plan(40).capacity + 1))


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbar-tools not installed")
@pytest.mark.parametrize(
    "text",
    [
        "a",
        _text(13, 1),  # terminator and one pad codeword
        _text(100, 2),
        "https://zhengshu.example.org/verify/Z2026QC200000123?k=0123456789abcdef"
        "&sig=" + _text(86, 3),
        _text(700, 4),  # version 20: several block lengths, version information
        "证书查询 https://zhengshu.example.org/",  # UTF-8 bytes
    ],
    ids=["one", "pad", "v6", "url", "long", "utf8"],
)
def test_a_scanner_reads_the_text_back(text: str, tmp_path: Path) -> None:
    path = tmp_path / "qr.png"
    qr.encode(text).image(4).save(path)
    scanned = subprocess.run(
        ["zbarimg", "-q", "--raw", "-Sbinary", str(path)],
        capture_output=True,
        check=True,
    ).stdout
    assert scanned.rstrip(b"\n").decode("utf-8") == text
