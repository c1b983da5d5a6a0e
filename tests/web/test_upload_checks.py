"""The upload check (``POST /verify/pdf``) from a security trial of verification.

It runs the same verification as ``certflow verify``: a genuine certificate
with content added beyond its page is not as issued; where this server cannot
compare the glyphs, the uploader is shown the whole identity number to compare
the page with; and the revocations it checks against are dated so that they
speak of every certificate on record, whatever the server's clock.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pypdf import PdfWriter

from tests.certificates.certificate_samples import (
    add_document_javascript,
    incrementally,
)
from tests.web.samples import WANG, ClientFactory, PdfOf

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
