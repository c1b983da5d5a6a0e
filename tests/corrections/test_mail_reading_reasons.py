"""A mail the reader cannot take a request from says what stopped it.

Found by a sender's trial: a pasted screenshot of the form, a form nested too
deep, an archive in an archive and a damaged MIME structure were each answered
"没有找到成绩修改申请表", which sent the site looking for a mistake it had
not made. The mails here are raw bytes shaped as mail programs write them.
"""

from __future__ import annotations

import base64
import io
import random

import pytest
from PIL import Image, ImageDraw

from certflow.corrections import read_correction_mail
from certflow.i18n import t

CRLF = b"\r\n"
HEADERS = (
    b'From: "=?UTF-8?B?5p2O5pmT57qi?=" <kaowu@whjtzx.edu.cn>\r\n'
    b"To: kaowu1x@zcx-eval.org.cn\r\n"
    b"Subject: =?UTF-8?B?5oiQ57up5L+u5pS555Sz6K+3?=\r\n"
    b"Date: Tue, 24 Nov 2026 09:03:11 +0800\r\n"
    b"Message-ID: <reasons-1@whjtzx.edu.cn>\r\n"
    b"MIME-Version: 1.0\r\n"
)


def _b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return CRLF.join(text[i : i + 76] for i in range(0, len(text), 76))


def _screenshot() -> bytes:
    """A PNG the size of a screenshot of the form's header and one row."""
    image = Image.new("RGB", (900, 90), "white")
    draw = ImageDraw.Draw(image)
    noise = random.Random(7)
    for x in range(0, 900, 82):
        draw.line([(x, 0), (x, 90)], fill="black")
    for y in (0, 30, 60, 89):
        draw.line([(0, y), (900, y)], fill="black")
    for _ in range(2500):  # the glyphs of the cells' text
        x, y = noise.randrange(900), noise.randrange(90)
        draw.point((x, y), fill=(noise.randrange(80),) * 3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _pasted_screenshot_mail(image_headers: bytes, image: bytes) -> bytes:
    """An HTML mail with the form pasted as a picture (multipart/related)."""
    html = (
        '<div>老师好，成绩修改申请如下：</div><div><img src="cid:shot-1@qq.com">'
        "</div><div>武汉市交通职业技术学校</div>"
    ).encode()
    return (
        HEADERS + b'Content-Type: multipart/related; type="multipart/alternative";'
        b' boundary="rel"\r\n\r\n'
        b"--rel\r\n"
        b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        b"--alt\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + _b64("老师好，成绩修改申请如下：\n\n武汉市交通职业技术学校\n".encode())
        + b"\r\n--alt\r\n"
        b'Content-Type: text/html; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + _b64(html)
        + b"\r\n--alt--\r\n\r\n"
        b"--rel\r\n" + image_headers + b"Content-Transfer-Encoding: base64\r\n"
        b"Content-ID: <shot-1@qq.com>\r\n\r\n" + _b64(image) + b"\r\n--rel--\r\n"
    )


@pytest.mark.parametrize(
    "image_headers",
    [
        b'Content-Type: image/png; name="image001.png"\r\n'
        b'Content-Disposition: inline; filename="image001.png"\r\n',
        # QQ Mail: a pasted screenshot has neither a name nor a disposition.
        b"Content-Type: image/png\r\n",
    ],
    ids=["inline-named", "unnamed"],
)
def test_a_pasted_screenshot_of_the_form_is_said_to_be_a_scan(
    image_headers: bytes,
) -> None:
    """Regression: it was answered no_form ("没有找到成绩修改申请表")."""
    reading = read_correction_mail(
        _pasted_screenshot_mail(image_headers, _screenshot())
    )

    assert reading.drafts == []
    assert [p.code for p in reading.problems] == ["scan_only"]
    assert reading.problems[0].message == t("corrections.problem.scan_in_body")
    assert "image001.png" not in reading.problems[0].message


def test_a_signature_logo_is_no_scan_of_a_form() -> None:
    logo = Image.new("RGB", (120, 40), "navy")
    buffer = io.BytesIO()
    logo.save(buffer, "PNG")
    headers = (
        b'Content-Type: image/png; name="image001.png"\r\n'
        b'Content-Disposition: inline; filename="image001.png"\r\n'
    )

    reading = read_correction_mail(_pasted_screenshot_mail(headers, buffer.getvalue()))

    assert [p.code for p in reading.problems] == ["no_form"]
