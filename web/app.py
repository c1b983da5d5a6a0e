"""The certificate query and verification web service (procedure 4.3).

Routes (docs/web.md has the privacy choices behind them):

- ``GET /`` the look-up form; ``POST /lookup`` finds a candidate's certificates
  by name and identity number (POST only: the number never enters a URL);
- ``GET /download/{number}?e=&t=`` serves the PDF behind a short-lived link;
- ``GET /verify`` the verification forms; ``POST /verify`` takes the typed
  number (POST: whatever was typed, an ID number included, never enters a URL)
  and redirects to ``GET /verify/{number}``, which (with the QR code's ``k`` and
  ``sig``) gives the verdict, as ``POST /verify/pdf`` does for a file;
- ``GET /status-list.json`` the signed revocation list, ``GET /keys.json`` the
  trusted public keys, for offline verifiers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import math
import re
import secrets
import sys
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import asyncpg
from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from activities.db import create_pool, migrate, unavailable
from activities.documents import DocumentNotFound, DocumentStore
from activities.revocation import current_status_list, status_list
from certflow.arguments import StaffArgumentParser, argument_help
from certflow.certificates import (
    InvalidKeyError,
    KeyRing,
    SigningKey,
    VerificationResult,
    VerificationStatus,
    is_cut_short_link,
    load_public_key,
    verify_pdf,
)
from certflow.certificates.keys import key_list, public_pem
from certflow.certificates.numbering import NumberScheme
from certflow.config import ConfigError, Settings, WebSettings
from certflow.i18n import t
from certflow.identity import check_character, compact_code, read_id_number
from certflow.models import Level
from certflow.text import name_key
from certflow.timeutil import CST
from web import logs, records, views
from web.ratelimit import MissDelay, RateLimiter
from web.records import CertificateRecord, HeldRecord
from web.startup import StartError, listen, port_number, prepare_database
from web.tokens import DownloadTokens, derive_secret

log = logging.getLogger("certflow.web")

HERE = Path(__file__).resolve().parent
NUMBER_RE = re.compile(r"^[A-Za-z0-9-]{4,40}$")
# A download link's expiry as issued: Unix seconds, ASCII digits.
_EXPIRY = re.compile(r"[0-9]{1,12}")
# Certificates are one page of ~50-100 KB; anything far larger is not one.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# Headers every page carries: nothing loads from elsewhere, no page can frame
# ours, and the download token in a URL never leaks through a Referer header.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
# What asking the database raises when it is away: refused or dropped
# connections, a server starting or shutting down, a pool closed.
DATABASE_AWAY = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
# When a program told the database is away asks again.
RETRY_AFTER_SECONDS = 30
# Every answer is kept by no cache (browser, proxy) unless its route says
# otherwise: the pages show names, masked ID numbers and certificates, and a
# page that shows none today may show one after a change. Only what is public
# and the same for everyone says otherwise: the stylesheet and icon, the status
# list and the key list.
NO_STORE = "no-store"
PUBLIC_FOR_A_MINUTE = "public, max-age=60"


@dataclass(frozen=True)
class RateLimits:
    """Requests per minute per client address, per group of routes, and
    look-ups per minute of one name, from any address; then the wait that
    grows with each look-up of a name (or ID number) that found nothing."""

    lookup_per_minute: int = 60
    verify_per_minute: int = 30
    download_per_minute: int = 30
    lookup_per_person_per_minute: int = 10
    lookup_free_misses: int = 5
    lookup_miss_wait_seconds: int = 60
    lookup_longest_miss_wait_seconds: int = 3600

    @classmethod
    def of(cls, web: WebSettings) -> RateLimits:
        """The limits configured in the ``[web]`` table."""
        return cls(
            lookup_per_minute=web.lookup_per_minute,
            lookup_per_person_per_minute=web.lookup_per_person_per_minute,
            verify_per_minute=web.verify_per_minute,
            download_per_minute=web.download_per_minute,
            lookup_free_misses=web.lookup_free_misses,
            lookup_miss_wait_seconds=web.lookup_miss_wait_seconds,
            lookup_longest_miss_wait_seconds=web.lookup_longest_miss_wait_seconds,
        )

    def miss_delay(self) -> MissDelay:
        """The growing wait per name and per ID number after look-ups that miss."""
        return MissDelay(
            free=self.lookup_free_misses,
            first=self.lookup_miss_wait_seconds,
            longest=self.lookup_longest_miss_wait_seconds,
        )


@dataclass
class _Service:
    """What the routes share: configuration, keys, the pool and the limiters."""

    signing_key: SigningKey
    keyring: KeyRing
    tokens: DownloadTokens
    store: DocumentStore
    limiters: dict[str, RateLimiter]
    misses: MissDelay
    scheme: NumberScheme
    pool: asyncpg.Pool | None = None
    public_keys: list[tuple[str, bytes]] = field(default_factory=list)
    # The process's own, so a digest in memory cannot be checked against names.
    person_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def is_certificate_number(self, text: str) -> bool:
        """Whether ``text`` is a number the configured scheme issues, and safe to
        put in a URL or a log line: a value also shaped as an ID number is not."""
        return self.scheme.parse(text) is not None and not is_id_shaped(text)

    def loggable(self, number: str) -> str:
        """``number`` for a log line if it is a certificate number, else ``-``."""
        return number if self.is_certificate_number(number) else "-"

    def person_keys(self, name: str, id_number: str) -> list[str]:
        """The look-up limit's keys for what was typed: the name and the ID
        number, each as it is looked up (``name_key``: case, spaces or another
        dot make no new name). Keyed digests, so the process keeps neither."""
        typed = (f"name:{name_key(name)}", f"id:{read_id_number(id_number)}")
        return [
            hmac.new(
                self.person_secret, key.encode("utf-8"), hashlib.sha256
            ).hexdigest()
            for key in typed
        ]

    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("The web service's database pool is not open yet.")
        return self.pool


class _RateLimited(Exception):
    def __init__(self, retry_after: float, *, slowed: bool = False) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after
        # The wait after look-ups of one name that missed, said in minutes.
        self.slowed = slowed


def load_signing_key(settings: Settings) -> SigningKey:
    """Load the configured signing key; :class:`StartError` if it is missing."""
    path = settings.certificates.signing_key_file
    try:
        return SigningKey.load(path.read_bytes())
    except FileNotFoundError:
        raise StartError(t("web.serve.key_missing", path=path)) from None
    except (OSError, InvalidKeyError):
        raise StartError(t("web.serve.key_unreadable", path=path)) from None


def trusted_ring(settings: Settings, signing_key: SigningKey) -> KeyRing:
    """The current key and every configured previous public key.

    A configured key that is missing or unreadable stops the service: trusting
    fewer keys than configured would call genuine certificates unknown.
    """
    trusted = [signing_key.private_key.public_key()]
    for path in settings.certificates.previous_public_keys:
        try:
            trusted.append(load_public_key(path.read_bytes()))
        except (OSError, InvalidKeyError):
            raise StartError(
                t("web.serve.previous_key_unreadable", path=path)
            ) from None
    return KeyRing.from_public_keys(trusted)


def client_address(request: Request) -> str:
    """Whose budget a request spends: the peer address (uvicorn puts a trusted
    proxy's forwarded one here), an IPv6 one as its /64 network.

    One IPv6 client is given a /64 (a home line, a phone) and picks any
    address in it: counted one by one, it could take a new budget with each.
    """
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host


def create_app(
    settings: Settings,
    pool: asyncpg.Pool | None = None,
    *,
    limits: RateLimits | None = None,
    link_lifetime_seconds: int | None = None,
) -> FastAPI:
    """Build the web app; without ``pool`` it opens (and migrates) its own.

    ``limits`` and ``link_lifetime_seconds`` default to the ``[web]`` table of
    the configuration.

    Raises :class:`StartError` (a ``RuntimeError``) if the signing key file is
    missing or unreadable: the service signs status lists and derives its
    download-link secret from that key.
    """
    limits = limits or RateLimits.of(settings.web)
    if link_lifetime_seconds is None:
        link_lifetime_seconds = settings.web.link_lifetime_seconds
    key = load_signing_key(settings)
    ring = trusted_ring(settings, key)
    service = _Service(
        signing_key=key,
        keyring=ring,
        tokens=DownloadTokens(
            derive_secret(key), lifetime_seconds=link_lifetime_seconds
        ),
        store=DocumentStore(settings.documents_dir),
        limiters={
            "lookup": RateLimiter(limits.lookup_per_minute),
            "verify": RateLimiter(limits.verify_per_minute),
            "download": RateLimiter(limits.download_per_minute),
            # Keyed by digests of the name and the ID number: see person_keys.
            "lookup_person": RateLimiter(limits.lookup_per_person_per_minute),
        },
        misses=limits.miss_delay(),
        scheme=settings.certificates.number_scheme(),
        pool=pool,
        public_keys=[(kid, public_pem(pub)) for kid, pub in ring.keys.items()],
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if pool is not None:
            yield
            return
        own = await create_pool(settings.database_url, max_size=5)
        try:
            await migrate(own)
            service.pool = own
            yield
        finally:
            service.pool = None
            await own.close()

    app = FastAPI(
        title="certflow certificates",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # Starlette's own answer to an address with a slash too many names
        # the host the client sent (Host: evil.example): ours is relative.
        redirect_slashes=False,
    )
    app.state.service = service
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["t"] = t
    app.mount("/static", _PublicFiles(directory=HERE / "static"), name="static")

    def page(
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return templates.TemplateResponse(
            request, name, context or {}, status_code=status_code, headers=headers
        )

    def message(
        request: Request, key: str, status_code: int, **fields: object
    ) -> Response:
        return page(
            request,
            "message.html",
            {"text": t(f"web.{key}", **fields), "title": t(f"web.{key}_title")},
            status_code=status_code,
        )

    def limited(group: str) -> Callable[[Request], None]:
        def check(request: Request) -> None:
            wait = service.limiters[group].take(client_address(request))
            if wait > 0:
                log.info("rate limited group=%s", group)
                raise _RateLimited(wait)

        return check

    @app.exception_handler(_RateLimited)
    async def too_many(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _RateLimited)
        seconds = max(1, math.ceil(exc.retry_after))
        if exc.slowed:
            minutes = math.ceil(seconds / 60)
            response = message(request, "lookup_slowed", 429, minutes=minutes)
        else:
            response = message(request, "rate_limited", 429, seconds=seconds)
        response.headers["Retry-After"] = str(seconds)
        return response

    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Our own access line: the route's template, never the raw path or query,
        # which may hold a download token or whatever a client typed.
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:
            # The exception text may quote personal data from a query; only the
            # type is logged, and the visitor gets a plain error page.
            log.error(
                "request failed method=%s route=%s error=%s",
                request.method,
                _route_of(request),
                type(exc).__name__,
            )
            if unavailable(exc):
                # The database away (down, restarting, closed, full): a fault
                # that passes, so 503 and when to ask again, for browsers,
                # monitors and proxies alike. Trial: it answered 500.
                response = message(request, "server_error", 503)
                response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            else:
                response = message(request, "server_error", 500)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", NO_STORE)
        log.info(
            "request method=%s route=%s status=%d ms=%.1f",
            request.method,
            _route_of(request),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    # HEAD as well as GET where monitors, link checkers and QR readers' link
    # previews knock: uvicorn sends the headers of the GET answer without its
    # body. Not the download: its link is the holder's, not a checker's. A
    # limited route's HEAD spends a token like its GET: its status and length
    # tell as much as the page (issued or not, valid or revoked).
    @app.api_route("/", methods=["GET", "HEAD"])
    async def index(request: Request) -> Response:
        return page(request, "index.html")

    @app.get("/lookup")
    async def lookup_reopened() -> Response:
        # The results' address reopened (a reload, a bookmark, the history):
        # the look-up posts, so the form is where to look up again.
        return RedirectResponse("/", status_code=303)

    @app.post("/lookup", dependencies=[Depends(limited("lookup"))])
    async def lookup(
        request: Request,
        name: Annotated[str, Form(max_length=100)] = "",
        id_number: Annotated[str, Form(max_length=40)] = "",
    ) -> Response:
        # A field of nothing one sees (spaces, a zero-width space, a dot
        # alone) is empty: it finds nobody, and spends nobody's look-ups.
        if not name_key(name) or not read_id_number(id_number):
            return page(
                request,
                "index.html",
                {"error": t("web.lookup_missing_fields")},
                status_code=400,
            )
        if _has_control_characters(name + id_number):
            # Nothing typed holds them, and the database refuses a NUL.
            return page(
                request,
                "index.html",
                {"error": t("web.lookup_bad_characters")},
                status_code=400,
            )
        # Guessing one person's ID number (or name) from many addresses: each
        # of the two buckets is spent, and either may say wait.
        person = service.limiters["lookup_person"]
        keys = service.person_keys(name, id_number)
        wait = max(person.take(key) for key in keys)
        if wait > 0:
            log.info("rate limited group=lookup_person")
            raise _RateLimited(wait)
        # Then the wait that grows with each miss of this name or ID number:
        # docs/web.md, "Rate limits". Counted before the database answers, so
        # look-ups sent at once cannot all slip through before the first miss.
        slowed = max(service.misses.wait(key) for key in keys)
        if slowed > 0:
            log.info("rate limited group=lookup_misses")
            raise _RateLimited(slowed, slowed=True)
        misses = [service.misses.miss(key) for key in keys]
        try:
            found = await records.find_by_holder(service.db(), name, id_number)
            held = await records.find_held(service.db(), name, id_number)
        except BaseException:
            # No answer, nothing learnt: a database away slows no name.
            for miss in misses:
                service.misses.give_back(miss)
            raise
        # A holder's look-up is no miss, neither in count nor in time: having
        # waited once for others' misses, the holder does not wait again.
        settle = service.misses.give_back if found or held else service.misses.keep
        for miss in misses:
            settle(miss)
        log.info(
            "lookup outcome=%s certificates=%d held=%d",
            _found(found, held),
            len(found),
            len(held),
        )
        # The verdict the verification page would give each certificate.
        rows = [
            views.lookup_row(
                record, views.record_status(record, service.keyring), service.tokens
            )
            for record in found
        ] + [views.held_row(h) for h in held]
        return page(
            request,
            "results.html",
            {"rows": rows, "link_minutes": service.tokens.lifetime_seconds // 60},
            headers={"Cache-Control": NO_STORE},
        )

    @app.get("/download/{number}", dependencies=[Depends(limited("download"))])
    async def download(
        request: Request,
        number: str,
        e: str = "",
        t_: Annotated[str, Query(alias="t")] = "",
    ) -> Response:
        # Whatever a link's e and t hold, it is a link: one damaged in a
        # message (a letter in the expiry, a character added) is no link of
        # ours, said as a forged one is, not as a form filled wrongly.
        expires = int(e) if _EXPIRY.fullmatch(e) else None
        if expires is None or not service.tokens.check(number, expires, t_):
            log.info("download number=%s outcome=bad_link", service.loggable(number))
            return message(request, "bad_link", 403)
        record = await records.get(service.db(), number)
        if record is None or record.pdf is None:
            log.info("download number=%s outcome=no_pdf", number)
            return message(request, "pdf_unavailable", 404)
        # Asked again, not taken from the look-up that issued the link: the
        # record may have been revoked or edited in the link's 15 minutes.
        status = views.record_status(record, service.keyring)
        if status == "revoked":
            log.info("download number=%s outcome=revoked", number)
            return message(request, "revoked_download", 410)
        if status not in views.DOWNLOADABLE:
            log.warning("download number=%s outcome=%s", number, status)
            return message(request, "unverified_download", 409)
        try:
            pdf = await asyncio.to_thread(service.store.get, record.pdf)
        except DocumentNotFound:
            log.error("download number=%s outcome=missing_in_store", number)
            return message(request, "pdf_unavailable", 404)
        log.info("download number=%s outcome=served", number)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{number}.pdf"',
                "Cache-Control": "private, no-store",
            },
        )

    def form_refusal(request: Request, key: str, **fields: object) -> Response:
        """The number form again, saying why what was given is not taken."""
        return page(
            request,
            "verify_form.html",
            {"error": t(f"web.{key}", **fields)},
            status_code=400,
        )

    def verify_typed(request: Request, typed: str) -> Response:
        # Read as ID numbers are: half width, upper case, spaces between groups
        # gone; and without what a paste brings around it (证书编号：…。).
        typed = pasted_number(typed)
        number = compact_code(typed)
        if not number:
            return form_refusal(request, "number_missing")
        if is_id_number_typed(typed):
            # Never redirected to a URL (nor logged): it would carry the number.
            return form_refusal(request, "id_number_as_certificate_number")
        if not service.is_certificate_number(number):
            # Not redirected either: what else was typed is not ours to put in a
            # URL, and it cannot be a certificate we issued.
            return form_refusal(request, "bad_number", example=_example(service.scheme))
        return RedirectResponse(f"/verify/{number}", status_code=303)

    @app.api_route("/verify", methods=["GET", "HEAD"])
    async def verify_form(
        request: Request,
        number: Annotated[str | None, Query(max_length=60)] = None,
    ) -> Response:
        # The form posts; a number in the query is an old link or bookmark.
        if number is None:
            return page(request, "verify_form.html")
        return verify_typed(request, number)

    @app.post("/verify")
    async def verify_posted(
        request: Request,
        number: Annotated[str, Form(max_length=60)] = "",
    ) -> Response:
        return verify_typed(request, number)

    @app.get("/verify/pdf")
    async def verify_upload_form() -> Response:
        # The upload form posts here; a reload or a typed address gets the form.
        return RedirectResponse("/verify", status_code=303)

    @app.api_route(
        "/verify/{number}",
        methods=["GET", "HEAD"],
        dependencies=[Depends(limited("verify"))],
    )
    async def verify_number(
        request: Request,
        number: str,
        k: str | None = None,
        sig: str | None = None,
    ) -> Response:
        canonical = compact_code(number)
        as_id = read_id_number(number)
        if looks_like_id_number(as_id) or (
            is_id_shaped(as_id) and service.scheme.parse(canonical) is None
        ):
            log.info("verify number=- outcome=id_number")
            return form_refusal(request, "id_number_as_certificate_number")
        if not NUMBER_RE.fullmatch(canonical):
            # Not repeated: the organisation's page must not show a sentence that
            # a link put in the place of a number.
            log.info("verify number=- outcome=malformed")
            return form_refusal(request, "bad_number", example=_example(service.scheme))
        if canonical != number:
            # Typed in lower case, full width or in groups: the same page, if
            # it is a number. Anything else (a passport number typed in lower
            # case) is not repeated in a Location either, nor is a query
            # other than the QR code's own.
            if not service.is_certificate_number(canonical) and (
                await records.get(service.db(), canonical) is None
            ):
                log.info("verify number=- outcome=malformed")
                return form_refusal(
                    request, "bad_number", example=_example(service.scheme)
                )
            scanned_query = {
                name: value
                for name, value in (("k", k), ("sig", sig))
                if value is not None
            }
            query = f"?{urlencode(scanned_query)}" if scanned_query else ""
            return RedirectResponse(f"/verify/{canonical}{query}", status_code=301)
        record = await records.get(service.db(), number)
        scanned = k is not None or sig is not None
        if record is None:
            if not service.is_certificate_number(number):
                # Of letters and digits, yet no number the scheme issues.
                log.info("verify number=- outcome=malformed")
                return form_refusal(
                    request, "bad_number", example=_example(service.scheme)
                )
            log.info("verify number=%s outcome=unknown", number)
            return page(
                request,
                "verify.html",
                {"status": "unknown", "number": number},
                status_code=404,
            )
        outcome = views.record_status(record, service.keyring)
        if outcome == "tampered":
            # The organisation's own row fails its signature: nothing the
            # visitor holds is to blame, and operators must look at the row.
            log.error("verify number=%s outcome=record_unverified", number)
            return page(
                request,
                "verify.html",
                {"status": "record_unverified", "number": number},
            )
        if outcome in views.DOWNLOADABLE and record.held:
            # Numbered, then held out of issuance: no file was ever issued.
            outcome = "held"
        if scanned and outcome in ("valid", "revoked"):
            if is_cut_short_link(k, sig):
                # Cut short (a chat app, a copy missing its end): no signature
                # to compare, so no verdict on the certificate either.
                outcome = "incomplete_link"
            elif not views.matches_record(record, k or "", sig or "", service.keyring):
                # The record is ours, so a code naming any other key or
                # signature, or one no cut leaves, was not printed by us:
                # tampering, an untrusted key id too.
                outcome = "tampered"
        log.info(
            "verify number=%s outcome=%s source=%s",
            number,
            outcome,
            "qr" if scanned else "number",
        )
        # Certificate numbers are sequential, so anyone can type one: the full
        # name is shown only to a visitor who proved they hold the certificate.
        return page(
            request,
            "verify.html",
            views.verdict_context(record, outcome, held=scanned),
        )

    @app.post("/verify/pdf", dependencies=[Depends(limited("verify"))])
    async def verify_upload(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit():
            return message(request, "upload_length_required", 411)
        if int(declared) > MAX_UPLOAD_BYTES + 16 * 1024:
            log.info("verify source=pdf outcome=too_large")
            return message(
                request, "upload_too_large", 413, limit=MAX_UPLOAD_BYTES // 1024
            )
        form = await request.form(max_files=1, max_fields=2)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return message(request, "upload_missing", 400)
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        await form.close()
        if len(data) > MAX_UPLOAD_BYTES:
            return message(
                request, "upload_too_large", 413, limit=MAX_UPLOAD_BYTES // 1024
            )
        revoked = await current_status_list(service.db())
        result = await asyncio.to_thread(verify_pdf, data, service.keyring, revoked)
        if result.key_id is not None and result.signature is not None:
            # Its key not trusted here (unknown, or revoked by the list).
            return await unconfirmed_upload(request, result)
        # The number is the file's own: unverified (an unknown key's), it may
        # be anything the file's maker wrote, an ID number included.
        log.info(
            "verify number=%s outcome=%s source=pdf",
            service.loggable(result.number or "-"),
            result.status.value,
        )
        context: dict[str, Any] = {
            "status": result.status.value,
            "number": result.number,
        }
        if result.status is VerificationStatus.TAMPERED:
            # The page's sentence says that it was changed; this says what.
            context["detail"] = result.message
            context["page_altered"] = result.page_altered
            context["content_added"] = result.content_added
            context["properties_altered"] = result.properties_altered
        elif result.data is not None and not result.glyphs_checked:
            # Valid here means "signed and drawn as issued" but for the glyphs.
            context["detail"] = t("web.glyphs_unchecked")
        if result.data is not None:
            # The uploader holds the whole file. Unless its glyphs were
            # compared, only they can see whether the page shows other digits,
            # and only against the whole number.
            whole = not result.glyphs_checked
            context["fields"] = views.fields(
                result.data, held=True, full_id_number=whole
            )
            context["held"] = True
            context["id_number_whole"] = whole
            context["revoked_on"] = result.revoked_on
            context["reason"] = result.revocation_reason
        return page(request, "verify.html", context)

    async def unconfirmed_upload(
        request: Request, result: VerificationResult
    ) -> Response:
        """The page for a file whose key is not trusted here, judged by the
        record of its number: offline that says only "cannot confirm", here
        it says what the organisation knows.

        Regression: a file signed with any home-made key read 无法确认真伪
        (as if it could be ours), and a revoked certificate whose key was no
        longer trusted read so too.
        """
        number = result.number or ""
        record = await records.get(service.db(), number)
        if record is None:
            # No certificate of ours has the number: not ours, whoever signed.
            outcome = "unknown"
        else:
            own = views.record_status(record, service.keyring)
            if own == "tampered":
                outcome = "record_unverified"
            elif not record.signed_as(result.key_id, result.signature):
                # Not the signature we issued under this number.
                outcome = "tampered"
            else:
                outcome = own
        # The organisation's own row failing its signature is for operators.
        log.log(
            logging.ERROR if outcome == "record_unverified" else logging.INFO,
            "verify number=%s outcome=%s source=pdf",
            service.loggable(number),
            outcome,
        )
        # Shown only as a number we could have issued: the file's maker may
        # have put anything there, an ID number too.
        shown = number if service.is_certificate_number(number) else None
        context: dict[str, Any] = {"status": outcome, "number": shown}
        if record is not None and outcome == "revoked":
            # The file's own data is unchecked: the record's, as by number.
            context.update(views.verdict_context(record, outcome, held=False))
        return page(request, "verify.html", {**context, "uploaded": True})

    @app.api_route(
        "/status-list.json",
        methods=["GET", "HEAD"],
        dependencies=[Depends(limited("verify"))],
    )
    async def status_list_json() -> Response:
        try:
            signed = await status_list(service.db(), service.signing_key)
        except DATABASE_AWAY as exc:
            # Read by programs (offline verifiers): an answer they can parse,
            # and when to ask again, not the people's error page.
            log.error("status list outcome=database_away error=%s", type(exc).__name__)
            return JSONResponse(
                {"error": "unavailable", "message": t("web.status_list_unavailable")},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return Response(
            signed.model_dump_json(),
            media_type="application/json",
            headers={"Cache-Control": PUBLIC_FOR_A_MINUTE},
        )

    @app.api_route("/keys.json", methods=["GET", "HEAD"])
    async def keys_json() -> Response:
        return JSONResponse(
            key_list(service.public_keys),
            headers={"Cache-Control": PUBLIC_FOR_A_MINUTE},
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: Exception) -> Response:
        # FastAPI's default answer echoes the submitted values back; ours does not.
        return message(request, "bad_request", 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        # Unknown pages and wrong methods get a Chinese page, not FastAPI's JSON.
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            path = request.url.path
            if path != "/" and path.endswith("/") and _routed(request, path[:-1]):
                # /verify/ for /verify: the address without the slash, on
                # this host, and nothing of the query repeated.
                return RedirectResponse(path[:-1], status_code=307)
            return message(request, "not_found", 404)
        if exc.status_code == 405:
            response = message(request, "method_not_allowed", 405)
            # Every method the address answers, not only the first route's.
            response.headers["Allow"] = _allowed_methods(request)
            return response
        return message(request, "bad_request", exc.status_code)

    return app


class _PublicFiles(StaticFiles):
    """The stylesheet and icon: the same for everyone, so caches may keep them."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response


def _allowed_methods(request: Request) -> str:
    """The methods some route takes at the request's address, for ``Allow``."""
    # Inside the static files' mount the path is read from the mount's own
    # root: put the app's back, so every route reads the same path.
    scope = {**request.scope}
    scope["root_path"] = scope.get("app_root_path", scope.get("root_path", ""))
    methods: set[str] = set()
    for route in request.app.router.routes:
        # A route at this address whose method differs matches partly.
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or {"GET", "HEAD"}
    return ", ".join(sorted(methods))


def _routed(request: Request, path: str) -> bool:
    """Whether a route of a fixed address answers ``path`` (any method).

    Not one with a parameter: ``/verify/{number}/`` would repeat what was
    typed for the number in the redirect, which ``verify_number`` refuses
    to do for anything but a certificate number."""
    scope = {**request.scope, "path": path}
    return any(
        "{" not in getattr(route, "path", "{")
        and route.matches(scope)[0] is not Match.NONE
        for route in request.app.router.routes
    )


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "-"


def _example(scheme: NumberScheme) -> str:
    """A number of the scheme to show as an example of what to type."""
    certificate = next(iter(scheme.certificate_codes), None)
    if certificate is None:
        return "-"
    return scheme.format(
        year=datetime.now(CST).year,
        certificate=certificate,
        level=Level.INTERMEDIATE,
        seq=1,
    )


def is_id_shaped(text: str) -> bool:
    """Whether ``text`` could be an identity card number, typed right or wrong:
    15 to 18 digits, with or without a final X (no check character tested)."""
    return bool(_ID_SHAPED.fullmatch(text))


# What a number copied from a message or a page brings along: a label before
# it (证书编号：, 编号:), and quotes, brackets or a sentence's punctuation around
# it, as NFKC leaves them (full-width ：，；！？（） become ASCII).
_NUMBER_LABEL = re.compile(r"^(?:证书)?编号\s*:?")
_AROUND_A_NUMBER = (
    "。，、；：！？.,;:!?\"'“”‘’「」『』【】《》〈〉()[]<>…~～ \t\r\n\u3000"
)


def pasted_number(typed: str) -> str:
    """A certificate number as pasted, without the label before it and the
    punctuation around it: ``证书编号：ZCX2026QCYY2000001。`` is the number."""
    text = unicodedata.normalize("NFKC", typed).strip(_AROUND_A_NUMBER)
    return _NUMBER_LABEL.sub("", text).strip(_AROUND_A_NUMBER)


def is_id_number_typed(typed: str) -> bool:
    """Whether what was typed for a certificate number is an ID number, typed
    right or wrong: read as one (``read_id_number``: in groups, with hyphens,
    the check letter typed ``×``), :func:`is_id_shaped` or
    :func:`looks_like_id_number`."""
    number = read_id_number(typed)
    return is_id_shaped(number) or looks_like_id_number(number)


def looks_like_id_number(text: str) -> bool:
    """Whether ``text`` is shaped as a resident identity card number.

    Eighteen characters with a valid GB 11643 check character, or the fifteen
    digits of the first-generation card. Certificate numbers hold letters under
    the default scheme; a scheme of digits only would lose, at most, one in
    eleven of its 18-digit numbers to this test.
    """
    if _OLD_ID.fullmatch(text):
        return True
    return bool(_ID.fullmatch(text)) and check_character(text[:17]) == text[17]


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


_ID = re.compile(r"[0-9]{17}[0-9X]")
_OLD_ID = re.compile(r"[0-9]{15}")
_ID_SHAPED = re.compile(r"[0-9]{15,18}X?")


def _found(found: Sequence[CertificateRecord], held: Sequence[HeldRecord]) -> str:
    return "found" if found or held else "none"


def _address(host: str, port: int) -> str:
    """The URL of the service listening on ``host`` and ``port``."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build_parser() -> StaffArgumentParser:
    """The command line of ``certflow web``: where to listen, which proxies to trust."""
    parser = StaffArgumentParser(
        prog="certflow web", description=argument_help("web", "description")
    )

    def helps(name: str) -> str:
        return argument_help("web", name)

    parser.add_argument("--host", default="127.0.0.1", help=helps("host"))
    parser.add_argument("--port", type=port_number, default=8080, help=helps("port"))
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help=helps("config")
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default="",
        metavar="ADDRESSES",
        help=helps("forwarded_allow_ips"),
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the web app with uvicorn (``certflow web``); return the exit status.

    A refusal to start is one Chinese line on stderr (web/startup.py has the
    order of the checks): exit 2 for the configuration, 1 for anything else.
    """
    import uvicorn

    args = build_parser().parse_args(argv)

    # One line per event, and nothing a visitor sent (web/logs.py).
    logs.configure()
    try:
        settings = Settings.load(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    try:
        app = create_app(settings)
        listener = listen(args.host, args.port)
    except StartError as err:
        print(err, file=sys.stderr)
        return 1
    try:
        asyncio.run(prepare_database(settings.database_url))
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            # uvicorn's own access log would print query strings (download
            # tokens); the app logs one line per request itself.
            access_log=False,
            # Without a named proxy, a client's own X-Forwarded-For header would
            # choose its rate-limit bucket; only a proxy named here is believed.
            proxy_headers=bool(args.forwarded_allow_ips),
            forwarded_allow_ips=args.forwarded_allow_ips or None,
            log_config=None,
        )
        # The socket listens already: the address can be opened from now on.
        print(t("web.serve.listening", url=_address(args.host, args.port)), flush=True)
        uvicorn.Server(config).run(sockets=[listener])
    except StartError as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        listener.close()
    return 0
