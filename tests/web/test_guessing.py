"""Guessing a person's ID number from their name (or the reverse) through the
look-up's found / not found answer: a wait that grows with each miss."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from activities.db import create_pool
from certflow.config import Settings
from tests.web.samples import LI_FEN, WANG, Issued
from web.app import RateLimits, create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


def made_up_id_numbers(count: int) -> list[str]:
    """``count`` ID numbers no test candidate holds (18 digits)."""
    return [f"3301062003082{i:04d}9" for i in range(count)]


async def own_look_ups(app: FastAPI, address: str, count: int) -> list[httpx.Response]:
    """王伟 looking up their own certificates ``count`` times from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return [
            await c.post(
                "/lookup", data={"name": WANG.name, "id_number": WANG.id_number}
            )
            for _ in range(count)
        ]


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
    own = await own_look_ups(app, "198.19.2.1", 6)

    assert [a.status_code for a in own] == [200] * 6
    assert all(issued.of(WANG) in a.text for a in own)


async def test_a_holder_who_waited_for_others_misses_does_not_wait_again(
    web_settings: Settings, web_pool: asyncpg.Pool, issued: Issued
) -> None:
    """Review: a look-up that found gave its miss's count back but not its
    time, so a holder of a name others had missed on, having waited, found
    their certificates and then waited as long again at their next look-up
    (their link ran out, or another holder of the name): up to an hour."""
    limits = RateLimits(lookup_free_misses=2, lookup_miss_wait_seconds=2)
    app = create_app(web_settings, web_pool, limits=limits)

    async def look_up(address: int, id_number: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(f"198.19.3.{address}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post(
                "/lookup", data={"name": WANG.name, "id_number": id_number}
            )

    guesses = made_up_id_numbers(4)
    missed = [await look_up(1, guesses[0]), await look_up(2, guesses[1])]
    told = await look_up(3, WANG.id_number)
    await asyncio.sleep(int(told.headers["retry-after"]) + 0.1)
    holder = [await look_up(3, WANG.id_number) for _ in range(2)]
    guess_after = await look_up(4, guesses[2])
    slowed = await look_up(5, guesses[3])

    assert [a.status_code for a in missed] == [200, 200] and told.status_code == 429
    # Waited once as told; found, and found again at once.
    assert [a.status_code for a in holder] == [200, 200]
    assert all(issued.of(WANG) in a.text for a in holder)
    # The holder's look-ups cleared none of the guesses' misses: two kept,
    # a third now, and the next waits twice the first wait.
    assert guess_after.status_code == 200
    assert slowed.status_code == 429 and slowed.headers["retry-after"] == "4"


async def test_a_look_up_the_database_did_not_answer_counts_no_miss(
    web_settings: Settings, issued: Issued
) -> None:
    """Review: with the database away, every look-up failed (now 503, the
    database being away) and still counted as a miss, so its holder waited
    once the database was back."""
    pool = await create_pool(web_settings.database_url)
    await pool.close()  # the database is away: every query fails
    app = create_app(web_settings, pool, limits=RateLimits(lookup_free_misses=2))
    answers = await own_look_ups(app, "198.19.4.1", 4)

    assert [a.status_code for a in answers] == [503] * 4
