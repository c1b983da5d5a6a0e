"""Issuance of e-certificates (4.2.6-4.2.8): numbers, signatures, PDFs, records.

Numbers are allocated in PostgreSQL in the same transaction that inserts the
certificate rows, so concurrent workers and retried activities never skip or
double a number: a retry finds the rows already there and only renders what
is missing. A retry overlapping the attempt still allocating (timed out, not
stopped) waits for it, then does the same.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from pathlib import Path

import asyncpg
from temporalio import activity

from activities.document_records import name_document
from activities.documents import DocumentStore
from certflow.activity_models import IssuanceResult, IssueRequest
from certflow.certificates import (
    CertificateData,
    SignedCertificate,
    SigningKey,
    render_pdf,
    sign,
)
from certflow.config import Settings
from certflow.files import write_private
from certflow.identity import IdType
from certflow.models import DocumentKind, PlanInfo

log = logging.getLogger(__name__)


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
                raise RuntimeError(
                    f"The certificate signing key {path} does not exist. "
                    "Create it with 'certflow keys create' or set "
                    "certificates.signing_key_file."
                ) from None
        return self._key

    @activity.defn
    async def issue_certificates(self, req: IssueRequest) -> IssuanceResult:
        """Issue one certificate per passing candidate and module of the plan."""
        plan = req.plan
        await self._allocate(plan, req.issued_on)
        rows = await self.pool.fetch(
            "SELECT number, payload, key_id, signature, pdf_sha256 FROM certificates "
            "WHERE plan_id = $1 ORDER BY number",
            plan.plan_id,
        )
        out_dir = self.settings.output_dir / "certificates" / plan.plan_id
        for row in rows:
            activity.heartbeat(row["number"])
            signed = SignedCertificate(
                data=CertificateData.model_validate(row["payload"]),
                key_id=row["key_id"],
                signature_b64=row["signature"],
            )
            target = out_dir / f"{row['number']}.pdf"
            if row["pdf_sha256"] is not None and target.exists():
                continue
            # Rendering is CPU work; keep the event loop free for heartbeats.
            pdf = await asyncio.to_thread(render_pdf, signed)
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
        log.info(
            "certificates issued plan_id=%s count=%d kind=%s",
            plan.plan_id,
            len(rows),
            DocumentKind.CERTIFICATE.value,
        )
        return IssuanceResult(
            plan_id=plan.plan_id, issued=len(rows), numbers=[r["number"] for r in rows]
        )

    async def _allocate(self, plan: PlanInfo, issued_on: date) -> None:
        """Give every passing candidate without a certificate the next numbers."""
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
            # One row lock on the counter serialises allocation across workers.
            last = await conn.fetchval(
                """
                INSERT INTO certificate_counters (key, last_seq) VALUES ($1, $2)
                ON CONFLICT (key) DO UPDATE
                    SET last_seq = certificate_counters.last_seq + $2
                RETURNING last_seq
                """,
                key,
                len(pending),
            )
            first = last - len(pending) + 1
            for offset, row in enumerate(pending):
                number = self.scheme.format(
                    year=issued_on.year,
                    certificate=plan.certificate,
                    level=plan.level,
                    seq=first + offset,
                )
                data = CertificateData(
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
                )
                signed = sign(data, self.key.private_key, self.key.key_id)
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


def _id_type_text(code: str) -> str:
    """The document type as printed: its official Chinese name."""
    try:
        return IdType(code).chinese
    except ValueError:
        return code


def _write_copy(target: Path, pdf: bytes) -> None:
    write_private(target, pdf)
