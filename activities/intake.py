"""Upload intake, the consistency report, the national-platform files, corrections.

Reading and validating are pure (``certflow.intake``); this module fetches the
bytes from the document store and writes the results to PostgreSQL, each upload
in one transaction, so a refused or failed upload changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import asyncpg
from temporalio import activity

from activities.correction_drafts import drop_draft, keep_refusal, read_draft
from activities.deadline import transaction_in_time, writes_in_time
from activities.document_records import (
    activity_key,
    keep_produced,
    name_document,
    put_produced,
)
from activities.documents import DocumentNotFound, DocumentStore
from activities.heartbeat import beats_while_running
from certflow import intake
from certflow.actions import DRAFTED, CorrectionSubmission
from certflow.activity_models import (
    ConsistencyRequest,
    CorrectionApplication,
    CorrectionApplied,
    CorrectionDecisionRecord,
    CorrectionFontCheck,
    CorrectionGivenUp,
    CorrectionRecord,
    CorrectionRecorded,
    PlatformImportRequest,
    ProcessUpload,
    UploadRecord,
)
from certflow.certificates import load_font
from certflow.free_text import field_label, text_problem
from certflow.i18n import t, t_or
from certflow.identity import mask_person_id_numbers
from certflow.intake.summary import (
    TOLERANCE,
    compute_total,
    parts_complete,
    parts_for_total,
    passes,
)
from certflow.intake.vocabulary import STATUS_BY_NAME, decimal_mark_slip, parse_score
from certflow.invoice import read_invoice_upload
from certflow.isolation import (
    ReadingBounds,
    ReadingFailed,
    Reason,
    read_apart,
    ready,
)
from certflow.models import (
    CandidateScore,
    DocumentKind,
    DocumentRef,
    ExamStatus,
    PassRule,
    PlanInfo,
    Problem,
    SummaryStats,
    UploadOutcome,
)
from certflow.plan import ConsistencySummary
from certflow.privacy import mask_id_numbers_in
from certflow.problem_list import recorded_text
from certflow.scan import scan_problems
from certflow.timeutil import CST

log = logging.getLogger(__name__)
_R = TypeVar("_R")

PROBLEMS_IN_HISTORY = 50  # the whole list is in the annotated report
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_SCORE_COLUMNS = (
    "seq, name, id_type, id_number, theory, practical, total, status, passed"
)

# One sign_ins row after its plan, kind and version: seq, name, id_number,
# admission_number, staff_id, role_text, signed.
_SignInRow = tuple[int | None, str, str, str, str, str, bool]


class IntakeActivities:
    """Activities that read uploads and keep the organisation's score database."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: DocumentStore,
        bounds: ReadingBounds | None = None,
    ) -> None:
        self.pool = pool
        self.store = store
        # What reading one upload may take, in its own process.
        self.bounds = bounds or ReadingBounds()
        # The first upload read as fast as the others (once a process).
        ready()

    # -- uploads ---------------------------------------------------------------

    @activity.defn
    @beats_while_running
    async def process_upload(self, req: ProcessUpload) -> UploadOutcome:
        """Validate one upload and, when it is accepted, make it the current version."""
        data = self.store.get(req.document)
        log.info(
            "upload received plan_id=%s kind=%s size=%d",
            req.plan.plan_id,
            req.kind.value,
            len(data),
        )
        if req.kind is DocumentKind.SCORE_SUMMARY:
            # Loaded outside the reader: a missing font is no unreadable upload.
            font = await asyncio.to_thread(load_font)
            # Found at issuance, after the general manager approved, a name the
            # font cannot print would stop the plan's certificates; at upload the
            # school can send the registered form of the name. It is checked
            # with every other cell, so one round reports all problems.
            coverage = font.coverage()
            reader = partial(intake.read_score_summary, unprintable=coverage)
            reading = await _read_apart(reader, data, req, self.bounds)
            if isinstance(reading, Problem):
                return await self._refuse(req, None, [reading])
            if not reading.accepted:
                return await self._refuse(req, data, reading.problems)
            admissions = [r.admission_number for r in reading.rows]
            if unrelated := await self._unrelated(req, admissions):
                return await self._refuse(req, data, [unrelated])
            accepted = await self._accept_summary(req, reading.rows)
            return _with_notes(accepted, reading.notes)
        if req.kind is DocumentKind.CANDIDATE_SIGN_IN:
            sign_in = await _read_apart(
                intake.read_candidate_sign_in, data, req, self.bounds
            )
            if isinstance(sign_in, Problem):
                return await self._refuse(req, None, [sign_in])
            if not sign_in.accepted:
                return await self._refuse(req, data, sign_in.problems)
            admissions = [c.admission_number for c in sign_in.candidates]
            if unrelated := await self._unrelated(req, admissions):
                return await self._refuse(req, data, [unrelated])
            rows = [
                (c.seq, c.name, c.id_number or "", c.admission_number, "", "", c.signed)
                for c in sign_in.candidates
            ]
            accepted = await self._accept_sign_in(req, "candidates", rows)
            return _with_notes(accepted, sign_in.notes)
        if req.kind is DocumentKind.EVALUATOR_SIGN_IN:
            sign_in = await _read_apart(
                intake.read_evaluator_sign_in, data, req, self.bounds
            )
            if isinstance(sign_in, Problem):
                return await self._refuse(req, None, [sign_in])
            if not sign_in.accepted:
                return await self._refuse(req, data, sign_in.problems)
            rows = [
                (e.seq, e.name, "", "", e.staff_id, e.role_text, True)
                for e in sign_in.evaluators
            ]
            accepted = await self._accept_sign_in(req, "evaluators", rows)
            return _with_notes(accepted, sign_in.notes)
        if req.kind is DocumentKind.SIGNED_SUMMARY_SCAN:
            # Opening a scan decodes it: off the event loop, as reading is.
            problems = await asyncio.to_thread(scan_problems, data)
            if problems:
                return await self._refuse(req, None, problems)
            async with self.pool.acquire() as conn, conn.transaction():
                version = await self._record_document(conn, req, accepted=True)
            return UploadOutcome(accepted=True, version=version)
        if req.kind is DocumentKind.INVOICE_DETAILS:
            return await self._invoice_details(req, data)
        raise ValueError(f"Uploads of kind {req.kind.value} are not read by intake.")

    async def _unrelated(
        self, req: ProcessUpload, admissions: list[str]
    ) -> Problem | None:
        """Refuse a candidate list sharing no one with the plan's other list.

        A summary is compared with the accepted candidates' sign-in sheet, a
        candidates' sign-in sheet with the current scores; the plan holds no
        other roster (see ``intake.unrelated_candidates``).
        """
        plan_id = req.plan.plan_id
        if req.kind is DocumentKind.SCORE_SUMMARY:
            accepted = await self._sign_ins(plan_id, "candidates")
            names = ("document_summary", "document_candidate_sign_in")
        else:
            accepted = await self.pool.fetch(
                "SELECT admission_number FROM scores WHERE plan_id = $1", plan_id
            )
            names = ("document_candidate_sign_in", "document_summary")
        return intake.unrelated_candidates(
            admissions,
            [r["admission_number"] for r in accepted],
            document=t(f"intake.{names[0]}"),
            other=t(f"intake.{names[1]}"),
        )

    async def _invoice_details(self, req: ProcessUpload, data: bytes) -> UploadOutcome:
        """Read the invoice details form and keep what finance invoices from."""
        invoice = await _read_apart(read_invoice_upload, data, req, self.bounds)
        if isinstance(invoice, Problem):
            return await self._refuse(req, None, [invoice])
        if not invoice.accepted or invoice.details is None:
            return await self._refuse(req, data, invoice.problems)
        async with self.pool.acquire() as conn, conn.transaction():
            version = await self._record_document(conn, req, accepted=True)
            await conn.execute(
                """
                INSERT INTO invoice_details (plan_id, sha256, details, received_at)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (plan_id, sha256) DO NOTHING
                """,
                req.plan.plan_id,
                req.document.sha256,
                invoice.details.model_dump(mode="json"),
                req.at,
            )
        return _with_notes(UploadOutcome(accepted=True, version=version), invoice.notes)

    async def _refuse(
        self, req: ProcessUpload, data: bytes | None, problems: list[Problem]
    ) -> UploadOutcome:
        report: DocumentRef | None = None
        if data is not None and problems:
            # The copy reads the file again: apart, as the reading did, and
            # off the event loop (a file may take seconds).
            try:
                annotated: bytes | None = await asyncio.to_thread(
                    read_apart,
                    intake.annotated_copy,
                    data,
                    problems,
                    bounds=self.bounds,
                )
            except ReadingFailed as failed:  # no cells to annotate
                log.warning(
                    "annotated report not made plan_id=%s kind=%s reason=%s error=%s",
                    req.plan.plan_id,
                    req.kind.value,
                    failed.reason,
                    failed.error or "-",
                )
                annotated = None
            if annotated is not None:
                report = self.store.put(
                    annotated, filename=report_filename(req), media_type=XLSX
                )
        # The invoice details form's problems are kept with its record, for
        # document list: a form names nobody, while a score sheet's problems
        # may name candidates, so theirs stay in the annotated report alone.
        refusal = (
            recorded_text(problems, len(problems))
            if req.kind is DocumentKind.INVOICE_DETAILS
            else ""
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await self._record_document(
                conn, req, accepted=False, problems=len(problems), refusal=refusal
            )
        log.info(
            "upload refused plan_id=%s kind=%s problems=%d",
            req.plan.plan_id,
            req.kind.value,
            len(problems),
        )
        return UploadOutcome(
            accepted=False,
            problems=problems[:PROBLEMS_IN_HISTORY],
            problem_count=len(problems),
            report=report,
        )

    async def _record_document(
        self,
        conn: asyncpg.Connection,
        req: ProcessUpload,
        *,
        accepted: bool,
        problems: int = 0,
        refusal: str = "",
    ) -> int | None:
        """Record an upload intake read; see :func:`record_upload_row`."""
        return await record_upload_row(
            conn,
            self.store,
            UploadRecord(
                plan_id=req.plan.plan_id,
                kind=req.kind,
                document=req.document,
                uploaded_by=req.uploaded_by,
                at=req.at,
                accepted=accepted,
                problems=problems,
                refusal=refusal,
            ),
        )

    @activity.defn
    @writes_in_time
    async def record_upload(self, rec: UploadRecord) -> int | None:
        """Record an upload nobody reads (the application scan): its version
        when accepted, None when refused.

        The file must be in the store: the plan would otherwise go by (or
        list) a file nobody can fetch or mail. One missing fails the attempt,
        and the plan answers that the upload was not processed.
        """
        async with self.pool.acquire() as conn, transaction_in_time(conn):
            version = await record_upload_row(conn, self.store, rec)
            if rec.refused_with is not None:
                await _refuse_recorded(conn, self.store, rec.refused_with)
            return version

    async def _accept_summary(
        self, req: ProcessUpload, rows: list[CandidateScore]
    ) -> UploadOutcome:
        plan_id = req.plan.plan_id
        async with self.pool.acquire() as conn, conn.transaction():
            version = await self._record_document(conn, req, accepted=True)
            assert version is not None
            already = await conn.fetchval(
                "SELECT 1 FROM score_versions WHERE plan_id = $1 AND version = $2",
                plan_id,
                version,
            )
            if not already:
                await conn.execute(
                    """
                    INSERT INTO score_versions (plan_id, version, sha256, uploaded_by,
                                                uploaded_at, candidates, passed)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    plan_id,
                    version,
                    req.document.sha256,
                    req.uploaded_by,
                    req.at,
                    len(rows),
                    sum(1 for r in rows if r.passed),
                )
                await conn.copy_records_to_table(
                    "score_rows",
                    records=[_score_record(plan_id, version, r) for r in rows],
                    columns=[
                        "plan_id",
                        "version",
                        "admission_number",
                        "module_code",
                        "seq",
                        "name",
                        "id_type",
                        "id_number",
                        "theory",
                        "practical",
                        "total",
                        "status",
                        "passed",
                        "remark",
                    ],
                )
                # The newest accepted version replaces the current scores whole.
                await conn.execute("DELETE FROM scores WHERE plan_id = $1", plan_id)
                await conn.execute(
                    f"""
                    INSERT INTO scores (plan_id, admission_number, module_code,
                                        {_SCORE_COLUMNS}, source_version, updated_at)
                    SELECT plan_id, admission_number, module_code, {_SCORE_COLUMNS},
                           version, $3
                    FROM score_rows WHERE plan_id = $1 AND version = $2
                    """,
                    plan_id,
                    version,
                    req.at,
                )
        stats = SummaryStats.count(version, ((r.status, r.passed) for r in rows))
        log.info(
            "score summary accepted plan_id=%s version=%d candidates=%d",
            plan_id,
            version,
            stats.candidates,
        )
        return UploadOutcome(accepted=True, stats=stats, version=version)

    async def _accept_sign_in(
        self, req: ProcessUpload, kind: str, rows: list[_SignInRow]
    ) -> UploadOutcome:
        async with self.pool.acquire() as conn, conn.transaction():
            version = await self._record_document(conn, req, accepted=True)
            await conn.execute(
                """
                DELETE FROM sign_ins WHERE plan_id = $1 AND kind = $2 AND version = $3
                """,
                req.plan.plan_id,
                kind,
                version,
            )
            await conn.executemany(
                """
                INSERT INTO sign_ins (plan_id, kind, version, seq, name, id_number,
                                      admission_number, staff_id, role_text, signed)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                """,
                [(req.plan.plan_id, kind, version, *row) for row in rows],
            )
        return UploadOutcome(accepted=True, version=version)

    # -- consistency review and the national platform --------------------------

    @activity.defn
    @beats_while_running
    async def build_consistency_report(
        self, req: ConsistencyRequest
    ) -> ConsistencySummary:
        """Compare the current summary with the newest sign-in sheets (4.1.5)."""
        plan = req.plan
        scores = await self._score_rows(plan.plan_id)
        candidates = await self._sign_ins(plan.plan_id, "candidates")
        evaluators = await self._sign_ins(plan.plan_id, "evaluators")
        # The comparison and the workbook take seconds for a large plan: in a
        # thread, so that the heartbeats go on meanwhile (activities/heartbeat.py).
        report, data = await asyncio.to_thread(
            _consistency_workbook,
            plan,
            scores,
            candidates,
            evaluators,
            req.signed_evaluator_ids,
        )
        # Recorded, so the reports a send-back replaces stay listed and
        # fetchable by their number (the plan keeps only the latest).
        ref = await self._produce(
            plan.plan_id,
            DocumentKind.CONSISTENCY_REPORT,
            data,
            f"{plan.plan_id}-一致性核对报告.xlsx",
        )
        return ConsistencySummary(
            consistent=report.consistent,
            verdict=report.verdict,
            mismatch_count=len(report.mismatches),
            mismatches=[m.message for m in report.mismatches[:PROBLEMS_IN_HISTORY]],
            report=ref,
        )

    @activity.defn
    @beats_while_running
    async def build_platform_import(self, req: PlatformImportRequest) -> DocumentRef:
        """Produce the national platform's score import file from the current scores."""
        scores = await self._score_rows(req.plan.plan_id)
        # In a thread, as the consistency report is: the heartbeats go on.
        data = await asyncio.to_thread(_platform_workbook, req.plan, scores)
        return await self._produce(
            req.plan.plan_id,
            DocumentKind.PLATFORM_IMPORT,
            data,
            f"{req.plan.plan_id}-国家平台成绩导入.xlsx",
        )

    async def _produce(
        self, plan_id: str, kind: DocumentKind, data: bytes, filename: str
    ) -> DocumentRef:
        """Store and record a workbook produced for the plan; return the file
        recorded. The files of this activity's other attempts that no record
        names are taken back out of the store (see ``keep_produced``)."""
        made = await put_produced(
            self.pool, self.store, data, filename=filename, media_type=XLSX
        )
        recorded = await self._record_output(plan_id, kind, made)
        await keep_produced(self.pool, self.store, [made], [recorded])
        return recorded

    async def _record_output(
        self, plan_id: str, kind: DocumentKind, ref: DocumentRef
    ) -> DocumentRef:
        """Record a file produced for the plan; return the file recorded.

        One row per activity, whichever attempt writes it. Every attempt writes
        its file anew, and a workbook carries the time it was saved: a retry
        (after a lost answer, or started while its first attempt, timed out
        but not stopped, still writes) has another file, and recorded too it
        would be a second file the plan never held. The retry returns the file
        recorded first instead; its insert waits for an attempt that wrote the
        row and has not committed yet.
        """
        produced_by = activity_key()
        async with self.pool.acquire() as conn, conn.transaction():
            await name_document(conn, self.store, ref)
            await conn.execute(
                """
                INSERT INTO plan_documents (plan_id, kind, sha256, filename,
                                            uploaded_by, uploaded_at, accepted,
                                            produced_by)
                VALUES ($1, $2, $3, $4, 'certflow', now(), true, $5)
                ON CONFLICT (plan_id, kind, produced_by)
                    WHERE produced_by IS NOT NULL DO NOTHING
                """,
                plan_id,
                kind.value,
                ref.sha256,
                ref.filename,
                produced_by,
            )
            recorded = await conn.fetchrow(
                """
                SELECT p.sha256, p.filename, d.size, d.media_type
                FROM plan_documents p JOIN documents d ON d.sha256 = p.sha256
                WHERE p.plan_id = $1 AND p.kind = $2 AND p.produced_by = $3
                """,
                plan_id,
                kind.value,
                produced_by,
            )
        assert recorded is not None  # inserted above, or by an earlier attempt
        return DocumentRef(
            sha256=recorded["sha256"],
            size=recorded["size"],
            media_type=recorded["media_type"],
            filename=recorded["filename"],
        )

    async def _score_rows(self, plan_id: str) -> list[asyncpg.Record]:
        """The plan's current scores as rows (``_score_from_row`` reads one)."""
        columns = _SCORE_COLUMNS.replace("seq,", "s.seq,")
        rows: list[asyncpg.Record] = await self.pool.fetch(
            f"""
            SELECT admission_number, module_code, remark, {columns}
            FROM scores s
            LEFT JOIN LATERAL (SELECT remark FROM score_rows r
                               WHERE r.plan_id = s.plan_id
                                 AND r.version = s.source_version
                                 AND r.admission_number = s.admission_number
                                 AND r.module_code = s.module_code) r ON true
            WHERE s.plan_id = $1 ORDER BY s.seq NULLS LAST, s.admission_number
            """,
            plan_id,
        )
        return rows

    async def _sign_ins(self, plan_id: str, kind: str) -> list[asyncpg.Record]:
        records: list[asyncpg.Record] = await self.pool.fetch(
            """
            SELECT * FROM sign_ins WHERE plan_id = $1 AND kind = $2 AND version =
              (SELECT max(version) FROM sign_ins WHERE plan_id = $1 AND kind = $2)
            ORDER BY seq NULLS LAST
            """,
            plan_id,
            kind,
        )
        return records

    # -- corrections (4.1.7) ---------------------------------------------------

    @activity.defn
    async def record_correction(self, req: CorrectionRecord) -> CorrectionRecorded:
        """Check a correction request against the plan's scores and file it.

        A request whose sender kept its personal parts apart (``draft``) is
        filed with them, and its draft deleted, in one transaction.
        """
        info = activity.info()
        mine = activity_key()
        async with self.pool.acquire() as conn, conn.transaction():
            await _lock_request(conn, req.request_id)
            if await conn.fetchval(_GIVEN_UP, req.request_id, info.scheduled_time):
                return _given_up(req)
            if req.draft is not None:
                parts = await read_draft(conn, req.draft, req.plan.plan_id)
                if parts is None:
                    return await _without_draft(conn, req, mine)
                req = req.model_copy(update=parts)
                refused = _drafted_problem(req)
                if refused is not None:
                    return CorrectionRecorded(accepted=False, problems=[refused])
            problems = _check_requested(req.field, req.requested_score)
            if req.source_key:
                earlier = await conn.fetchval(
                    "SELECT request_id FROM correction_requests WHERE source_key = $1",
                    req.source_key,
                )
                if earlier is not None and earlier != req.request_id:
                    return CorrectionRecorded(
                        accepted=False,
                        problems=[
                            Problem(
                                code="duplicate",
                                message=t(
                                    "intake_db.duplicate_request", request_id=earlier
                                ),
                            )
                        ],
                    )
            current = await conn.fetchrow(
                "SELECT theory, practical, total, status FROM scores "
                "WHERE plan_id = $1 AND admission_number = $2",
                req.plan.plan_id,
                req.admission_number,
            )
            if current is not None:
                # A part score of a candidate without scores: said first, and
                # no published score compared (there is none to quote).
                missing = _without_score(req.admission_number, req.field, current)
                unchanged = _unchanged(req, current)
                if missing is not None:
                    problems.insert(0, missing)
                else:
                    if unchanged is not None:
                        # Nothing to decide: said first, and no total compared.
                        problems.insert(0, unchanged)
                    problems += _check_published(
                        req.field, req.published_score, current
                    )
                if req.field == "total" and unchanged is None:
                    problems += _check_total(
                        req.plan.pass_rule, req.requested_score, current
                    )
                problems += await _open_requests(conn, req)
            if current is None:
                problems.append(
                    Problem(
                        code="unknown_candidate",
                        message=t(
                            "intake_db.unknown_candidate",
                            admission=req.admission_number,
                            plan_id=req.plan.plan_id,
                        ),
                    )
                )
            if problems:
                problems = _unrepeated(problems)
                if req.draft is not None:
                    # Their words may quote the draft's scores: kept with it.
                    problems = await keep_refusal(conn, req.draft, problems)
                return CorrectionRecorded(accepted=False, problems=problems)
            # The plan gives a request's id to its next request when it gave
            # up on recording it: an attempt of the request given up, timed
            # out and not stopped, may write it still. The activity the plan
            # asked later holds the row; an earlier one writes nothing (the
            # plan says when it gave up since ``correction-given-up-forgotten``,
            # above; before, only its next request of the id said so).
            await conn.execute(
                """
                INSERT INTO correction_requests (request_id, plan_id, admission_number,
                    field, published_score, requested_score, reason, requester,
                    requester_email, received_at, entered_by, source_key,
                    recorded_by, scheduled_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                ON CONFLICT (request_id) DO UPDATE SET
                    admission_number = EXCLUDED.admission_number,
                    field = EXCLUDED.field,
                    published_score = EXCLUDED.published_score,
                    requested_score = EXCLUDED.requested_score,
                    reason = EXCLUDED.reason,
                    requester = EXCLUDED.requester,
                    requester_email = EXCLUDED.requester_email,
                    received_at = EXCLUDED.received_at,
                    entered_by = EXCLUDED.entered_by,
                    source_key = EXCLUDED.source_key,
                    recorded_by = EXCLUDED.recorded_by,
                    scheduled_at = EXCLUDED.scheduled_at
                WHERE correction_requests.plan_id = EXCLUDED.plan_id
                    AND correction_requests.status = 'pending'
                    AND correction_requests.recorded_by
                        IS DISTINCT FROM EXCLUDED.recorded_by
                    AND (correction_requests.scheduled_at IS NULL
                         OR correction_requests.scheduled_at < EXCLUDED.scheduled_at)
                """,
                req.request_id,
                req.plan.plan_id,
                req.admission_number,
                req.field,
                req.published_score,
                req.requested_score,
                req.reason,
                req.requester,
                req.requester_email,
                req.received_at,
                req.entered_by,
                req.source_key,
                mine,
                info.scheduled_time,
            )
            holder = await conn.fetchval(_RECORDED_BY, req.request_id)
            if holder == mine:
                await drop_draft(conn, req.draft)
        if holder != mine:
            return _given_up(req)
        return CorrectionRecorded(accepted=True)

    @activity.defn
    async def forget_correction(self, req: CorrectionGivenUp) -> None:
        """Record that the plan gave up on a request id, and remove the row an
        attempt it gave up on wrote late: no reader sees a request the plan
        did not take. Under the request's lock, which ``record_correction``
        takes too, so an attempt writing meanwhile either wrote before (its
        row removed here) or finds the plan gave up (and writes nothing)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await _lock_request(conn, req.request_id)
            await conn.execute(
                """
                INSERT INTO correction_given_up (request_id, plan_id, given_up_at)
                VALUES ($1, $2, $3)
                ON CONFLICT (request_id) DO UPDATE SET given_up_at =
                    greatest(correction_given_up.given_up_at, EXCLUDED.given_up_at)
                """,
                req.request_id,
                req.plan_id,
                req.given_up_at,
            )
            removed = await conn.execute(
                """
                DELETE FROM correction_requests
                WHERE request_id = $1 AND plan_id = $2 AND status = 'pending'
                    AND (scheduled_at IS NULL OR scheduled_at < $3)
                """,
                req.request_id,
                req.plan_id,
                req.given_up_at,
            )
        log.info(
            "correction request given up plan_id=%s request_id=%s removed=%s",
            req.plan_id,
            req.request_id,
            removed.rsplit(" ", 1)[-1],
        )

    @activity.defn
    async def record_correction_decision(self, req: CorrectionDecisionRecord) -> None:
        """Record the decision on a request awaiting it.

        Only over ``pending`` (or the same decision: a retry changes nothing).
        An attempt that timed out waiting for a connection is retried and not
        stopped (it sends no heartbeat); landing after its retry, once the
        correction was applied, it must not make the request open again.
        """
        await self.pool.execute(
            """
            UPDATE correction_requests
            SET status = $3, decided_by = $4, decided_at = $5, decision_reason = $6
            WHERE plan_id = $1 AND request_id = $2 AND status IN ('pending', $3)
            """,
            req.plan_id,
            req.request_id,
            "approved" if req.approved else "rejected",
            req.decided_by,
            req.at,
            req.reason,
        )

    @activity.defn
    async def check_correction_font(self, req: CorrectionFontCheck) -> list[Problem]:
        """Refuse to approve a correction after which its candidate passes
        with a name the certificate font cannot print; empty when it may be.

        The candidate's other approved corrections not yet applied count as
        applied, in the order they were filed: a theory and a practical score
        approved one by one make a pass together. Intake refuses such a name
        in a score summary; one recorded before it did, or while another
        font was configured, is caught here, before anybody relies on it.
        """
        async with self.pool.acquire() as conn:
            request = await conn.fetchrow(
                "SELECT * FROM correction_requests WHERE request_id = $1",
                req.request_id,
            )
            if request is None:
                return []  # the plan answers for a request it does not know
            current = await conn.fetchrow(
                "SELECT * FROM scores WHERE plan_id = $1 AND admission_number = $2",
                req.plan.plan_id,
                request["admission_number"],
            )
            approved = await conn.fetch(
                """
                SELECT field, requested_score FROM correction_requests
                WHERE plan_id = $1 AND admission_number = $2 AND status = 'approved'
                  AND request_id <> $3
                ORDER BY request_id
                """,
                req.plan.plan_id,
                request["admission_number"],
                req.request_id,
            )
        if current is None:
            return []
        # Filed before such a request was refused at submission: rejected,
        # not approved (approved, it could only be closed changing nothing).
        missing = _without_score(
            request["admission_number"], request["field"], current, req.request_id
        )
        if missing is not None:
            return [missing]
        outcome: dict[str, Any] = dict(current)
        for step in [*approved, request]:
            changes = _corrected(
                req.plan, outcome, step["field"], step["requested_score"]
            )
            outcome.update({column: new for column, (_old, new) in changes.items()})
        if not outcome["passed"]:
            return []
        refusal = await _unprintable_name(current, req.request_id, "decide")
        return [] if refusal is None else [refusal]

    @activity.defn
    @writes_in_time
    async def apply_correction(self, req: CorrectionApplication) -> CorrectionApplied:
        """Change the current score, keep the history, produce the platform update file.

        Total and pass result are recomputed with the plan's pass rule, and each
        changed field gets its own history line naming the request. A
        correction after which the candidate passes with a name the
        certificate font cannot print changes nothing and says why (the font
        may have changed since it was approved).
        """
        plan = req.plan
        async with self.pool.acquire() as conn, transaction_in_time(conn):
            request = await conn.fetchrow(
                "SELECT * FROM correction_requests WHERE request_id = $1 FOR UPDATE",
                req.request_id,
            )
            if request is None:
                raise ValueError(
                    f"Correction request {req.request_id} is not on record."
                )
            current = await conn.fetchrow(
                """
                SELECT * FROM scores WHERE plan_id = $1 AND admission_number = $2
                FOR UPDATE
                """,
                plan.plan_id,
                request["admission_number"],
            )
            if current is None:
                raise ValueError(f"Candidate of {req.request_id} has no current score.")
            # Approved before such a request was refused (at submission, at
            # approval): closed, changing nothing, and said so.
            without_score = _without_score(
                request["admission_number"],
                request["field"],
                current,
                req.request_id,
                step="apply",
            )
            if request["status"] != "applied":
                changes = _corrected(
                    plan, current, request["field"], request["requested_score"]
                )
                passes_after = changes.get("passed", (None, current["passed"]))[1]
                if passes_after and (
                    refusal := await _unprintable_name(current, req.request_id, "apply")
                ):
                    return CorrectionApplied(changes=0, refusal=refusal)
                for field, (old, new) in changes.items():
                    await conn.execute(
                        f"UPDATE scores SET {field} = $3, updated_at = $4 "
                        "WHERE plan_id = $1 AND admission_number = $2",
                        plan.plan_id,
                        request["admission_number"],
                        new,
                        req.at,
                    )
                    await conn.execute(
                        """
                        INSERT INTO score_history (plan_id, admission_number,
                            module_code, field, old_value, new_value, changed_by,
                            changed_at, reason, request_id)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                        """,
                        plan.plan_id,
                        request["admission_number"],
                        current["module_code"],
                        field,
                        _text(old),
                        _text(new),
                        req.applied_by,
                        req.at,
                        request["reason"],
                        req.request_id,
                    )
                await conn.execute(
                    """
                    UPDATE correction_requests SET status = 'applied', applied_by = $2,
                           applied_at = $3 WHERE request_id = $1
                    """,
                    req.request_id,
                    req.applied_by,
                    req.at,
                )
            # Counted from the history, so a retry after the first try
            # committed answers as that try would have.
            changed = await conn.fetchval(
                "SELECT count(*) FROM score_history WHERE plan_id = $1 "
                "AND admission_number = $2 AND request_id = $3",
                plan.plan_id,
                request["admission_number"],
                req.request_id,
            )
            updated = await conn.fetchrow(
                f"""
                SELECT admission_number, module_code, '' AS remark, {_SCORE_COLUMNS}
                FROM scores WHERE plan_id = $1 AND admission_number = $2
                """,
                plan.plan_id,
                request["admission_number"],
            )
        data = intake.national_platform_import(plan, [_score_from_row(updated)])
        ref = await self._produce(
            plan.plan_id,
            DocumentKind.PLATFORM_IMPORT,
            data,
            # The request id already starts with the plan id.
            f"{req.request_id}-国家平台成绩更新.xlsx",
        )
        # The plan's counts after the change: a correction can move a candidate
        # between passed, failed and absent, and the counts must still add up.
        results = await self.pool.fetch(
            "SELECT source_version, status, passed FROM scores WHERE plan_id = $1",
            plan.plan_id,
        )
        stats = SummaryStats.count(
            max(r["source_version"] for r in results),
            ((ExamStatus(r["status"]), r["passed"]) for r in results),
        )
        return CorrectionApplied(
            update_file=ref,
            changes=changed,
            passed=stats.passed,
            stats=stats,
            without_score=without_score if not changed else None,
        )


# Corrections that change the same number: a total, or a presence status, moves
# with theory and practical; theory and practical of one candidate do not meet.
_INDEPENDENT_FIELDS = frozenset({"theory", "practical"})

# Whether the plan gave up on the request id ($1) after asking for the
# activity scheduled at $2 (see ``forget_correction``).
_GIVEN_UP = """
    SELECT true FROM correction_given_up WHERE request_id = $1 AND given_up_at > $2
"""


async def _lock_request(conn: asyncpg.Connection, request_id: str) -> None:
    """Hold the correction request id until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))", f"correction/{request_id}"
    )


