"""What a scan must be: a PDF, JPEG or PNG that opens (``certflow.scan``)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from certflow.i18n import t
from certflow.scan import scan_problems
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


def test_an_image_declaring_more_pixels_than_a_page_is_not_decoded() -> None:
    """Review: a 690 KB PNG of 13000 x 13000 white pixels took 2.3 s and about
    700 MB to check; a scan that large is no page, and is refused unread."""
    out = io.BytesIO()
    Image.new("1", (9_000, 9_000), 1).save(out, "PNG")  # 81 M pixels

    [problem] = scan_problems(out.getvalue())

    assert problem.code == "unreadable"


@pytest.mark.parametrize(
    "data", [b"", b"\xef\xbb\xbf \r\n\t\r\n  \n\x00\x00"], ids=["empty", "blank"]
)
def test_a_scan_of_no_byte_or_blank_lines_only_is_empty(data: bytes) -> None:
    """Trial: blank lines only were refused as no PDF, JPEG or PNG, though every
    other upload calls such a file empty."""
    [problem] = scan_problems(data)
    assert problem.code == "empty"
    assert problem.message == t("intake_db.scan_empty")
