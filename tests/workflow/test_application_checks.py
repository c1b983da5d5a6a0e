"""The site's application (4.2.1) as the trial of finance found it: a scan of
anything, no invoice form, repeated plans and dates before the exam were taken;
finance's mail had no figures; some refusals did not say what to do."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from certflow.actions import (
    ApplicationUpload,
    PaymentConfirmation,
    SimpleAction,
    SiteSignoffRequest,
)
from certflow.i18n import t
from certflow.models import DocumentRef, Stage
from tests.support import (
    FINANCE,
    SCAN_PDF,
    SITE,
    TECH,
    PlanDriver,
    mails_of,
    refusal_text,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

wf = ExamPlanWorkflow


def _application(
    driver: PlanDriver,
    *,
    scan: DocumentRef | None = None,
    form: bool = True,
    paid: list[str] | None = None,
    paid_on: date,
) -> ApplicationUpload:
    return ApplicationUpload(
        actor=SITE,
        application_scan=scan
        or driver.store.put(
            SCAN_PDF, filename="证书申请表.pdf", media_type="application/pdf"
        ),
        invoice_details=driver.invoice_form() if form else None,
        paid_plan_ids=paid or [driver.plan.plan_id],
        head_count=14,
        amount=Decimal("4200.00"),
        paid_on=paid_on,
        method="银行转账",
        reference="TX-0417",
    )


async def _applied(make_driver: Any) -> tuple[PlanDriver, date]:
    """A plan in its payment stage whose application, dated today, is in."""
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    today = await driver.today()
    result = await driver.h.execute_update(
        wf.upload_application, _application(driver, paid_on=today)
    )
    assert result.accepted, result.message
    return driver, today


async def test_an_application_scan_must_be_a_scan_and_not_empty(
    make_driver: Any,
) -> None:
    """Regression: an empty file and a spreadsheet were accepted as the sealed
    application, the evidence finance checks."""
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    today = await driver.today()
    empty = driver.store.put(b"", filename="空.pdf", media_type="application/pdf")
    sheet = driver.store.put(b"PK\x03\x04", filename="申请表.xlsx")

    refusals = [
        await refusal_text(
            driver.h.execute_update(
                wf.upload_application, _application(driver, scan=s, paid_on=today)
            )
        )
        for s in (empty, sheet)
    ]

    scan = "plan.application_scan"
    assert refusals == [
        "empty: " + t(scan, reason=t("intake_db.scan_empty")),
        "not_a_scan: " + t(scan, reason=t("intake_db.scan_format")),
    ]
    assert any(o.duty == "application" for o in (await driver.status()).owed)


async def test_the_invoice_form_comes_with_the_first_application_only(
    make_driver: Any, sink_messages: Any
) -> None:
    """Regression: an application without the invoice details form was accepted,
    leaving finance nothing to invoice from. A later application (corrected
    figures) may leave out the form already accepted: the mail attaches it."""
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    today = await driver.today()
    without = _application(driver, form=False, paid_on=today)

    refusal = await refusal_text(
        driver.h.execute_update(wf.upload_application, without)
    )
    assert refusal == "bad_argument: " + t("plan.invoice_form_required")

    first = await driver.h.execute_update(
        wf.upload_application, _application(driver, paid_on=today)
    )
    corrected = without.model_copy(update={"reference": "TX-0418"})
    again = await driver.h.execute_update(wf.upload_application, corrected)
    assert first.accepted and again.accepted, (first.message, again.message)

    _, second = await mails_of(
        sink_messages, driver.plan.plan_id, "application_uploaded", count=2
    )
    names = [a.get_filename() for a in second.iter_attachments()]
    assert names == ["证书申请表.pdf", "院校发票信息收集表.xlsx"]
    assert "此前已受理的院校发票信息收集表" in _text(second)


async def test_finance_is_mailed_the_figures_the_scan_and_the_invoice_form(
    make_driver: Any, sink_messages: Any
) -> None:
    """Regression: the mail to finance said only that an application was in."""
    driver, today = await _applied(make_driver)

    [mail] = await mails_of(sink_messages, driver.plan.plan_id, "application_uploaded")
    body = _text(mail)
    for shown in (
        f"缴费对应的考试计划：{driver.plan.plan_id}",
        "缴费人数：14 人（其中为缺考考生缴费 0 人）",
        "缴费金额：4200.00 元",
        f"缴费日期：{today.isoformat()}",
        "缴费方式：银行转账",
        "付款凭证号：TX-0417",
        f"certflow --as finance invoice-details {driver.plan.plan_id}",
    ):
        assert shown in body, shown
    attachments = {a.get_filename(): a for a in mail.iter_attachments()}
    assert sorted(attachments) == ["证书申请表.pdf", "院校发票信息收集表.xlsx"]
    assert attachments["证书申请表.pdf"].get_content() == SCAN_PDF


async def test_paid_plans_are_listed_once_and_include_this_plan(
    make_driver: Any,
) -> None:
    """Regression: a plan listed twice was stored twice; a list leaving out this
    plan spoke of 签发确认 and did not say to add the plan."""
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    today = await driver.today()
    plan_id = driver.plan.plan_id

    twice = await refusal_text(
        driver.h.execute_update(
            wf.upload_application,
            _application(
                driver, paid=[plan_id, "P2026-0001-0001", plan_id], paid_on=today
            ),
        )
    )
    other = await refusal_text(
        driver.h.execute_update(
            wf.upload_application,
            _application(driver, paid=["P2026-0001-0001"], paid_on=today),
        )
    )

    assert twice == "bad_argument: " + t("plan.paid_plan_repeated", plans=plan_id)
    assert other == "bad_argument: " + t(
        "plan.plan_not_paid", paid="P2026-0001-0001", plan_id=plan_id
    )
    assert "签发确认" not in other and f"--paid-plan 中加上 {plan_id}" in other


async def test_a_payment_before_the_exam_is_refused_naming_the_earliest_day(
    make_driver: Any, resources: Any
) -> None:
    """Regression: --paid-on 0001-01-01 was accepted. The fee is paid after the
    exam: the paid date may not come before the exam end date."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    exam_end = driver.plan.exam_end_date

    early = exam_end - timedelta(days=1)
    refusal = await refusal_text(
        driver.h.execute_update(
            wf.upload_application, _application(driver, paid_on=early)
        )
    )
    assert refusal == "date_order: " + t(
        "plan.paid_before_exam", day=early.isoformat(), earliest=exam_end.isoformat()
    )
    assert exam_end.isoformat() in refusal

    # The exam's own day is the earliest, and the days after it follow the chain.
    accepted = await driver.h.execute_update(
        wf.upload_application, _application(driver, paid_on=exam_end)
    )
    assert accepted.accepted, accepted.message
    received_on = exam_end + timedelta(days=1)
    confirmed = await driver.h.execute_update(
        wf.confirm_payment,
        PaymentConfirmation(
            actor=FINANCE, received_amount=Decimal("4200.00"), received_on=received_on
        ),
    )
    assert confirmed.accepted, confirmed.message
    # The approval sheet shows the day the money arrived: the audit has it.
    details = await pool.fetchval(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = 'confirm_payment'",
        driver.plan.plan_id,
    )
    assert details["received_on"] == received_on.isoformat()


