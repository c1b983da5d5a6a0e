"""Helpers that act as each party on a plan, the way the staff tool does."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import signal
import sys
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import openpyxl
import pytest
from temporalio import activity
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

from activities.db import MIGRATIONS, create_pool, migrate
from activities.documents import DocumentStore
from certflow.actions import (
    ActionResult,
    ApplicationUpload,
    BatchDecisionRequest,
    BatchInput,
    BatchResult,
    ConfirmSummaryRequest,
    CorrectionApply,
    CorrectionDecision,
    CorrectionSubmission,
    ExamPlanInput,
    InvoiceRecord,
    PaymentConfirmation,
    PlanStatus,
    ReviewRequest,
    SimpleAction,
    SiteSignoffRequest,
    UploadRequest,
    batch_workflow_id,
    plan_workflow_id,
)
from certflow.certificates import FONT_ENV, unsupported_characters
from certflow.certificates.fonts import KNOWN_FONTS, find_font
from certflow.config import DeadlinePolicy, Settings
from certflow.models import Actor, PlanInfo, Role, Stage
from certflow.plan import DUTY_OWNER, Duty
from certflow.timeutil import cst_date
from starter.devserver import DevServer
from starter.embedded_pg import ensure_database, with_database
from starter.sample_plan import (
    CANDIDATE_SIGN_IN,
    CONTACT,
    EVALUATOR_SIGN_IN,
    FINANCE,
    GM,
    INFO,
    INTAKE,
    LEAD,
    MANAGER,
    SAMPLE_PLAN_ID,
    SCAN_PDF,
    SITE,
    SITE_CODE,
    SUMMARY,
    TECH,
    retitled,
    sample_invoice_form,
    sample_plan,
)
from tests.ports import free_ports
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

__all__ = [
    "CANDIDATE_SIGN_IN",
    "CONTACT",
    "EVALUATOR_SIGN_IN",
    "FINANCE",
    "GM",
    "INFO",
    "INTAKE",
    "LEAD",
    "MANAGER",
    "OTHER_SITE",
    "RARE_CHARACTER",
    "SAMPLE_PLAN_ID",
    "SCAN_PDF",
    "SITE",
    "SITE_CODE",
    "SUMMARY",
    "TECH",
    "PlanDriver",
    "correction_request",
    "dev_server_on_free_ports",
    "driver_in_publicity",
    "empty_workbook",
    "english_words",
    "font_printing",
    "free_ports",
    "heartbeat_timeouts",
    "history_bytes",
    "log_lines_holding",
    "mails_of",
    "notify_attempts",
    "own_worker",
    "pending_notify",
    "read_until_ready",
    "refusal_text",
    "refused",
    "retitled",
    "run_batch",
    "run_python",
    "runs_of",
    "sample_plan",
    "terminate_when_idle",
    "unique_plan_id",
    "updates_accepted",
]

OTHER_SITE = Actor(role=Role.SITE, person="other-kaowu", site_code="HB-WH-0099")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
READY_LINE = "Press Ctrl-C to stop."
REPO = Path(__file__).resolve().parents[1]


# A character outside the Basic Multilingual Plane (U+20BB7), found in names:
# the default certificate font (WenQuanYi Micro Hei) lacks it, Noto CJK has it.
RARE_CHARACTER = "𠮷"


def font_printing(text: str) -> Path:
    """An installed certificate font that prints ``text``, which the default
    font cannot; skips the test where that is not so."""
    if not unsupported_characters(text):
        pytest.skip("the default certificate font prints it")
    for candidate, _package in KNOWN_FONTS:
        path = Path(candidate)
        if path.is_file() and not unsupported_characters(text, path):
            return path
    pytest.skip("no installed certificate font prints it")


def damaged_font(folder: Path) -> Path:
    """The installed certificate font cut short after 64 KiB, written in
    ``folder``: a font file that is there but cannot be parsed, as a copy
    interrupted or a disk filled leaves it."""
    whole = find_font(None)
    with whole.open("rb") as source:
        head = source.read(64 * 1024)
    cut = folder / f"cut-{whole.name}"
    cut.write_bytes(head)
    return cut


def log_lines_holding(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """The captured log lines whose message or traceback holds ``text``."""
    return [
        record.getMessage()
        for record in caplog.records
        if text in record.getMessage() or text in (record.exc_text or "")
    ]


async def run_python(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``python ARGS`` from the project folder as a user does, in a process of
    its own; return its exit status and what it printed (stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8")


async def read_until_ready(process: asyncio.subprocess.Process) -> list[str]:
    """The lines a stack started as a process prints until it is ready."""
    assert process.stdout is not None
    lines: list[str] = []
    while raw := await process.stdout.readline():
        line = raw.decode("utf-8").rstrip("\n")
        lines.append(line)
        if line == READY_LINE:
            return lines
    raise AssertionError(f"the stack exited before it was ready; it printed {lines}")


async def stack_process(
    argv: Sequence[str], env: dict[str, str], log: Any
) -> asyncio.subprocess.Process:
    """``python -m starter.stack ARGV`` run from the repository, its banner on a
    pipe for :func:`read_until_ready` and its log into the file ``log``: a
    pipe nobody reads would fill and stop the stack."""
    return await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "starter.stack", *argv],
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )


async def stop_in_order(process: asyncio.subprocess.Process) -> None:
    """Stop a stack process still running with SIGINT, so that its Temporal
    server does not outlive it; killed if it has not ended within 20 s."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), timeout=20)
    except TimeoutError:
        process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def throwaway_database(
    server_url: str, prefix: str, state_dir: Path
) -> AsyncIterator[str]:
    """A database of its own on the server ``server_url`` names, dropped after.

    Where no server answers there, an embedded one is started in
    ``state_dir`` and stopped with the database.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url, close = await ensure_database(with_database(server_url, name), state_dir)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(with_database(url, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
            await close()


@contextlib.asynccontextmanager
async def database_before(
    version: int, server_url: str, folder: Path
) -> AsyncIterator[tuple[Any, str]]:
    """A throwaway database migrated to just before schema ``version``: its
    pool and URL. Rows written to it are as an older release wrote them, for
    the migration of that version to be tried on (``migrate(pool)``)."""
    before = folder / "migrations"
    before.mkdir()
    for sql in sorted(MIGRATIONS.glob("*.sql")):
        if int(sql.name.split("_", 1)[0]) < version:
            (before / sql.name).write_bytes(sql.read_bytes())
    async with throwaway_database(server_url, f"certflow_v{version}", folder) as url:
        pool = await create_pool(url)
        try:
            await migrate(pool, before)
            yield pool, url
        finally:
            await pool.close()


def dev_server_on_free_ports(db_file: Path, **options: Any) -> DevServer:
    """A dev server (the package binary) keeping its state in ``db_file``, on
    free loopback ports; ``options`` go to ``DevServer``."""
    port, ui_port, http_port, metrics_port = free_ports(4)
    return DevServer(
        db_file,
        port=port,
        ui_port=ui_port,
        http_port=http_port,
        metrics_port=metrics_port,
        **options,
    )


@contextlib.asynccontextmanager
async def corrections_refused(pool: Any, plan_id: str) -> AsyncIterator[None]:
    """While open, PostgreSQL refuses every correction request row of the plan.

    A real failure of the plan's own filing (not a mock): the activity fails,
    is retried, and the plan answers "try again later".
    """
    assert re.fullmatch(r"[A-Za-z0-9-]+", plan_id)
    constraint = f"refuse_{plan_id.replace('-', '_').lower()}"
    await pool.execute(
        f"ALTER TABLE correction_requests ADD CONSTRAINT {constraint} "
        f"CHECK (plan_id <> '{plan_id}') NOT VALID"
    )
    try:
        yield
    finally:
        await pool.execute(
            f"ALTER TABLE correction_requests DROP CONSTRAINT {constraint}"
        )


# An activity attempt under way: a skip of time must not pass its timeout.
_RUNNING = (
    PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
    PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED,
)


async def settle(client: Client, workflow_id: str, *, any_activity: bool) -> bool:
    """Wait until the workflow looks idle three times in a row; False if it never
    did within five seconds, or it does not exist.

    Idle is no workflow task pending and no activity attempt under way (with
    ``any_activity``, no activity pending at all, retries waiting included).
    Three looks in a row: a plan mails beside its work, so a mail may be
    scheduled by a workflow task just after a look that saw nothing pending.
    """
    # The raw call: the client's describe() cannot read the test server's
    # datetime search attributes.
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id),
    )
    idle = 0
    for _ in range(100):
        try:
            described = await client.workflow_service.describe_workflow_execution(
                request
            )
        except RPCError:
            return False  # no such workflow
        busy = described.HasField("pending_workflow_task") or any(
            any_activity or activity.state in _RUNNING
            for activity in described.pending_activities
        )
        idle = 0 if busy else idle + 1
        if idle == 3:
            return True
        await asyncio.sleep(0.05)
    return False


async def terminate_when_idle(client: Client, workflow_id: str, reason: str) -> None:
    """Terminate a workflow once none of its activities is in flight.

    The time-skipping server keeps its clock locked for an activity still
    running when its workflow was terminated, and a later skip of time in the
    same module then never returns. Five seconds at most are waited.
    """
    await settle(client, workflow_id, any_activity=True)
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(workflow_id).terminate(reason)


async def skip_time(
    env: WorkflowEnvironment, workflow_ids: Sequence[str], to: datetime
) -> None:
    """Skip the test server's clock to ``to`` once the workflows have settled.

    A skip that passes the timeout of an activity attempt still under way (a
    mail that an update asked for just before, sent beside the plan) times the
    attempt out on the test server while the worker still runs it, and
    unbalances the server's count of time-skipping locks: its clock then
    stays locked, and this or a later skip in the module never returns
    ("Timeout expired"). Attempts that fail at once, as with the mail server
    away, do not hold the skip back.
    """
    for workflow_id in workflow_ids:
        await settle(env.client, workflow_id, any_activity=False)
    await env.sleep(max(to - await env.get_current_time(), timedelta(0)))


# A run of Latin letters in text for staff: a word, a flag, an id or a code.
_LATIN = re.compile(r"-{0,2}[A-Za-z][A-Za-z0-9_.@-]*")


def english_words(text: str, *codes: str) -> list[str]:
    """The words of ``text`` in Latin letters that are no id, flag or code.

    Ids hold digits (plan, batch, request and certificate numbers), flags start
    with "-"; ``codes`` are the others the text may show (staff ids, stage
    codes, command names). What is left is English staff would have to read.
    """
    return [
        word
        for word in _LATIN.findall(text)
        if word not in codes
        and not word.startswith("-")
        and not any(c.isdigit() for c in word)
    ]


# Seq 12 of the sample: theory 82.10, practical 50.10, total 59.70 (0.3 / 0.7).
SEQ_12 = "2026110412012"


async def approve_and_apply(driver: PlanDriver, request_id: str) -> ActionResult:
    """Approve the plan's correction request ``request_id`` and apply it;
    return the answer to the application."""
    decided = await driver.h.execute_update(
        ExamPlanWorkflow.decide_correction,
        CorrectionDecision(actor=MANAGER, request_id=request_id, approve=True),
    )
    assert decided.accepted, decided.message
    applied: ActionResult = await driver.h.execute_update(
        ExamPlanWorkflow.apply_correction,
        CorrectionApply(actor=INFO, request_id=request_id),
    )
    assert applied.accepted, applied.message
    return applied


async def driver_in_publicity(make_driver: Any) -> PlanDriver:
    """A new plan (``make_driver()``) on the first day of its publicity,
    taking correction requests."""
    driver: PlanDriver = await make_driver()
    await driver.reach_publicity()
    await driver.open_publicity()
    return driver


def correction_request(
    admission: str, field: str, requested: str
) -> CorrectionSubmission:
    """A correction request as the info center enters it for a candidate."""
    return CorrectionSubmission(
        actor=INFO,
        admission_number=admission,
        field=field,
        requested_score=requested,
        reason="成绩登记错误",
    )


async def mails_of(
    sink_messages: Any,
    plan_id: str,
    template: str,
    *,
    count: int = 1,
    subject_holding: str = "",
) -> list[Any]:
    """A plan's mails from one template, once ``count`` of them have arrived;
    with ``subject_holding``, only those whose subject holds it (a batch's
    mails, all of plan ``-``, name their plans there).

    A plan sends its mail beside its work: an action's answer comes before the
    mail it asked for, which follows a moment later (up to 10 s are waited).
    """
    found: list[Any] = []
    for _ in range(100):
        found = [
            m
            for m in sink_messages()
            if m["X-Certflow-Plan"] == plan_id
            and m["X-Certflow-Template"] == template
            and subject_holding in str(m["Subject"])
        ]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(found)} of {count} {template} mails for {plan_id}")


async def pending_notify(driver: PlanDriver) -> list[Any]:
    """The plan's notify activities the server has pending (mails under way)."""
    # The raw call, as in terminate_when_idle: describe() cannot read the test
    # server's datetime search attributes.
    described = await driver.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=driver.client.namespace,
            execution=WorkflowExecution(workflow_id=driver.h.id),
        )
    )
    return [a for a in described.pending_activities if a.activity_type.name == "notify"]


