"""The upload check (``POST /verify/pdf``) from a security trial of verification.

It runs the same verification as ``certflow verify``: a genuine certificate
with content added beyond its page is not as issued; where this server cannot
compare the glyphs, the uploader is shown the whole identity number to compare
the page with; and the revocations it checks against are dated so that they
speak of every certificate on record, whatever the server's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import asyncpg
import httpx
import pytest
from pypdf import PdfWriter

from activities.revocation import current_status_list, status_list
from certflow.certificates import (
    FONT_ENV,
    KeyRing,
    RevocationCheck,
    SigningKey,
    Verdict,
    VerificationStatus,
    extract_signed,
    font_id,
    load_font,
    render_pdf,
    sign,
    verify_pdf,
    verify_status_list,
)
from certflow.config import Settings
from certflow.privacy import mask_id_number
from tests.certificates.certificate_samples import (
    add_document_javascript,
    cff_face_beside_truetype,
    configure_only,
    incrementally,
    with_cff_font_edited,
    without_fdarray,
)
from tests.web.samples import ISSUED_ON, SUN, WANG, ClientFactory, Issued, PdfOf

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def upload(client: httpx.AsyncClient, pdf: bytes) -> httpx.Response:
    return await client.post(
        "/verify/pdf", files={"file": ("certificate.pdf", pdf, "application/pdf")}
    )


def _second_file(writer: PdfWriter) -> None:
    writer.add_attachment("invoice.exe", b"MZ\x90\x00")


@pytest.mark.parametrize(
    "add",
    [
        pytest.param(_second_file, id="second-file"),
        pytest.param(add_document_javascript, id="document-javascript"),
    ],
)
async def test_an_upload_with_content_added_is_not_as_issued(
    add: Callable[[PdfWriter], None], web_client: ClientFactory, pdf_of: PdfOf
) -> None:
    """Regression: a genuine certificate with a second attached file or
    document JavaScript added by an incremental update read 证书有效."""
    pdf = incrementally(await pdf_of(WANG), add)

    response = await upload(web_client(), pdf)

    verdict = response.text.split('<p class="hint">', 1)[0]
    assert "证书信息被篡改" in verdict and "证书有效" not in response.text
    assert "被加入了签发机构不会写入的内容" in verdict
    assert "电子签名与本机构的记录不符" not in verdict
    assert "另外附带的文件" in response.text  # what, underneath
    assert WANG.name not in response.text


async def test_an_upload_titled_with_another_number_is_not_as_issued(
    web_client: ClientFactory, pdf_of: PdfOf
) -> None:
    """Trial: a genuine certificate whose title and subject named another
    number read 证书有效, while the browser's PDF viewer showed that number."""

    def retitle(writer: PdfWriter) -> None:
        writer.add_metadata({"/Subject": "ZCX2027QCYY2000009"})

    pdf = incrementally(await pdf_of(WANG), retitle)

    response = await upload(web_client(), pdf)

    verdict = response.text.split('<p class="hint">', 1)[0]
    assert "证书信息被篡改" in verdict and "证书有效" not in response.text
    assert "阅读器显示的标题、主题、作者" in verdict
    assert WANG.name not in response.text


