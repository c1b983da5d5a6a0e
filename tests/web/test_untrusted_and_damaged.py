"""What the web service says of certificates whose key it no longer trusts,
of files signed by keys never ours, and of links damaged on their way.

Regressions of a hostile visitor's trial: a revoked certificate read
无法确认真伪 and was served again once its key was no longer trusted; a PDF
signed with a home-made key read 无法确认真伪 too; a download link with one
character no link holds answered 500; a QR signature altered in its last
character's spare bits verified; damaged links got the form's 400 page;
redirects repeated what was no number and named the client's Host; a name of
nothing visible spent a person's look-ups; one IPv6 client took a budget per
address.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from certflow.certificates import (
    SigningKey,
    generate_keypair,
    load_private_key,
    render_pdf,
    sign,
)
from certflow.certificates.signing import decode_signature, encode_signature
from certflow.config import Settings
from tests.web.conftest import rotated_client
from tests.web.samples import SUN, WANG, ClientFactory, Issued, PdfOf
from tests.web.test_web_app import links_in, lookup, qr_query, server_log, upload
from web import records
from web.app import RateLimits, create_app
from web.tokens import DownloadTokens, derive_secret

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def rotated(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, DownloadTokens]]:
    """A service whose signing key was rotated without listing the old
    public key: every issued certificate's key is no longer trusted."""
    async with rotated_client(web_settings, web_pool, tmp_path) as (client, key):
        yield client, DownloadTokens(derive_secret(key))


def load_key(path: Path) -> SigningKey:
    return SigningKey.load(path.read_bytes())


async def test_a_revoked_certificate_stays_revoked_when_its_key_is_not_trusted(
    rotated: tuple[httpx.AsyncClient, DownloadTokens],
    web_pool: asyncpg.Pool,
    issued: Issued,
    pdf_of: PdfOf,
) -> None:
    client, tokens = rotated
    number = issued.of(SUN)
    link = tokens.issue(number)

    by_number = await client.get(f"/verify/{number}")
    scanned = await client.get(
        f"/verify/{number}", params=await qr_query(web_pool, number)
    )
    found = await lookup(client, SUN.name, SUN.id_number)
    downloaded = await client.get(f"/download/{number}?e={link.expires}&t={link.mac}")
    uploaded = await upload(client, await pdf_of(SUN))

    for page in (by_number, scanned, uploaded):
        assert "证书已撤销" in page.text and "2026-12-18" in page.text
        assert "无法确认真伪" not in page.text
    # The printed code is the record's own: revoked, not tampered.
    assert "篡改" not in scanned.text
    # Who uploaded the file is not told to upload it to see more (review).
    assert "扫描证书上的二维码或上传证书文件" not in uploaded.text
    assert "扫描证书上的二维码或上传证书文件" in by_number.text
    assert "已撤销" in found.text and links_in(found.text) == []
    assert downloaded.status_code == 410
    # One not revoked still cannot be confirmed, scanned or uploaded.
    other = issued.of(WANG)
    assert (
        "无法确认真伪"
        in (
            await client.get(f"/verify/{other}", params=await qr_query(web_pool, other))
        ).text
    )
    assert "无法确认真伪" in (await upload(client, await pdf_of(WANG))).text


