"""The web service against a real database and certificates issued for real."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from certflow.certificates import (
    KeyRing,
    SignedStatusList,
    SigningKey,
    Verdict,
    VerificationStatus,
    generate_keypair,
    render_pdf,
    sign,
    verify_pdf,
    verify_status_list,
)
from certflow.certificates.keys import public_pem
from certflow.certificates.pdf import payload_bytes
from certflow.config import ConfigError, Settings
from certflow.privacy import mask_id_number
from tests.cli.test_database_refusals import CLOSED, refusing
from tests.ports import free_ports
from tests.web.samples import (
    AILI,
    FAILED,
    LI_FEN,
    PLAN_B,
    SUN,
    WANG,
    ClientFactory,
    Holder,
    Issued,
    PdfOf,
)
from web import records
from web.app import MAX_UPLOAD_BYTES, RateLimits, create_app
from web.tokens import DownloadTokens, derive_secret

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOWNLOAD_LINK = re.compile(r'href="(/download/[^"]+)"')
VALID_BADGE = '<span class="badge good">有效</span>'


def signing_key(settings: Settings) -> SigningKey:
    return SigningKey.load(settings.certificates.signing_key_file.read_bytes())


async def lookup(
    client: httpx.AsyncClient, name: str, id_number: str
) -> httpx.Response:
    return await client.post("/lookup", data={"name": name, "id_number": id_number})


def links_in(page: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in DOWNLOAD_LINK.findall(page)]


async def qr_query(pool: asyncpg.Pool, number: str) -> dict[str, str]:
    row = await pool.fetchrow(
        "SELECT key_id, signature FROM certificates WHERE number = $1", number
    )
    return {"k": row["key_id"], "sig": row["signature"]}


async def scan(
    client: httpx.AsyncClient, pool: asyncpg.Pool, number: str
) -> httpx.Response:
    """Open the verification page as a phone scanning the certificate's QR code."""
    return await client.get(f"/verify/{number}", params=await qr_query(pool, number))


# -- look-up -------------------------------------------------------------------------


async def test_lookup_lists_every_certificate_of_the_holder(
    web_client: ClientFactory, issued: Issued
) -> None:
    client = web_client()

    response = await lookup(client, LI_FEN.name, LI_FEN.id_number)

    assert response.status_code == 200
    page = response.text
    assert issued.of(LI_FEN) in page
    assert issued.of(LI_FEN, PLAN_B) in page
    assert "汽车运用与维修职业技能等级证书" in page
    assert "智能新能源汽车职业技能等级证书" in page
    assert "中级" in page and "初级" in page
    assert "1-1 汽车动力与驱动综合分析技术" in page
    assert "2026-12-04" in page
    assert page.count("有效") >= 2
    assert len(links_in(page)) == 2
    # The holder's own certificates only, and the ID number is not echoed back.
    assert issued.of(WANG) not in page
    assert LI_FEN.id_number not in page
    assert response.headers["cache-control"] == "no-store"


async def test_lookup_takes_the_id_number_as_people_type_it(
    web_client: ClientFactory, issued: Issued
) -> None:
    typed = " 110105 19491231 002x "

    response = await lookup(web_client(), f" {LI_FEN.name} ", typed)

    assert issued.of(LI_FEN) in response.text


@pytest.mark.parametrize(
    ("holder", "typed"),
    [
        (LI_FEN, "黎 芬"),  # an ASCII space between the characters
        (LI_FEN, "黎\u3000芬"),  # an ideographic space, as Chinese input methods type
        (LI_FEN, " 黎  芬 "),
        (AILI, "买买提・艾力"),  # katakana middle dot
        (AILI, "买买提 • 艾力"),  # bullet, with spaces
        (AILI, "买买提．艾力"),  # full-width full stop
        (AILI, "买买提.艾力"),
    ],
)
async def test_lookup_reads_the_name_as_intake_stored_it(
    web_client: ClientFactory, issued: Issued, holder: Holder, typed: str
) -> None:
    """Regression: a name typed with a space between its characters, or another
    dot between its parts, found nothing ("未查询到证书"), although intake
    reads the same name from a spreadsheet as the one on the certificate."""
    response = await lookup(web_client(), typed, holder.id_number)

    assert issued.of(holder) in response.text
    assert len(links_in(response.text)) >= 1


async def test_names_typed_into_the_look_up_are_not_kept_in_memory(
    web_client: ClientFactory, issued: Issued
) -> None:
    """Regression: the look-up's name went through a cache of the last 4096
    texts cleaned, so the web service kept the names people typed."""
    from certflow.text import clean_unicode

    typed = "  欧阳 某某测 "
    before = clean_unicode.cache_info()
    response = await lookup(web_client(), typed, WANG.id_number)

    assert "未查询到证书" in response.text
    after = clean_unicode.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


async def test_a_wrong_id_number_and_a_wrong_name_give_the_same_page(
    web_client: ClientFactory, issued: Issued
) -> None:
    client = web_client()

    wrong_id = await lookup(client, WANG.name, LI_FEN.id_number)
    wrong_name = await lookup(client, "王大明", WANG.id_number)

    assert wrong_id.status_code == wrong_name.status_code == 200
    assert "未查询到证书" in wrong_id.text
    assert issued.of(WANG) not in wrong_id.text
    # Nothing tells which of the two was wrong.
    assert wrong_id.text == wrong_name.text


async def test_a_candidate_who_failed_has_no_certificate(
    web_client: ClientFactory,
) -> None:
    response = await lookup(web_client(), FAILED.name, FAILED.id_number)

    assert "未查询到证书" in response.text
    assert not links_in(response.text)


