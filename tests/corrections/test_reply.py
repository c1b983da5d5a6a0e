"""Replies of the exam mailbox parse back with their Chinese text and threading."""

from __future__ import annotations

import base64
from datetime import date, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from certflow.corrections import (
    RefusalReason,
    ReplyKind,
    compose_reply,
    read_correction_mail,
    refusal_text,
)
from certflow.timeutil import CST

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"
MAILBOX = "kaowu1x@zcx-eval.org.cn"
SENT_AT = datetime(2026, 11, 23, 10, 20, tzinfo=CST)


def _round_trip(reply: EmailMessage) -> EmailMessage:
    raw = reply.as_bytes()
    assert raw.isascii(), "a reply must survive 7-bit relays"
    parsed = message_from_bytes(raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_acknowledgement_threads_under_the_request_and_keeps_chinese_text() -> None:
    original = read_correction_mail((CORPUS / "01-foxmail-gbk-xlsx.eml").read_bytes())

    reply = compose_reply(
        original,
        ReplyKind.RECEIVED,
        reference="CR-2026-000123",
        reasons=[],
        sender_address=MAILBOX,
        sent_at=SENT_AT,
    )
    parsed = _round_trip(reply)

    assert parsed["Subject"] == "Re: 成绩修改申请－武汉市交通职业技术学校（王喆）"
    assert parsed["In-Reply-To"] == "<202611231012470123456@whjtzx.edu.cn>"
    assert parsed["References"] == "<202611231012470123456@whjtzx.edu.cn>"
    assert parsed["To"] == "wangzhe@whjtzx.edu.cn"
    assert parsed["From"] == MAILBOX
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["Message-ID"].endswith("@zcx-eval.org.cn>")
    body = parsed.get_content()
    assert "登记编号为 CR-2026-000123" in body
    assert "P2026-1104-0412" in body
    assert "陈**（准考证号 2026110412004），理论成绩由 53.1 改为 63.1" in body
    # Names are masked: the reply may be forwarded further than the request.
    assert "陈思彬" not in body


def test_a_reply_to_an_outlook_reply_keeps_its_prefix_and_reference_chain() -> None:
    original = read_correction_mail(
        (CORPUS / "04-outlook-related-rfc2231.eml").read_bytes()
    )
    reply = compose_reply(
        original,
        ReplyKind.RECEIVED,
        reference="CR-2026-000124",
        reasons=[],
        sender_address=MAILBOX,
    )
    parsed = _round_trip(reply)

    assert parsed["Subject"] == "答复: 第二批成绩修改申请"
    assert parsed["References"].split() == [
        "<202611201530112233445@zcx-eval.org.cn>",
        original.message_id,
    ]


def test_acknowledgement_of_a_partly_good_form_says_what_was_not_registered() -> None:
    original = read_correction_mail(
        (CORPUS / "04-outlook-related-rfc2231.eml").read_bytes()
    )
    body = _round_trip(
        compose_reply(
            original,
            ReplyKind.RECEIVED,
            reference="CR-2026-000125",
            reasons=[],
            sender_address=MAILBOX,
        )
    ).get_content()

    assert "共 2 条" in body
    assert "以下内容未能登记" in body
    assert "第 5 行" in body and "缺少“修改原因”" in body


def test_acknowledgement_of_a_good_form_has_no_unregistered_part() -> None:
    original = read_correction_mail((CORPUS / "01-foxmail-gbk-xlsx.eml").read_bytes())
    body = _round_trip(
        compose_reply(
            original,
            ReplyKind.RECEIVED,
            reference="CR-2026-000126",
            reasons=[],
            sender_address=MAILBOX,
        )
    ).get_content()
    assert "未能登记" not in body


def test_refusal_lists_the_phrased_reasons() -> None:
    original = read_correction_mail((CORPUS / "02-qqmail-utf8-typed.eml").read_bytes())
    reasons = [
        refusal_text(RefusalReason.AFTER_CUTOFF, cutoff=date(2026, 12, 9)),
        refusal_text(
            RefusalReason.SENDER_NOT_SITE,
            plan_id="P2026-1104-0412",
            sender=original.sender,
        ),
    ]

    parsed = _round_trip(
        compose_reply(
            original,
            ReplyKind.REFUSED,
            reference=None,
            reasons=reasons,
            sender_address=MAILBOX,
        )
    )

    body = parsed.get_content()
    assert "1. 本考试计划成绩修改申请的截止日期为 2026-12-09（含当日）" in body
    assert "2. 发件邮箱 3307451122@qq.com 不是考试计划 P2026-1104-0412" in body
    assert parsed["Subject"] == "Re: 关于 P2026-1104-0412 两名考生成绩的修改申请"


def test_refusal_without_reasons_explains_the_problems_found() -> None:
    original = read_correction_mail((CORPUS / "09-qqmail-incomplete.eml").read_bytes())
    parsed = _round_trip(
        compose_reply(
            original,
            ReplyKind.REFUSED,
            reference=None,
            reasons=[],
            sender_address=MAILBOX,
        )
    )
    body = parsed.get_content()
    assert "邮件正文第 1 份申请：缺少“修改原因”" in body
    assert "平时成绩" in body


def test_no_in_reply_to_for_a_message_id_that_was_made_up() -> None:
    original = read_correction_mail(
        (CORPUS / "06-android-no-message-id.eml").read_bytes()
    )
    parsed = _round_trip(
        compose_reply(
            original,
            ReplyKind.RECEIVED,
            reference="CR-1",
            reasons=[],
            sender_address=MAILBOX,
        )
    )
    assert parsed["In-Reply-To"] is None
    assert parsed["References"] is None


def test_a_reply_read_back_by_the_mailbox_is_no_request() -> None:
    original = read_correction_mail((CORPUS / "01-foxmail-gbk-xlsx.eml").read_bytes())
    reply = compose_reply(
        original,
        ReplyKind.RECEIVED,
        reference="CR-9",
        reasons=[],
        sender_address=MAILBOX,
    )
    echoed = read_correction_mail(reply.as_bytes())
    assert echoed.drafts == []
    assert echoed.auto_submitted


@pytest.mark.parametrize("reason", list(RefusalReason))
def test_every_refusal_reason_has_chinese_text(reason: RefusalReason) -> None:
    text = refusal_text(
        reason,
        plan_id="P2026-1104-0412",
        cutoff=date(2026, 12, 9),
        admission_number="2026110412099",
        sender="x@example.cn",
        opens=date(2026, 11, 20),
        count=101,
        limit=100,
        field="修改原因",
        length=2001,
    )
    assert text and not text.isascii()
    assert "{" not in text and "None" not in text


def test_a_refusal_reason_without_its_fields_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="cutoff"):
        refusal_text(RefusalReason.AFTER_CUTOFF)


