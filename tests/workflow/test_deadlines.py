"""Deadlines as durable timers: reminders before, escalation after, late accepted.

The submission deadline of 4.1.3/4.1.4 is the end of E+15 (CST). With the
policy below, reminders go out 3 days and 1 day before it; once it passes the
owner and the supervisor role are told, and again every 2 days until done.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from activities.notify import Mailer, Notifier
from certflow.activity_models import Notification
from certflow.config import DeadlinePolicy
from certflow.i18n import t
from certflow.models import Role, Stage
from certflow.timeutil import cst_date, end_of_day, format_deadline
from starter.smtp_sink import body_text
from tests.support import LEAD, PlanDriver
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

POLICY = DeadlinePolicy(
    remind_before=[timedelta(days=3), timedelta(days=1)],
    overdue_repeat=timedelta(days=2),
)


def mails_for(messages: list[Any], plan_id: str, prefix: str) -> list[Any]:
    return [
        m
        for m in messages
        if m["X-Certflow-Plan"] == plan_id and str(m["Subject"]).startswith(prefix)
    ]


async def skip_to(driver: PlanDriver, instant: Any) -> None:
    await driver.skip_to(instant)


async def test_owner_is_reminded_before_the_submission_deadline(
    make_driver: Any, sink_messages: Any
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    deadline = end_of_day(driver.plan.exam_end_date + timedelta(days=15))

    await skip_to(driver, deadline - timedelta(days=3) + timedelta(hours=1))
    status = await driver.wait_for(lambda s: all(o.reminders_sent == 1 for o in s.owed))
    assert not status.overdue
    reminders = mails_for(sink_messages(), driver.plan.plan_id, "【提醒】")
    # One reminder per open obligation, to its owner only (no supervisor yet).
    assert len(reminders) == 5
    assert all("region-contact" not in str(m["To"]) for m in reminders)
    # Dated in China Standard Time, as staff read it (not -0000 / UTC).
    assert all(str(m["Date"]).endswith("+0800") for m in reminders)

    await skip_to(driver, deadline - timedelta(days=1) + timedelta(hours=1))
    await driver.wait_for(lambda s: all(o.reminders_sent == 2 for o in s.owed))
    assert len(mails_for(sink_messages(), driver.plan.plan_id, "【提醒】")) == 10


async def test_a_plan_started_late_counts_the_notices_it_sent_not_the_schedule(
    make_driver: Any, sink_messages: Any, env: Any
) -> None:
    """Regression: a plan started 30 days after its exam showed 已提醒/已督办 2/8
    per duty, though one overdue notice per duty had been mailed."""
    today = cst_date(await env.get_current_time())
    driver: PlanDriver = await make_driver(exam_end_date=today - timedelta(days=30))
    await driver.start(policy=POLICY)

    status = await driver.wait_for(lambda s: bool(s.owed) and s.overdue)
    status = await driver.wait_for(
        lambda s: all(o.escalations_sent == 1 for o in s.owed)
    )

    assert all((o.reminders_sent, o.escalations_sent) == (0, 1) for o in status.owed)
    # One overdue notice per duty (the counters move before the mails go out).
    for _ in range(100):
        overdue = mails_for(sink_messages(), driver.plan.plan_id, "【逾期】")
        if len({body_text(m) for m in overdue}) >= len(status.owed):
            break
        await asyncio.sleep(0.1)
    bodies = "".join(body_text(m) for m in overdue)
    for item in status.owed:
        assert f"“{item.label}”" in bodies, item.label
    assert not mails_for(sink_messages(), driver.plan.plan_id, "【提醒】")


async def opening_mail(sink_messages: Any, plan_id: str) -> Any:
    for _ in range(100):
        for m in sink_messages():
            if (
                m["X-Certflow-Plan"] == plan_id
                and m["X-Certflow-Template"] == "submission_opened"
            ):
                return m
        await asyncio.sleep(0.1)
    raise AssertionError(f"no opening mail for {plan_id}")


async def test_a_plan_started_after_its_deadline_says_so_in_its_opening_mail(
    make_driver: Any,
    sink_messages: Any,
    env: Any,
    resources: Any,
    worker_settings: Any,
) -> None:
    """Regression: a plan moved in after its submission deadline was opened
    with 请于截止日期前提交成绩资料, a deadline already behind it."""
    today = cst_date(await env.get_current_time())
    late: PlanDriver = await make_driver(exam_end_date=today - timedelta(days=30))
    on_time: PlanDriver = await make_driver()
    await late.start(policy=POLICY)
    await on_time.start(policy=POLICY)

    mail = await opening_mail(sink_messages, late.plan.plan_id)
    subject = f"【考试计划 {late.plan.plan_id}】"
    assert str(mail["Subject"]) == subject + t("mail.submission_opened.request_late")
    body = body_text(mail)
    deadline = format_deadline(late.plan.exam_end_date + timedelta(days=15))
    assert f"截止时间为 {deadline}" in body
    assert t("mail.submission_opened.deadline_late") in body
    # Overdue, and still taken: the plan owes every item, each marked overdue.
    status = await late.status()
    assert status.overdue and all(o.overdue for o in status.owed)

    mail = await opening_mail(sink_messages, on_time.plan.plan_id)
    assert str(mail["Subject"]).endswith(t("mail.submission_opened.request_on_time"))
    assert t("mail.submission_opened.deadline_on_time") in body_text(mail)

    # A notification a plan scheduled before these fields existed, retried
    # after the deploy, still reads as it did.
    pool, store = resources
    notifier = Notifier(worker_settings, pool, store, Mailer(worker_settings.smtp))
    await notifier.notify(
        Notification(
            plan_id="T-OLD-OPENING",
            template="submission_opened",
            roles=[Role.LEAD_EVALUATOR],
            fields={
                "plan_id": "T-OLD-OPENING",
                "site_name": late.plan.site_name,
                "stage": t("stages.score_submission"),
                "deadline": deadline,
            },
            idempotency_key=f"old-opening/{late.plan.plan_id}",
        )
    )
    mail = await opening_mail(sink_messages, "T-OLD-OPENING")
    assert (
        str(mail["Subject"]) == "【考试计划 T-OLD-OPENING】请于截止日期前提交成绩资料"
    )
    assert body_text(mail).split("\n")[2].endswith("逾期仍可上传，但会记为逾期。")


async def test_passed_deadline_escalates_and_repeats_until_done_then_late_is_recorded(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    deadline = end_of_day(driver.plan.exam_end_date + timedelta(days=15))

    await skip_to(driver, deadline + timedelta(hours=1))
    status = await driver.wait_for(lambda s: s.overdue)
    assert all(o.overdue and o.escalations_sent == 1 for o in status.owed)
    overdue = mails_for(sink_messages(), driver.plan.plan_id, "【逾期】")
    assert overdue, "the owner and the supervisor are told when the deadline passes"
    # The lead evaluator's supervisor role is the regional contact.
    assert any("region-contact" in str(m["To"]) for m in overdue)

    await skip_to(driver, deadline + timedelta(days=2, hours=1))
    await driver.wait_for(lambda s: all(o.escalations_sent == 2 for o in s.owed))
    assert mails_for(sink_messages(), driver.plan.plan_id, "【再次提醒·逾期】")

    # The step stays open: a late upload is accepted and recorded as late.
    result = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
    )
    assert result.accepted and result.late
    assert "逾期" in result.message
    late = await pool.fetchval(
        "SELECT late FROM audit WHERE plan_id = $1 AND action = 'upload_score_summary'",
        driver.plan.plan_id,
    )
    assert late is True
    status = await driver.status()
    assert all(o.duty != "score_summary" for o in status.owed)


async def test_an_upload_in_the_last_minute_of_the_deadline_day_is_on_time(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    """Decision: "within N days of D" ends at 23:59:59 CST of D + N. Audit by
    mutation: a duty's deadline ending an hour early passed every test here,
    which acted a day before it or an hour after it."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    deadline = end_of_day(driver.plan.exam_end_date + timedelta(days=15))

    await skip_to(driver, deadline - timedelta(minutes=1))
    assert not (await driver.status()).overdue
    result = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
    )

    assert result.accepted and not result.late
    assert not mails_for(sink_messages(), driver.plan.plan_id, "【逾期】")
    late = await pool.fetchval(
        "SELECT late FROM audit WHERE plan_id = $1 AND action = 'upload_score_summary'",
        driver.plan.plan_id,
    )
    assert late is False


