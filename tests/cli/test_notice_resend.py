"""``certflow notice failed`` and ``notice resend``: a lost mail sent again.

A mail the server would never take (the site's address mistyped in
configuration) was given up, or went to only some of its recipients. An admin
lists such mails, corrects the configuration, restarts the worker and sends the
mail again, through ``ResendMailWorkflow`` on the worker, to the current
addresses of the roles that did not get it; the attempt, and who asked, are
recorded.

The mail server is the loopback SMTP sink, refusing the addresses a test names;
the first worker mails with the mistyped address, the restarted one with the
corrected address.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.db import migrate
from activities.heartbeat import HEARTBEAT_TIMEOUT
from activities.notify import Mailer, Notifier
from certflow.activity_models import Notification, ResendRequest
from certflow.config import Settings
from certflow.i18n import t
from certflow.models import Role
from starter.smtp_sink import MailSink, read_messages
from tests.cli.conftest import Certflow, certflow_runner
from tests.conftest import replay_all
from tests.support import (
    SITE_CODE,
    database_before,
    free_ports,
    heartbeat_timeouts,
    unique_plan_id,
)
from tests.workflow.test_mail_refused import LEAD_ADDRESS, note
from worker import build_worker

pytestmark = pytest.mark.timeout(180)

# The site's address as mistyped in configuration, which the server refuses,
# and as corrected.
MISTYPED = "kaowu@whjtxx.exmaple.edu.cn"
CORRECTED = "kaowu@whjtxx.example.edu.cn"
ADMIN = ["--as", "admin", "--person", "admin-li"]


@pytest_asyncio.fixture(loop_scope="session")
async def sink(tmp_path: Path) -> AsyncIterator[MailSink]:
    """The mail server, refusing the mistyped address with 550."""
    async with MailSink(
        "127.0.0.1", free_ports(1)[0], tmp_path / "mailbox", refused=[MISTYPED]
    ) as server:
        yield server


def configured(settings: Settings, sink: MailSink, site: str, queue: str) -> Settings:
    """The configuration with ``site`` as the site's address, mailing to ``sink``."""
    return settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"port": sink.port}),
            "site_recipients": {SITE_CODE: [site]},
            "temporal": settings.temporal.model_copy(update={"task_queue": queue}),
        }
    )


@pytest.fixture
def mistyped(settings: Settings, sink: MailSink, task_queue: str) -> Settings:
    return configured(settings, sink, MISTYPED, task_queue)


@pytest.fixture
def corrected(settings: Settings, sink: MailSink, task_queue: str) -> Settings:
    return configured(settings, sink, CORRECTED, task_queue)


@dataclass
class Scene:
    """The servers of a test, and the configuration before and after correction."""

    env: WorkflowEnvironment
    resources: Any
    sink: MailSink
    mistyped: Settings
    corrected: Settings

    @property
    def pool(self) -> Any:
        return self.resources[0]

    def notifier(self, settings: Settings) -> Notifier:
        pool, store = self.resources
        return Notifier(settings, pool, store, Mailer(settings.smtp))

    async def mailed(self, mail: Notification) -> int:
        """Send ``mail`` as a plan's worker did, with the mistyped address; return
        its number (``notice failed``)."""
        try:
            await ActivityEnvironment().run(self.notifier(self.mistyped).notify, mail)
        except ApplicationError as given_up:
            assert given_up.non_retryable
        number = await self.pool.fetchval(
            "SELECT id FROM notifications WHERE idempotency_key = $1",
            mail.idempotency_key,
        )
        assert isinstance(number, int)
        return number

    @asynccontextmanager
    async def worker(self, settings: Settings) -> AsyncIterator[Certflow]:
        """A worker running on ``settings``, and the command talking to it."""
        pool, store = self.resources
        with self.env.auto_time_skipping_disabled():
            async with build_worker(self.env.client, settings, pool, store):
                yield certflow_runner(settings, self.env.client)

    def envelopes(self, plan_id: str) -> list[str]:
        return [
            str(m["X-Envelope-To"])
            for m in read_messages(self.sink.root)
            if m["X-Certflow-Plan"] == plan_id
        ]

    async def attempt(self, number: int) -> Any:
        """The (first) resend of mail ``number``, as recorded."""
        return await self.pool.fetchrow(
            "SELECT * FROM notification_resends WHERE notification = $1", number
        )