def _given_up(req: CorrectionRecord) -> CorrectionRecorded:
    """The answer of an attempt the plan gave up on: nobody waits for it."""
    log.info(
        "correction request given up not recorded plan_id=%s request_id=%s",
        req.plan.plan_id,
        req.request_id,
    )
    return CorrectionRecorded(accepted=False)


async def _open_requests(
    conn: asyncpg.Connection, req: CorrectionRecord
) -> list[Problem]:
    """Refuse a request while another on the same score awaits its decision.

    Both would state the same published score; applying the first would leave
    the second correcting a score that is no longer there.
    """
    rows = await conn.fetch(
        "SELECT request_id, field FROM correction_requests "
        "WHERE plan_id = $1 AND admission_number = $2 AND request_id <> $3 "
        "AND status IN ('pending', 'approved') ORDER BY request_id",
        req.plan.plan_id,
        req.admission_number,
        req.request_id,
    )
    for row in rows:
        fields = {row["field"], req.field}
        if row["field"] == req.field or not fields <= _INDEPENDENT_FIELDS:
            # The same score, or one that moves with it: say which.
            key = "open_request" if row["field"] == req.field else "open_related"
            return [
                Problem(
                    code="open_request",
                    message=t(
                        f"intake_db.{key}",
                        request_id=row["request_id"],
                        admission=req.admission_number,
                        field=t_or(req.field, f"cli.fields.{req.field}"),
                        other=t_or(row["field"], f"cli.fields.{row['field']}"),
                    ),
                )
            ]
    return []