async def test_a_replacement_after_the_deadline_is_late_too(
    make_driver: Any, resources: Any, tmp_path: Path
) -> None:
    """Regression: version 1 uploaded late was marked 【逾期】, a version 2 sent
    even later was not, nor recorded late in the audit."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    on_time = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
    )
    deadline = end_of_day(driver.plan.exam_end_date + timedelta(days=15))
    await skip_to(driver, deadline + timedelta(hours=1))
    book = openpyxl.load_workbook(driver.files["summary"])
    book.worksheets[0]["L4"] = "补录备注"  # the remark of seq 1: a new version
    replacement = tmp_path / "summary-v2.xlsx"
    book.save(replacement)

    later = await driver.upload(
        ExamPlanWorkflow.upload_score_summary, LEAD, replacement
    )

    assert on_time.accepted and not on_time.late
    assert later.accepted and later.late and "逾期" in later.message
    lates = await pool.fetch(
        "SELECT late FROM audit WHERE plan_id = $1 AND action = 'upload_score_summary'"
        " ORDER BY id",
        driver.plan.plan_id,
    )
    assert [row["late"] for row in lates] == [False, True]


async def test_steps_done_on_time_are_not_late_and_send_no_escalation(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)

    await driver.skip(2)
    await driver.submit_everything()
    await driver.wait_for(lambda s: s.stage == Stage.CONSISTENCY_REVIEW)
    await driver.skip(20)  # well past the submission deadline: nothing owed then

    status = await driver.status()
    assert not status.overdue
    assert not mails_for(sink_messages(), driver.plan.plan_id, "【逾期】")
    assert not mails_for(sink_messages(), driver.plan.plan_id, "【提醒】")
    lates = await pool.fetch(
        "SELECT action FROM audit WHERE plan_id = $1 AND late", driver.plan.plan_id
    )
    assert lates == []


async def test_payment_deadline_escalates_site_and_tech_dept_after_publicity(
    make_driver: Any, sink_messages: Any
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    await driver.submit_everything()
    await driver.approve_review()
    await driver.confirm_upload()
    status = await driver.wait_for(lambda s: s.publicity is not None)
    window = status.publicity
    assert window is not None
    assert window.payment_deadline_day == window.end_day + timedelta(days=15)

    await skip_to(driver, end_of_day(window.payment_deadline_day) + timedelta(hours=1))
    status = await driver.wait_for(lambda s: s.overdue)
    assert status.stage == Stage.PAYMENT_AND_SIGNOFF
    overdue = {o.duty for o in status.owed if o.overdue}
    assert overdue == {"application", "org_signoff"}
    subjects = [
        str(m["Subject"])
        for m in mails_for(sink_messages(), driver.plan.plan_id, "【逾期】")
    ]
    assert any("评价组织确认签发" in s for s in subjects)


async def test_a_first_overdue_notice_sent_late_is_repeated_no_sooner_than_the_interval(
    make_driver: Any, env: Any
) -> None:
    """Regression: the repeats kept to the deadline's own rhythm (its end plus
    every 2 days), so a first overdue notice sent off that rhythm (a plan
    started late, a duty reopened after its deadline, a worker that was down)
    was repeated as soon as the next beat came: a plan started a day and 18
    hours after its deadline mailed every owner and supervisor 【逾期】 and, six
    hours later, 【再次提醒·逾期】 for the same duties."""
    today = cst_date(await env.get_current_time())
    # The deadline (end of E+15) ended at 00:00 CST yesterday: the first
    # notice goes out now, more than a day and less than 2 days after it.
    driver: PlanDriver = await make_driver(exam_end_date=today - timedelta(days=17))
    await driver.start(policy=POLICY)
    status = await driver.wait_for(
        lambda s: bool(s.owed) and all(o.escalations_sent == 1 for o in s.owed)
    )
    first = await env.get_current_time()

    await skip_to(driver, first + POLICY.overdue_repeat - timedelta(minutes=1))
    status = await driver.status()
    assert all(o.escalations_sent == 1 for o in status.owed), [
        (o.key, o.escalations_sent) for o in status.owed
    ]

    await skip_to(driver, first + POLICY.overdue_repeat + timedelta(minutes=1))
    await driver.wait_for(lambda s: all(o.escalations_sent == 2 for o in s.owed))
