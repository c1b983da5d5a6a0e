"""A real correction-intake rig for tests: worker, SMTP sink, maildir, plans.

Mail is sent with aiosmtplib to an SMTP sink that delivers the exam mailbox's
mail into its own maildir, which the intake reads with ``MaildirSource``; the
intake's replies go back through the same sink. Plans run on the test's
time-skipping server with a worker holding every certflow workflow and activity
plus the mailbox's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from openpyxl import load_workbook
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor, Replayer, Worker

from activities.documents import DocumentStore
from activities.mail_intake import (
    MailboxRun,
    MailIntakeActivities,
    MailSender,
    mailbox_activities,
)
from activities.mailbox import MaildirSource, MailSource
from activities.notify import Handover, Mailer
from certflow.config import Settings
from certflow.models import DocumentRef, Stage
from starter.smtp_sink import MailSink, read_maildir
from tests.support import (
    SUMMARY,
    PlanDriver,
    sample_plan,
    terminate_when_idle,
    unique_plan_id,
)
from worker import WORKFLOWS, build_activities
from workflows.mailbox import (
    MAILBOX_WORKFLOWS,
    MailboxPollInput,
    MailboxPollState,
    MailboxPollWorkflow,
    PollNow,
)

EXAM_MAILBOX = "1x-kaowu@certflow.example.org"
FORM_TEMPLATE = (
    Path(__file__).resolve().parents[2] / "templates" / "correction-request.xlsx"
)
XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The address config/certflow.toml registers for the samples' site HB-WH-0031.
SITE_ADDRESS = "kaowu@whjtxx.example.edu.cn"
STRANGER_ADDRESS = "someone@stranger.example.com"
ALL_WORKFLOWS = list(dict.fromkeys([*WORKFLOWS, *MAILBOX_WORKFLOWS]))


class SimulatedCrash(Exception):
    """Raised by the flaky wrappers where a real worker would have died."""


@dataclass
class FlakySource:
    """A mail source whose first ``failures`` acknowledgements crash."""

    inner: MailSource
    failures: int = 1
    acknowledged: list[str] = field(default_factory=list)

    async def fetch(self) -> list[tuple[str, bytes]]:
        return await self.inner.fetch()

    async def acknowledge(self, source_key: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise SimulatedCrash("crash before the acknowledgement")
        await self.inner.acknowledge(source_key)
        self.acknowledged.append(source_key)


@dataclass
class FlakyMailer:
    """A mail sender whose first ``failures`` sends crash before sending."""

    inner: MailSender
    failures: int = 1

    async def send(
        self, message: EmailMessage, handover: Handover | None = None
    ) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise SimulatedCrash("crash before the reply went out")
        await self.inner.send(message, handover)


class FlakyStore(DocumentStore):
    """A document store that crashes once, storing the first reply.

    The reply is composed after the mail's requests were filed and before the
    mail is recorded: the crash falls between the two.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.failures = 1

    def put(
        self,
        data: bytes,
        *,
        filename: str = "",
        media_type: str = "application/octet-stream",
    ) -> DocumentRef:
        if filename == "reply.eml" and self.failures > 0:
            self.failures -= 1
            raise SimulatedCrash("crash between filing and recording")
        return super().put(data, filename=filename, media_type=media_type)


def correction_body(
    plan_id: str,
    admission_number: str,
    *,
    field_label: str = "实操成绩",
    published: str = "50.1",
    requested: str = "60.1",
    reason: str = "实操评分表第 4 项分数抄录错误",
    name: str | None = None,
) -> str:
    """A correction request typed into a mail body, as a site writes it.

    ``name`` is the candidate's name as written; by default the name the
    sample summary gives that admission number (the mailbox refuses a name
    that is not the candidate's), 雷芳彬 for a number it does not have.
    """
    name = name or sample_names().get(admission_number, "雷芳彬")
    return (
        "考务老师您好：\n\n"
        f"考试计划编号：{plan_id}\n"
        f"考生姓名：{name}\n"
        f"准考证号：{admission_number}\n"
        f"修改项目：{field_label}\n"
        f"原成绩：{published}\n"
        f"申请修改为：{requested}\n"
        f"修改原因：{reason}\n"
        "申请人：武汉市交通职业技术学校考务办\n"
    )


