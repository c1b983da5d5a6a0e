"""What a browser or proxy may keep: nothing that shows a person."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from certflow.config import Settings
from tests.web.samples import SUN, WANG, ClientFactory, Issued, PdfOf
from tests.web.test_web_app import links_in, lookup, scan, upload
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Every route, and the answers of it the test below asks for.
CHECKED_ROUTES = {
    "/",
    "/lookup",
    "/download/{number}",
    "/verify",
    "/verify/pdf",
    "/verify/{number}",
    "/status-list.json",
    "/keys.json",
    "/static",
}
PUBLIC = ("/status-list.json", "/keys.json", "/static/style.css")


async def test_no_answer_showing_a_person_may_be_kept_by_a_cache(
    web_client: ClientFactory,
    web_pool: asyncpg.Pool,
    pdf_of: PdfOf,
    issued: Issued,
) -> None:
    """Regression: the verification page of a scanned QR code (full name,
    masked ID number) and the verdict on an uploaded PDF were sent without
    ``Cache-Control: no-store``, so a shared computer's browser or a proxy
    could keep them; only the look-up and the download said no-store."""
    client = web_client()
    number = issued.of(WANG)
    found = await lookup(client, WANG.name, WANG.id_number)
    [link] = links_in(found.text)
    genuine = await pdf_of(WANG)

    answers: dict[str, httpx.Response] = {
        "look-up": found,
        "look-up missed": await lookup(client, "王大明", WANG.id_number),
        "download": await client.get(link),
        "verify by number": await client.get(f"/verify/{number}"),
        "verify by number, HEAD": await client.head(f"/verify/{number}"),
        "verify by QR code": await scan(client, web_pool, number),
        "verify revoked by QR code": await scan(client, web_pool, issued.of(SUN)),
        "verify unknown number": await client.get("/verify/ZCX2026QCYY2999999"),
        "upload genuine": await upload(client, genuine),
        "upload edited": await upload(
            client, genuine.replace(b"/Count 1", b"/Count 2")
        ),
        "upload not a pdf": await upload(client, b"not a pdf"),
        "form": await client.get("/"),
        "verify form": await client.get("/verify"),
        "number posted": await client.post("/verify", data={"number": number}),
        "ID number posted": await client.post(
            "/verify", data={"number": WANG.id_number}
        ),
        "not found": await client.get("/nothing-here"),
        "results reopened": await client.get("/lookup"),
        "wrong method": await client.put("/lookup"),
    }

    for name, answer in answers.items():
        directives = answer.headers.get("cache-control", "").split(", ")
        assert "no-store" in directives, name
    assert "王小明" in answers["verify by QR code"].text
    for path in PUBLIC:
        public = await client.get(path)
        assert public.status_code == 200, path
        assert public.headers["cache-control"].startswith("public, max-age="), path


async def test_every_route_is_among_those_checked(
    web_settings: Settings, web_pool: asyncpg.Pool
) -> None:
    """A new route must be added to the test above, and be thought about."""
    app = create_app(web_settings, web_pool)

    routes = {r.path for r in app.routes if isinstance(r, APIRoute | Mount)}

    assert routes == CHECKED_ROUTES
