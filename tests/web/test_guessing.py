"""Guessing a person's ID number from their name (or the reverse) through the
look-up's found / not found answer: a wait that grows with each miss."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from certflow.config import Settings
from tests.web.samples import LI_FEN, WANG, Issued
from web.app import RateLimits, create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


def made_up_id_numbers(count: int) -> list[str]:
    """``count`` ID numbers no test candidate holds (18 digits)."""
    return [f"3301062003082{i:04d}9" for i in range(count)]


async def test_each_miss_on_one_name_makes_the_next_look_up_wait_longer(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    """Regression: a name could be tried with ten ID numbers a minute for ever,
    from any number of addresses: the ~5,000 numbers the verification page's
    first and last 4 characters left for a person took about four hours."""
    app = create_app(web_settings, web_pool)

    async def look_up(address: int, name: str, id_number: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(f"198.19.0.{address}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post("/lookup", data={"name": name, "id_number": id_number})

    # Each guess from an address of its own: the per-address limit never bites.
    answers = [
        await look_up(i, WANG.name, typed)
        for i, typed in enumerate(made_up_id_numbers(6), start=1)
    ]
    holder = await look_up(20, WANG.name, WANG.id_number)
    other = await look_up(21, LI_FEN.name, LI_FEN.id_number)

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    slowed = answers[5]
    assert "近期已多次查询未果" in slowed.text and "约 1 分钟后再试" in slowed.text
    assert 55 <= int(slowed.headers["retry-after"]) <= 60
    assert WANG.name not in slowed.text
    # The name's holder waits too (documented: a guessed name slows everyone
    # of that name); anyone else does not.
    assert holder.status_code == 429
    assert other.status_code == 200 and issued.of(LI_FEN) in other.text


async def test_guessing_the_name_of_a_known_id_number_is_slowed_alike(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    app = create_app(web_settings, web_pool)
    transport = httpx.ASGITransport(app=app, client=("198.19.1.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        codes = [
            (
                await c.post(
                    "/lookup",
                    data={"name": f"李{chr(0x4E00 + i)}", "id_number": WANG.id_number},
                )
            ).status_code
            for i in range(6)
        ]

    assert codes == [200] * 5 + [429]


async def test_a_holder_who_finds_their_certificates_spends_no_miss(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    """Looking up one's own certificates again and again is no guessing."""
    app = create_app(web_settings, web_pool, limits=RateLimits(lookup_free_misses=2))
    transport = httpx.ASGITransport(app=app, client=("198.19.2.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        own = [
            await c.post(
                "/lookup", data={"name": WANG.name, "id_number": WANG.id_number}
            )
            for _ in range(6)
        ]

    assert [a.status_code for a in own] == [200] * 6
    assert all(issued.of(WANG) in a.text for a in own)