@functools.cache
def sample_names() -> dict[str, str]:
    """The sample summary's candidates: admission number -> name."""
    sheet = load_workbook(SUMMARY, read_only=True).worksheets[0]
    header = None
    names: dict[str, str] = {}
    for row in sheet.iter_rows(values_only=True):
        if header is None:
            if "准考证号" in row:
                header = row
            continue
        if row[header.index("准考证号")]:
            names[str(row[header.index("准考证号")])] = str(row[header.index("姓名")])
    return names


def filled_form(rows: list[list[object]], path: Path) -> Path:
    """The site's form (the template) with one request per row of ``rows``,
    written from its first request row on, saved as ``path``."""
    book = load_workbook(FORM_TEMPLATE)
    sheet = book["成绩修改申请表"]
    for number, values in enumerate(rows, start=4):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=number, column=column, value=value)
    book.save(path)
    return path


def assign_argv(key: str, plan_id: str, admission_number: str) -> list[str]:
    """``certflow mailbox assign`` of mail ``key`` (its first 12 characters)
    to ``plan_id``: a practical score of 60.1 asked, as a person read it."""
    return [
        "assign",
        key[:12],
        plan_id,
        "--admission",
        admission_number,
        "--field",
        "practical",
        "--requested",
        "60.1",
        "--reason",
        "电话核实：实操评分表抄录错误",
        "--as",
        "info_center",
        "--person",
        "ic-li",
    ]


