"""Duties the procedure gives no deadline are nudged, never escalated.

Finance's check of the payment (4.2.3), its invoice (4.2.4) and the site's
sign-off (4.2.5, 于缴费后) have no deadline in the procedure. A trial found a
plan stalled on them with nobody told. Now the owner is mailed once the duty
has waited ``nudge_working_days`` working days (5 by default, on the
working-day calendar) and again every as many while it stays open; the duty
is not overdue and no supervisor is told.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from activities.calendar import CalendarActivities
from certflow.actions import (
    OwedItem,
    PaymentConfirmation,
    PlanStatus,
    SimpleAction,
    SiteSignoffRequest,
)
from certflow.config import DeadlinePolicy
from certflow.i18n import t
from certflow.models import Role, Stage
from certflow.plan import Duty
from certflow.timeutil import CST, end_of_day
from starter.cli import render_status
from starter.smtp_sink import body_text
from tests.support import FINANCE, SITE, TECH, PlanDriver, mails_of
from tests.workflow.test_web_ui_details import details_showing
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]
wf = ExamPlanWorkflow
HOUR = timedelta(hours=1)


async def nudge_days(resources: Any, since: date) -> tuple[date, date]:
    """The 5th and the 10th working day after ``since``, as the calendar the
    plans read (with the tests' 2027 schedule) counts them."""
    pool, _ = resources
    calendar = await CalendarActivities(pool).calendar()
    first = calendar.working_days_after(since, 5)
    second = calendar.working_days_after(since, 10)
    assert calendar.working_days_between(since + timedelta(days=1), first) == 5
    return first, second


async def alarms_of(sink_messages: Any, plan_id: str) -> list[Any]:
    """Every reminder, overdue notice and nudge of the plan mailed so far;
    the plan mails beside its work, so a mail asked for is given a moment."""
    await asyncio.sleep(1)
    return [
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == plan_id
        and str(m["X-Certflow-Template"]).startswith("alarm_")
    ]


def owed(status: PlanStatus, duty: Duty) -> OwedItem:
    [item] = [o for o in status.owed if o.duty == duty]
    return item


def row_of(status: PlanStatus, duty: Duty) -> str:
    [row] = [line for line in render_status(status) if t(f"duties.{duty}") in line]
    return row


async def sign_off(driver: PlanDriver, *, site: bool = True) -> None:
    """The tech dept signs the plan off (its deadline is not what is tested),
    and with ``site`` the site too."""
    result = await driver.h.execute_update(wf.org_signoff, SimpleAction(actor=TECH))
    assert result.accepted, result.message
    if site:
        result = await driver.h.execute_update(
            wf.site_signoff, SiteSignoffRequest(actor=SITE, plan_id=driver.plan.plan_id)
        )
        assert result.accepted, result.message


async def only_the_payment_check_waits(
    driver: PlanDriver, policy: DeadlinePolicy | None = None
) -> date:
    """Play the plan to its payment stage (with ``policy``); the site pays
    today and both sign-offs are done, so finance's check alone waits.
    Return the day it began to wait."""
    await driver.reach_payment(policy)
    await driver.apply_and_pay()
    await sign_off(driver)
    return await driver.today()


async def confirm_payment(driver: PlanDriver, received_on: date) -> None:
    """Finance confirms the sample application's 4200.00, received then."""
    payment = PaymentConfirmation(
        actor=FINANCE, received_amount=Decimal("4200.00"), received_on=received_on
    )
    result = await driver.h.execute_update(wf.confirm_payment, payment)
    assert result.accepted and not result.late, result.message


async def test_a_payment_check_left_waiting_is_nudged_every_5_working_days(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    """Regression (trial): the site paid and nobody confirmed the payment for
    weeks; the plan showed 待办理 with no deadline and no mail went out. Now
    finance is nudged after 5 working days and after 10, naming the plan, the
    duty, since when it waits and what for; the general manager is not told
    and the plan is not overdue."""
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    since = await only_the_payment_check_waits(driver)
    first, second = await nudge_days(resources, since)

    await driver.skip_to(end_of_day(first) - HOUR)
    status = await driver.status()
    check = owed(status, Duty.PAYMENT_CHECK)
    assert check.deadline_day is None and not check.overdue
    assert (check.working_days_waited, check.nudges_sent) == (4, 0)
    assert check.waiting_since is not None
    assert check.waiting_since.astimezone(CST).date() == since
    assert await alarms_of(sink_messages, plan_id) == []

    await driver.skip_to(end_of_day(first) + HOUR)
    [nudge] = await mails_of(sink_messages, plan_id, "alarm_nudge")
    finance = driver.settings.recipients[Role.FINANCE]
    manager = driver.settings.recipients[Role.GENERAL_MANAGER]
    assert all(a in str(nudge["To"]) for a in finance)
    assert not any(a in str(nudge["To"]) for a in manager)
    body = body_text(nudge)
    assert plan_id in str(nudge["Subject"]) and "5 个工作日" in str(nudge["Subject"])
    assert f"“{t('duties.payment_check')}”" in body
    assert f"自 {since.isoformat()} " in body and "至今已 5 个工作日" in body
    assert t("mail.alarm_nudge.waits.payment_check").format(plan_id=plan_id) in body
    assert "不记为逾期" in body

    status = await driver.wait_for(
        lambda s: owed(s, Duty.PAYMENT_CHECK).nudges_sent == 1
    )
    check = owed(status, Duty.PAYMENT_CHECK)
    assert not status.overdue and not check.overdue
    assert (check.reminders_sent, check.escalations_sent) == (0, 0)
    assert check.working_days_waited == 5
    row = row_of(status, Duty.PAYMENT_CHECK)
    assert t("cli.status.overdue") not in row
    assert t("cli.status.waiting_days", days=5, since=since.isoformat()) in row
    assert t("cli.status.nudged", count=1) in row
    # The Web UI's details show it too, refreshed as the plan wakes.
    await details_showing(driver, t("details.waiting", days=5, nudges=1))

    await driver.skip_to(end_of_day(second) + HOUR)
    nudges = await mails_of(sink_messages, plan_id, "alarm_nudge", count=2)
    assert "至今已 10 个工作日" in body_text(nudges[1])
    assert {
        m["X-Certflow-Template"] for m in await alarms_of(sink_messages, plan_id)
    } == {"alarm_nudge"}
    status = await driver.status()
    assert not status.overdue
    assert owed(status, Duty.PAYMENT_CHECK).working_days_waited == 10

    # Confirmed at last: not late, since there was no deadline to miss.
    await confirm_payment(driver, await driver.today())


async def test_a_payment_checked_before_its_nudge_is_never_nudged(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    first, _ = await nudge_days(resources, await only_the_payment_check_waits(driver))

    await driver.skip_to(end_of_day(first) - 2 * HOUR)
    await confirm_payment(driver, await driver.today())
    await driver.skip_to(end_of_day(first) + HOUR)

    assert await alarms_of(sink_messages, plan_id) == []
    # The invoice it opened waits from the confirmation on.
    invoice = owed(await driver.status(), Duty.INVOICE)
    assert (invoice.working_days_waited, invoice.nudges_sent) == (0, 0)


async def test_nudges_set_to_0_are_off(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    since = await only_the_payment_check_waits(
        driver, DeadlinePolicy(nudge_working_days=0)
    )
    _, second = await nudge_days(resources, since)

    await driver.skip_to(end_of_day(second) + HOUR)

    assert await alarms_of(sink_messages, plan_id) == []
    status = await driver.status()
    check = owed(status, Duty.PAYMENT_CHECK)
    assert check.working_days_waited is None and not check.overdue
    row = row_of(status, Duty.PAYMENT_CHECK)
    assert t("cli.status.waiting_since", since=since.isoformat()) in row


async def test_a_site_sign_off_and_an_invoice_left_waiting_are_nudged_to_each_owner(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    """The site signs off on the national platform after paying (4.2.5), and
    finance invoices the payment it confirmed (4.2.4): no deadline either, so
    each owner alone is nudged, neither the regional contact nor the general
    manager."""
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    await driver.reach_payment()
    await driver.apply_and_pay()
    since = await driver.today()
    await confirm_payment(driver, since)
    await sign_off(driver, site=False)
    first, _ = await nudge_days(resources, since)

    await driver.skip_to(end_of_day(first) + HOUR)
    nudges = await mails_of(sink_messages, plan_id, "alarm_nudge", count=2)
    site = driver.settings.site_recipients[driver.plan.site_code]
    [to_site] = [m for m in nudges if site[0] in str(m["To"])]
    [to_finance] = [m for m in nudges if m is not to_site]
    assert f"“{t('duties.site_signoff')}”" in body_text(to_site)
    assert "site-signoff" in body_text(to_site)
    assert f"“{t('duties.invoice')}”" in body_text(to_finance)
    finance = driver.settings.recipients[Role.FINANCE]
    assert all(a in str(to_finance["To"]) for a in finance)
    others = [
        *driver.settings.recipients[Role.REGIONAL_CONTACT],
        *driver.settings.recipients[Role.GENERAL_MANAGER],
    ]
    assert not any(a in str(m["To"]) for m in nudges for a in others)
    assert not any(a in str(to_site["To"]) for a in finance)
    status = await driver.status()
    assert not status.overdue
    for duty in (Duty.SITE_SIGNOFF, Duty.INVOICE):
        item = owed(status, duty)
        assert (item.nudges_sent, item.escalations_sent) == (1, 0)

    result = await driver.h.execute_update(
        wf.site_signoff, SiteSignoffRequest(actor=SITE, plan_id=plan_id)
    )
    assert result.accepted and not result.late, result.message
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