async def notify_attempts(driver: PlanDriver) -> int:
    """The attempt the plan's pending notify activity is at; 0 when none is."""
    return max((a.attempt for a in await pending_notify(driver)), default=0)


async def history_bytes(*handles: WorkflowHandle[Any, Any]) -> bytes:
    """Every event of the workflow histories of ``handles`` as the server
    keeps them (what the Web UI shows an operator), for a search of bytes."""
    data = b""
    for handle in handles:
        history = await handle.fetch_history()
        data += b"".join(event.SerializeToString() for event in history.events)
    return data


async def heartbeat_timeouts(
    handle: WorkflowHandle[Any, Any], activity: str
) -> set[float]:
    """The heartbeat timeouts, in seconds (0 for none), that the run of
    ``handle`` scheduled ``activity`` with."""
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    return {
        s.heartbeat_timeout.ToTimedelta().total_seconds()
        for s in scheduled
        if s.activity_type.name == activity
    }


def empty_workbook(folder: Path) -> Path:
    """An xlsx file with one empty sheet: an upload refused for what it lacks."""
    path = folder / "empty.xlsx"
    openpyxl.Workbook().save(path)
    return path


def unique_plan_id() -> str:
    """A plan id of its own for each test, of the form new plans take
    (``certflow.identity.PLAN_ID_PATTERN``): ``P2099-T…``."""
    return f"P2099-T{uuid.uuid4().hex[:10].upper()}"