def mail(sender: str, subject: str, body: str, sent_at: datetime) -> EmailMessage:
    """A plain-text mail to the exam mailbox, dated ``sent_at``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = EXAM_MAILBOX
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message.set_content(body)
    return message


async def polls_beyond(
    poller: WorkflowHandle[Any, Any], count: int
) -> MailboxPollState:
    """Wait (30 s at most) until ``poller`` has finished more than ``count`` polls."""
    for _ in range(300):
        state: MailboxPollState = await poller.query(MailboxPollWorkflow.progress)
        if state.polls > count:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"the poller never got past {count} polls")


@dataclass
class IntakeRig:
    """Everything a mail-intake test acts on; see ``intake_rig``."""

    env: WorkflowEnvironment
    settings: Settings
    pool: Any
    store: DocumentStore
    sink: MailSink
    tmp: Path
    poller: WorkflowHandle[Any, Any] | None = None
    drivers: list[PlanDriver] = field(default_factory=list)
    # Workflows a plan's skip waits for beside the plan: the poller, once started.
    settle_too: list[str] = field(default_factory=list)

    @property
    def exam_folder(self) -> Path:
        return self.settings.mailbox.path

    async def now(self) -> datetime:
        """The test server's clock: what a mail sent now is dated."""
        return await self.env.get_current_time()

    async def send(self, message: EmailMessage) -> None:
        """Mail ``message`` to the exam mailbox through the SMTP sink."""
        await aiosmtplib.send(message, hostname="127.0.0.1", port=self.sink.port)

    async def mail_in(
        self, subject: str, body: str, sender: str = SITE_ADDRESS
    ) -> EmailMessage:
        """Mail a message dated now to the exam mailbox; return what was sent."""
        message = mail(sender, subject, body, await self.now())
        await self.send(message)
        return message

    async def mail_in_form(self, plan_id: str, form: Path) -> EmailMessage:
        """Mail the site's ``form`` (an xlsx) attached, dated now; return it."""
        message = mail(
            SITE_ADDRESS, f"{plan_id} 成绩修改申请", "见附件", await self.now()
        )
        data = await asyncio.to_thread(form.read_bytes)
        message.add_attachment(
            data, maintype="application", subtype=XLSX, filename=form.name
        )
        await self.send(message)
        return message

    async def mail_in_from(self, written: str, subject: str, body: str) -> EmailMessage:
        """Mail a message whose From is ``written`` as a mail program wrote it
        (malformed, or outside ASCII in UTF-8 headers); return what was sent."""
        message = mail(SITE_ADDRESS, subject, body, await self.now())
        message.replace_header("From", written)
        await self.send_raw(message.as_bytes(policy=SMTPUTF8))
        return message

    async def send_raw(self, raw: bytes) -> None:
        """Deliver a raw message (a corpus file) to the exam mailbox."""
        await aiosmtplib.send(
            raw,
            sender="mailer-daemon@example.com",
            recipients=[EXAM_MAILBOX],
            hostname="127.0.0.1",
            port=self.sink.port,
        )

    async def plan_in_publicity(
        self, *, then_poll: bool = False, opened: bool = True, **input_fields: Any
    ) -> PlanDriver:
        """A new plan of the sample site driven to its publicity period.

        With ``opened`` (the default) the clock is moved on to the period's
        first day, when requests are taken; without it the plan has its window
        but the period has not begun. With ``then_poll`` the poller is started
        too, once the plan is there. ``input_fields`` go to the plan's input.
        """
        today = (await self.now()).date()
        plan = sample_plan(today, unique_plan_id())
        folder = self.tmp / plan.plan_id
        folder.mkdir()
        driver = PlanDriver(
            client=self.env.client,
            env=self.env,
            settings=self.settings,
            store=self.store,
            plan=plan,
            tmp=folder,
            settle_too=self.settle_too,
        )
        self.drivers.append(driver)
        await driver.start(**input_fields)
        await driver.submit_everything()
        await driver.approve_review()
        await driver.confirm_upload()
        await driver.wait_for(lambda s: s.stage == Stage.AWAITING_PUBLICITY)
        if opened:
            await driver.open_publicity()
        if then_poll:
            await self.start_poller()
        return driver

    async def start_poller(self, polls_per_run: int = 200) -> None:
        """Start the poller; it reads the mailbox at once, then only when told."""
        started = await self.env.client.start_workflow(
            MailboxPollWorkflow.run,
            # Longer than any skip of these tests: polls happen on poll_now only.
            MailboxPollInput(
                poll_interval=timedelta(days=3650), polls_per_run=polls_per_run
            ),
            id=f"mailbox-poller-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.temporal.task_queue,
        )
        # Without a run id the handle follows the poller across continue-as-new.
        self.poller = self.env.client.get_workflow_handle(started.id)
        self.settle_too.append(started.id)
        await self.polls_beyond(0)

    async def poll(self) -> MailboxRun:
        """Signal the poller and wait for the poll it triggers; return that run."""
        assert self.poller is not None
        before = (await self.progress()).polls
        await self.poller.signal(MailboxPollWorkflow.poll_now, PollNow())
        state = await self.polls_beyond(before)
        assert state.last is not None
        return state.last

    async def progress(self) -> MailboxPollState:
        assert self.poller is not None
        state: MailboxPollState = await self.poller.query(MailboxPollWorkflow.progress)
        return state

    async def polls_beyond(self, count: int) -> MailboxPollState:
        """Wait until the poller has finished more than ``count`` polls."""
        assert self.poller is not None
        return await polls_beyond(self.poller, count)

    def replies_to(self, address: str) -> list[EmailMessage]:
        """The automatic replies the exam mailbox sent to ``address``."""
        return [
            m
            for m in read_maildir(self.sink.root / "all")
            if m.get("Auto-Submitted") == "auto-replied"
            and address in str(m.get("To", ""))
        ]

    async def mail_row(self, message_id: str) -> Any:
        """The ``mail_messages`` row of the mail sent with ``message_id``."""
        return await self.pool.fetchrow(
            "SELECT * FROM mail_messages WHERE message_id = $1", message_id
        )

    async def filed(self, plan_id: str) -> list[Any]:
        """The plan's ``correction_requests`` rows, in the order filed."""
        return list(
            await self.pool.fetch(
                "SELECT * FROM correction_requests WHERE plan_id = $1"
                " ORDER BY request_id",
                plan_id,
            )
        )

    def unacknowledged(self) -> int:
        """How many messages the exam maildir still offers."""
        return len(MaildirSource(self.exam_folder)._fetch())

    def handles(self) -> list[WorkflowHandle[Any, Any]]:
        """Every workflow this rig started."""
        found = [d.handle for d in self.drivers if d.handle is not None]
        return found + ([self.poller] if self.poller is not None else [])