async def test_a_reopened_results_address_leads_to_the_look_up_form(
    web_client: ClientFactory,
) -> None:
    """Trial: reopening /lookup (a reload, the history) said 请求无效 (405).
    The look-up still takes no GET: what a GET carried is not looked up, nor
    repeated in the redirect; and both fields are asked for."""
    client = web_client()

    reopened = await client.get("/lookup")
    by_get = await client.get(
        "/lookup", params={"name": LI_FEN.name, "id_number": LI_FEN.id_number}
    )
    followed = await client.get("/lookup", follow_redirects=True)
    missing = await lookup(client, LI_FEN.name, "  ")

    for answer in (reopened, by_get):
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        assert LI_FEN.id_number not in answer.text
    assert followed.status_code == 200 and 'action="/lookup"' in followed.text
    assert missing.status_code == 400
    assert "请填写姓名和证件号码" in missing.text


async def test_a_method_not_allowed_names_the_methods_that_are(
    web_client: ClientFactory, issued: Issued
) -> None:
    """Regression: 405 answers carried no ``Allow`` header."""
    client = web_client()

    answers = {
        "PUT /lookup": await client.put("/lookup"),
        "HEAD /download": await client.head(f"/download/{issued.of(WANG)}"),
        "PUT /verify/pdf": await client.put("/verify/pdf"),
        "DELETE /verify/{number}": await client.delete(f"/verify/{issued.of(WANG)}"),
        "POST /static": await client.post("/static/style.css"),
    }

    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(
        answers, 405
    )
    assert {name: a.headers.get("allow") for name, a in answers.items()} == {
        "PUT /lookup": "GET, POST",
        "HEAD /download": "GET",
        # The upload's address is also a number's (answered: not a number).
        "PUT /verify/pdf": "GET, HEAD, POST",
        "DELETE /verify/{number}": "GET, HEAD",
        "POST /static": "GET, HEAD",
    }
    # Said in Chinese as what it is (trial: 请求无效, as for a bad form).
    for name, answer in answers.items():
        if "HEAD" not in name:
            assert "不支持的访问方式" in answer.text, name
            assert "请求无效" not in answer.text, name


async def test_a_revoked_certificate_is_listed_as_revoked_without_a_link(
    web_client: ClientFactory, issued: Issued
) -> None:
    response = await lookup(web_client(), SUN.name, SUN.id_number)

    page = response.text
    assert issued.of(SUN) in page
    assert "已撤销" in page and "2026-12-18" in page and "成绩更正" in page
    assert not links_in(page)
    assert "下载链接" not in page


async def test_the_results_say_how_long_links_last_only_when_there_are_links(
    web_client: ClientFactory, issued: Issued
) -> None:
    page = (await lookup(web_client(), LI_FEN.name, LI_FEN.id_number)).text

    assert "共找到 2 本证书。下载链接 15 分钟内有效" in page


# -- downloads -----------------------------------------------------------------------


async def test_the_download_link_serves_the_issued_pdf(
    web_client: ClientFactory, web_settings: Settings, issued: Issued
) -> None:
    client = web_client()
    page = (await lookup(client, WANG.name, WANG.id_number)).text
    [link] = links_in(page)

    response = await client.get(link)

    assert LI_FEN.id_number not in link and WANG.id_number not in link
    assert urlsplit(link).path == f"/download/{issued.of(WANG)}"
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert issued.of(WANG) in response.headers["content-disposition"]
    ring = KeyRing.from_public_keys(
        [signing_key(web_settings).private_key.public_key()]
    )
    result = verify_pdf(response.content, ring)
    assert result.status is VerificationStatus.VALID
    assert result.data is not None and result.data.number == issued.of(WANG)


async def test_expired_forged_and_borrowed_links_are_refused(
    web_client: ClientFactory, web_settings: Settings, issued: Issued
) -> None:
    client = web_client()
    secret = derive_secret(signing_key(web_settings))
    number = issued.of(WANG)
    an_hour_ago = DownloadTokens(secret, clock=lambda: time.time() - 3600)
    expired = an_hour_ago.issue(number)
    good = DownloadTokens(secret).issue(number)
    forged_mac = ("A" if good.mac[0] != "A" else "B") + good.mac[1:]
    other_key = DownloadTokens(b"not the server's secret").issue(number)
    far_future = DownloadTokens(secret, lifetime_seconds=86400 * 365).issue(number)

    attempts = {
        "expired": f"/download/{number}?e={expired.expires}&t={expired.mac}",
        "forged": f"/download/{number}?e={good.expires}&t={forged_mac}",
        "other secret": f"/download/{number}?e={other_key.expires}&t={other_key.mac}",
        "longer life": f"/download/{number}?e={good.expires + 60}&t={good.mac}",
        "far future": f"/download/{number}?e={far_future.expires}&t={far_future.mac}",
        "other number": f"/download/{issued.of(LI_FEN)}?e={good.expires}&t={good.mac}",
        "no token": f"/download/{number}",
    }
    answers = {name: await client.get(url) for name, url in attempts.items()}
    allowed = await client.get(f"/download/{number}?e={good.expires}&t={good.mac}")

    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(
        attempts, 403
    )
    assert "下载链接无效或已过期" in answers["expired"].text
    assert allowed.status_code == 200


async def test_a_revoked_certificate_cannot_be_downloaded(
    web_client: ClientFactory, web_settings: Settings, issued: Issued
) -> None:
    link = DownloadTokens(derive_secret(signing_key(web_settings))).issue(
        issued.of(SUN)
    )

    response = await web_client().get(
        f"/download/{issued.of(SUN)}", params={"e": link.expires, "t": link.mac}
    )

    assert response.status_code == 410
    assert "已被撤销" in response.text