async def test_a_file_signed_by_a_key_never_ours_is_not_said_to_be_perhaps_ours(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    record = await records.get(web_pool, issued.of(WANG))
    assert record is not None
    stranger = load_private_key(generate_keypair()[0])
    client = web_client()

    # Our number, another name, signed at home: not the signature we issued.
    ours = await upload(
        client,
        render_pdf(
            sign(record.data.model_copy(update={"candidate_name": "王二"}), stranger)
        ),
    )
    # A number we never issued.
    made_up = record.data.model_copy(
        update={"number": record.data.number[:-4] + "9999"}
    )
    invented = await upload(client, render_pdf(sign(made_up, stranger)))

    assert "证书信息被篡改" in ours.text and "无法确认真伪" not in ours.text
    assert "王二" not in ours.text
    assert "不是本机构签发的" in invented.text and made_up.number in invented.text
    assert "无法确认真伪" not in invented.text


async def test_a_download_link_damaged_in_any_way_is_refused_as_a_link(
    web_client: ClientFactory,
    web_settings: Settings,
    issued: Issued,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = web_client()
    number = issued.of(WANG)
    good = DownloadTokens(derive_secret(load_key(
        web_settings.certificates.signing_key_file))).issue(number)  # fmt: skip
    caplog.set_level(logging.INFO)
    damaged = {
        "chinese in t": f"?e={good.expires}&t=%E8%83%A1",
        "accent in t": f"?e={good.expires}&t={good.mac}%C3%A9",
        "full-width bracket": f"?e={good.expires}&t={good.mac}%EF%BC%89",
        "long t": f"?e={good.expires}&t={good.mac * 3}",
        "empty e": f"?e=&t={good.mac}",
        "letter in e": f"?e={good.expires}x&t={good.mac}",
        "exponent": f"?e=1e10&t={good.mac}",
        "full-width e": f"?e=%EF%BC%91{good.expires}&t={good.mac}",
    }

    answers = {
        name: await client.get(f"/download/{number}{query}")
        for name, query in damaged.items()
    }

    assert {n: r.status_code for n, r in answers.items()} == dict.fromkeys(damaged, 403)
    assert all("下载链接无效或已过期" in r.text for r in answers.values())
    assert "request failed" not in server_log(caplog)


async def test_a_signature_altered_in_its_spare_bits_is_tampered(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    number = issued.of(WANG)
    query = await qr_query(web_pool, number)
    sig = query["sig"]
    raw = decode_signature(sig)
    assert raw is not None
    # The last character holds 2 bits of the signature and 4 spare ones:
    # the next character of the alphabet decodes to the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bytes = sig[:-1] + alphabet[alphabet.index(sig[-1]) + 1]
    assert encode_signature(raw) == sig != same_bytes

    page = await web_client().get(
        f"/verify/{number}", params={**query, "sig": same_bytes}
    )

    assert decode_signature(same_bytes) is None
    assert "证书信息被篡改" in page.text and "证书有效" not in page.text


@pytest.mark.parametrize("part", ["k", "sig"])
async def test_a_qr_link_with_a_part_too_long_is_tampered_not_a_bad_form(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued, part: str
) -> None:
    number = issued.of(WANG)
    query = await qr_query(web_pool, number)
    query[part] = query[part] * 10

    page = await web_client().get(f"/verify/{number}", params=query)

    assert page.status_code == 200
    assert "证书信息被篡改" in page.text


@pytest.mark.parametrize(
    "path",
    ["/verify/id42100220040821049x", "/verify/abcd", "/verify/e12345678?x=ID"],
)
async def test_a_path_tidied_into_no_number_is_not_redirected(
    web_client: ClientFactory, path: str
) -> None:
    answer = await web_client().get(path)

    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "本机构证书编号的格式" in answer.text


async def test_a_number_tidied_keeps_the_codes_query_and_nothing_else(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    number = issued.of(WANG)
    query = await qr_query(web_pool, number)

    answer = await web_client().get(
        f"/verify/{number.lower()}", params={**query, "note": "420106199001011234"}
    )

    assert answer.status_code == 301
    location = answer.headers["location"]
    assert location.startswith(f"/verify/{number}?")
    assert query["sig"] in location and "420106199001011234" not in location


@pytest.mark.parametrize("path", ["/verify/", "/keys.json/", "/status-list.json/"])
async def test_a_slash_too_many_leads_to_the_address_on_this_host(
    web_client: ClientFactory, path: str
) -> None:
    answer = await web_client().get(
        f"{path}?number=420106199001011234", headers={"Host": "evil.example"}
    )

    assert answer.status_code == 307
    assert answer.headers["location"] == path.rstrip("/")


@pytest.mark.parametrize(
    "path", ["/nothing-here/", "/verify/id42100220040821049x/", "/verify/E1234/"]
)
async def test_an_unknown_address_with_a_slash_is_not_found(
    web_client: ClientFactory, path: str
) -> None:
    """Nor redirected: a number's address with a slash would repeat in the
    redirect whatever was typed for the number (review)."""
    answer = await web_client().get(path)

    assert answer.status_code == 404
    assert "location" not in answer.headers


@pytest.mark.parametrize("name", ["\u200b", "·", " \u00ad "])
async def test_a_name_of_nothing_visible_is_asked_for_and_spends_no_person(
    web_client: ClientFactory, name: str
) -> None:
    client = web_client(limits=RateLimits(lookup_per_person_per_minute=1))

    answers = [await lookup(client, name, WANG.id_number) for _ in range(3)]
    found = await lookup(client, WANG.name, WANG.id_number)

    assert [a.status_code for a in answers] == [400, 400, 400]
    assert all("请填写姓名和证件号码" in a.text for a in answers)
    # The ID number's budget of one a minute was not spent by them.
    assert found.status_code == 200


async def test_addresses_of_one_ipv6_network_share_one_budget(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    app = create_app(web_settings, web_pool, limits=RateLimits(verify_per_minute=2))

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://certs.test")

    path = f"/verify/{issued.of(WANG)}"
    codes = []
    for address in ("2001:db8:1:2::10", "2001:db8:1:2::11", "2001:db8:1:2:ffff::1",
                    "2001:db8:1:3::10"):  # fmt: skip
        async with client(address) as each:
            codes.append((await each.get(path)).status_code)

    # Three of one /64 share its two; the fourth is another network.
    assert codes == [200, 200, 429, 200]