@pytest.fixture
def scene(
    env: WorkflowEnvironment,
    resources: Any,
    sink: MailSink,
    mistyped: Settings,
    corrected: Settings,
) -> Scene:
    return Scene(env, resources, sink, mistyped, corrected)


def listed(out: str, number: int) -> str:
    """The line of mail ``number`` in the output of ``notice failed``."""
    [line] = [line for line in out.splitlines() if re.match(rf"{number}\s", line)]
    return line


async def test_a_mail_given_up_is_listed_and_resent_to_the_corrected_address(
    scene: Scene,
) -> None:
    """The site never learned its upload was refused: its address was mistyped.
    Once corrected (and the worker restarted), the admin sends the mail again."""
    mail = note([Role.SITE])
    number = await scene.mailed(mail)
    assert scene.envelopes(mail.plan_id) == []

    async with scene.worker(scene.corrected) as certflow:
        before = await certflow(*ADMIN, "notice", "failed", "--plan", mail.plan_id)
        resent = await certflow(*ADMIN, "notice", "resend", str(number))
        after = await certflow(*ADMIN, "notice", "failed", "--plan", mail.plan_id)

    assert before.status == 0, before.out
    line = listed(before.out, number)
    assert mail.plan_id in line and "上传资料未通过校验" in line
    assert t("cli.notice.why_refused", roles="考核站点") in line
    assert t("cli.list.yes") in line and "@" not in before.out
    assert resent.status == 0, resent.out
    assert t("cli.notice.sent", count=1, roles="考核站点") in resent.out
    assert scene.envelopes(mail.plan_id) == [CORRECTED]
    [message] = [
        m
        for m in read_messages(scene.sink.root)
        if m["X-Certflow-Plan"] == mail.plan_id
    ]
    # Marked as sent again: the plan may have moved on since.
    assert str(message["Subject"]).startswith("【补发】")
    assert "未通过校验" in str(message["Subject"])
    assert t("mail.resent_note") in message.get_body().get_content()
    assert t("cli.notice.resent_all", count=1) in listed(after.out, number)

    attempt = await scene.attempt(number)
    assert attempt["resend_key"] == f"resend-{number}-1"
    assert attempt["roles"] == ["site"] and attempt["requested_by"] == "admin-li"
    assert attempt["sent_at"] is not None and attempt["failure"] is None
    audit = await scene.pool.fetchrow(
        "SELECT * FROM audit WHERE action = 'resend_mail' AND plan_id = $1",
        mail.plan_id,
    )
    assert (audit["role"], audit["person"]) == ("admin", "admin-li")
    assert audit["details"]["notification"] == str(number)
    assert audit["details"]["roles"] == "site"
    # The original row still says what happened the first time.
    first = await scene.pool.fetchrow(
        "SELECT * FROM notifications WHERE id = $1", number
    )
    assert first["sent_at"] is None and first["refused_roles"] == ["site"]


async def test_a_partly_refused_mail_is_resent_to_the_refused_roles_only(
    scene: Scene,
) -> None:
    mail = note([Role.LEAD_EVALUATOR, Role.SITE])
    number = await scene.mailed(mail)
    assert scene.envelopes(mail.plan_id) == [LEAD_ADDRESS]

    async with scene.worker(scene.corrected) as certflow:
        before = await certflow(*ADMIN, "notice", "failed")
        resent = await certflow(*ADMIN, "notice", "resend", str(number))
        again = await certflow(*ADMIN, "notice", "resend", str(number))

    partly = t("cli.notice.why_refused_some", roles="考核站点")
    assert partly in listed(before.out, number)
    assert resent.status == 0, resent.out
    assert t("cli.notice.sent", count=1, roles="考核站点") in resent.out
    # The lead evaluators do not get it twice; the site gets it once.
    assert scene.envelopes(mail.plan_id) == [LEAD_ADDRESS, CORRECTED]
    # Everyone has it now: a second resend needs the roles named.
    assert again.status == 2
    assert again.out == t("cli.notice.reached_all", id=number) + "\n"


