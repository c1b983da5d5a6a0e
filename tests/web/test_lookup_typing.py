"""The look-up finds a holder however people type their name and ID number:
a name's dot left out or typed as another dot, a Latin name in any case, an ID
number with hyphens or its X typed as × or a Cyrillic Х."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities
from activities.documents import DocumentStore
from certflow.activity_models import IssueRequest
from certflow.config import Settings
from certflow.models import Level
from tests.web.conftest import add_score, register_plan
from tests.web.samples import (
    AILI,
    ISSUED_ON,
    LI_FEN,
    PLAN_A,
    ClientFactory,
    Holder,
    Issued,
)
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A plan of its own, at a level no other test issues, so that no other test's
# numbers or look-ups change.
LATIN_PLAN = PLAN_A.model_copy(
    update={"plan_id": "P2026-WEB-0201", "level": Level.ADVANCED}
)
JOHN = Holder("John SMITH", "310101199505050016", "L001")


async def _issue_john(settings: Settings, pool: asyncpg.Pool) -> str:
    """Issue John SMITH's certificate once; return its number."""
    number = await pool.fetchval(
        "SELECT number FROM certificates WHERE plan_id = $1", LATIN_PLAN.plan_id
    )
    if number is not None:
        return str(number)
    await register_plan(pool, LATIN_PLAN)
    await add_score(pool, LATIN_PLAN, JOHN, passed=True)
    issuer = CertificateActivities(
        settings, pool, DocumentStore(settings.documents_dir)
    )
    result = await ActivityEnvironment().run(
        issuer.issue_certificates, IssueRequest(plan=LATIN_PLAN, issued_on=ISSUED_ON)
    )
    [number] = result.numbers
    return number


async def _lookup(client: httpx.AsyncClient, name: str, id_number: str) -> str:
    response = await client.post("/lookup", data={"name": name, "id_number": id_number})
    assert response.status_code == 200
    return response.text


@pytest.mark.parametrize(
    "typed",
    [
        "买买提艾力",  # the dot left out, as phone keyboards often do
        "买买提 艾力",  # a space in its place
        "买买提\u0387艾力",  # Greek ano teleia
        "买买提\u318d艾力",  # Hangul araea
        "买买提\u00a0·\u00a0艾力",  # no-break spaces around the dot
    ],
)
async def test_a_name_is_found_without_its_dot_or_with_a_look_alike(
    web_client: ClientFactory, issued: Issued, typed: str
) -> None:
    """Trial: 买买提·艾力 typed as 买买提艾力 or with another dot found nothing
    (未查询到证书), and each such miss counted towards the look-up's wait."""
    page = await _lookup(web_client(), typed, AILI.id_number)

    assert issued.of(AILI) in page


@pytest.mark.parametrize("typed", ["JOHN SMITH", "john smith", "Ｊｏｈｎ　Ｓｍｉｔｈ"])
async def test_a_latin_name_is_found_in_any_case(
    web_client: ClientFactory,
    web_settings: Settings,
    web_pool: asyncpg.Pool,
    issued: Issued,
    typed: str,
) -> None:
    """Trial: ``JOHN SMITH`` found nothing for ``John SMITH``."""
    number = await _issue_john(web_settings, web_pool)

    page = await _lookup(web_client(), typed, JOHN.id_number)

    assert number in page


async def test_the_ways_of_typing_one_name_share_its_misses(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    """A name's wait after misses cannot be dodged by typing it another way."""
    app = create_app(web_settings, web_pool)
    typings = [
        "买买提·艾力",
        "买买提艾力",
        "买买提 艾力",
        "买买提ㆍ艾力",
        "买买提.艾力",
    ]

    codes = []
    for i in range(6):
        transport = httpx.ASGITransport(app=app, client=(f"198.19.7.{i}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            answer = await c.post(
                "/lookup",
                data={
                    "name": typings[i % len(typings)],
                    "id_number": f"3301062003082{i:04d}9",
                },
            )
            codes.append(answer.status_code)

    assert codes == [200] * 5 + [429]


@pytest.mark.parametrize(
    "typed",
    [
        "110105-19491231-002X",  # hyphens between the groups
        "110105－19491231－002X",  # full-width hyphens
        "110105 1949 1231 002X",
        "11010519491231002×",  # the multiplication sign for X
        "11010519491231002Х",  # Cyrillic capital Kha
        "11010519491231002х",  # Cyrillic small kha
    ],
)
async def test_an_id_number_with_hyphens_or_a_look_alike_x_is_found(
    web_client: ClientFactory, issued: Issued, typed: str
) -> None:
    """Trial: ``421002-20040821-049X`` and an X typed as × or Х gave
    未查询到证书 with no hint."""
    page = await _lookup(web_client(), LI_FEN.name, typed)

    assert issued.of(LI_FEN) in page


@pytest.mark.parametrize(
    "typed", ["421002-20040821-049X", "421002-20040821-049×", "421002.20040821.049X"]
)
async def test_a_hyphenated_id_number_typed_as_a_certificate_number_is_named(
    web_client: ClientFactory, typed: str
) -> None:
    """Trial: it was answered 这不是本机构证书编号的格式 (not our number form)."""
    client = web_client()

    posted = await client.post("/verify", data={"number": typed})
    direct = await client.get(f"/verify/{typed}")

    for answer in (posted, direct):
        assert answer.status_code == 400
        assert "location" not in answer.headers
        assert "您输入的是身份证号码" in answer.text
        assert "20040821" not in answer.text


async def test_a_latin_name_verified_by_number_shows_its_first_letter(
    web_client: ClientFactory,
    web_settings: Settings,
    web_pool: asyncpg.Pool,
    issued: Issued,
) -> None:
    """Trial: John SMITH showed as J某 beside a note saying only the surname
    (姓氏) is shown: the note now says what is shown, the name's first
    character or, for a name in Latin letters, its first letter."""
    number = await _issue_john(web_settings, web_pool)

    page = (await web_client().get(f"/verify/{number}")).text

    assert "证书有效" in page and "J某" in page
    assert "John" not in page and "SMITH" not in page
    assert "姓氏" not in page and "第一个字母" in page
