"""The whole lifecycle of one exam plan on real parts, two months in seconds."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from activities.documents import DocumentStore
from certflow.models import Stage
from tests.support import PlanDriver

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


async def test_plan_runs_from_score_sheets_to_issued_certificates(
    make_driver: Any, resources: tuple[Any, DocumentStore], sink_messages: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    await driver.start()

    await driver.submit_everything()
    await driver.approve_review()
    await driver.confirm_upload()
    status = await driver.wait_for(lambda s: s.stage == Stage.AWAITING_PUBLICITY)
    assert status.publicity is not None
    assert status.summary is not None and status.summary.passed == 14

    # Publicity starts on E+16 and runs its 15 days on durable timers.
    assert status.publicity.start_day == driver.plan.exam_end_date + timedelta(days=16)
    await driver.skip(31)
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    await driver.pay_and_sign()
    # Finance invoices the confirmed payment; the plan completes once issued.
    await driver.record_invoice()
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)

    batch = await driver.approve_in_batch()
    batch_id = driver.batch_id
    result = await driver.h.result()
    await batch.result()
    if os.environ.get("CERTFLOW_RECORD_HISTORIES"):
        folder = Path(__file__).parent / "histories"
        for name, handle in (
            ("exam-plan-lifecycle", driver.h),
            ("approval-batch", batch),
        ):
            history = await handle.fetch_history()
            (folder / f"{name}.json").write_text(history.to_json(), encoding="utf-8")
    assert result.stage == Stage.ISSUED
    assert result.certificates_issued == 14

    # The organisation's records: scores, audit trail, certificates.
    assert (
        await pool.fetchval("SELECT count(*) FROM scores WHERE plan_id = $1", plan_id)
        == 32
    )
    certificates = await pool.fetch(
        "SELECT number, pdf_sha256 FROM certificates WHERE plan_id = $1", plan_id
    )
    assert len(certificates) == 14
    assert all(row["pdf_sha256"] for row in certificates)
    assert len({row["number"] for row in certificates}) == 14
    actions = {
        r["action"]
        for r in await pool.fetch(
            "SELECT action FROM audit WHERE plan_id = $1", plan_id
        )
    }
    assert {
        "upload_score_summary",
        "confirm_score_summary",
        "review_consistency",
        "confirm_score_upload",
        "upload_application",
        "confirm_payment",
        "record_invoice",
        "org_signoff",
        "site_signoff",
        "approve_batch",
    } <= actions
    pdfs = list((driver.settings.output_dir / "certificates" / plan_id).glob("*.pdf"))
    assert len(pdfs) == 14

    # The mails the parties received, in Chinese.
    subjects = [
        m["Subject"] for m in sink_messages() if m["X-Certflow-Plan"] == plan_id
    ]
    assert any("成绩公示期" in s for s in subjects)
    # The regional contact's review mail carries the consistency report.
    review_mail = next(
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == plan_id and "一致性核对" in str(m["Subject"])
    )
    body = review_mail.get_body(("plain",)).get_content()
    # The verdict says the count once (it read "发现 1 处…（发现 1 处不一致）").
    assert body.count("处不一致") == 1, body
    [report] = list(review_mail.iter_attachments())
    assert report.get_filename().endswith("一致性核对报告.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(report.get_content()))
    cells = [str(v) for row in book.worksheets[0].iter_rows(values_only=True)
             for v in row if v is not None]  # fmt: skip
    assert "不一致之处" in cells
    assert not any(re.search(r"\d{17}[\dX]", cell) for cell in cells)  # masked
    assert any("电子证书已发放" in s for s in subjects)
    mails = [m for m in sink_messages() if m["X-Certflow-Plan"] == plan_id]

    def body_of(template: str) -> str:
        mail = next(m for m in mails if m["X-Certflow-Template"] == template)
        return str(mail.get_body(("plain",)).get_content())

    # The opening mail names the day, not "the 15th day after the exam".
    deadline = driver.plan.exam_end_date + timedelta(days=15)
    assert f"{deadline.isoformat()} 23:59:59" in body_of("submission_opened")
    # The issued mail says where candidates find and check their certificates.
    issued = body_of("certificates_issued")
    assert driver.settings.certificates.verify_url_base in issued
    # The general manager got the batch's approval form, as xlsx and PDF.
    batch_mail = next(
        m
        for m in sink_messages()
        if batch_id in str(m["Subject"]) and "gm@" in str(m["To"])
    )
    names = sorted(part.get_filename() for part in batch_mail.iter_attachments())
    assert names == [f"发证批次-{batch_id}.pdf", f"发证批次-{batch_id}.xlsx"]
