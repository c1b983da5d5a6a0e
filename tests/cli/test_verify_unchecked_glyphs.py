"""``certflow verify`` without the certificate font: every printed row, whole.

From a security trial: where the certificate's font was not installed (another
CJK face configured), the glyphs were not compared, and the tool asked the
verifier to compare the page with the holder's name and identity number, but
printed them masked (胡*, 3301**********7009). A page whose embedded font drew
the name's characters, or two digits of the number, exchanged then passed:
the masked values could not show it. The verifier holds the whole PDF, so
masking protects nothing there; the rows are now printed as the page prints
them, and the status (8) says a comparison by eye is still owed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from certflow.certificates import (
    generate_keypair,
    load_font,
    load_private_key,
    printed_fields,
    render_pdf,
    sign,
)
from certflow.config import Settings
from certflow.i18n import t
from certflow.privacy import mask_id_number, name_initial
from tests.certificates.certificate_samples import (
    cff_face_beside_truetype,
    configure_only,
    make_data,
    with_glyphs_swapped,
)
from tests.cli.conftest import certflow_runner

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

NAME, ID_NUMBER = "胡明", "330102199001017009"


@pytest.mark.parametrize(
    ("first", "second"),
    [pytest.param("胡", "明", id="name-redrawn"), pytest.param("7", "9", id="digits")],
)
async def test_without_the_font_every_printed_row_is_given_whole(
    first: str,
    second: str,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cff_face = cff_face_beside_truetype()
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    data = make_data(name=NAME, id_number=ID_NUMBER)
    # The page shows the two characters exchanged; its text reads as signed.
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(
        with_glyphs_swapped(
            render_pdf(sign(data, load_private_key(private_pem))), first, second
        )
    )

    # Where the certificate font is installed the glyphs give it away.
    caught = await certflow("verify", "--public-key", str(key), str(forged))
    configure_only(monkeypatch, cff_face)
    unchecked = await certflow("verify", "--public-key", str(key), str(forged))

    assert caught.status == 4 and "字形" in caught.out, caught.out
    assert unchecked.status == 8, unchecked.out
    assert t("cli.verify_glyphs_unchecked") in unchecked.out
    assert t("cli.verify_compare_printed") in unchecked.out
    # Every row as the page prints it: name, document, number, dates whole.
    for label, value in printed_fields(data):
        assert t("cli.verify_printed_field", label=label, value=value) in unchecked.out
    assert "2026年12月04日" in unchecked.out
    assert mask_id_number(ID_NUMBER) not in unchecked.out
    assert name_initial(NAME) not in unchecked.out


async def test_with_the_font_the_holder_stays_masked(
    settings: Settings, tmp_path: Path
) -> None:
    """Compared glyphs prove the page shows the signed data: nothing is left to
    compare, and the output keeps no more of the holder than needed."""
    if not load_font(None).fast_subsetting:
        pytest.skip("needs the TrueType certificate font (fonts-wqy-microhei)")
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    pdf = tmp_path / "cert.pdf"
    data = make_data(name=NAME, id_number=ID_NUMBER)
    pdf.write_bytes(render_pdf(sign(data, load_private_key(private_pem))))

    outcome = await certflow("verify", "--public-key", str(key), str(pdf))

    assert outcome.status == 0, outcome.out
    assert mask_id_number(ID_NUMBER) in outcome.out
    assert ID_NUMBER not in outcome.out and NAME not in outcome.out
    assert t("cli.verify_compare_printed") not in outcome.out
