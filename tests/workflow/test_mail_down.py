"""While the mail server is down, staff still get their answers at once; the mails
go out once it answers again, each exactly once and in the order they were asked.

The worker of this module mails to a loopback port where nothing listens until
the test starts a sink there: a real SMTP outage, not a mock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import pytest_asyncio

from certflow.actions import CancelRequest
from certflow.config import Settings
from certflow.models import Actor, Role
from certflow.plan import Duty
from starter.smtp_sink import MailSink, body_text, read_messages
from tests.support import SITE, PlanDriver, free_ports
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
wf = ExamPlanWorkflow

# What "at once" means here: well below the staff tool's own wait.
ANSWER_WITHIN = 10.0
# The mails asked for while the server was down, in the order they were asked.
EXPECTED = ["submission_opened", "upload_refused", "review_requested", "sent_back"]
REASON = "测试退回：签到表多出一名考生"
ADMIN = Actor(role=Role.ADMIN, person="admin-liu")


@pytest.fixture
def smtp_port() -> int:
    """A loopback port where no mail server listens (until the test starts one)."""
    return free_ports(1)[0]


@pytest_asyncio.fixture(loop_scope="session")
async def worker_settings(
    settings: Settings, task_queue: str, smtp_port: int
) -> Settings:
    """This module's worker mails to ``smtp_port`` (overrides the shared fixture)."""
    return settings.model_copy(
        update={
            "temporal": settings.temporal.model_copy(update={"task_queue": task_queue}),
            "smtp": settings.smtp.model_copy(update={"port": smtp_port}),
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def late_sink(smtp_port: int, tmp_path: Path) -> AsyncIterator[MailSink]:
    """The mail server that comes back: started by the test, stopped at its end."""
    sink = MailSink("127.0.0.1", smtp_port, tmp_path / "mailbox")
    yield sink
    await sink.stop()


def empty_workbook(folder: Path) -> Path:
    path = folder / "empty.xlsx"
    openpyxl.Workbook().save(path)
    return path


async def answered(update: Any) -> Any:
    return await asyncio.wait_for(update, timeout=ANSWER_WITHIN)


async def started_and_refused(make_driver: Any) -> tuple[PlanDriver, Any]:
    """A new plan, and the answer to an empty sign-in sheet uploaded to it."""
    driver: PlanDriver = await make_driver()
    await driver.start()
    result = await answered(
        driver.upload(wf.upload_candidate_sign_in, SITE, empty_workbook(driver.tmp))
    )
    return driver, result


async def test_staff_are_answered_while_mail_is_down_and_the_mails_follow_once(
    make_driver: Any, resources: Any, late_sink: MailSink
) -> None:
    pool, _ = resources
    # A refused upload is answered with its problems, not left waiting for the
    # refusal mail.
    driver, result = await started_and_refused(make_driver)
    plan_id = driver.plan.plan_id
    assert not result.accepted
    assert result.problems and result.problem_count == len(result.problems)
    status = await driver.status()
    assert any(o.duty == "candidate_sign_in" for o in status.owed)

    # So is a send-back, which is recorded; the plan itself moved on meanwhile
    # (its opening and review mails still unsent).
    await answered(driver.submit_everything())
    await driver.wait_for(lambda s: any(o.duty == "consistency_review" for o in s.owed))
    result = await answered(driver.send_back([Duty.CANDIDATE_SIGN_IN], REASON))
    assert result.accepted
    status = await driver.status()
    assert [o.duty for o in status.owed] == ["candidate_sign_in"]
    assert status.history[-1].action == "stage:score_submission"
    assert late_sink.port == driver.settings.smtp.port
    assert not read_messages(late_sink.root)

    # The mail server answers again. The notify activity retries at least once
    # a minute: skip that minute of the plan's clock, then read the mailbox.
    await late_sink.start()
    await driver.env.sleep(timedelta(minutes=1, seconds=5))

    def sent() -> list[str]:
        return [
            str(m["X-Certflow-Template"])
            for m in read_messages(late_sink.root)
            if m["X-Certflow-Plan"] == plan_id
        ]

    for _ in range(300):
        if len(sent()) >= len(EXPECTED):
            break
        await asyncio.sleep(0.1)
    # Each once; the database says in which order they went out.
    assert sorted(sent()) == sorted(EXPECTED)
    order = await pool.fetch(
        "SELECT template FROM notifications WHERE plan_id = $1 ORDER BY sent_at",
        plan_id,
    )
    assert [r["template"] for r in order] == EXPECTED
    [back] = [
        m
        for m in read_messages(late_sink.root)
        if m["X-Certflow-Template"] == "sent_back"
    ]
    assert REASON in body_text(back)
    assert "kaowu@" in str(back["To"])

    # No mail is sent twice: a retry after the server came back would have
    # sent again and recorded a second row; each template has one.
    await driver.env.sleep(timedelta(minutes=2))
    counts = await pool.fetch(
        "SELECT template, count(*) AS n FROM notifications WHERE plan_id = $1 "
        "GROUP BY template",
        plan_id,
    )
    assert {r["template"]: r["n"] for r in counts} == dict.fromkeys(EXPECTED, 1)
    assert sorted(sent()) == sorted(EXPECTED)


async def test_mails_held_by_an_outage_are_not_sent_once_the_plan_is_cancelled(
    make_driver: Any, late_sink: MailSink
) -> None:
    """Regression: the opening mail and a refusal, asked for while mail was
    down, still went out after the plan was cancelled, asking people to act on
    a plan that no longer runs. Only the news of the cancellation goes out."""
    driver, refused = await started_and_refused(make_driver)
    plan_id = driver.plan.plan_id
    assert not refused.accepted
    cancelled = await answered(
        driver.h.execute_update(
            wf.cancel_plan,
            CancelRequest(
                actor=Actor(role=Role.ADMIN, person="admin-liu"), reason=REASON
            ),
        )
    )
    assert cancelled.accepted

    await late_sink.start()
    await driver.env.sleep(timedelta(minutes=1, seconds=5))
    for _ in range(300):
        templates = [
            str(m["X-Certflow-Template"])
            for m in read_messages(late_sink.root)
            if m["X-Certflow-Plan"] == plan_id
        ]
        if templates:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # anything held behind it would follow at once
    templates = [
        str(m["X-Certflow-Template"])
        for m in read_messages(late_sink.root)
        if m["X-Certflow-Plan"] == plan_id
    ]
    assert templates == ["plan_cancelled"]