async def test_a_resend_the_server_refuses_again_is_recorded_and_reported(
    scene: Scene,
) -> None:
    """The admin resent before correcting the configuration."""
    mail = note([Role.SITE])
    number = await scene.mailed(mail)

    async with scene.worker(scene.mistyped) as certflow:
        resent = await certflow(*ADMIN, "notice", "resend", str(number))
        after = await certflow(*ADMIN, "notice", "failed", "--plan", mail.plan_id)

    assert resent.status == 2, resent.out
    why = t("cli.notice.why_refused", roles="考核站点")
    assert t("cli.notice.refused_again", why=why) in resent.out
    assert "@" not in resent.out
    assert scene.envelopes(mail.plan_id) == []
    attempt = await scene.attempt(number)
    assert attempt["sent_at"] is None and attempt["refused_roles"] == ["site"]
    assert "550" in attempt["failure"] and "@" not in attempt["failure"]
    left = t("cli.notice.resent_left", count=1, roles="考核站点")
    assert left in listed(after.out, number)


async def test_a_resend_is_refused_for_a_non_admin_an_unknown_or_unkept_mail(
    scene: Scene,
) -> None:
    """Refused before anything is sent or started: no worker is needed."""
    number = await scene.mailed(note([Role.SITE]))
    # A mail given up before this version: its row kept no content.
    old = note([Role.SITE])
    unkept = await scene.pool.fetchval(
        "INSERT INTO notifications (idempotency_key, plan_id, template, recipients,"
        " failure) VALUES ($1, $2, 'upload_refused', '{}', 'Not sent: …')"
        " RETURNING id",
        old.idempotency_key,
        old.plan_id,
    )
    certflow = certflow_runner(scene.mistyped, None)
    tech = ["--as", "tech_dept", "--person", "tech-zhao"]

    other = await certflow(*tech, "notice", "resend", str(number))
    listing = await certflow(*tech, "notice", "failed")
    unknown = await certflow(*ADMIN, "notice", "resend", "987654321")
    not_kept = await certflow(*ADMIN, "notice", "resend", str(unkept))
    not_its = await certflow(
        *ADMIN, "notice", "resend", str(number), "--role", "finance"
    )
    shown = await certflow(*ADMIN, "notice", "failed", "--plan", old.plan_id)

    refusals = [
        (other, t("cli.notice.admin_only", role="技术部")),
        (listing, t("cli.notice.admin_only", role="技术部")),
        (unknown, t("cli.notice.unknown", id=987654321)),
        (not_kept, t("cli.notice.not_kept", id=unkept)),
        (not_its, t("cli.notice.not_its_role", roles="财务部", its="考核站点")),
    ]
    for outcome, refusal in refusals:
        assert (outcome.status, outcome.out) == (2, refusal + "\n")
    assert t("cli.notice.not_kept_short") in listed(shown.out, unkept)
    assert await scene.attempt(number) is None


async def test_a_role_without_an_address_is_refused(scene: Scene) -> None:
    """The site's address was removed instead of corrected."""
    number = await scene.mailed(note([Role.SITE]))
    removed = scene.mistyped.model_copy(update={"site_recipients": {}})

    outcome = await certflow_runner(removed, None)(
        *ADMIN, "notice", "resend", str(number)
    )

    assert outcome.status == 2
    assert outcome.out == t("cli.notice.no_address", roles="考核站点") + "\n"


async def test_a_resend_retried_after_a_crash_sends_once(scene: Scene) -> None:
    """The activity's first attempt finds the server away; the retries after it
    (one after the mail went out, as after a crash before Temporal heard of it)
    send the mail once."""
    mail = note([Role.SITE])
    number = await scene.mailed(mail)
    request = ResendRequest(
        notification=number,
        attempt=1,
        roles=[Role.SITE],
        requested_by="admin-li",
        resend_key=f"resend-{number}-1",
    )
    smtp = scene.corrected.smtp.model_copy(update={"port": free_ports(1)[0]})
    away = scene.corrected.model_copy(update={"smtp": smtp})

    with pytest.raises(ApplicationError) as away_error:
        await ActivityEnvironment().run(scene.notifier(away).resend, request)
    assert away_error.value.type == "mail_server_away"
    assert not away_error.value.non_retryable
    resend = scene.notifier(scene.corrected).resend
    first = await ActivityEnvironment().run(resend, request)
    second = await ActivityEnvironment().run(resend, request)

    assert first.sent and second.sent and second.recipients == 1
    assert scene.envelopes(mail.plan_id) == [CORRECTED]
    audited = await scene.pool.fetchval(
        "SELECT count(*) FROM audit WHERE idempotency_key = $1",
        f"resend_mail/resend-{number}-1",
    )
    assert audited == 1