async def test_a_payment_differing_from_the_application_says_what_to_do(
    make_driver: Any,
) -> None:
    driver, today = await _applied(make_driver)

    async def confirm(received: str) -> str:
        return await refusal_text(
            driver.h.execute_update(
                wf.confirm_payment,
                PaymentConfirmation(
                    actor=FINANCE, received_amount=Decimal(received), received_on=today
                ),
            )
        )

    refusal = await confirm("4000.00")

    assert refusal.startswith("amount_mismatch: ")
    assert "通知考核站点更正申请表并重新上传" in refusal
    assert "确认缴费之前，考核站点可随时重新上传" in refusal
    # More money than the application declares is refused too, with the
    # difference (audit: only less was shown refused).
    more = await confirm("4500.00")
    assert more.startswith("amount_mismatch: ") and "+300.00" in more
    assert not (await driver.status()).payment.confirmed_amount


async def test_actions_of_the_payment_stage_say_from_which_day_during_publicity(
    make_driver: Any,
) -> None:
    """Regression: org-signoff or application during publicity said only that
    it could not be done now, not from which day it can."""
    driver: PlanDriver = await make_driver()
    await driver.reach_publicity()
    status = await driver.open_publicity()
    window = status.publicity
    assert window is not None and status.stage == Stage.PUBLICITY
    opens = (window.end_day + timedelta(days=1)).isoformat()

    signoff = await refusal_text(
        driver.h.execute_update(wf.org_signoff, SimpleAction(actor=TECH))
    )
    application = await refusal_text(
        driver.h.execute_update(
            wf.upload_application, _application(driver, paid_on=await driver.today())
        )
    )

    for refusal, action in (
        (signoff, "org_signoff"),
        (application, "upload_application"),
    ):
        assert refusal == "wrong_stage: " + t(
            "plan.wait_for_publicity_end",
            action=t(f"actions.{action}"),
            end=window.end_day.isoformat(),
            opens=opens,
        )