async def registered_plan(pool: Any) -> tuple[PlanInfo, datetime]:
    """A new sample plan registered in PostgreSQL (no workflow), and when: for
    tests that call the activities directly."""
    from activities.store import PlanStore
    from certflow.activity_models import PlanRegistration

    plan = sample_plan(date(2026, 11, 4), unique_plan_id())
    at = datetime.now(UTC).replace(microsecond=0)
    await PlanStore(pool).register_plan(
        PlanRegistration(info=plan, workflow_id=f"test-{plan.plan_id}", started_at=at)
    )
    return plan, at


def one_activity(activity_type: str, **info: Any) -> ActivityEnvironment:
    """The context of one scheduled activity, which each attempt run in it
    shares: its workflow run (one of its own) and activity id. ``info`` sets
    other fields of it (when it was scheduled, say)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        ActivityEnvironment.default_info(),
        workflow_run_id=str(uuid.uuid4()),
        activity_id="7",
        activity_type=activity_type,
        **info,
    )
    return env


async def waiting_on_locks(pool: Any, count: int) -> None:
    """Return once ``count`` sessions of this database wait on a lock.

    Any lock: an advisory lock, a row another transaction holds, or a row
    another transaction inserted and has not committed. Forces an overlap of
    two attempts of one activity without guessing at times.
    """
    for _ in range(600):
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} sessions never came to wait on a lock")


async def next_second() -> None:
    """Return once the wall clock's second has changed.

    A workbook carries the second it was saved in: one written after this
    differs from one written before, as a retry's file minutes later does.
    """
    started = int(datetime.now(UTC).timestamp())
    for _ in range(200):
        if int(datetime.now(UTC).timestamp()) != started:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the wall clock did not move on to the next second")


@dataclass
class PlanDriver:
    """Acts on one plan as its parties would, through workflow updates."""

    client: Client
    env: WorkflowEnvironment
    settings: Settings
    store: DocumentStore
    plan: PlanInfo
    tmp: Path
    handle: WorkflowHandle[Any, Any] | None = None
    files: dict[str, Path] = field(default_factory=dict)
    # Other workflows with work under way beside the plan (a mailbox poller):
    # a skip waits for them to settle too (see ``skip_time``).
    settle_too: list[str] = field(default_factory=list)

    async def start(
        self, policy: DeadlinePolicy | None = None, **input_fields: Any
    ) -> None:
        self.handle = await self.client.start_workflow(
            ExamPlanWorkflow.run,
            ExamPlanInput(
                info=self.plan, policy=policy or DeadlinePolicy(), **input_fields
            ),
            id=plan_workflow_id(self.plan.plan_id),
            task_queue=self.settings.temporal.task_queue,
        )
        for name, path in (
            ("summary", SUMMARY),
            ("candidates", CANDIDATE_SIGN_IN),
            ("evaluators", EVALUATOR_SIGN_IN),
        ):
            self.files[name] = retitled(path, self.plan, self.tmp)

    @property
    def h(self) -> WorkflowHandle[Any, Any]:
        assert self.handle is not None
        return self.handle

    async def status(self) -> PlanStatus:
        return await self.h.query(ExamPlanWorkflow.status)  # type: ignore[no-any-return]

    async def today(self) -> date:
        return cst_date(await self.env.get_current_time())

    def put(self, path: Path) -> Any:
        return self.store.put_file(path)

    async def upload(
        self, update: Any, actor: Actor, path: Path, **extra: Any
    ) -> ActionResult:
        request = UploadRequest(actor=actor, document=self.put(path), **extra)
        return await self.h.execute_update(update, request)  # type: ignore[no-any-return]

    async def submit_everything(self) -> None:
        """Stage 1 done right: every upload accepted and the summary confirmed."""
        await self.submit_everything_but_the_confirmation()
        result = await self.h.execute_update(
            ExamPlanWorkflow.confirm_score_summary,
            ConfirmSummaryRequest(actor=SITE, summary_version=1),
        )
        assert result.accepted

    async def submit_everything_but_the_confirmation(self) -> None:
        """Stage 1's uploads accepted; the site's confirmation still owed."""
        wf = ExamPlanWorkflow
        result = await self.upload(wf.upload_score_summary, LEAD, self.files["summary"])
        assert result.accepted, result.problems
        scan = self.tmp / "scan.pdf"
        scan.write_bytes(SCAN_PDF)
        result = await self.upload(
            wf.upload_signed_scan,
            LEAD,
            scan,
            signed_evaluator_ids=[
                "ZCX-E-0107",
                "ZCX-E-0213",
                "ZCX-E-0288",
                "ZCX-E-0301",
            ],
        )
        assert result.accepted, result.problems
        result = await self.upload(
            wf.upload_candidate_sign_in, SITE, self.files["candidates"]
        )
        assert result.accepted, result.problems
        result = await self.upload(
            wf.upload_evaluator_sign_in, SITE, self.files["evaluators"]
        )
        assert result.accepted, result.problems

    async def wait_for(self, predicate: Any, *, attempts: int = 300) -> PlanStatus:
        """Poll the status query until ``predicate(status)`` holds (real seconds).

        Up to 30 s: an upload's intake runs in an activity, which a loaded CI
        machine may take several seconds to schedule.
        """
        import asyncio

        status = await self.status()
        for _ in range(attempts):
            if predicate(status):
                return status
            await asyncio.sleep(0.1)
            status = await self.status()
        raise AssertionError(
            f"condition never held; last status: {status.stage} batch={status.batch_id}"
            f" owed={[o.key for o in status.owed]} history={status.history[-4:]}"
        )

    async def approve_review(self) -> None:
        await self.wait_for(
            lambda s: any(o.duty == "consistency_review" for o in s.owed)
        )
        result = await self.h.execute_update(
            ExamPlanWorkflow.review_consistency,
            ReviewRequest(
                actor=CONTACT,
                approve=True,
                reason="多签到的一人为旁听人员，已与考核站点核实",
            ),
        )
        assert result.accepted

    async def send_back(self, items: list[Duty], reason: str) -> ActionResult:
        """The regional contact sends ``items`` back to their owners for ``reason``."""
        return await self.h.execute_update(  # type: ignore[no-any-return]
            ExamPlanWorkflow.review_consistency,
            ReviewRequest(
                actor=CONTACT,
                approve=False,
                send_back_to=sorted({DUTY_OWNER[d] for d in items}),
                items=items,
                reason=reason,
            ),
        )

    async def confirm_upload(self) -> None:
        await self.wait_for(lambda s: any(o.duty == "score_upload" for o in s.owed))
        result = await self.h.execute_update(
            ExamPlanWorkflow.confirm_score_upload, SimpleAction(actor=INFO)
        )
        assert result.accepted

    async def reach_publicity(
        self, policy: DeadlinePolicy | None = None, **input_fields: Any
    ) -> PlanStatus:
        """Start the plan (its input with ``input_fields``) and play stages
        1-3 right, until publicity is set."""
        await self.start(policy, **input_fields)
        await self.submit_everything()
        await self.approve_review()
        await self.confirm_upload()
        return await self.wait_for(lambda s: s.publicity is not None)

    async def open_publicity(self) -> PlanStatus:
        """Skip to the first publicity day, from which corrections are taken.

        Confirming the upload on the exam end day E sets the window; it opens
        on E+16 (the plan awaits it meanwhile), and a request before that day
        is refused as too early.
        """
        status = await self.wait_for(lambda s: s.publicity is not None)
        assert status.publicity is not None
        await self.skip((status.publicity.start_day - await self.today()).days)
        # The plan enters publicity on that day's timer, which the skip fires.
        return await self.wait_for(lambda s: s.stage == Stage.PUBLICITY)

    async def reach_payment(self, policy: DeadlinePolicy | None = None) -> PlanStatus:
        """Play stages 1-4 right, until the payment stage opens."""
        await self.reach_publicity(policy)
        await self.skip(31)
        return await self.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)

    async def reach_approval(self) -> PlanStatus:
        """Play stages 1-8 right, until the plan waits for an approval batch."""
        await self.reach_payment()
        await self.pay_and_sign()
        return await self.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)

    async def skip(self, days: float) -> None:
        """Skip ``days`` of the test server's clock (see ``skip_time``)."""
        await self.skip_by(timedelta(days=days))

    async def skip_by(self, span: timedelta) -> None:
        """Skip ``span`` of the test server's clock (see ``skip_time``)."""
        await self.skip_to(await self.env.get_current_time() + span)

    async def skip_to(self, to: datetime) -> None:
        """Skip the test server's clock to ``to`` (see ``skip_time``)."""
        plan = plan_workflow_id(self.plan.plan_id)
        await skip_time(self.env, [plan, *self.settle_too], to)

    async def pay_and_sign(
        self,
        amount: Decimal = Decimal("4200.00"),
        *,
        org_signoff: bool = True,
        site_signoff: bool = True,
    ) -> None:
        """Stages 5-8 done right: application, finance, both sign-offs.

        ``org_signoff=False`` leaves out the tech dept's, for a plan sent back
        to redo the site's and finance's part only; ``site_signoff=False`` the
        site's, for a test that signs off through the staff tool.
        """
        wf = ExamPlanWorkflow
        await self.apply_and_pay(amount)
        result = await self.h.execute_update(
            wf.confirm_payment,
            PaymentConfirmation(
                actor=FINANCE, received_amount=amount, received_on=await self.today()
            ),
        )
        assert result.accepted, result.message
        if org_signoff:
            result = await self.h.execute_update(
                wf.org_signoff, SimpleAction(actor=TECH)
            )
            assert result.accepted, result.message
        if site_signoff:
            result = await self.h.execute_update(
                wf.site_signoff,
                SiteSignoffRequest(actor=SITE, plan_id=self.plan.plan_id),
            )
            assert result.accepted, result.message

    async def apply_and_pay(self, amount: Decimal = Decimal("4200.00")) -> None:
        """Stage 5 done right: the site pays today and uploads its application,
        which finance's check and the site's sign-off then wait for."""
        scan = self.tmp / "application.pdf"
        scan.write_bytes(SCAN_PDF)
        result = await self.h.execute_update(
            ExamPlanWorkflow.upload_application,
            ApplicationUpload(
                actor=SITE,
                application_scan=self.put(scan),
                invoice_details=self.invoice_form(),
                paid_plan_ids=[self.plan.plan_id],
                head_count=14,
                amount=amount,
                paid_on=await self.today(),
                method="银行转账",
                reference="TX-0001",
            ),
        )
        assert result.accepted, result.message

    def invoice_form(self) -> Any:
        """The sample school's invoice details form, in the document store."""
        return self.store.put(
            sample_invoice_form(), filename="院校发票信息收集表.xlsx", media_type=XLSX
        )

    async def record_invoice(
        self, amount: Decimal = Decimal("4200.00")
    ) -> ActionResult:
        """Finance invoices the confirmed payment, dated today."""
        result = await self.h.execute_update(
            ExamPlanWorkflow.record_invoice,
            InvoiceRecord(
                actor=FINANCE,
                number=self.invoice_number,
                issued_on=await self.today(),
                amount=amount,
            ),
        )
        assert result.accepted, result.message
        return result  # type: ignore[no-any-return]

    @property
    def invoice_number(self) -> str:
        """A 发票号码 (10 digits) of this plan's own, unlike any other plan's."""
        return f"{zlib.crc32(self.plan.plan_id.encode()):010d}"

    @property
    def batch_id(self) -> str:
        """The id of the batch named after this plan (see ``start_batch``)."""
        return f"B-{self.plan.plan_id}"

    async def start_batch(
        self, batch_id: str | None = None
    ) -> WorkflowHandle[Any, Any]:
        """Stage 9: the tech dept gathers a batch, by default named after this plan."""
        batch_id = batch_id or self.batch_id
        return await self.client.start_workflow(
            ApprovalBatchWorkflow.run,
            BatchInput(batch_id=batch_id),
            id=batch_workflow_id(batch_id),
            task_queue=self.settings.temporal.task_queue,
        )

    async def wait_gathered(self, batch_id: str | None = None) -> None:
        """Wait until batch ``batch_id`` (by default named after this plan)
        holds this plan and has gathered: before, the general manager's
        decision is refused (``batch.not_gathered``). Up to 30 s, as
        ``wait_for``."""
        batch_id = batch_id or self.batch_id
        await self.wait_for(lambda s: s.batch_id == batch_id)
        batch = self.client.get_workflow_handle(batch_workflow_id(batch_id))
        for _ in range(300):
            if (await batch.query(ApprovalBatchWorkflow.status)).gathered:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"batch {batch_id} never finished gathering")

    async def approve_with_the_font(
        self, sink_messages: Any, font: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Stages 1-9, the general manager approving a batch of this plan alone,
        the worker's certificate font being ``font`` from the approval on. The
        approval form is drawn in the font too: it changes once the form is
        sent."""
        await self.reach_approval()
        batch = await self.start_batch()
        await self.batch_form_sent(sink_messages)
        monkeypatch.setenv(FONT_ENV, str(font))
        await batch.execute_update(
            ApprovalBatchWorkflow.decide,
            BatchDecisionRequest(actor=GM, approve=[self.plan.plan_id]),
        )

    async def batch_form_sent(self, sink_messages: Any) -> None:
        """Until the approval form of the plan's batch is mailed (10 s at
        most): the font it is drawn in may change from then on."""
        for _ in range(100):
            if any(
                m["X-Certflow-Template"] == "batch_ready"
                and self.batch_id in str(m["Subject"])
                for m in sink_messages()
            ):
                return
            await asyncio.sleep(0.1)

    async def approve_in_batch(self) -> WorkflowHandle[Any, Any]:
        """Stage 9: a batch of this plan alone, approved by the general manager.

        Returns the batch's handle; the plan then issues its certificates.
        """
        batch = await self.start_batch()
        await self.wait_gathered()
        await batch.execute_update(
            ApprovalBatchWorkflow.decide,
            BatchDecisionRequest(actor=GM, approve=[self.plan.plan_id]),
        )
        return batch


async def run_batch(client: Client, settings: Settings, batch_id: str) -> BatchResult:
    """A batch gathered by hand as ``batch gather`` starts one, run to its end:
    with no plan to gather (or only plans found gone), it closes empty."""
    result: BatchResult = await client.execute_workflow(
        ApprovalBatchWorkflow.run,
        BatchInput(batch_id=batch_id, requested_by=TECH.person),
        id=batch_workflow_id(batch_id),
        task_queue=settings.temporal.task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    return result


async def refusal_text(coro: Any) -> str:
    """Await an update its validator must refuse; return ``type: message``."""
    try:
        await coro
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        return f"{getattr(cause, 'type', '')}: {getattr(cause, 'message', cause)}"
    raise AssertionError("the update was accepted but should have been refused")


async def refused(coro: Any) -> str:
    """Await an update that must be refused by its validator; return the error type."""
    try:
        await coro
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        return str(getattr(cause, "type", "") or cause)
    raise AssertionError("the update was accepted but should have been refused")


class HeldAnswer(Interceptor):
    """Lets each run of one activity type do its work, then holds its answer
    back until ``released`` is set; ``written`` says the work is done. The
    plan then waits for an activity whose effect is already in PostgreSQL, as
    on a loaded worker, and a test can act on it in between.

    ``when`` narrows the runs held to those whose argument it accepts; the
    arguments of the runs held are kept in ``held``.
    """

    def __init__(
        self, activity_type: str, when: Callable[[Any], bool] | None = None
    ) -> None:
        self.activity_type = activity_type
        self.when = when
        self.released = asyncio.Event()
        self.written = asyncio.Event()
        self.held: list[Any] = []

    def intercept_activity(
        self, next: ActivityInboundInterceptor
    ) -> ActivityInboundInterceptor:
        return _HoldingAnswer(next, self)


class _HoldingAnswer(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, hold: HeldAnswer) -> None:
        super().__init__(next)
        self.hold = hold

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        hold = self.hold
        if activity.info().activity_type == hold.activity_type and (
            hold.when is None or hold.when(input.args[0])
        ):
            hold.held.append(input.args[0])
            hold.written.set()
            await hold.released.wait()
        return result


def worker_holding(driver: PlanDriver, resources: Any, hold: HeldAnswer) -> Worker:
    """A worker of its own for ``driver``'s plan, on a task queue of its own
    (the module's worker never sees the plan), holding answers as ``hold``."""
    return own_worker(driver, resources, interceptors=[hold])


# What an answer of the upload intake holds, and nothing a worker decodes
# before it: the workflow task that takes that answer (see ``HeldTask``).
INTAKE_ANSWER = b'"problem_count"'


class HeldTask(PayloadCodec):
    """A codec (see ``own_worker``) that decodes as is, but holds the first
    workflow task with a payload holding ``marker`` until ``hold`` returns;
    ``held`` says it did. The task stays open meanwhile, as on a loaded
    worker, and a test races it with what ``hold`` waits for."""

    def __init__(self, marker: bytes, hold: Callable[[], Awaitable[None]]) -> None:
        self.marker = marker
        self.hold = hold
        self.held = False

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not self.held and any(self.marker in p.data for p in payloads):
            self.held = True
            await self.hold()
        return list(payloads)


async def runs_of(driver: PlanDriver) -> list[str]:
    """The plan's runs so far, oldest first, followed from its first run."""
    first = driver.h.first_execution_run_id or driver.h.result_run_id
    assert first is not None
    runs = [first]
    while True:
        handle = driver.client.get_workflow_handle(driver.h.id, run_id=runs[-1])
        history = await handle.fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return runs
        attributes = last.workflow_execution_continued_as_new_event_attributes
        runs.append(attributes.new_execution_run_id)


async def updates_accepted(driver: PlanDriver) -> int:
    """How many updates the plan's runs took in all (a validator's refusal
    leaves no event, nor counts towards the server's limit)."""
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    taken = 0
    for run in await runs_of(driver):
        handle = driver.client.get_workflow_handle(driver.h.id, run_id=run)
        history = await handle.fetch_history()
        taken += sum(1 for event in history.events if event.event_type == accepted)
    return taken


async def first_timer_fired(
    handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment
) -> None:
    """Return once the workflow's first timer has fired on the server's clock."""
    fires_at = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            attributes = event.timer_started_event_attributes
            fires_at = (
                event.event_time.ToDatetime()
                + attributes.start_to_fire_timeout.ToTimedelta()
            )
            break
    assert fires_at is not None, "the workflow started no timer"
    for _ in range(100):
        now = (await env.get_current_time()).replace(tzinfo=None)
        if now > fires_at + timedelta(milliseconds=300):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the plan's first timer never came due")


def own_worker(
    driver: PlanDriver,
    resources: Any,
    *,
    codec: PayloadCodec | None = None,
    **options: Any,
) -> Worker:
    """A worker of its own for ``driver``'s plan, on a task queue of its own
    (the module's worker never sees the plan), built with ``options``.

    With ``codec``, the worker decodes what it receives through it (the
    client sends as before): a codec that takes its time holds a workflow
    task open, as a loaded worker would.
    """
    driver.settings = own_queue(driver.settings)
    return worker_decoding(driver.client, driver.settings, resources, codec, **options)


def own_queue(settings: Settings) -> Settings:
    """``settings`` with a task queue of their own."""
    queue = f"certflow-own-{uuid.uuid4().hex[:8]}"
    temporal = settings.temporal.model_copy(update={"task_queue": queue})
    return settings.model_copy(update={"temporal": temporal})


def worker_decoding(
    client: Client,
    settings: Settings,
    resources: Any,
    codec: PayloadCodec | None,
    **options: Any,
) -> Worker:
    """The certflow worker of ``settings``, built with ``options``, decoding
    what it receives through ``codec`` (the client sends as before)."""
    from worker import build_worker

    pool, store = resources
    if codec is not None:
        converter = dataclasses.replace(client.data_converter, payload_codec=codec)
        client = Client(**{**client.config(), "data_converter": converter})
    return build_worker(client, settings, pool, store, **options)
