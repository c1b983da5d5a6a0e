"""Issuance of e-certificates (4.2.6-4.2.8): numbers, signatures, PDFs, records.

Numbers are allocated in PostgreSQL in the same transaction that inserts the
certificate rows, so concurrent workers and retried activities never skip or
double a number: a retry finds the rows already there and only renders what
is missing. A retry overlapping the attempt still allocating (timed out, not
stopped) waits for it, then does the same.

Each certificate is checked against the font before it gets a number. One the
font cannot draw (a name with a character outside it) is held out, recorded
in ``certificate_holds`` and returned to the plan, and the others are issued:
one candidate never holds up a plan, nor its approval batch. A cause no retry
can mend (no font, a font file that cannot be parsed, no signing key...)
fails the activity for good (``ISSUANCE_BLOCKED``) before any number is given,
for the plan to tell the tech dept; a retry would only repeat it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import asyncpg
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.document_records import name_document
from activities.documents import DocumentStore
from activities.heartbeat import beats_while_running
from certflow.activity_models import HeldCertificate, IssuanceResult, IssueRequest
from certflow.certificates import (
    CertificateData,
    FontNotFoundError,
    FontUnreadableError,
    InvalidKeyError,
    NumberSchemeError,
    PrintGap,
    SignedCertificate,
    SigningKey,
    font_id,
    load_font,
    render_pdf,
    sign,
    unprintable,
)
from certflow.config import Settings
from certflow.files import write_private
from certflow.identity import IdType
from certflow.models import DocumentKind, PlanInfo
from certflow.privacy import mask_name

log = logging.getLogger(__name__)

# The failure type of an issuance no retry can mend; its first detail is the
# cause's code (``BLOCKED_*``), which the plan tells the tech dept in words,
# and a ``BLOCKED_PLAN_TEXT`` has a second: the rows the font cannot print.
ISSUANCE_BLOCKED = "issuance_blocked"
BLOCKED_FONT = "font_missing"
BLOCKED_FONT_UNREADABLE = "font_unreadable"
BLOCKED_KEY = "signing_key"
BLOCKED_NUMBERS = "number_scheme"
BLOCKED_PLAN_TEXT = "plan_text"
BLOCKED_DATA = "certificate_data"

# Why a certificate is held out: its name, or another text of its own (ID
# number, number), holds a character the font cannot print; or its drawing
# failed for a reason of its own, once numbered.
HELD_NAME = "unprintable_name"
HELD_OWN_TEXT = "unprintable_text"
HELD_NOT_RENDERED = "not_rendered"


class SigningKeyUnavailable(RuntimeError):
    """The configured signing key file does not exist or cannot be read."""


class PlanTextUnprintable(ValueError):
    """The plan's own text on the certificate (its certificate, module,
    organisation, the page's wording) holds characters outside the font.

    ``rows`` names them, in page order, by their ``PrintGap.row``: the
    failure tells them to the plan, which tells the tech dept which to mend.
    """

    def __init__(self, gaps: Sequence[PrintGap]) -> None:
        self.rows = list(dict.fromkeys(gap.row for gap in gaps))
        super().__init__(
            f"The certificate font cannot print the rows {', '.join(self.rows)}."
        )


# What each cause no retry can mend is called in the failure's detail.
_BLOCKING: tuple[tuple[type[Exception], str], ...] = (
    # Before its base class: the first that matches names the cause.
    (FontUnreadableError, BLOCKED_FONT_UNREADABLE),
    (FontNotFoundError, BLOCKED_FONT),
    (SigningKeyUnavailable, BLOCKED_KEY),
    (InvalidKeyError, BLOCKED_KEY),
    (NumberSchemeError, BLOCKED_NUMBERS),
    (PlanTextUnprintable, BLOCKED_PLAN_TEXT),
    # The organisation or verification address configured out of their form,
    # or a stored certificate's data edited out of it.
    (ValidationError, BLOCKED_DATA),
)
_BLOCKING_TYPES = tuple(cls for cls, _code in _BLOCKING)


class CertificateActivities:
    """Issues the certificates of approved plans and keeps the issuance records."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, store: DocumentStore
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.store = store
        self.scheme = settings.certificates.number_scheme()
        self._key: SigningKey | None = None

    @property
    def key(self) -> SigningKey:
        if self._key is None:
            path = self.settings.certificates.signing_key_file
            try:
                self._key = SigningKey.load(path.read_bytes())
            except FileNotFoundError:
                raise SigningKeyUnavailable(
                    f"The certificate signing key {path} does not exist. "
                    "Create it with 'certflow keys create' or set "
                    "certificates.signing_key_file."
                ) from None
            except OSError as err:
                raise SigningKeyUnavailable(
                    f"The certificate signing key {path} cannot be read "
                    f"({type(err).__name__}): give the worker read access to it."
                ) from None
        return self._key

    @activity.defn
    @beats_while_running
    async def issue_certificates(self, req: IssueRequest) -> IssuanceResult:
        """Issue one certificate per passing candidate and module of the plan.

        Those the font cannot draw are held out and listed in the result;
        a cause that stops every certificate fails for good (see the module).
        """
        try:
            return await self._issue(req)
        except _BLOCKING_TYPES as err:
            code = next(code for cls, code in _BLOCKING if isinstance(err, cls))
            log.warning("issuance blocked plan_id=%s cause=%s", req.plan.plan_id, code)
            # The plan's text is the plan's, no personal data: which rows of it
            # the font cannot print is a second detail, for the tech dept.
            rows = [err.rows] if isinstance(err, PlanTextUnprintable) else []
            raise ApplicationError(
                f"The certificates of plan {req.plan.plan_id} cannot be issued "
                f"until this is mended: {_described(err)}",
                code,
                *rows,
                type=ISSUANCE_BLOCKED,
                non_retryable=True,
            ) from err

    async def _issue(self, req: IssueRequest) -> IssuanceResult:
        plan = req.plan
        await self._allocate(plan, req.issued_on)
        rows = await self.pool.fetch(
            "SELECT * FROM certificates WHERE plan_id = $1 ORDER BY number",
            plan.plan_id,
        )
        out_dir = self.settings.output_dir / "certificates" / plan.plan_id
        issued: list[str] = []
        for row in rows:
            activity.heartbeat(row["number"])
            target = out_dir / f"{row['number']}.pdf"
            if row["pdf_sha256"] is not None and target.exists():
                issued.append(row["number"])
                continue
            signed = SignedCertificate(
                data=CertificateData.model_validate(row["payload"]),
                key_id=row["key_id"],
                signature_b64=row["signature"],
            )
            # Numbered before issuance checked the font (schema 18): held with
            # its number, drawn once the font prints it.
            if (gap := _own_gap(signed.data)) is not None:
                await _hold(self.pool, plan.plan_id, row, *gap)
                continue
            if row["pdf_sha256"] is None:
                signed = await self._in_current_font(row, signed)
            pdf = await self._render(plan, row, signed)
            if pdf is None:
                continue
            ref = self.store.put(
                pdf, filename=f"{row['number']}.pdf", media_type="application/pdf"
            )
            async with self.pool.acquire() as conn, conn.transaction():
                await name_document(conn, self.store, ref)
                await conn.execute(
                    "UPDATE certificates SET pdf_sha256 = $2 WHERE number = $1",
                    row["number"],
                    ref.sha256,
                )
            _write_copy(target, pdf)
            issued.append(row["number"])
        held = await self._holds(plan.plan_id)
        log.info(
            "certificates issued plan_id=%s count=%d held=%d kind=%s",
            plan.plan_id,
            len(issued),
            len(held),
            DocumentKind.CERTIFICATE.value,
        )
        return IssuanceResult(
            plan_id=plan.plan_id, issued=len(issued), numbers=issued, held=held
        )

    async def _in_current_font(
        self, row: asyncpg.Record, signed: SignedCertificate
    ) -> SignedCertificate:
        """``signed``, signed again for the font configured now if it names
        another (or none: signed before certificates named their font).

        Only for a certificate never drawn: nobody holds it yet. One numbered
        before a switch of the font and drawn after it (held, or its drawing
        failed) is drawn in the new font like every certificate issued after
        the switch, and its signed data must say so.
        """
        current = font_id(load_font())
        if signed.data.font == current:
            return signed
        data = signed.data.model_copy(update={"font": current})
        signing = self.key
        resigned = sign(data, signing.private_key, signing.key_id)
        await self.pool.execute(
            """
            UPDATE certificates SET payload = $2, key_id = $3, signature = $4
            WHERE number = $1 AND pdf_sha256 IS NULL
            """,
            row["number"],
            data.model_dump(mode="json"),
            resigned.key_id,
            resigned.signature_b64,
        )
        return resigned

    async def _render(
        self, plan: PlanInfo, row: asyncpg.Record, signed: SignedCertificate
    ) -> bytes | None:
        """The PDF of a numbered certificate; None when it is held instead.

        Drawing is pure: what fails once fails every time. It fails for the
        certificate's own reasons (held, the others go on), or for the plan's
        (the font is gone: raised). Only the error's type is logged: its
        message may quote the name.
        """
        try:
            # Rendering is CPU work; keep the event loop free for heartbeats.
            return await asyncio.to_thread(render_pdf, signed)
        except FontNotFoundError:
            raise
        except Exception as err:
            log.warning(
                "certificate not rendered plan_id=%s number=%s error=%s",
                plan.plan_id,
                row["number"],
                type(err).__name__,
            )
            await _hold(self.pool, plan.plan_id, row, HELD_NOT_RENDERED, [])
        return None

    async def _holds(self, plan_id: str) -> list[HeldCertificate]:
        """Release the holds of certificates now issued; return those still held."""
        await self.pool.execute(
            """
            UPDATE certificate_holds h SET released_at = now()
            FROM certificates c
            WHERE h.plan_id = $1 AND h.released_at IS NULL
              AND c.plan_id = h.plan_id AND c.admission_number = h.admission_number
              AND c.module_code = h.module_code AND c.pdf_sha256 IS NOT NULL
            """,
            plan_id,
        )
        rows = await self.pool.fetch(
            """
            SELECT admission_number, name, reason, positions, number
            FROM certificate_holds WHERE plan_id = $1 AND released_at IS NULL
            ORDER BY admission_number, module_code
            """,
            plan_id,
        )
        return [
            HeldCertificate(
                admission_number=r["admission_number"],
                masked_name=mask_name(r["name"]),
                reason=r["reason"],
                positions=list(r["positions"]),
                number=r["number"],
            )
            for r in rows
        ]

    async def _allocate(self, plan: PlanInfo, issued_on: date) -> None:
        """Give every passing candidate without a certificate the next numbers.

        Those whose certificate the font cannot draw are held out first: no
        number, nothing signed. The plan's own text outside the font, or a
        number the scheme cannot form, stops them all before any is numbered.
        """
        key = self.scheme.sequence_key(
            year=issued_on.year, certificate=plan.certificate, level=plan.level
        )
        async with self.pool.acquire() as conn, conn.transaction():
            # One allocation per plan at a time: an attempt overlapping
            # another (timed out, not stopped) waits here for it and finds its
            # certificates. Without, both chose the same candidates and the
            # second failed on their rows once, after the first had committed.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                f"{plan.plan_id}/{DocumentKind.CERTIFICATE.value}",
            )
            pending = await conn.fetch(
                """
                SELECT s.* FROM scores s
                WHERE s.plan_id = $1 AND s.passed
                  AND NOT EXISTS (SELECT 1 FROM certificates c
                                  WHERE c.plan_id = s.plan_id
                                    AND c.admission_number = s.admission_number
                                    AND c.module_code = s.module_code)
                ORDER BY s.seq NULLS LAST, s.admission_number
                """,
                plan.plan_id,
            )
            if not pending:
                return
            # Checked under a provisional number: its characters are those of
            # every number of the plan, and forming it checks the scheme.
            provisional = self.scheme.format(
                year=issued_on.year,
                certificate=plan.certificate,
                level=plan.level,
                seq=1,
            )
            drawable = []
            for row in pending:
                data = self._data(plan, row, provisional, issued_on)
                if (gap := _own_gap(data)) is not None:
                    await _hold(conn, plan.plan_id, row, *gap)
                else:
                    drawable.append(row)
            if not drawable:
                return
            signing = self.key
            # One row lock on the counter serialises allocation across workers.
            last = await conn.fetchval(
                """
                INSERT INTO certificate_counters (key, last_seq) VALUES ($1, $2)
                ON CONFLICT (key) DO UPDATE
                    SET last_seq = certificate_counters.last_seq + $2
                RETURNING last_seq
                """,
                key,
                len(drawable),
            )
            first = last - len(drawable) + 1
            for offset, row in enumerate(drawable):
                number = self.scheme.format(
                    year=issued_on.year,
                    certificate=plan.certificate,
                    level=plan.level,
                    seq=first + offset,
                )
                data = self._data(plan, row, number, issued_on)
                signed = sign(data, signing.private_key, signing.key_id)
                await conn.execute(
                    """
                    INSERT INTO certificates (number, plan_id, admission_number,
                        module_code, name, id_type, id_number, issued_on, payload,
                        key_id, signature)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                    """,
                    number,
                    plan.plan_id,
                    row["admission_number"],
                    row["module_code"],
                    row["name"],
                    row["id_type"],
                    row["id_number"],
                    issued_on,
                    data.model_dump(mode="json"),
                    signed.key_id,
                    signed.signature_b64,
                )

    def _data(
        self, plan: PlanInfo, row: asyncpg.Record, number: str, issued_on: date
    ) -> CertificateData:
        """What the certificate of a candidate's score row prints, as ``number``."""
        return CertificateData(
            number=number,
            organisation=self.settings.organisation,
            candidate_name=row["name"],
            id_type=_id_type_text(row["id_type"]),
            id_number=row["id_number"],
            certificate=plan.certificate,
            level=plan.level,
            module_code=row["module_code"],
            module_name=plan.module_name,
            plan_id=plan.plan_id,
            issued_on=issued_on,
            verify_url_base=self.settings.certificates.verify_url_base,
            font=font_id(load_font()),
        )