# What the ``open_rig`` fixture (tests/corrections/conftest.py) gives a test.
RigFactory = Callable[..., contextlib.AbstractAsyncContextManager[IntakeRig]]


@contextlib.asynccontextmanager
async def intake_rig(
    env: WorkflowEnvironment,
    resources: tuple[Any, DocumentStore],
    worker_settings: Settings,
    tmp: Path,
    *,
    wrap_source: Callable[[MailSource], MailSource] | None = None,
    wrap_mailer: Callable[[MailSender], MailSender] | None = None,
    intake_store: DocumentStore | None = None,
    refused: Collection[str] = (),
    smtputf8: bool = True,
    interceptors: Sequence[Interceptor] = (),
) -> AsyncIterator[IntakeRig]:
    """Run a worker with the mailbox wired in, and an SMTP sink of its own.

    With no wrapper the worker gets ``mailbox_activities`` exactly as the
    production worker will; the wrappers (and ``intake_store``) make the source,
    the sender or the store crash. The sink answers RCPT to each address of
    ``refused`` with 550 5.1.1, as a server does for a mailbox that is gone;
    with ``smtputf8=False`` it takes no address outside ASCII. The worker
    runs with ``interceptors`` (one holding an activity's answer, say).
    At the end every workflow started is replayed against the current code and
    terminated (the time-skipping server would otherwise keep firing their
    timers for a worker that is gone).
    """
    pool, store = resources
    mail_root = tmp / "mail"
    sink = MailSink(
        "127.0.0.1",
        0,
        mail_root,
        {EXAM_MAILBOX: mail_root / "exam"},
        refused=refused,
        smtputf8=smtputf8,
    )
    await sink.start()
    settings = worker_settings.model_copy(
        update={
            "smtp": worker_settings.smtp.model_copy(update={"port": sink.port}),
            "mailbox": worker_settings.mailbox.model_copy(
                update={"path": mail_root / "exam", "address": EXAM_MAILBOX}
            ),
        }
    )
    if wrap_source is None and wrap_mailer is None and intake_store is None:
        intake = mailbox_activities(settings, pool, env.client)
    else:
        source = (wrap_source or (lambda s: s))(MaildirSource(mail_root / "exam"))
        mailer = (wrap_mailer or (lambda m: m))(Mailer(settings.smtp))
        activities = MailIntakeActivities(
            settings,
            pool,
            intake_store or store,
            env.client,
            source_factory=lambda: source,
            mailer=mailer,
        )
        intake = [activities.process_mailbox]
    # The worker module may register the mailbox's parts itself: each once.
    others = [
        a
        for a in build_activities(settings, pool, store)
        if getattr(a, "__name__", "") not in {i.__name__ for i in intake}
    ]
    worker = Worker(
        env.client,
        task_queue=settings.temporal.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[*others, *intake],
        interceptors=interceptors,
    )
    rig = IntakeRig(env, settings, pool, store, sink, tmp)
    try:
        async with worker:
            try:
                yield rig
                await _replay(rig.handles())
            finally:
                for handle in rig.handles():
                    await terminate_when_idle(env.client, handle.id, "test finished")
    finally:
        await sink.stop()


async def _replay(handles: list[WorkflowHandle[Any, Any]]) -> None:
    """Replay each workflow's history: a change breaking determinism fails here."""
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=pydantic_data_converter,
    )
    for handle in handles:
        await replayer.replay_workflow(await handle.fetch_history())