async def test_a_link_to_a_record_edited_since_is_refused(
    web_client: ClientFactory,
    web_settings: Settings,
    web_pool: asyncpg.Pool,
    issued: Issued,
) -> None:
    """Regression: a link issued before the record was edited still served the
    file for its 15 minutes, though the look-up would no longer offer it."""
    client = web_client()
    [link] = links_in((await lookup(client, WANG.name, WANG.id_number)).text)
    number = issued.of(WANG)
    original = await web_pool.fetchval(
        "SELECT payload FROM certificates WHERE number = $1", number
    )
    try:
        await web_pool.execute(
            "UPDATE certificates SET payload = $2 WHERE number = $1",
            number,
            {**original, "level": "advanced"},
        )
        response = await client.get(link)
    finally:
        await web_pool.execute(
            "UPDATE certificates SET payload = $2 WHERE number = $1", number, original
        )

    assert response.status_code == 409
    assert "未能通过真伪校验" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert (await client.get(link)).status_code == 200  # the record put back


# -- verification by number and QR code ----------------------------------------------


async def test_a_scanned_qr_code_of_a_valid_certificate_shows_its_data(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    response = await scan(web_client(), web_pool, issued.of(LI_FEN))

    page = response.text
    assert response.status_code == 200
    assert "证书有效" in page
    assert LI_FEN.name in page
    assert mask_id_number(LI_FEN.id_number) in page
    assert "1101" in mask_id_number(LI_FEN.id_number)
    assert LI_FEN.id_number not in page
    assert "汽车运用与维修职业技能等级证书" in page and "中级" in page


async def test_verifying_by_number_alone_shows_the_surname_and_the_id_numbers_end(
    web_client: ClientFactory, issued: Issued
) -> None:
    """Regression: by number alone (numbers are sequential, no proof of holding
    the certificate) the page showed the ID number's first 4 characters too,
    the region of birth: with the look-up's found / not found at 10 tries a
    minute per name, that left a person's full ID number a few hours away."""
    client = web_client()
    typed = await client.get(f"/verify/{issued.of(LI_FEN)}")
    other = await client.get(f"/verify/{issued.of(WANG)}")

    assert "证书有效" in typed.text
    assert "黎某" in typed.text and "**************002X" in typed.text
    assert LI_FEN.name not in typed.text
    assert LI_FEN.id_number[:4] not in typed.text
    assert mask_id_number(LI_FEN.id_number) not in typed.text
    # Neither does the page's length tell the name's: 黎芬 and 王小明 alike.
    assert "王某" in other.text
    assert len(typed.content) == len(other.content)


async def test_a_revoked_certificate_shows_the_date_and_reason(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    response = await scan(web_client(), web_pool, issued.of(SUN))

    assert "证书已撤销" in response.text
    assert "2026-12-18" in response.text and "成绩更正" in response.text
    assert "证书有效" not in response.text


async def test_an_unknown_number_is_reported_as_unknown(
    web_client: ClientFactory,
) -> None:
    response = await web_client().get("/verify/ZCX2026QCYY2999999")

    assert response.status_code == 404
    assert "查无此证书" in response.text
    assert "ZCX2026QCYY2999999" in response.text


async def test_a_path_that_is_no_certificate_number_is_not_repeated(
    web_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: /verify/<any sentence> put that sentence on the organisation's
    page ("没有编号为 … 的证书记录"), a 60 KB path included."""
    client = web_client()
    caplog.set_level(logging.DEBUG)
    notice = "系统升级中，本证书请改用微信公众号查询，或致电 400-800-0000"
    paths = {
        "sentence": f"ZCX2027QCYY2000001。{notice}",
        "60 KB": "Call-400-800-0000-now-" * 2700,
        "letters and digits, not our scheme": "CALL4008000000",
    }

    for name, path in paths.items():
        answer = await client.get(f"/verify/{path}")
        assert answer.status_code == 400, name
        assert "证书编号的格式" in answer.text, name
        assert "没有编号为" not in answer.text, name
        assert path[:20] not in answer.text, name
        assert len(answer.text) < 5000, name
    assert notice not in server_log(caplog)
    assert "CALL4008000000" not in server_log(caplog)


async def test_get_of_the_upload_address_leads_to_the_upload_form(
    web_client: ClientFactory,
) -> None:
    """Regression: GET /verify/pdf said 没有编号为 pdf 的证书记录."""
    answer = await web_client().get("/verify/pdf", follow_redirects=True)

    assert answer.status_code == 200
    assert answer.url.path == "/verify"
    assert 'action="/verify/pdf"' in answer.text
    assert "没有编号为" not in answer.text


async def test_a_qr_code_whose_signature_does_not_match_shows_tampered(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    client = web_client()
    number = issued.of(LI_FEN)
    genuine = await qr_query(web_pool, number)
    other = await qr_query(web_pool, issued.of(WANG))
    flipped = genuine["sig"][:10] + ("A" if genuine["sig"][10] != "A" else "B")
    flipped += genuine["sig"][11:]

    variants = {
        "one character": {**genuine, "sig": flipped},
        "another certificate's": other,
        "untrusted key id": {**genuine, "k": "0123456789abcdef"},
    }
    pages = {
        name: (await client.get(f"/verify/{number}", params=query)).text
        for name, query in variants.items()
    }

    for name, page in pages.items():
        assert "证书信息被篡改" in page, name
        assert "证书有效" not in page, name
        assert "证书信息" not in page.split("</section>", 1)[1], name


async def test_a_qr_link_cut_short_says_the_link_is_incomplete_not_tampered(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    """Trial: a QR link whose ``sig`` a chat app cut off showed 证书信息被篡改,
    该证书或二维码已被改动，证书无效: a genuine holder looked like a forger."""
    client = web_client()
    number = issued.of(LI_FEN)
    genuine = await qr_query(web_pool, number)

    variants = {
        "signature cut short": {**genuine, "sig": genuine["sig"][:40]},
        "one character short": {**genuine, "sig": genuine["sig"][:-1]},
        "no signature": {"k": genuine["k"]},
        "empty signature": {**genuine, "sig": ""},
        "cut inside sig=": {"k": genuine["k"], "si": ""},
        "key id cut short": {"k": genuine["k"][:7]},
        "empty key id": {"k": ""},
    }
    for name, query in variants.items():
        page = (await client.get(f"/verify/{number}", params=query)).text

        assert "链接不完整" in page, name
        assert "证书信息被篡改" not in page and "证书无效" not in page, name
        assert f'href="/verify/{number}"' in page, name
        assert "证书信息" not in page.split("</section>", 1)[1], name


async def test_a_qr_link_no_cut_could_leave_is_tampered(
    web_client: ClientFactory, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    """Review: a key id of other characters, a signature too long or with a
    character base64url has none of was said 链接不完整, 这不说明证书有问题,
    though cutting a link short leaves none of them: the link was changed."""
    client = web_client()
    number = issued.of(LI_FEN)
    genuine = await qr_query(web_pool, number)
    kid, sig = genuine["k"], genuine["sig"]

    variants = {
        "key id not hex": {"k": kid[:-1] + "g", "sig": sig},
        "key id in capitals": {"k": "ABCDEF0123456789", "sig": sig},
        "key id too long": {"k": kid + "0", "sig": sig},
        "signature too long": {"k": kid, "sig": sig + "A"},
        "signature padded": {"k": kid, "sig": sig + "=="},
        "plain base64": {"k": kid, "sig": sig[:-2] + "+/"},
        "plain base64, short": {"k": kid, "sig": sig[:40] + "+"},
        "other characters inserted": {"k": kid, "sig": sig[:10] + "!!!" + sig[10:]},
        "signature without key id": {"sig": sig},
        "signature after a key id cut short": {"k": kid[:7], "sig": sig},
    }
    for name, query in variants.items():
        page = (await client.get(f"/verify/{number}", params=query)).text

        assert "证书信息被篡改" in page, name
        assert "链接不完整" not in page, name
        assert "证书信息" not in page.split("</section>", 1)[1], name


async def insert_edited_copy(
    pool: asyncpg.Pool, genuine_number: str, *, number: str, holder: Holder
) -> None:
    """A row whose data someone changed after signing: the genuine certificate's
    signature over another number and holder."""
    genuine = await pool.fetchrow(
        "SELECT * FROM certificates WHERE number = $1", genuine_number
    )
    payload = {
        **genuine["payload"],
        "number": number,
        "candidate_name": holder.name,
        "id_number": holder.id_number,
    }
    await pool.execute(
        """
        INSERT INTO certificates (number, plan_id, admission_number, module_code,
            name, id_type, id_number, issued_on, payload, key_id, signature)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        number,
        genuine["plan_id"],
        holder.admission_number,
        genuine["module_code"],
        holder.name,
        genuine["id_type"],
        holder.id_number,
        genuine["issued_on"],
        payload,
        genuine["key_id"],
        genuine["signature"],
    )


async def test_an_edited_database_record_blames_the_organisations_record(
    web_client: ClientFactory,
    web_pool: asyncpg.Pool,
    issued: Issued,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The verification page says the organisation's record could not be
    verified, by number and by QR code alike, never that the visitor's
    certificate or code was changed (trial: it said 该证书或二维码已被改动);
    operators find the number in an error line. The holder's look-up offers
    no download of a record that no longer verifies."""
    number = "ZCX2026QCYY2900001"
    forged = Holder("王小亮", "440524188001019999", "A099")
    await insert_edited_copy(web_pool, issued.of(WANG), number=number, holder=forged)
    client = web_client()
    caplog.set_level(logging.INFO)

    response = await client.get(f"/verify/{number}")
    scanned = await scan(client, web_pool, number)
    found = await lookup(client, forged.name, forged.id_number)

    for page in (response.text, scanned.text):
        assert "暂时无法核验" in page and "请联系发证机构" in page
        assert "证书信息被篡改" not in page and "二维码已被改动" not in page
        assert "王" not in page.split("暂时无法核验", 1)[1]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"verify number={number} outcome=record_unverified" in errors
    assert forged.id_number not in server_log(caplog)
    assert forged.name not in server_log(caplog)
    assert number in found.text and "信息被篡改" in found.text
    assert VALID_BADGE not in found.text
    assert not links_in(found.text)


async def test_the_number_form_posts_and_redirects_to_the_verification_page(
    web_client: ClientFactory, issued: Issued
) -> None:
    client = web_client()

    typed = await client.post("/verify", data={"number": issued.of(WANG).lower()})
    old_link = await client.get("/verify", params={"number": issued.of(WANG)})
    bad = await client.post("/verify", data={"number": "<script>"})
    form = await client.get("/verify")

    for answer in (typed, old_link):
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/verify/{issued.of(WANG)}"
    assert bad.status_code == 400 and "<script>" not in bad.text
    assert form.status_code == 200 and 'action="/verify/pdf"' in form.text
    # Whatever is typed travels in the body, not in a /verify?number= URL.
    assert '<form method="post" action="/verify">' in form.text


async def test_only_numbers_of_the_configured_scheme_are_redirected(
    web_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: anything of letters and digits went to /verify/<it> and into
    the log; a value no certificate of ours can have now stays on the form."""
    client = web_client()
    caplog.set_level(logging.DEBUG)

    for typed in ("ABC-123", "ZCX2026QCYY20000", "XYZ2026QCYY2000001"):
        posted = await client.post("/verify", data={"number": typed})
        linked = await client.get("/verify", params={"number": typed})
        for answer in (posted, linked):
            assert answer.status_code == 400, typed
            assert "location" not in answer.headers
            assert "例如 ZCX" in answer.text
    assert "ABC-123" not in server_log(caplog)


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """The server's log lines: the test's own HTTP client logs the URLs it asks."""
    return "\n".join(
        r.getMessage()
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )


# Mistyped ID numbers: a wrong check character, a digit missing, an X after 17
# digits that is wrong, 16 digits. None is a valid GB 11643 number.
MISTYPED_IDS = ("330106200308287008", "33010620030828700", "33010620030828700X",
                "3301062003082870")  # fmt: skip


async def test_a_mistyped_id_number_is_neither_redirected_nor_logged(
    web_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: an ID number with a wrong check digit (or 17 digits) was taken
    for a certificate number, redirected to /verify/<it> and logged there."""
    client = web_client()
    caplog.set_level(logging.DEBUG)

    for typed in MISTYPED_IDS:
        posted = await client.post("/verify", data={"number": typed})
        linked = await client.get("/verify", params={"number": typed.lower()})
        direct = await client.get(f"/verify/{typed}")
        for answer in (posted, linked, direct):
            assert answer.status_code == 400, typed
            assert "location" not in answer.headers
            assert "身份证号码，不是证书编号" in answer.text
            assert typed not in answer.text
    log = server_log(caplog)
    for typed in MISTYPED_IDS:
        assert typed not in log and typed.lower() not in log


async def test_an_id_number_typed_as_a_certificate_number_goes_nowhere(
    web_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: an ID number typed into the number form was redirected to
    /verify/<ID number> and logged there."""
    client = web_client()
    caplog.set_level(logging.DEBUG)

    typed = await client.post("/verify", data={"number": WANG.id_number})
    lower = await client.get("/verify", params={"number": WANG.id_number.lower()})
    direct = await client.get(f"/verify/{WANG.id_number}")

    for answer in (typed, lower, direct):
        assert answer.status_code == 400
        assert "location" not in answer.headers
        assert "身份证号码，不是证书编号" in answer.text
        assert WANG.id_number not in answer.text
    server = "\n".join(
        r.getMessage()
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    assert WANG.id_number not in server and WANG.id_number.lower() not in server


async def test_an_id_number_in_a_download_link_is_not_logged(
    web_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Audit by mutation: the refused download logs the number only if it is
    a certificate number's shape, but logging whatever was in the path
    passed every test; an ID number pasted into a link stays out of the log."""
    client = web_client()
    caplog.set_level(logging.DEBUG)

    answer = await client.get(f"/download/{WANG.id_number}?e=1&t=x")

    assert answer.status_code == 403
    server = "\n".join(
        r.getMessage()
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "outcome=bad_link" in server
    assert WANG.id_number not in server


async def test_a_control_character_in_a_lookup_is_refused_not_a_server_error(
    web_client: ClientFactory,
) -> None:
    client = web_client()
    for name, id_number in ((WANG.name + "\0", WANG.id_number),
                            (WANG.name, WANG.id_number + "\0")):  # fmt: skip
        answer = await lookup(client, name, id_number)
        assert answer.status_code == 400
        assert "无法识别的字符" in answer.text


# -- verification of an uploaded PDF -------------------------------------------------


async def upload(client: httpx.AsyncClient, pdf: bytes) -> httpx.Response:
    return await client.post(
        "/verify/pdf", files={"file": ("certificate.pdf", pdf, "application/pdf")}
    )


async def test_an_uploaded_genuine_pdf_is_valid(
    web_client: ClientFactory, pdf_of: PdfOf
) -> None:
    pdf = await pdf_of(WANG)

    response = await upload(web_client(), pdf)

    assert response.status_code == 200
    assert "证书有效" in response.text
    assert WANG.name in response.text
    assert WANG.id_number not in response.text


async def test_the_verdict_on_an_uploaded_pdf_is_said_once(
    web_client: ClientFactory, pdf_of: PdfOf
) -> None:
    """Regression: under 该证书由本机构签发，电子签名核验通过 the page repeated
    证书有效：…签名核验通过 (and 已撤销 likewise)."""
    client = web_client()

    valid = await upload(client, await pdf_of(WANG))
    revoked = await upload(client, await pdf_of(SUN))

    assert valid.text.count("核验通过") == 1
    assert "证书有效：" not in valid.text
    assert revoked.text.count("不再有效") == 1


async def test_an_uploaded_pdf_whose_page_was_edited_says_the_page_differs(
    web_client: ClientFactory,
    web_pool: asyncpg.Pool,
    web_settings: Settings,
    issued: Issued,
) -> None:
    """Regression: a page whose printed name was edited, under the genuine signed
    data, was said to have a signature that does not match our records."""
    record = await records.get(web_pool, issued.of(WANG))
    assert record is not None
    key = signing_key(web_settings)
    edited = record.data.model_copy(update={"candidate_name": "王小亮"})
    other = sign(edited, key.private_key, key.key_id)
    genuine_payload, other_payload = payload_bytes(record.signed), payload_bytes(other)
    assert len(genuine_payload) == len(other_payload)
    forged = render_pdf(other).replace(other_payload, genuine_payload)

    response = await upload(web_client(), forged)

    verdict = response.text.split('<p class="hint">', 1)[0]
    assert "证书信息被篡改" in verdict
    assert "页面上的内容与证书中的签名数据不符" in verdict
    assert "电子签名与本机构的记录不符" not in verdict
    assert "姓名" in response.text  # the reason, underneath


async def test_an_uploaded_pdf_with_one_byte_changed_is_tampered(
    web_client: ClientFactory, pdf_of: PdfOf
) -> None:
    pdf = await pdf_of(WANG)
    at = pdf.index(WANG.id_number.encode()) + 6
    edited = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]

    response = await upload(web_client(), edited)

    assert len(edited) == len(pdf) and edited != pdf
    assert "证书信息被篡改" in response.text
    assert "证书有效" not in response.text


async def test_an_uploaded_revoked_pdf_is_revoked(
    web_client: ClientFactory, pdf_of: PdfOf
) -> None:
    pdf = await pdf_of(SUN)

    response = await upload(web_client(), pdf)

    assert "证书已撤销" in response.text and "2026-12-18" in response.text


async def test_uploads_that_are_not_certificates_are_refused(
    web_client: ClientFactory,
) -> None:
    client = web_client()

    text = await upload(client, b"%PDF-1.4 not really a pdf")
    huge = await upload(client, b"%PDF-1.7\n" + b"0" * (MAX_UPLOAD_BYTES + 1))
    empty = await client.post("/verify/pdf", data={"other": "x"})

    assert "不是电子证书" in text.text
    assert huge.status_code == 413 and "文件过大" in huge.text
    assert empty.status_code == 400


async def test_a_number_typed_in_lower_case_or_full_width_finds_its_page(
    web_client: ClientFactory, issued: Issued
) -> None:
    """Regression: a lower-case certificate number was answered 查无此证书."""
    client = web_client(address="203.0.113.21")
    number = issued.of(WANG)
    full_width = number.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    for typed in (number.lower(), full_width):
        answer = await client.get(f"/verify/{typed}", follow_redirects=True)
        assert answer.status_code == 200, typed
        assert answer.url.path == f"/verify/{number}"


async def test_a_number_typed_in_groups_finds_its_page(
    web_client: ClientFactory, issued: Issued
) -> None:
    """Regression: a number typed with spaces (as printed in groups) was refused
    by the form and answered 查无此证书 in a link."""
    client = web_client(address="203.0.113.23")
    number = issued.of(WANG)
    grouped = f"{number[:3]} {number[3:7]} {number[7:11]} {number[11:]}"
    wide = grouped.lower().replace(" ", "\u3000")

    for typed in (grouped, wide):
        posted = await client.post("/verify", data={"number": typed})
        linked = await client.get(f"/verify/{typed}", follow_redirects=True)
        assert posted.status_code == 303, typed
        assert posted.headers["location"] == f"/verify/{number}"
        assert linked.status_code == 200 and linked.url.path == f"/verify/{number}"
        assert "证书有效" in linked.text


async def test_an_empty_number_is_asked_for(web_client: ClientFactory) -> None:
    """Regression: submitting the form with no number showed it again, silently."""
    client = web_client()

    empty = await client.post("/verify", data={"number": " \u3000 "})
    form = await client.get("/verify")

    assert empty.status_code == 400 and "请输入证书编号" in empty.text
    assert form.status_code == 200 and 'class="alert"' not in form.text


async def test_head_answers_as_get_does(
    web_client: ClientFactory, issued: Issued
) -> None:
    """Regression: HEAD / (what monitors send) was answered 405, and so were a
    certificate's page (a QR reader's link preview) and the published lists."""
    client = web_client()

    pages = ("/", "/verify", f"/verify/{issued.of(WANG)}")
    for path in (*pages, "/keys.json", "/status-list.json"):
        head = await client.head(path)
        get = await client.get(path)
        assert head.status_code == 200, path
        assert head.headers["content-type"] == get.headers["content-type"]


async def test_an_id_number_typed_in_full_width_digits_is_found(
    web_client: ClientFactory,
) -> None:
    """Chinese input methods often type full-width digits (０-９, Ｘ)."""
    client = web_client(address="203.0.113.22")
    full_width = WANG.id_number.translate(
        {ord(c): ord(c) + 0xFEE0 for c in "0123456789X"}
    )
    answer = await lookup(client, WANG.name, full_width)
    assert answer.status_code == 200
    assert links_in(answer.text)  # the holder's certificates, with download links


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero-width space, as chat apps and web pages paste it
        "\ufeff",  # zero-width no-break space (a byte-order mark)
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\u200e",  # left-to-right mark
        "\u00ad",  # soft hyphen
    ],
)
async def test_an_id_number_pasted_with_an_invisible_letter_is_found(
    web_client: ClientFactory, issued: Issued, invisible: str
) -> None:
    """Regression: a zero-width space was taken out of a typed name but not of
    a typed ID number, so a pasted ID number found nothing."""
    pasted = f"{invisible}{WANG.id_number[:6]}{invisible}{WANG.id_number[6:]}"

    answer = await lookup(web_client(), WANG.name, pasted)

    assert issued.of(WANG) in answer.text
    assert links_in(answer.text)


# -- rate limits -----------------------------------------------------------------------


async def test_lookups_beyond_the_address_limit_are_answered_429(
    web_client: ClientFactory,
) -> None:
    limits = RateLimits(
        lookup_per_minute=10, lookup_per_person_per_minute=100, lookup_free_misses=50
    )
    client = web_client(address="203.0.113.5", limits=limits)
    neighbour = web_client(address="203.0.113.5", limits=limits)

    answers = [
        (await lookup(client, f"考生{chr(0x4E00 + i)}", WANG.id_number)).status_code
        for i in range(11)
    ]
    limited = await lookup(client, WANG.name, WANG.id_number)

    assert answers[:10] == [200] * 10
    assert answers[10] == 429
    assert limited.status_code == 429
    assert "查询过于频繁" in limited.text
    assert int(limited.headers["retry-after"]) >= 1
    # Another app (another process) keeps its own buckets.
    assert (await lookup(neighbour, WANG.name, WANG.id_number)).status_code == 200


async def test_a_class_behind_one_address_looks_up_together(
    web_client: ClientFactory,
) -> None:
    """Results day: forty candidates of one school, one address (NAT), each
    looking up once. Regression: the eleventh waited, and the rest."""
    client = web_client(address="203.0.113.40")

    codes = [
        (
            await lookup(client, f"学生{chr(0x4E00 + i)}", f"44052418800101{i:04d}")
        ).status_code
        for i in range(40)
    ]

    assert codes == [200] * 40


async def test_guessing_one_persons_id_number_is_limited_from_any_address(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    """The limit that stops guessing is per name and per ID number typed,
    across addresses, and reads them as intake does (a space between
    characters is the same name). (The wait that grows with each miss is put
    off here, to see the bucket alone.)"""
    app = create_app(web_settings, web_pool, limits=RateLimits(lookup_free_misses=50))

    async def from_address(index: int, name: str, id_number: str) -> int:
        client = (f"198.18.0.{index}", 40000)
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return (await lookup(c, name, id_number)).status_code

    spaced = " ".join(WANG.name)
    guesses = [
        await from_address(i, WANG.name if i % 2 else spaced, f"44052418800101{i:04d}")
        for i in range(1, 12)
    ]
    other_name = await from_address(12, LI_FEN.name, LI_FEN.id_number)

    assert guesses == [200] * 10 + [429]
    assert other_name == 200
    assert issued.of(WANG)  # the name guessed holds a certificate

    # Knowing the ID number and guessing the name: limited the same way.
    names = [
        await from_address(20 + i, f"王{chr(0x4E00 + i)}", LI_FEN.id_number)
        for i in range(11)
    ]
    assert names == [200] * 9 + [429, 429]  # LI_FEN's own look-up spent one


async def test_verification_is_limited_per_client_address(
    web_client: ClientFactory, issued: Issued
) -> None:
    limits = RateLimits(verify_per_minute=3)
    app_client = web_client(address="203.0.113.9", limits=limits)

    codes = [
        (await app_client.get(f"/verify/{issued.of(WANG)}")).status_code
        for _ in range(4)
    ]

    assert codes == [200, 200, 200, 429]


async def test_a_head_of_a_verification_spends_the_verify_budget_as_a_get_does(
    web_client: ClientFactory, issued: Issued
) -> None:
    """A HEAD of a certificate's page answers what a GET answers, without the
    page: 200 for a certificate issued, 404 for a number never issued, and a
    length that differs between a valid and a revoked one. Free, it would
    let anyone try every number without limit, so it spends a token too."""
    limits = RateLimits(verify_per_minute=4)
    app_client = web_client(address="203.0.113.19", limits=limits)
    valid = await app_client.head(f"/verify/{issued.of(WANG)}")
    revoked = await app_client.head(f"/verify/{issued.of(SUN)}")
    never = await app_client.head("/verify/ZCX2026QCYY2999999")
    page = await app_client.get(f"/verify/{issued.of(WANG)}")
    over_head = await app_client.head(f"/verify/{issued.of(WANG)}")
    over_get = await app_client.get(f"/verify/{issued.of(WANG)}")
    over_list = await app_client.head("/status-list.json")

    assert (valid.status_code, never.status_code) == (200, 404)
    assert valid.content == b"" and page.status_code == 200
    assert valid.headers["content-length"] == str(len(page.content))
    assert revoked.headers["content-length"] != valid.headers["content-length"]
    for refused in (over_head, over_get, over_list):
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1


async def test_a_head_of_a_route_answered_only_to_get_or_post_spends_nothing(
    web_client: ClientFactory, issued: Issued
) -> None:
    """HEAD is not answered where no checker knocks (a holder's download link,
    the look-up form's post): refused 405 before any limit is counted."""
    limits = RateLimits(download_per_minute=1, lookup_per_minute=1)
    app_client = web_client(address="203.0.113.29", limits=limits)

    heads = [
        (await app_client.head(f"/download/{issued.of(WANG)}?e=1&t=x")).status_code,
        (await app_client.head("/lookup")).status_code,
    ]
    download = await app_client.get(f"/download/{issued.of(WANG)}?e=1&t=x")
    looked_up = await lookup(app_client, WANG.name, WANG.id_number)

    assert heads == [405, 405]
    assert download.status_code == 403  # a bad link, not over the limit
    assert looked_up.status_code == 200


async def test_the_limits_come_from_the_web_table_of_the_configuration(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued, tmp_path: Path
) -> None:
    config = tmp_path / "certflow.toml"
    config.write_text("[web]\nverify_per_minute = 2\n", encoding="utf-8")
    configured = Settings.load(config).web
    assert configured.verify_per_minute == 2
    # The others keep their defaults.
    assert configured.lookup_per_minute == 60
    assert configured.lookup_per_person_per_minute == 10
    assert (
        configured.lookup_free_misses,
        configured.lookup_miss_wait_seconds,
        configured.lookup_longest_miss_wait_seconds,
    ) == (5, 60, 3600)
    settings = web_settings.model_copy(update={"web": configured})
    app = create_app(settings, web_pool)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        codes = [
            (await client.get(f"/verify/{issued.of(WANG)}")).status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("line", ["lookup_per_minute = 0", "verify_per_minute = -5",
                                  "lookup_per_person_per_minute = 0",
                                  "link_lifetime_seconds = 5",
                                  "lookup_free_misses = 0",
                                  "lookup_miss_wait_seconds = 600\n"
                                  "lookup_longest_miss_wait_seconds = 60"])  # fmt: skip
async def test_impossible_web_limits_are_refused_at_load(
    line: str, tmp_path: Path
) -> None:
    config = tmp_path / "certflow.toml"
    config.write_text(f"[web]\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"web\."):
        Settings.load(config)


# -- published lists, headers, logs --------------------------------------------------


async def test_the_status_list_is_signed_and_lists_the_revoked(
    web_client: ClientFactory, pdf_of: PdfOf, issued: Issued
) -> None:
    client = web_client()

    response = await client.get("/status-list.json")
    keys = (await client.get("/keys.json")).json()["keys"]

    signed = SignedStatusList.model_validate_json(response.text)
    ring = KeyRing.from_public_keys([k["public_key_pem"].encode() for k in keys])
    assert verify_status_list(signed, ring) is Verdict.VALID
    assert [e.number for e in signed.status_list.entries] == [issued.of(SUN)]
    pdf = await pdf_of(SUN)
    assert verify_pdf(pdf, ring, signed).status is VerificationStatus.REVOKED


async def test_the_status_list_with_the_database_away_is_a_json_error(
    web_settings: Settings,
) -> None:
    """Trial: /status-list.json with the database down answered the people's
    HTML error page (500), which an offline verifier cannot read."""
    # A pool that opens its connections on demand, at a port where nothing
    # listens: the database is away.
    away = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{free_ports(1)[0]}/certflow", min_size=0
    )
    app = create_app(web_settings, away)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.8", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        answer = await c.get("/status-list.json")
    await away.close()

    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["retry-after"] == "30"
    assert "public" not in answer.headers["cache-control"]
    assert answer.json()["error"] == "unavailable"
    assert "请稍后再试" in answer.json()["message"]


@pytest.mark.parametrize("database", ["down", "closed"])
async def test_a_page_with_the_database_away_is_503_with_retry_after(
    web_settings: Settings, tmp_path: Path, database: str
) -> None:
    """Trial: a look-up with the database away answered the right Chinese page
    with status 500, which monitors and proxies read as a fault of the code.
    Down: nothing listens on its port; closed: the server answers but takes no
    connection (ALLOW_CONNECTIONS false, 55000)."""
    async with contextlib.AsyncExitStack() as stack:
        if database == "closed":
            url = await stack.enter_async_context(refusing(CLOSED, tmp_path))
        else:
            url = f"postgresql://postgres@127.0.0.1:{free_ports(1)[0]}/certflow"
        # Connections opened on demand, as a running service's pool does.
        away = await asyncpg.create_pool(url, min_size=0)
        app = create_app(web_settings, away)
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            answer = await lookup(c, WANG.name, WANG.id_number)
        await away.close()

    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "30"
    assert "服务暂时出现问题，请稍后再试" in answer.text


@pytest.mark.parametrize(
    "pasted",
    [
        "{number}。",
        "{number}，",
        "证书编号：{number}",
        "证书编号: {number}。",
        "编号：{lower}",
        "“{number}”",
        "【{number}】",
    ],
)
async def test_a_number_pasted_with_its_label_or_punctuation_finds_its_page(
    web_client: ClientFactory, issued: Issued, pasted: str
) -> None:
    """Trial: a number copied from a message with its full stop (or its
    证书编号： label) was answered 这不是本机构证书编号的格式."""
    number = issued.of(WANG)
    typed = pasted.format(number=number, lower=number.lower())

    answer = await web_client().post("/verify", data={"number": typed})

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/verify/{number}"


async def test_pages_load_nothing_from_elsewhere(web_client: ClientFactory) -> None:
    client = web_client()

    home = await client.get("/")
    css = await client.get("/static/style.css")

    assert home.status_code == 200 and css.status_code == 200
    assert "查询我的电子证书" in home.text
    assert not re.search(r'(src|href)="(https?:)?//', home.text)
    assert "url(" not in css.text and "@import" not in css.text
    assert home.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in home.headers["content-security-policy"]


async def test_logs_name_no_person_and_no_token(
    web_client: ClientFactory, issued: Issued, caplog: pytest.LogCaptureFixture
) -> None:
    client = web_client()
    caplog.set_level(logging.DEBUG)

    page = (await lookup(client, WANG.name, WANG.id_number)).text
    [link] = links_in(page)
    await client.get(link)
    await client.get(f"/verify/{issued.of(WANG)}")

    token = parse_qs(urlsplit(link).query)["t"][0]
    # The server's lines only: the test's own HTTP client logs the URLs it asks.
    server = "\n".join(
        f"{r.name} {r.getMessage()}"
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "lookup outcome=found certificates=1" in server
    assert f"download number={issued.of(WANG)} outcome=served" in server
    for secret in (WANG.name, WANG.id_number, token):
        assert secret not in server


# -- key rotation ----------------------------------------------------------------------


async def test_after_rotation_old_certificates_verify_only_with_the_old_key_listed(
    web_settings: Settings,
    web_pool: asyncpg.Pool,
    issued: Issued,
    tmp_path: Path,
) -> None:
    new_key = tmp_path / "new-signing.pem"
    new_key.write_bytes(generate_keypair()[0])
    old_public = tmp_path / "old.pub.pem"
    old_public.write_bytes(
        public_pem(signing_key(web_settings).private_key.public_key())
    )
    forgotten = web_settings.certificates.model_copy(
        update={"signing_key_file": new_key}
    )
    remembered = forgotten.model_copy(update={"previous_public_keys": [old_public]})
    number = issued.of(WANG)

    pages = {}
    for name, certificates in (("forgotten", forgotten), ("listed", remembered)):
        app = create_app(
            web_settings.model_copy(update={"certificates": certificates}), web_pool
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            pages[name] = (await scan(c, web_pool, number)).text

    assert "无法确认真伪" in pages["forgotten"]
    assert "证书有效" in pages["listed"]


async def test_the_look_up_gives_the_verdict_the_verification_page_gives(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued, tmp_path: Path
) -> None:
    """Regression: with the key that signed a certificate no longer trusted, the
    verification page said 无法确认真伪 and the look-up still said 有效."""
    new_key = tmp_path / "new-signing.pem"
    new_key.write_bytes(generate_keypair()[0])
    rotated = web_settings.certificates.model_copy(update={"signing_key_file": new_key})
    app = create_app(
        web_settings.model_copy(update={"certificates": rotated}), web_pool
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        verified = await client.get(f"/verify/{issued.of(WANG)}")
        found = await lookup(client, WANG.name, WANG.id_number)
        [link] = links_in(found.text)
        downloaded = await client.get(link)

    assert "无法确认真伪" in verified.text
    assert "无法确认真伪" in found.text and "请联系发证机构" in found.text
    assert VALID_BADGE not in found.text
    # Still the candidate's own record: the file stays downloadable.
    assert downloaded.status_code == 200
    assert downloaded.content.startswith(b"%PDF")