def _described(err: Exception) -> str:
    """The error as the failure may tell it: a data error by its fields and
    kinds alone, since its own text quotes the values (a name among them)."""
    if isinstance(err, ValidationError):
        fields = ", ".join(
            f"{'.'.join(map(str, e['loc']))} ({e['type']})" for e in err.errors()
        )
        return f"certificate data out of form: {fields}"
    return str(err)


def _own_gap(data: CertificateData) -> tuple[str, list[int]] | None:
    """Why the certificate cannot be drawn for a text of its own, and where
    in the name; None when it can.

    Raises :class:`PlanTextUnprintable` when the plan's text holds characters
    the font lacks: then no certificate of the plan can be drawn.
    """
    gaps = unprintable(data)
    shared = [gap for gap in gaps if not gap.own]
    if shared:
        raise PlanTextUnprintable(shared)
    for gap in gaps:
        if gap.row == "candidate_name":
            return HELD_NAME, gap.positions
    return (HELD_OWN_TEXT, []) if gaps else None


async def _hold(
    db: asyncpg.Pool | asyncpg.Connection,
    plan_id: str,
    row: asyncpg.Record,
    reason: str,
    positions: list[int],
) -> None:
    """Hold a candidate's certificate out of issuance (its number, if it has one)."""
    await db.execute(
        """
        INSERT INTO certificate_holds (plan_id, admission_number, module_code,
            name, id_number, number, reason, positions, held_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
        ON CONFLICT (plan_id, admission_number, module_code) DO UPDATE SET
            name = EXCLUDED.name, id_number = EXCLUDED.id_number,
            number = EXCLUDED.number, reason = EXCLUDED.reason,
            positions = EXCLUDED.positions, released_at = NULL
        """,
        plan_id,
        row["admission_number"],
        row["module_code"],
        row["name"],
        row["id_number"],
        row.get("number"),
        reason,
        positions,
    )


def _id_type_text(code: str) -> str:
    """The document type as printed: its official Chinese name."""
    try:
        return IdType(code).chinese
    except ValueError:
        return code


def _write_copy(target: Path, pdf: bytes) -> None:
    write_private(target, pdf)
