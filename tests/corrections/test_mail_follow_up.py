"""A reply to the mailbox's acknowledgement goes to a person.

Regression of a sender's trial: the acknowledgement says 如需补充材料，请直接
回复本邮件; doing so with a scan was answered 未能读取您的成绩修改申请表…请使用
模板, as if a new form had been sent wrong.

Real parts only: the time-skipping Temporal server, PostgreSQL, an SMTP sink
delivering into the exam maildir read by ``MaildirSource``.
"""

from __future__ import annotations

import pytest

from certflow.corrections import RefusalReason, refusal_text
from starter.smtp_sink import body_text
from tests.corrections.mail_intake_support import (
    SITE_ADDRESS,
    RigFactory,
    correction_body,
    mail,
)
from tests.corrections.test_mailed_request_checks import SEQ_12

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_material_sent_as_a_reply_to_the_acknowledgement_goes_to_staff(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        await rig.mail_in("成绩修改申请", correction_body(driver.plan.plan_id, SEQ_12))
        await rig.poll()
        [acknowledgement] = rig.replies_to(SITE_ADDRESS)
        answer = mail(SITE_ADDRESS, f"Re: {acknowledgement['Subject']}",
                      "补充材料见附件。", await rig.now())  # fmt: skip
        answer["In-Reply-To"] = acknowledgement["Message-ID"]
        answer.add_attachment(
            b"%PDF-1.4\n", maintype="application", subtype="pdf", filename="评分表.pdf"
        )
        # A new mail with the same scan and no form is still told of the form.
        unrelated = mail(SITE_ADDRESS, "补充材料", "见附件。", await rig.now())
        await rig.send(answer)
        await rig.send(unrelated)

        run = await rig.poll()

        assert run.counts == {"unmatched": 2}, run.counts
        follow_up = await rig.mail_row(str(answer["Message-ID"]))
        assert follow_up["reasons"] == refusal_text(RefusalReason.FOLLOW_UP)
        told = [body_text(r) for r in rig.replies_to(SITE_ADDRESS)[1:]]
        assert any("已转考务人员人工处理" in text for text in told)
        assert any("已转考务人员人工处理" not in text for text in told)


async def test_an_answer_to_a_refusal_is_told_what_the_refusal_told(
    open_rig: RigFactory,
) -> None:
    """Review: any answer to any of the mailbox's replies went to a person, so
    a site that answered "the attachment did not come" and again forgot it
    was told to wait for staff, who had nothing to act on."""
    async with open_rig() as rig:
        await rig.start_poller()
        await rig.mail_in("成绩修改申请", "成绩修改申请表见附件。")
        await rig.poll()
        [refusal] = rig.replies_to(SITE_ADDRESS)
        answer = mail(SITE_ADDRESS, f"Re: {refusal['Subject']}",
                      "再次发送，见附件。", await rig.now())  # fmt: skip
        answer["In-Reply-To"] = refusal["Message-ID"]
        await rig.send(answer)

        await rig.poll()

        row = await rig.mail_row(str(answer["Message-ID"]))
        assert row["status"] == "unmatched"
        assert row["reasons"] != refusal_text(RefusalReason.FOLLOW_UP)
        assert "附件" in row["reasons"]