async def test_a_resend_workflow_replays(scene: Scene) -> None:
    """The new workflow is deterministic: its history replays on the code. Its
    resend heartbeats, so that a worker dying mid-send costs half a minute."""
    number = await scene.mailed(note([Role.SITE]))
    async with scene.worker(scene.corrected) as certflow:
        resent = await certflow(*ADMIN, "notice", "resend", str(number))
        handle = scene.env.client.get_workflow_handle(f"resend-{number}")
        await replay_all([handle])
        beats = await heartbeat_timeouts(handle, "resend")
    assert resent.status == 0, resent.out
    assert beats == {HEARTBEAT_TIMEOUT.total_seconds()}


async def test_a_second_resend_while_the_first_waits_is_refused(scene: Scene) -> None:
    """Regression (review): the mail server away, the first resend retried; a
    second asked for meanwhile started beside it, and once the server was back
    the mail went out twice."""
    mail = note([Role.SITE])
    number = await scene.mailed(mail)
    away = scene.corrected.model_copy(
        update={
            "smtp": scene.corrected.smtp.model_copy(update={"port": free_ports(1)[0]})
        }
    )

    async with scene.worker(away) as certflow:
        first = await certflow(*ADMIN, "--wait", "2", "notice", "resend", str(number))
        second = await certflow(*ADMIN, "notice", "resend", str(number))
        handle = scene.env.client.get_workflow_handle(f"resend-{number}")
        await handle.terminate(reason="test over")

    # The first waits for the server (its answer: not done within 2 s).
    assert first.status == 1, first.out
    assert t("cli.notice.started", id=number, roles="考核站点") in first.out
    assert second.status == 2, second.out
    assert t("cli.notice.in_progress", id=number) in second.out
    attempts = await scene.pool.fetchval(
        "SELECT count(*) FROM notification_resends WHERE notification = $1", number
    )
    assert attempts == 1


async def test_a_role_the_worker_has_no_address_for_is_recorded_as_missed(
    scene: Scene,
) -> None:
    """Regression (review): the address added to the configuration, the worker
    not restarted yet: the resend counted that role as reached."""
    mail = note([Role.LEAD_EVALUATOR, Role.SITE])
    number = await scene.mailed(mail)
    stale = scene.corrected.model_copy(
        update={
            "recipients": {
                role: addresses
                for role, addresses in scene.corrected.recipients.items()
                if role is not Role.LEAD_EVALUATOR
            }
        }
    )
    roles = ["--role", "lead_evaluator", "--role", "site"]

    async with scene.worker(stale):
        # The staff tool reads the corrected file; the worker still runs on
        # the one it started with.
        certflow = certflow_runner(scene.corrected, scene.env.client)
        resent = await certflow(*ADMIN, "notice", "resend", str(number), *roles)

    assert resent.status == 0, resent.out
    assert t("cli.notice.sent", count=1, roles="考评组长、考核站点") in resent.out
    attempt = await scene.attempt(number)
    assert attempt["sent_at"] is not None
    assert attempt["refused_roles"] == ["lead_evaluator"]
    assert attempt["failure_type"] == "mail_no_recipients"


async def test_a_mistyped_plan_or_number_is_said_so(scene: Scene) -> None:
    """Trial: `notice failed --plan` with an id no plan has answered that no
    mail was undelivered, and a number past the database's range was called
    not a positive whole number."""
    async with scene.worker(scene.corrected) as certflow:
        unknown = await certflow(
            *ADMIN, "notice", "failed", "--plan", "P2099-0000-0000"
        )
        huge = await certflow(*ADMIN, "notice", "resend", "99999999999999999999")

    assert unknown.status == 2
    assert t("cli.plan_not_found", plan_id="P2099-0000-0000") in unknown.out
    assert huge.status == 2


