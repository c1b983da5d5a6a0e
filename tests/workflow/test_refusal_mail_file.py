"""The mail refusing an upload names the file as it was uploaded.

Regression of a staff trial: the mail said 您上传的文件（考生签到表）未通过校验
and no more, so a site that had sent several versions, or both sign-in sheets
at once, could not tell which file it was about. The name is the uploader's
own, which carries no personal data; an ID number in it is masked, even when
the reference did not come through the staff tool (which masks it already).
"""

from __future__ import annotations

from typing import Any

import openpyxl
import pytest

from activities.notify import template_defaults
from certflow.actions import UploadRequest
from certflow.i18n import t
from tests.support import SITE, PlanDriver, mails_of
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


@pytest.mark.parametrize(
    ("uploaded", "named"),
    [
        ("考生签到表（第二版）.xlsx", "“考生签到表（第二版）.xlsx”"),
        ("严豪刚420106200603077655补签.xlsx", "“严豪刚4201**********7655补签.xlsx”"),
        ("补签 4201 0620 0603 0776 55.xlsx", "“补签 4201**********7655.xlsx”"),
    ],
    ids=["plain", "id-number", "grouped-id-number"],
)
async def test_the_refusal_mail_names_the_uploaded_file(
    make_driver: Any, sink_messages: Any, uploaded: str, named: str
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start()
    book = openpyxl.load_workbook(driver.files["candidates"])
    book.worksheets[0]["D3"] = None  # 黎芬's admission number left out
    path = driver.tmp / "refused.xlsx"
    book.save(path)
    document = driver.put(path).model_copy(update={"filename": uploaded})

    result = await driver.h.execute_update(
        ExamPlanWorkflow.upload_candidate_sign_in,
        UploadRequest(actor=SITE, document=document),
    )

    assert not result.accepted
    [mail] = await mails_of(sink_messages, driver.plan.plan_id, "upload_refused")
    body = mail.get_body(("plain",)).get_content()
    assert body.startswith(f"您上传的文件{named}（上传考生签到表）未通过校验")
    assert "420106200603077655" not in body and "0603 0776" not in body


async def test_a_refusal_mail_scheduled_before_reads_as_it_did() -> None:
    """A mail a plan asked for before the file was named (a retry after the
    deploy) lacks the field: the template's default fills it, and the mail
    reads as it was written then."""
    fields = {"document": "上传考生签到表", "count": "1", "problems": "第 3 行"}

    body = t(
        "mail.upload_refused.body", **template_defaults("upload_refused"), **fields
    )

    assert body.startswith("您上传的文件（上传考生签到表）未通过校验，共 1 处问题")
