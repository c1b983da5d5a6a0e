"""What a scan must be: a PDF, JPEG or PNG that opens (``certflow.scan``)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from certflow.i18n import t
from certflow.scan import SCAN_MAX_PIXELS, scan_problems
from starter.sample_plan import SCAN_PDF


def _image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 30), "white").save(out, kind)
    return out.getvalue()


@pytest.mark.parametrize(
    "data", [SCAN_PDF, _image("PNG"), _image("JPEG")], ids=["pdf", "png", "jpeg"]
)
def test_a_scan_that_opens_is_taken(data: bytes) -> None:
    assert scan_problems(data) == []


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n",  # a PNG's signature and nothing else
        b"%PDF-1.4" + bytes(12 * 1024),  # a PDF header, then zeros
        _image("JPEG")[:200],  # a JPEG cut short
        SCAN_PDF.replace(b"/Count 1", b"/Count 0").replace(b"Kids[3 0 R]", b"Kids[]"),
    ],
    ids=["png-signature-only", "pdf-header-and-zeros", "jpeg-truncated", "no-page"],
)
def test_a_scan_that_does_not_open_is_refused_as_unreadable(data: bytes) -> None:
    """Regression (trial): the type was read from the first bytes alone, so an
    8-byte 'PNG' nobody can open was taken and mailed to finance."""
    [problem] = scan_problems(data)
    assert problem.code == "unreadable"
    assert problem.message == t("intake_db.scan_unreadable")


def _white_png(width: int, height: int) -> bytes:
    """A whole, valid one-bit PNG of ``width`` x ``height`` white pixels,
    written row block by row block: no image of that size is ever held."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)

    line = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte, then pixels
    packer = zlib.compressobj(9)
    pixels = [
        packer.compress(line * min(1000, height - top))
        for top in range(0, height, 1000)
    ]
    pixels.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(pixels))
        + chunk(b"IEND", b"")
    )


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header declares ``width`` x ``height``."""
    data = bytearray(_image("JPEG"))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "width", "height"),
    [
        (_white_png(30_000, 30_000), 30_000, 30_000),
        (_white_png(9_000, 9_000), 9_000, 9_000),
        (_jpeg_declaring(20_000, 15_000), 20_000, 15_000),
    ],
    ids=["png-900M", "png-81M", "jpeg-300M"],
)
def test_an_image_of_more_pixels_than_a_page_is_too_large_not_damaged(
    data: bytes, width: int, height: int
) -> None:
    """Trial: a valid 30000 x 30000 PNG was called damaged (Pillow refuses to
    open an image past its own limit, and that was taken for a broken file).
    Review: a 13000 x 13000 PNG took 2.3 s and about 700 MB to check. Such a
    scan is no page: refused unread, saying its size and the limit."""
    [problem] = scan_problems(data)

    assert problem.code == "too_many_pixels"
    assert f"{width} × {height} 像素" in problem.message
    assert f"上限 {SCAN_MAX_PIXELS // 10_000} 万像素" in problem.message
    assert "损坏" not in problem.message


def test_an_image_of_as_many_pixels_as_a_page_is_taken() -> None:
    assert scan_problems(_white_png(5_000, 7_000)) == []


@pytest.mark.parametrize(
    "data", [b"", b"\xef\xbb\xbf \r\n\t\r\n  \n\x00\x00"], ids=["empty", "blank"]
)
def test_a_scan_of_no_byte_or_blank_lines_only_is_empty(data: bytes) -> None:
    """Trial: blank lines only were refused as no PDF, JPEG or PNG, though every
    other upload calls such a file empty."""
    [problem] = scan_problems(data)
    assert problem.code == "empty"
    assert problem.message == t("intake_db.scan_empty")