async def test_a_site_signoff_of_another_plan_explains_itself(
    make_driver: Any,
) -> None:
    """Regression: the refusal added a bare 问题清单 line holding the plan id."""
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    await driver.pay_and_sign(site_signoff=False)
    plan_id = driver.plan.plan_id

    result = await driver.h.execute_update(
        wf.site_signoff, SiteSignoffRequest(actor=SITE, plan_id="P2026-0001-0001")
    )

    assert not result.accepted
    assert result.message == t(
        "plan.signoff_plan_mismatch",
        given="P2026-0001-0001",
        plan_id=plan_id,
        paid=plan_id,
    )
    assert f"请在国家平台上对考试计划 {plan_id} 进行考核站确认签发" in result.message
    [problem] = result.problems
    assert problem.code == "plan_mismatch"
    assert problem.message == t(
        "plan.signoff_plan_problem", given="P2026-0001-0001", plan_id=plan_id
    )


def _text(mail: Any) -> str:
    return str(mail.get_body(("plain",)).get_content())


async def test_a_scan_too_large_for_mail_stays_out_and_the_mail_says_so(
    make_driver: Any, sink_messages: Any
) -> None:
    """Review: a 10 MiB scan, base64-encoded with the form, passed the limit
    meant to keep the mail under common servers' 10 MB, and such a mail refused
    for its size would leave finance with no word at all."""
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    today = await driver.today()
    large = driver.store.put(
        SCAN_PDF + b"\0" * (7 * 1024 * 1024),
        filename="证书申请表.pdf",
        media_type="application/pdf",
    )
    result = await driver.h.execute_update(
        wf.upload_application, _application(driver, scan=large, paid_on=today)
    )
    assert result.accepted, result.message

    [mail] = await mails_of(sink_messages, driver.plan.plan_id, "application_uploaded")
    names = [a.get_filename() for a in mail.iter_attachments()]
    assert names == ["院校发票信息收集表.xlsx"]
    plan_id = driver.plan.plan_id
    said = t("mail.application_uploaded.scan_too_large", limit=7, plan_id=plan_id)
    assert said in _text(mail)
    # Finance is told how to fetch the scan the mail leaves out.
    assert f"document get {plan_id} certificate_application" in said


async def test_the_same_invoice_form_sent_again_is_kept_not_a_new_version(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    """Trial: a corrected application sending the very form accepted before
    made it a second version, and finance's mail called it newly sent; then
    (trial) it said the form was not sent again, though it was."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    today = await driver.today()

    # The very file sent twice: the form built again would differ in the
    # times its workbook and zip entries carry, and be a new version.
    application = _application(driver, paid_on=today)
    corrected = application.model_copy(update={"reference": "TX-0418"})
    first = await driver.h.execute_update(wf.upload_application, application)
    again = await driver.h.execute_update(wf.upload_application, corrected)

    assert first.accepted and again.accepted, (first.message, again.message)
    versions = await pool.fetch(
        "SELECT version, accepted, uploaded_at, problems FROM plan_documents"
        " WHERE plan_id = $1 AND kind = $2",
        driver.plan.plan_id,
        "invoice_details",
    )
    assert len(versions) == 1, versions
    _, second = await mails_of(
        sink_messages, driver.plan.plan_id, "application_uploaded", count=2
    )
    assert "与此前已受理的是同一文件" in _text(second)
    assert "未重新上传" not in _text(second)
