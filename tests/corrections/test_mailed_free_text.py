"""A mailed request is refused only for what its sender can see and fix.

Regression (review): once every free text sent to a plan was bounded and its
hidden characters refused (``certflow.free_text``), a mailed request whose
reason held a character nobody sees (a zero-width space, a soft hyphen, a
BOM, as mail programs and HTML mails write ``&#8203;`` and ``&shy;``) was
refused, the reply naming "理由" and a code point the site could not find, so
sending it again failed again. And a reason over 2,000 characters was
answered "未能读取您的成绩修改申请表".

Now the mailbox reads a form as its sender sees it: characters that show as
nothing are left out, line ends made line feeds, other control characters
spaces; what is still refused (a reason too long) is said as the form names
the field, with its limit and its length.

Real parts only: the time-skipping Temporal server, PostgreSQL, an SMTP sink
delivering into the exam maildir read by ``MaildirSource``.
"""

from __future__ import annotations

import pytest

from certflow.corrections import RefusalReason, refusal_text
from certflow.free_text import REQUEST_REASON_MAX_LENGTH
from starter.smtp_sink import body_text
from tests.corrections.mail_intake_support import (
    SITE_ADDRESS,
    RigFactory,
    correction_body,
    filled_form,
    mail,
    sample_names,
)
from tests.corrections.test_mailed_request_checks import CHEN_SIBIN, FANG_HAO, SEQ_12

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_a_reason_holding_characters_nobody_sees_is_received_without_them(
    open_rig: RigFactory,
) -> None:
    """A zero-width space, a soft hyphen, a BOM (typed, or written by an HTML
    mail as ``&#8203;`` and ``&shy;``), a direction override and a line
    separator in a spreadsheet cell: each request is filed, its reason kept
    as the sender sees it. (雷芳彬 practical 50.10; 陈思彬 theory 53.1, 方浩
    58.1.)"""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        typed = await rig.mail_in(
            "成绩修改申请",
            correction_body(
                plan_id,
                SEQ_12,
                reason="实操评分表\u200b第 4 项\u00ad分数\ufeff抄录\u202e错误",
            ),
        )
        html = mail(SITE_ADDRESS, "成绩修改申请", "", await rig.now())
        form = correction_body(
            plan_id,
            CHEN_SIBIN,
            field_label="理论成绩",
            published="53.1",
            requested="63.1",
            reason="试卷第&#8203;3 题&shy;漏判",
        )
        html.set_content("<p>" + form.replace("\n", "<br>") + "</p>", subtype="html")
        await rig.send(html)
        name = sample_names()[FANG_HAO]
        row = [plan_id, name, None, FANG_HAO, "1-1", "理论成绩", "58.1", "68.1",
               "第一行\r\n第二行\u2028第三行\ufeff", "考务办"]  # fmt: skip
        sheet = await rig.mail_in_form(
            plan_id, filled_form([row], rig.tmp / "成绩修改申请表.xlsx")
        )

        run = await rig.poll()

        assert run.counts == {"received": 3}
        reasons = {r["admission_number"]: r["reason"] for r in await rig.filed(plan_id)}
        assert reasons == {
            SEQ_12: "实操评分表第 4 项分数抄录错误",
            CHEN_SIBIN: "试卷第3 题漏判",
            FANG_HAO: "第一行\n第二行\n第三行",
        }
        for sent in (typed, html, sheet):
            recorded = await rig.mail_row(sent["Message-ID"])
            assert (recorded["status"], recorded["reasons"]) == ("received", "")
        for reply in rig.replies_to(SITE_ADDRESS):
            assert "U+" not in body_text(reply)


async def test_a_mailed_reason_too_long_is_answered_as_the_form_names_it(
    open_rig: RigFactory,
) -> None:
    """Regression: a reason over 2,000 characters was answered "未能读取您的
    成绩修改申请表". The reply names 修改原因, its limit and the length
    written; a reason of 2,000 characters the sender sees, a few more hidden,
    is filed."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        longer = "因" * (REQUEST_REASON_MAX_LENGTH + 1)
        refused = await rig.mail_in(
            "成绩修改申请", correction_body(plan_id, SEQ_12, reason=longer)
        )
        longest = "因" * (REQUEST_REASON_MAX_LENGTH - 1) + "\u200b" * 5 + "果"
        taken = await rig.mail_in(
            "成绩修改申请",
            correction_body(
                plan_id,
                CHEN_SIBIN,
                field_label="理论成绩",
                published="53.1",
                requested="63.1",
                reason=longest,
            ),
        )

        run = await rig.poll()

        assert run.counts == {"refused": 1, "received": 1}
        said = refusal_text(
            RefusalReason.TEXT_TOO_LONG,
            plan_id=plan_id,
            admission_number=SEQ_12,
            field="修改原因",
            limit=REQUEST_REASON_MAX_LENGTH,
            length=REQUEST_REASON_MAX_LENGTH + 1,
        )
        assert "“修改原因”" in said and "2000" in said and "2001" in said
        row = await rig.mail_row(refused["Message-ID"])
        assert (row["status"], row["reasons"]) == ("refused", said)
        [filed] = await rig.filed(plan_id)
        assert filed["admission_number"] == CHEN_SIBIN
        assert filed["reason"] == "因" * (REQUEST_REASON_MAX_LENGTH - 1) + "果"
        assert (await rig.mail_row(taken["Message-ID"]))["status"] == "received"
        replies = {r["In-Reply-To"]: r for r in rig.replies_to(SITE_ADDRESS)}
        text = body_text(replies[refused["Message-ID"]])
        assert said in text
        for staff_words in ("未能读取", "理由", "换行", "制表符"):
            assert staff_words not in text