async def test_where_the_glyphs_cannot_be_compared_the_number_is_shown_whole(
    web_client: ClientFactory, pdf_of: PdfOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The uploader holds the file; unless the glyphs were compared, only they
    can see whether the page shows other digits, and only against the whole
    number."""
    cff_face = cff_face_beside_truetype()
    pdf = await pdf_of(WANG)
    client = web_client()

    checked = await upload(client, pdf)
    configure_only(monkeypatch, cff_face)
    unchecked = await upload(client, pdf)

    assert "证书有效" in checked.text and "证书有效" in unchecked.text
    assert mask_id_number(WANG.id_number) in checked.text
    assert WANG.id_number not in checked.text
    assert WANG.id_number in unchecked.text
    assert "未能核对页面上的字形" in unchecked.text
    assert "只显示前 4 位和后 4 位" not in unchecked.text


def _verdict(response: httpx.Response) -> str:
    return response.text.split('<p class="hint">', 1)[0]


async def test_a_certificate_issued_before_a_switch_of_the_font_is_fully_checked(
    web_client: ClientFactory, pdf_of: PdfOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: with the font switched to Noto CJK, a certificate drawn in
    WenQuanYi (still installed) had its glyphs not compared."""
    cff_face = cff_face_beside_truetype()
    pdf = await pdf_of(WANG)

    monkeypatch.setenv(FONT_ENV, str(cff_face))
    response = await upload(web_client(), pdf)

    assert "证书有效" in _verdict(response)
    assert "未能核对页面上的字形" not in response.text
    assert mask_id_number(WANG.id_number) in response.text
    assert WANG.id_number not in response.text


async def test_a_certificate_drawn_in_another_face_is_never_tampered_for_it(
    web_settings: Settings,
    web_client: ClientFactory,
    pdf_of: PdfOf,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: a certificate drawn in Noto CJK read 证书信息被篡改 where
    WenQuanYi was configured. Where Noto is installed it is valid, its glyphs
    compared (they once never were, and the page said the font was not on
    the server); where it is not, valid, to be compared by eye."""
    cff_face = cff_face_beside_truetype()
    truetype = load_font(None).path
    key = SigningKey.load(web_settings.certificates.signing_key_file.read_bytes())
    genuine = extract_signed(await pdf_of(WANG)).data
    data = genuine.model_copy(update={"font": font_id(load_font(cff_face))})
    pdf = render_pdf(sign(data, key.private_key), font_path=cff_face)
    client = web_client()

    installed = await upload(client, pdf)
    configure_only(monkeypatch, truetype)
    absent = await upload(client, pdf)

    for response in (installed, absent):
        verdict = _verdict(response)
        assert "证书有效" in verdict and "篡改" not in verdict
    assert "未能核对页面上的字形" not in installed.text
    assert WANG.id_number not in installed.text
    assert "未能核对页面上的字形" in absent.text
    assert WANG.id_number in absent.text


async def test_revocations_are_dated_after_every_record_on_a_clock_behind(
    web_pool: asyncpg.Pool, web_settings: Settings, issued: Issued, pdf_of: PdfOf
) -> None:
    """On a clock behind the records (a training stack's or the demo's
    database, served on the real clock), the list is dated on the latest day
    among its revocations and the certificates it speaks of, never before."""
    behind = datetime(2026, 11, 1, 2, tzinfo=UTC)
    key = SigningKey.load(web_settings.certificates.signing_key_file.read_bytes())
    ring = KeyRing.from_public_keys([key.private_key.public_key()])

    current = await current_status_list(web_pool, now=behind)
    signed = await status_list(web_pool, key, now=behind)

    revoked_on = date(2026, 12, 18)  # the fixture's revocation of 孙丽's
    assert [entry.revoked_on for entry in current.entries] == [revoked_on]
    assert current.issued_on >= revoked_on and current.issued_on >= ISSUED_ON
    assert signed.status_list.issued_on >= revoked_on
    assert verify_status_list(signed, ring) is Verdict.VALID
    result = verify_pdf(await pdf_of(SUN), ring, current)
    assert result.status is VerificationStatus.REVOKED
    assert result.revocation is RevocationCheck.CHECKED


async def test_an_upload_whose_font_program_is_broken_is_tampered_not_an_error(
    web_settings: Settings,
    web_client: ClientFactory,
    pdf_of: PdfOf,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: a genuine certificate drawn in Noto CJK whose embedded CFF
    font had no FDArray raised AttributeError out of the verification: an
    HTTP 500 on the public upload page."""
    cff_face = cff_face_beside_truetype()
    monkeypatch.setenv(FONT_ENV, str(cff_face))
    key = SigningKey.load(web_settings.certificates.signing_key_file.read_bytes())
    genuine = extract_signed(await pdf_of(WANG)).data
    data = genuine.model_copy(update={"font": font_id(load_font(cff_face))})
    pdf = render_pdf(sign(data, key.private_key), font_path=cff_face)

    response = await upload(web_client(), with_cff_font_edited(pdf, without_fdarray))

    assert response.status_code == 200
    assert "证书信息被篡改" in _verdict(response)
    assert "证书有效" not in response.text