async def _read_apart(
    reader: Callable[[bytes, PlanInfo], _R],
    data: bytes,
    req: ProcessUpload,
    bounds: ReadingBounds,
) -> _R | Problem:
    """Run a reader in a process of its own (``certflow.isolation``); a
    reading that breaks, or takes more than ``bounds``, is "unreadable".

    The readers refuse every bad file they know with reasons; a file that still
    makes one (or the spreadsheet library under it) fail, abort or run on
    must be refused too, not retried for ever while the plan waits on its
    upload, and must not take the worker down with it.
    """
    try:
        return await asyncio.to_thread(
            read_apart, reader, data, req.plan, bounds=bounds
        )
    except ReadingFailed as failed:
        log.warning(
            "upload unreadable plan_id=%s kind=%s reason=%s error=%s",
            req.plan.plan_id,
            req.kind.value,
            failed.reason,
            failed.error or "-",
        )
        return _unreadable(failed.reason, bounds)


async def record_upload_row(
    conn: asyncpg.Connection, store: DocumentStore, rec: UploadRecord
) -> int | None:
    """Record one upload of a plan; an accepted one gets the next version number.

    Only while ``store`` holds its file (see ``name_document``): a record never
    names a file the staff tool took back as nobody's meanwhile.

    A retried activity finds its own earlier row (same file, same time) and
    returns that version instead of adding another, also when it overlaps
    its first attempt: both look only once they hold the plan's lock.
    """
    await name_document(conn, store, rec.document)
    # Serialise the plan's records of this kind: a retry started while its
    # first attempt still writes (timed out, not stopped) waits here for it
    # and then finds its row, instead of both missing the other's row and
    # recording the file twice, as two versions.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        f"{rec.plan_id}/{rec.kind.value}",
    )
    existing = await conn.fetchrow(
        """
        SELECT version FROM plan_documents
        WHERE plan_id = $1 AND kind = $2 AND sha256 = $3 AND uploaded_at = $4
        """,
        rec.plan_id,
        rec.kind.value,
        rec.document.sha256,
        rec.at,
    )
    await _audit_refusal(conn, rec)
    if existing is not None:
        return existing["version"]  # type: ignore[no-any-return]
    version = None
    if rec.accepted:
        version = 1 + await conn.fetchval(
            """
            SELECT coalesce(max(version), 0) FROM plan_documents
            WHERE plan_id = $1 AND kind = $2
            """,
            rec.plan_id,
            rec.kind.value,
        )
    await conn.execute(
        """
        INSERT INTO plan_documents (plan_id, kind, version, sha256, filename,
                                    uploaded_by, uploaded_at, accepted, problems,
                                    refusal)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        rec.plan_id,
        rec.kind.value,
        version,
        rec.document.sha256,
        rec.document.filename,
        rec.uploaded_by,
        rec.at,
        rec.accepted,
        rec.problems,
        _said(rec.refusal) or None,
    )
    return version


def _said(text: str) -> str:
    """A refusal as it is kept: what could be an ID number masked (the plan's
    words hold none; a typed value repeated in them might)."""
    return mask_person_id_numbers(mask_id_numbers_in(text.strip()))


async def _audit_refusal(conn: asyncpg.Connection, rec: UploadRecord) -> None:
    """Write the audit line of the refusal ``rec`` records, once: keyed by the
    action, who sent it and when, so a retry or another file of the action
    finds it written."""
    if rec.accepted or not rec.refusal or not rec.action:
        return
    await conn.execute(
        """
        INSERT INTO audit (plan_id, action, role, person, at, accepted, late,
                           details, idempotency_key)
        VALUES ($1, $2, $3, $4, $5, false, false, $6, $7)
        ON CONFLICT (idempotency_key) DO NOTHING
        """,
        rec.plan_id,
        rec.action,
        rec.role.value if rec.role is not None else None,
        rec.uploaded_by,
        rec.at,
        {
            "document": rec.kind.value,
            "sha256": rec.document.sha256,
            "problems": str(rec.problems),
            "refusal": _said(rec.refusal),
        },
        f"refused:{rec.plan_id}:{rec.action}:{rec.uploaded_by}:{rec.at.isoformat()}",
    )


async def _refuse_recorded(
    conn: asyncpg.Connection, store: DocumentStore, rec: UploadRecord
) -> None:
    """Record ``rec`` refused, as part of an upload refused after intake read it.

    The row intake wrote for it at its time is marked refused, without a
    version, and given ``rec.refusal`` unless it holds a reason already;
    where intake wrote none, a refused row is written. The invoice details
    read from a form go with it, unless another accepted row of the plan
    names the same form: what finance invoices from is an accepted form.
    """
    await conn.execute(
        """
        UPDATE plan_documents SET accepted = false, version = NULL,
            problems = greatest(problems, $5), refusal = coalesce(refusal, $6)
        WHERE plan_id = $1 AND kind = $2 AND sha256 = $3 AND uploaded_at = $4
        """,
        rec.plan_id,
        rec.kind.value,
        rec.document.sha256,
        rec.at,
        rec.problems,
        _said(rec.refusal) or None,
    )
    await record_upload_row(conn, store, rec.model_copy(update={"accepted": False}))
    if rec.kind is DocumentKind.INVOICE_DETAILS:
        await conn.execute(
            """
            DELETE FROM invoice_details d WHERE d.plan_id = $1 AND d.sha256 = $2
                AND NOT EXISTS (
                    SELECT 1 FROM plan_documents p WHERE p.plan_id = $1
                        AND p.kind = $3 AND p.sha256 = $2 AND p.accepted)
            """,
            rec.plan_id,
            rec.document.sha256,
            rec.kind.value,
        )


async def record_refused_upload(
    pool: asyncpg.Pool, store: DocumentStore, rec: UploadRecord
) -> bool:
    """Record an upload the plan refused before reading it; False when the
    plan has no row yet to record it under (it is still registering), or
    none at all (an unknown plan id), or the file is no longer in the store
    (another run of the staff tool took the same bytes back meanwhile).

    The staff tool calls it: a validator refuses without any side effect, and
    the file the tool put in the store would otherwise be named by no record.
    The plan's reason (``rec.refusal``) is kept with the row, and, where
    ``rec.action`` names the refused action, written to the audit trail.
    """
    try:
        async with pool.acquire() as conn, conn.transaction():
            known = await conn.fetchval(
                "SELECT 1 FROM plans WHERE plan_id = $1 FOR SHARE", rec.plan_id
            )
            if not known:
                return False
            refused = rec.model_copy(update={"accepted": False})
            await record_upload_row(conn, store, refused)
    except DocumentNotFound:
        return False
    return True


def report_filename(req: ProcessUpload) -> str:
    """The name of a refused upload's annotated report: plan, document, time,
    and the first 8 hex digits of the uploaded file's SHA-256.

    The staff tool copies each report into one output folder under this name.
    Named after the plan alone, a site's report replaced the lead evaluator's
    and every refusal the one before; the upload's kind and time (CST, to the
    second) keep each refusal's report apart, and the digest two different
    files refused within the same second (the same file twice gives the same
    report anyway).
    """
    return t(
        "intake_db.report_file",
        plan_id=req.plan.plan_id,
        document=t(f"document_kinds.{req.kind.value}"),
        at=req.at.astimezone(CST).strftime("%Y%m%d-%H%M%S"),
        digest=req.document.sha256[:8],
    )


def _unreadable(reason: Reason, bounds: ReadingBounds) -> Problem:
    """The problem of an upload whose reading ended for ``reason``: past
    its memory or its time (a file far larger inside than it looks), or
    broken."""
    if reason == "memory":
        message = t("intake_db.unreadable_memory", limit=bounds.memory_mb)
    elif reason == "time":
        message = t("intake_db.unreadable_time", limit=bounds.cpu_seconds)
    elif reason == "wait":
        message = t("intake_db.unreadable_time", limit=bounds.wall_seconds)
    else:
        message = t("intake_db.unreadable")
    return Problem(code="unreadable", message=message)


def _unrepeated(problems: list[Problem]) -> list[Problem]:
    """A request's problems as the plan's answer keeps them, in its history:
    a typed value that could be an ID number (an admission number, a score
    someone pasted one into) masked where a message repeats it."""
    return [
        problem.model_copy(update={"message": mask_id_numbers_in(problem.message)})
        for problem in problems
    ]


_RECORDED_BY = "SELECT recorded_by FROM correction_requests WHERE request_id = $1"


async def _without_draft(
    conn: asyncpg.Connection, req: CorrectionRecord, mine: str
) -> CorrectionRecorded:
    """The answer to a request whose draft is gone: filed, when this activity
    filed it (an attempt before this one, its answer lost, deleted the draft
    with it); else refused, the draft having been left over a day."""
    if await conn.fetchval(_RECORDED_BY, req.request_id) == mine:
        return CorrectionRecorded(accepted=True)
    gone = Problem(code="draft_gone", message=t("intake_db.correction_draft_gone"))
    return CorrectionRecorded(accepted=False, problems=[gone])


def _drafted_problem(req: CorrectionRecord) -> Problem | None:
    """What the plan's validator refuses in a request's texts, for those its
    sender kept apart, which the plan never sees: a text past its bound or
    holding a hidden character, a reason or requester holding what could be
    an ID number (senders check both first)."""
    asked = CorrectionSubmission.model_construct(
        actor=None, **req.model_dump(include={"admission_number", "field", *DRAFTED})
    )
    problem = text_problem(asked)
    if problem is not None:
        return Problem(code="bad_argument", message=problem)
    name = asked.text_holding_id_number()
    if name is not None:
        return Problem(
            code="holds_id_number",
            message=t("plan.correction_holds_id_number", field=field_label(name)),
        )
    return None


def _check_requested(field: str, requested: str) -> list[Problem]:
    if field == "status":
        if requested.strip() not in STATUS_BY_NAME:
            return [Problem(code="bad_status", message=t("intake_db.bad_status"))]
        return []
    if parse_score(requested) is None:
        if meant := decimal_mark_slip(requested):
            message = t("intake_db.bad_score_mark", value=requested, meant=meant)
        else:
            message = t("intake_db.bad_score", value=requested)
        return [Problem(code="bad_score", message=message)]
    return []


def _check_published(
    field: str, published: str, current: asyncpg.Record
) -> list[Problem]:
    """The score the request calls published must be the one on record, if given.

    A request quoting another score was written against a wrong or outdated
    copy; the regional manager should not decide it as if it were right.
    """
    if not published.strip():
        return []
    if field == "status":
        on_record = current["status"]
        word = STATUS_BY_NAME.get(published.strip())
        given = word.value if word else None
    else:
        value = current[field]
        on_record = None if value is None else f"{value:.2f}"
        parsed = parse_score(published)
        given = None if parsed is None else f"{parsed:.2f}"
    if given == on_record:
        return []
    meant = None if field == "status" else decimal_mark_slip(published)
    if meant is not None and f"{parse_score(meant):.2f}" == on_record:
        # Not another score: the right one with a comma for its point. One
        # meaning another score is said to differ: written with "." as told,
        # it would be refused for that next.
        message = t("intake_db.published_mark", given=published, meant=meant)
        return [Problem(code="published_differs", message=message)]
    shown = "（空）" if on_record is None else on_record
    if field == "status":
        shown = _status_word(ExamStatus(on_record))
    return [
        Problem(
            code="published_differs",
            message=t("intake_db.published_differs", given=published, on_record=shown),
        )
    ]


def _without_score(
    admission: str,
    field: str,
    current: Mapping[str, Any],
    request_id: str = "",
    *,
    step: str = "decide",
) -> Problem | None:
    """A theory or practical score asked for a candidate recorded absent or
    disqualified, who has none: the status must be corrected first. None
    when the candidate is present, or the request is of another field.

    Without ``request_id`` the refusal of a request submitted now; with it,
    of a request filed before this check, at ``step`` (decide, apply).
    """
    status = ExamStatus(current["status"])
    if field not in _INDEPENDENT_FIELDS or status is ExamStatus.PRESENT:
        return None
    key = f"correction_without_score_{step}" if request_id else "score_without_status"
    return Problem(
        code="score_without_status",
        message=t(
            f"intake_db.{key}",
            request_id=request_id,
            admission=admission,
            status=_status_word(status),
            field=t(f"corrections.reply.field_{field}"),
        ),
    )


def _unchanged(req: CorrectionRecord, current: Mapping[str, Any]) -> Problem | None:
    """The refusal of a request for the value already on record, which would
    change nothing; None when it asks for another (or an unreadable) value.

    Compared as the plan compares scores (53.1 and 53.10 are one score), a
    status by its word. Taken, such a request held the candidate's next
    request back while open and was applied as if the score had changed.
    """
    field, requested = req.field, req.requested_score
    if field == "status":
        word = STATUS_BY_NAME.get(requested.strip())
        if word is None or word.value != current["status"]:
            return None
        on_record = _status_word(word)
    else:
        asked = parse_score(requested)
        value: Decimal | None = current[field]
        if asked is None or value is None or asked != value:
            return None
        on_record = f"{value:.2f}"
    return Problem(
        code="requested_on_record",
        message=t(
            "intake_db.requested_on_record",
            admission=req.admission_number,
            field=t(f"corrections.reply.field_{field}"),
            on_record=on_record,
            requested=requested.strip(),
        ),
    )


def _check_total(
    rule: PassRule, requested: str, current: asyncpg.Record
) -> list[Problem]:
    """A total asked for alone must be the one its part scores give.

    The total is computed from the part scores with the plan's weights, as at
    intake; changed alone it would disagree with its parts, on the national
    platform too. The request is refused saying which part score to correct,
    and to what. A candidate present without the part scores the plan's rule
    needs (marked present after being recorded absent) has nothing to derive
    it from: the total is taken.
    """
    asked = parse_score(requested)
    if asked is None:
        return []  # refused as a bad score already
    status = ExamStatus(current["status"])
    practical: Decimal | None = current["practical"]
    if status is not ExamStatus.PRESENT:
        message = t("intake_db.total_without_parts", status=_status_word(status))
        return [Problem(code="total_without_parts", message=message)]
    theory: Decimal | None = current["theory"]
    if not parts_complete(rule, theory, practical):
        return []
    assert practical is not None
    computed = compute_total(rule, theory, practical)
    if abs(asked - computed) <= TOLERANCE:
        return []
    return [
        Problem(
            code="total_is_derived",
            message=t(
                "intake_db.total_is_derived",
                formula=_total_formula(rule, theory),
                computed=f"{computed:.2f}",
                requested=requested.strip(),
                advice=_part_advice(parts_for_total(rule, theory, practical, asked)),
            ),
        )
    ]


def _total_formula(rule: PassRule, theory: Decimal | None) -> str:
    if theory is None:
        return t("intake_db.total_formula_practical")
    return t(
        "intake_db.total_formula",
        theory_weight=f"{rule.theory_weight:g}",
        practical_weight=f"{rule.practical_weight:g}",
    )


def _part_advice(options: dict[str, Decimal]) -> str:
    if not options:
        return t("intake_db.total_out_of_reach")
    return t(
        "intake_db.total_correct_part",
        options="，或".join(
            t(
                "intake_db.total_part_option",
                field=t(f"corrections.reply.field_{field}"),
                value=f"{value:.2f}",
            )
            for field, value in options.items()
        ),
    )


def _status_word(status: ExamStatus) -> str:
    return next(word for word, value in STATUS_BY_NAME.items() if value is status)


async def _unprintable_name(
    score: Mapping[str, Any], request_id: str, step: str
) -> Problem | None:
    """The refusal of a correction (``step``: decide, apply) for a candidate
    whose name the certificate font cannot print; None when it can."""
    font = await asyncio.to_thread(load_font)
    positions = font.missing_positions(score["name"])
    if not positions:
        return None
    return Problem(
        code="unprintable_name",
        message=t(
            "intake_db.correction_unprintable_name",
            request_id=request_id,
            admission=score["admission_number"],
            positions="、".join(map(str, positions)),
            step=t(f"intake_db.correction_step_{step}"),
        ),
    )


def _corrected(
    plan: PlanInfo, current: Mapping[str, Any], field: str, requested: str
) -> dict[str, tuple[object, object]]:
    """Return {column: (old, new)} for every column the correction changes."""
    theory: Decimal | None = current["theory"]
    practical: Decimal | None = current["practical"]
    status = ExamStatus(current["status"])
    if field == "theory":
        theory = parse_score(requested)
    elif field == "practical":
        practical = parse_score(requested)
    elif field == "status":
        status = STATUS_BY_NAME[requested.strip()]

    new: dict[str, object] = {
        "theory": theory,
        "practical": practical,
        "status": status.value,
    }
    asked = parse_score(requested) if field == "total" else None
    rule = plan.pass_rule
    if status is not ExamStatus.PRESENT:
        # Absent or disqualified: no score, no pass.
        new.update(theory=None, practical=None, total=None, passed=False)
    elif practical is not None and parts_complete(rule, theory, practical):
        # A total asked for alone was checked against its parts when filed
        # (``_check_total``); it may differ from this by the cent of rounding.
        total = compute_total(rule, theory, practical)
        if asked is not None:
            total = asked
        new["total"] = total
        new["passed"] = passes(rule, theory, practical, total)
    else:
        # Present, without a part score the rule needs (marked present after
        # being recorded absent): a corrected part is kept, and no total is
        # derived until the parts are all there. A total asked for alone has
        # nothing to derive it from: it is taken as asked; otherwise the one
        # on record stays. No pass without the part scores.
        if asked is not None:
            new["total"] = asked
        new["passed"] = False
    return {
        column: (current[column], value)
        for column, value in new.items()
        if current[column] != value
    }


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _score_record(plan_id: str, version: int, r: CandidateScore) -> tuple[object, ...]:
    return (
        plan_id,
        version,
        r.admission_number,
        r.module_code,
        r.seq,
        r.name,
        r.id_type,
        r.id_number,
        _decimal(r.theory),
        _decimal(r.practical),
        _decimal(r.total),
        r.status.value,
        r.passed,
        r.remark,
    )


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def _consistency_workbook(
    plan: PlanInfo,
    scores: list[asyncpg.Record],
    candidates: list[asyncpg.Record],
    evaluators: list[asyncpg.Record],
    signed_evaluator_ids: list[str],
) -> tuple[intake.ConsistencyReport, bytes]:
    """The consistency report of the rows read, and its workbook; CPU-bound."""
    report = intake.consistency_report(
        plan,
        [_score_from_row(r) for r in scores],
        [
            intake.CandidateSignIn(
                seq=r["seq"],
                name=r["name"],
                id_number=r["id_number"],
                admission_number=r["admission_number"],
                signed=r["signed"],
            )
            for r in candidates
        ],
        [
            intake.EvaluatorSignIn(
                seq=r["seq"],
                name=r["name"],
                role_text=r["role_text"],
                staff_id=r["staff_id"],
            )
            for r in evaluators
        ],
        signed_evaluator_ids,
    )
    return report, intake.mismatch_report(plan, report.mismatches, report.verdict)


def _platform_workbook(plan: PlanInfo, scores: list[asyncpg.Record]) -> bytes:
    """The national platform's import file of the score rows read; CPU-bound."""
    return intake.national_platform_import(plan, [_score_from_row(r) for r in scores])


def _score_from_row(r: asyncpg.Record) -> CandidateScore:
    return CandidateScore(
        seq=r["seq"],
        name=r["name"],
        id_type=r["id_type"],
        id_number=r["id_number"],
        admission_number=r["admission_number"],
        module_code=r["module_code"],
        theory=None if r["theory"] is None else float(r["theory"]),
        practical=None if r["practical"] is None else float(r["practical"]),
        total=None if r["total"] is None else float(r["total"]),
        status=ExamStatus(r["status"]),
        passed=r["passed"],
        remark=r["remark"] or "",
    )


def _with_notes(outcome: UploadOutcome, notes: list[str]) -> UploadOutcome:
    """``outcome`` telling the uploader what intake chose on their behalf.

    Which sheet was read, which were left aside (hidden ones included), which
    rows below the signatures were taken as the footer: an accepted file may
    still not be the one the uploader meant.
    """
    return outcome.model_copy(update={"note": "；".join(notes)})
