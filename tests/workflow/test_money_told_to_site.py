"""The site hears of its money: a payment difference a late correction made
(what it pays, or is paid back, and whom to ask), its settlement or its
clearing, and an invoice a general manager's return voided.

A module of its own: its time-skipping clock starts afresh, so its plans
reach payment within the years the working-day calendar covers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from certflow.config import Settings
from certflow.models import Role
from tests.support import PlanDriver, mails_of
from tests.workflow.test_invoice_records import _send_back_to_payment_check
from tests.workflow.test_payment_difference import (
    SEQ_2,
    _a_15th_pass,
    _a_pass_then_an_absentee,
    _apply,
    _confirmed_then_corrected,
    _settle,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


def _body(mail: Any) -> str:
    return str(mail.get_body(("plain",)).get_content())


def _to(mail: Any) -> set[str]:
    return {a.strip() for a in str(mail["To"]).split(",")}


def _site(settings: Settings, driver: PlanDriver) -> set[str]:
    return set(settings.site_recipients[driver.plan.site_code])


def _finance(settings: Settings) -> list[str]:
    return list(settings.recipients[Role.FINANCE])


async def test_the_site_is_told_a_supplement_it_owes_and_its_settlement(
    make_driver: Any, sink_messages: Any, worker_settings: Settings
) -> None:
    """Regression (trial): finance confirmed 4200.00 for 14; a correction made
    a 15th pass (补缴 300.00). Finance and the tech dept were mailed, the
    school never: nobody told it to pay, nor that it was settled. Now the
    site is mailed the figures, the 300.00 to pay and finance's address,
    and again once finance settles it, with the invoice to be reissued."""
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    await _a_15th_pass(driver, invoice=True)

    [owed] = await mails_of(sink_messages, plan_id, "payment_difference_site")
    assert _to(owed) == _site(worker_settings, driver)
    assert "须补缴 300.00 元" in str(owed["Subject"])
    body = _body(owed)
    assert "补缴 300.00 元（应缴 15 人 4500.00 元，已确认 14 人 4200.00 元）" in body
    assert "请考核站点补缴 300.00 元" in body
    assert all(address in body for address in _finance(worker_settings))
    # Finance's and the tech dept's mail is theirs, as before.
    [staff] = await mails_of(sink_messages, plan_id, "confirmed_payment_differs")
    assert not _to(staff) & _site(worker_settings, driver)

    await _settle(driver, "300.00")

    [settled] = await mails_of(
        sink_messages, plan_id, "payment_difference_site_settled"
    )
    assert _to(settled) == _site(worker_settings, driver)
    body = _body(settled)
    assert "补缴到账" in body and "无须再为此办理" in body
    assert f"{driver.invoice_number}（4200.00 元）" in body and "红字发票" in body


async def test_the_site_is_told_a_refund_and_a_difference_cleared(
    make_driver: Any, sink_messages: Any, worker_settings: Settings
) -> None:
    """A candidate paid for corrected to absent: the site is told finance
    refunds 300.00. On another plan, a 15th pass then an absentee: the site
    told it owes 300.00 is told it owes nothing after all."""
    refunded: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    [request_id] = await _confirmed_then_corrected(
        refunded, [(SEQ_2, "status", "缺考")], invoice=False
    )
    await _apply(refunded, request_id)
    [owed] = await mails_of(
        sink_messages, refunded.plan.plan_id, "payment_difference_site"
    )
    assert "将退还 300.00 元" in str(owed["Subject"])
    assert "多缴的 300.00 元将由财务部退还考核站点" in _body(owed)
    await _settle(refunded, "300.00", refund=True)
    [settled] = await mails_of(
        sink_messages, refunded.plan.plan_id, "payment_difference_site_settled"
    )
    assert "已退还考核站点" in _body(settled)
    assert "红字发票" not in _body(settled)  # no invoice was issued

    cleared, first, second = await _a_pass_then_an_absentee(make_driver)
    await _apply(cleared, first)
    await mails_of(sink_messages, cleared.plan.plan_id, "payment_difference_site")
    await _apply(cleared, second)
    [gone] = await mails_of(
        sink_messages, cleared.plan.plan_id, "payment_difference_site_cleared"
    )
    assert _to(gone) == _site(worker_settings, cleared)
    body = _body(gone)
    assert "补缴 300.00 元" in body and "无须补缴，也不会退还" in body


async def test_an_invoice_a_return_voids_is_named_to_finance_and_the_site(
    make_driver: Any, sink_messages: Any, worker_settings: Settings
) -> None:
    """Regression (trial): ``batch decide --reject P=到账金额待核 --return
    P=payment_check`` voided the plan's invoice, shown 已作废 in its status;
    the rejection mail to finance and the tech dept named no invoice nor the
    red-letter reversal owed, and the site was never told its invoice was
    void. Now both are."""
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    await driver.reach_approval()
    await driver.record_invoice()
    issued = await driver.today()

    await _send_back_to_payment_check(driver)

    [rejected] = await mails_of(sink_messages, plan_id, "approval_rejected")
    assert set(_finance(worker_settings)) <= _to(rejected)
    body = _body(rejected)
    named = f"{driver.invoice_number}（开票日期 {issued.isoformat()}，金额 4200.00 元）"
    assert f"已登记的发票 {named} 随缴费核对退回而作废" in body
    assert "红字发票冲销" in body
    [voided] = await mails_of(sink_messages, plan_id, "invoice_voided_site")
    assert _to(voided) == _site(worker_settings, driver)
    body = _body(voided)
    assert f"的发票 {named} 已作废" in body and "红字发票" in body
    assert "到账金额待核" not in body  # the general manager's words stay inside