def batch_note(batch_id: str, template: str = "batch_ready") -> Notification:
    """A batch's mail to the general manager, as ``ApprovalBatchWorkflow`` sends it."""
    return Notification(
        plan_id="-",
        template=template,
        roles=[Role.GENERAL_MANAGER],
        fields={"batch_id": batch_id, "count": "1", "plans": "P2026-1104-0412"},
        idempotency_key=f"approval-batch-{batch_id}/{template}",
    )


async def test_a_batch_mail_is_listed_as_its_batch_and_selected_by_it(
    scene: Scene,
) -> None:
    """Trial: an approval batch's mails had no plan to select them by, so
    ``notice failed --plan`` could not list them."""
    batch_id = f"B-{unique_plan_id()}"
    refused_gm = scene.mistyped.model_copy(
        update={
            "recipients": {
                **scene.mistyped.recipients,
                Role.GENERAL_MANAGER: [MISTYPED],
            }
        }
    )
    mail = batch_note(batch_id)
    try:
        await ActivityEnvironment().run(scene.notifier(refused_gm).notify, mail)
    except ApplicationError as given_up:
        assert given_up.non_retryable
    number = await scene.pool.fetchval(
        "SELECT id FROM notifications WHERE idempotency_key = $1",
        mail.idempotency_key,
    )
    plans_mail = await scene.mailed(note([Role.SITE]))
    certflow = certflow_runner(scene.mistyped, None)

    selected = await certflow(*ADMIN, "notice", "failed", "--batch", batch_id.lower())
    unknown = await certflow(*ADMIN, "notice", "failed", "--batch", "B-2099-NONE")
    both = await certflow(
        *ADMIN, "notice", "failed", "--plan", "P2026-1104-0412", "--batch", batch_id
    )
    everything = await certflow(*ADMIN, "notice", "failed")

    assert selected.status == 0, selected.out
    line = listed(selected.out, number)
    assert t("cli.notice.batch", batch_id=batch_id) in line
    assert t("cli.notice.why_refused", roles="总经理") in line
    assert not re.search(rf"^{plans_mail}\s", selected.out, re.MULTILINE)
    assert unknown.status == 2
    assert t("cli.batch_not_found", batch_id="B-2099-NONE") in unknown.out
    assert both.status == 2  # one or the other; argparse says so on stderr
    assert t("cli.notice.batch", batch_id=batch_id) in listed(everything.out, number)


async def test_batch_mails_recorded_before_are_given_their_batch(
    settings: Settings, tmp_path: Path
) -> None:
    """The schema's version 9 names the batch of mails already recorded: from
    their kept content, or from the key of a mail kept without it (before
    version 7), which ``notice failed`` listed with the plan ``-``."""
    kept = batch_note("B20261207-090000")
    scheduled = "scheduled-2026-12-07T01:00:00Z"
    rows = [
        # idempotency key, plan, kept content
        (f"approval-batch-{scheduled}/batch_ready", "-", None),
        (kept.idempotency_key, "-", kept.model_dump(mode="json")),
        ("exam-plan-P2026-1104-0412/upload_refused", "P2026-1104-0412", None),
    ]
    async with database_before(9, settings.database_url, tmp_path) as (pool, url):
        for key, plan_id, content in rows:
            await pool.execute(
                "INSERT INTO notifications (idempotency_key, plan_id, template,"
                " recipients, note, failure) VALUES ($1, $2, 'batch_ready',"
                " '{}', $3, 'Not sent: 550')",
                key,
                plan_id,
                content,
            )

        applied = await migrate(pool)
        batches = dict(
            await pool.fetch(
                "SELECT idempotency_key, batch_id FROM notifications ORDER BY id"
            )
        )
        runner = certflow_runner(
            settings.model_copy(update={"database_url": url}), None
        )
        shown = await runner(*ADMIN, "notice", "failed", "--batch", "B20261207-090000")

    assert "009_notification_batch.sql" in applied
    assert batches == {
        f"approval-batch-{scheduled}/batch_ready": scheduled,
        kept.idempotency_key: "B20261207-090000",
        "exam-plan-P2026-1104-0412/upload_refused": None,
    }
    assert shown.status == 0, shown.out
    assert t("cli.notice.batch", batch_id="B20261207-090000") in shown.out
