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
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image, ImageDraw

from certflow.corrections import read_correction_mail
from certflow.i18n import t
from tests.corrections.mail_intake_support import filled_form

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


def _form(tmp_path: Path) -> bytes:
    row = ["P2026-1104-0412", "陈思彬", None, "2026110412004", "1-1", "理论成绩"]
    row += ["53.1", "63.1", "漏计一题", "张明/武汉市交通职业技术学校"]
    return filled_form([row], tmp_path / "申请表.xlsx").read_bytes()


def _attachment(name: str, content_type: bytes, data: bytes) -> bytes:
    return (
        b"Content-Type: " + content_type + b"\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''"
        + quote(name).encode()
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + _b64(data)
        + b"\r\n"
    )


def _mixed(boundary: bytes, *parts: bytes) -> bytes:
    """A multipart/mixed entity: its Content-Type line, a blank line, its parts."""
    body = b"".join(b"--" + boundary + b"\r\n" + part for part in parts)
    return (
        b"Content-Type: multipart/mixed; boundary="
        + boundary
        + b"\r\n\r\n"
        + body
        + b"--"
        + boundary
        + b"--\r\n"
    )


TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "转发".encode() + b"\r\n"
XLSX = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _forwarded(times: int, form: bytes) -> bytes:
    """The form attached to a mail forwarded ``times`` times, each forward
    attaching the one before (message/rfc822): two MIME levels each."""
    inner = HEADERS + _mixed(b"f0", TEXT, _attachment("申请表.xlsx", XLSX, form))
    for level in range(1, times + 1):
        boundary = b"f%d" % level
        attached = b"Content-Type: message/rfc822\r\n\r\n" + inner
        inner = HEADERS + _mixed(boundary, TEXT, attached)
    return inner


def test_a_form_nested_too_deep_is_said_to_be_too_deep(tmp_path: Path) -> None:
    """Regression: a form below the reader's depth was answered no_form."""
    form = _form(tmp_path)
    assert len(read_correction_mail(_forwarded(6, form)).drafts) == 1

    reading = read_correction_mail(_forwarded(9, form))

    assert reading.drafts == []
    assert [p.code for p in reading.problems] == ["unreadable_mail"]
    assert reading.problems[0].message == t("corrections.problem.mail_too_deep")


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_an_archive_in_an_archive_is_said_not_to_be_opened(tmp_path: Path) -> None:
    """Regression: the zip in the zip was passed over, and no_form said."""
    inner = _zip("申请表.xlsx", _form(tmp_path))
    outer = _zip("武汉交通/申请表.zip", inner)
    raw = HEADERS + _mixed(
        b"z", TEXT, _attachment("申请表.zip", b"application/zip", outer)
    )

    reading = read_correction_mail(raw)

    assert reading.drafts == []
    assert [p.code for p in reading.problems] == ["unreadable_archive"]
    message = reading.problems[0].message
    assert "“申请表.zip”中的“武汉交通/申请表.zip”又是一个压缩包" in message


def test_a_multipart_without_its_boundary_is_said_to_be_damaged(
    tmp_path: Path,
) -> None:
    """Regression: a multipart/mixed with no boundary parameter read as no_form."""
    whole = _mixed(b"lost", TEXT, _attachment("申请表.xlsx", XLSX, _form(tmp_path)))
    raw = HEADERS + whole.replace(b"; boundary=lost", b"", 1)

    reading = read_correction_mail(raw)

    assert reading.drafts == []
    assert [p.code for p in reading.problems] == ["unreadable_mail"]
    assert reading.problems[0].message == t("corrections.problem.unreadable_mail")
    assert "损坏" in reading.problems[0].message