def test_acknowledgement_needs_a_reference() -> None:
    original = read_correction_mail((CORPUS / "01-foxmail-gbk-xlsx.eml").read_bytes())
    with pytest.raises(ValueError):
        compose_reply(
            original,
            ReplyKind.RECEIVED,
            reference=None,
            reasons=[],
            sender_address=MAILBOX,
        )


def test_a_subject_hiding_line_breaks_cannot_inject_headers() -> None:
    hidden = base64.b64encode("成绩\r\nBcc: everyone@example.cn".encode()).decode()
    raw = (
        "From: a@school.edu.cn\r\nMessage-ID: <x1@school.edu.cn>\r\n"
        f"Subject: =?utf-8?B?{hidden}?=\r\n\r\nhello\r\n"
    ).encode()
    original = read_correction_mail(raw)
    parsed = _round_trip(
        compose_reply(
            original,
            ReplyKind.REFUSED,
            reference=None,
            reasons=[],
            sender_address="1+X 考务邮箱 <kaowu1x@zcx-eval.org.cn>",
        )
    )
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Re: 成绩 Bcc: everyone@example.cn"
    assert parsed["Message-ID"].endswith("@zcx-eval.org.cn>")
    assert parsed["From"].addresses[0].display_name == "1+X 考务邮箱"
