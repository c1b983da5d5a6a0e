"""The site's application sent again as it is: not a new version, and no
mail. A changed one is a new version, as ever.

A module of its own: its time-skipping clock starts afresh, so its plans
reach payment within the years the working-day calendar covers.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from certflow.config import Settings
from certflow.i18n import t
from certflow.models import DocumentKind
from starter.sample_plan import sample_invoice_form
from tests.cli.conftest import certflow_runner
from tests.support import SCAN_PDF, PlanDriver, mails_of

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]


async def _versions(pool: Any, plan_id: str) -> list[tuple[int | None, bool]]:
    """The plan's application scans on record: (version, accepted) each."""
    rows = await pool.fetch(
        "SELECT version, accepted FROM plan_documents WHERE plan_id = $1"
        " AND kind = $2 ORDER BY uploaded_at, version",
        plan_id,
        DocumentKind.CERTIFICATE_APPLICATION.value,
    )
    return [(row["version"], row["accepted"]) for row in rows]


async def test_the_same_application_sent_again_is_answered_and_sends_nothing(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    worker_settings: Settings,
    client: Client,
) -> None:
    """Regression (trial): the same application (the same scan, figures and
    invoice form) sent three times was taken as versions 1, 2 and 3, and
    finance got three identical 请核对缴费 mails, the third saying the form
    was not sent again though it was. Now the same one is answered 与已受理的
    申请相同，未重复提交 (the staff tool's status 0), recorded nowhere and
    mailed to nobody, with its form or without (the form kept); changed,
    it is version 2 and mailed, the form said sent again unchanged."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    await driver.reach_payment()
    certflow = certflow_runner(worker_settings, client)
    scan = driver.tmp / "申请表.pdf"
    scan.write_bytes(SCAN_PDF + f"%{uuid.uuid4().hex}\n".encode())
    form = driver.tmp / "院校发票信息收集表.xlsx"
    form.write_bytes(sample_invoice_form())
    figures = [
        "--paid-plan", plan_id, "--head-count", "14", "--amount", "4200.00",
        "--paid-on", (await driver.today()).isoformat(), "--method", "银行转账",
    ]  # fmt: skip
    sent = [*SITE, "application", plan_id, "--scan", str(scan), *figures]
    with_form = [*sent, "--invoice-form", str(form)]

    first = await certflow(*with_form, "--reference", "TX-0001")
    assert first.status == 0, first.out
    await mails_of(sink_messages, plan_id, "application_uploaded")

    same = t("plan.application_same", version=1)
    for again in (with_form, with_form, sent):
        answer = await certflow(*again, "--reference", "TX-0001")
        assert (answer.status, answer.out.strip()) == (0, same)
    assert await _versions(pool, plan_id) == [(1, True)]
    await asyncio.sleep(2)  # a mail asked for would be on its way by now
    assert len(await mails_of(sink_messages, plan_id, "application_uploaded")) == 1

    # Another reference is another application.
    changed = await certflow(*with_form, "--reference", "TX-0002")
    assert changed.status == 0 and changed.out.strip() == t("plan.accepted")
    assert await _versions(pool, plan_id) == [(1, True), (2, True)]
    _, second = await mails_of(sink_messages, plan_id, "application_uploaded", count=2)
    # The form came again, the same file: said so, not 本次未重新上传.
    body = str(second.get_body(("plain",)).get_content())
    assert "与此前已受理的是同一文件" in body and "未重新上传" not in body
