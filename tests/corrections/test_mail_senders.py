"""Who sent a mail: the From a site is known by, and mails that look alike.

The sender checks against the sites' registered addresses are only as good as
the reading of From: an address written as the display name must not pass for
the site's. Real parts: the time-skipping Temporal server, PostgreSQL, the SMTP
sink and the maildir, as in ``test_mail_intake_e2e.py``.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from certflow.corrections import (
    RefusalReason,
    read_correction_mail,
    refusal_text,
    reply_address,
)
from starter.smtp_sink import body_text, read_maildir
from tests.corrections.mail_intake_support import (
    SITE_ADDRESS,
    STRANGER_ADDRESS,
    IntakeRig,
    RigFactory,
    correction_body,
    mail,
)

# Seq 12 of the sample summary: practical 50.1.
CANDIDATE = "2026110412012"
ATTACKER = "attacker@evil.example"


async def mail_with_from(rig: IntakeRig, written: str, body: str) -> EmailMessage:
    """Mail ``body`` with its From header written byte for byte as ``written``
    (the standard library would rewrite a From it reads otherwise)."""
    message = mail(SITE_ADDRESS, "成绩修改申请", body, await rig.now())
    raw = message.as_bytes().replace(
        f"From: {SITE_ADDRESS}".encode(), f"From: {written}".encode(), 1
    )
    await rig.send_raw(raw)
    return message


def from_header(written: str) -> bytes:
    return f"From: {written}\r\nSubject: x\r\n\r\nbody\r\n".encode()


@pytest.mark.parametrize(
    ("written", "sender", "name", "unclear"),
    [
        (f"{SITE_ADDRESS} <{ATTACKER}>", SITE_ADDRESS, "", True),
        (f"{SITE_ADDRESS}, {ATTACKER}", SITE_ADDRESS, "", True),
        (f'"{SITE_ADDRESS}" <{ATTACKER}>', ATTACKER, "", False),
        (f"王喆 <{SITE_ADDRESS.upper()}>", SITE_ADDRESS, "王喆", False),
        (f"=?gb2312?b?zfXV3A==?= <{SITE_ADDRESS}>", SITE_ADDRESS, "王哲", False),
        (
            f"=?utf-8?q?{SITE_ADDRESS}_<{ATTACKER}>?= <x@y.example>",
            "x@y.example",
            "",
            False,
        ),
        ("zhang@@example.org", "@example.org", "", True),
        ("a@[", "a@[]", "", True),  # the strict reader raises
    ],
)
def test_the_sender_is_the_one_address_in_angle_brackets(
    written: str, sender: str, name: str, unclear: bool
) -> None:
    reading = read_correction_mail(from_header(written))

    assert (reading.sender, reading.sender_name) == (sender, name)
    assert reading.sender_unclear is unclear


def test_a_mail_with_two_from_headers_is_of_no_clear_sender() -> None:
    """Review: only the first From was read; a mail naming the site in one
    and another sender in a second passed for the site's."""
    raw = from_header(SITE_ADDRESS).replace(
        f"From: {SITE_ADDRESS}".encode(),
        f"From: {SITE_ADDRESS}\nFrom: {ATTACKER}".encode(),
    )

    reading = read_correction_mail(raw)

    assert raw.count(b"From: ") == 2
    assert reading.sender_unclear


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.timeout(120)
async def test_a_site_address_written_as_the_name_does_not_pass_for_the_site(
    open_rig: RigFactory,
) -> None:
    """Regression: ``From: kaowu@site <attacker@evil>`` (unquoted) was read as
    the site's address, the first one the lax parser found, and the request
    was filed."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        body = correction_body(plan_id, CANDIDATE)
        unquoted = await mail_with_from(rig, f"{SITE_ADDRESS} <{ATTACKER}>", body)
        several = await mail_with_from(rig, f"{SITE_ADDRESS}, {ATTACKER}", body)
        quoted = await mail_with_from(rig, f'"{SITE_ADDRESS}" <{ATTACKER}>', body)

        run = await rig.poll()

        assert run.counts == {"refused": 3}
        assert await rig.filed(plan_id) == []
        assert list((await driver.status()).correction_states) == []
        unclear = refusal_text(RefusalReason.SENDER_UNCLEAR, plan_id=plan_id)
        for sent in (unquoted, several):
            row = await rig.mail_row(sent["Message-ID"])
            assert (row["status"], row["reasons"]) == ("refused", unclear)
        row = await rig.mail_row(quoted["Message-ID"])
        assert (row["status"], row["sender"]) == ("refused", ATTACKER)
        [to_attacker] = rig.replies_to(ATTACKER)
        assert "登记的邮箱" in body_text(to_attacker)
        assert "不存在" not in body_text(to_attacker)


def automatic(message: EmailMessage) -> EmailMessage:
    """``message`` marked as an OA system or a mail-merge tool marks it."""
    message["Precedence"] = "bulk"
    message["Auto-Submitted"] = "auto-generated"
    return message


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.timeout(120)
async def test_a_sites_request_sent_by_a_program_is_filed_without_an_answer(
    open_rig: RigFactory,
) -> None:
    """Regression: a site's request mailed by its OA system (Precedence: bulk,
    Auto-Submitted: auto-generated) was ignored as automatic mail, unanswered,
    and ``mailbox assign`` refused it: the request was lost."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        now = await rig.now()
        body = correction_body(plan_id, CANDIDATE)
        merged = automatic(mail(SITE_ADDRESS, "成绩修改申请", body, now))
        await rig.send(merged)
        # The same form from anyone else's robot, and the site's own
        # out-of-office reply, are automatic mail holding no request.
        robot = automatic(mail(STRANGER_ADDRESS, "成绩修改申请", body, now))
        await rig.send(robot)
        away = automatic(mail(SITE_ADDRESS, "自动回复", "本人休假中。", now))
        await rig.send(away)

        run = await rig.poll()

        assert run.counts == {"received": 1, "ignored": 2}
        [filed] = await rig.filed(plan_id)
        assert filed["request_id"] == f"{plan_id}-C001"
        row = await rig.mail_row(merged["Message-ID"])
        assert (row["status"], row["request_ids"]) == ("received", [f"{plan_id}-C001"])
        # No automatic answer to an automatic mail (RFC 3834).
        assert row["reply_sha256"] is None
        assert rig.replies_to(SITE_ADDRESS) == []
        assert rig.replies_to(STRANGER_ADDRESS) == []
        for ignored in (robot, away):
            assert (await rig.mail_row(ignored["Message-ID"]))["status"] == "ignored"
        assert rig.unacknowledged() == 0


LOOKALIKE = "kaowu@whjtxx.ex\u0430mple.edu.cn"  # a Cyrillic а in the domain


@pytest.mark.parametrize(
    ("sender", "to"),
    [
        (LOOKALIKE, "kaowu@whjtxx.xn--exmple-4nf.edu.cn"),
        ("张三@example.org", "张三@example.org"),  # sent by SMTPUTF8, or given up
        (SITE_ADDRESS, SITE_ADDRESS),
        (f"kaowu@{'а' * 64}.example", None),  # a label IDNA cannot write
        ("", None),
    ],
)
def test_a_reply_goes_to_the_domain_in_ascii(sender: str, to: str | None) -> None:
    assert reply_address(sender) == to


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.timeout(120)
async def test_an_address_that_looks_like_the_sites_is_answered_saying_so(
    open_rig: RigFactory,
) -> None:
    """Regression: the answer to ``kaowu@whjtxx.exаmple.edu.cn`` (a Cyrillic а)
    went to ``kaowu@whjtxx.=?utf-8?q?ex=D0=B0mple?=.edu.cn``, no address, and
    said only that the address was not the site's, which it seems to be."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        sent = await mail_with_from(rig, LOOKALIKE, correction_body(plan_id, CANDIDATE))

        run = await rig.poll()

        assert run.counts == {"refused": 1}
        assert await rig.filed(plan_id) == []
        row = await rig.mail_row(sent["Message-ID"])
        assert row["replied_at"] is not None and row["reply_failure"] is None
        [reply] = [
            m
            for m in read_maildir(rig.sink.root / "all")
            if m.get("Auto-Submitted") == "auto-replied"
        ]
        assert reply["To"] == "kaowu@whjtxx.xn--exmple-4nf.edu.cn"
        assert "=?" not in str(reply["To"])
        text = body_text(reply)
        assert "U+0430（а）" in text and "不是同一个地址" in text


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.timeout(120)
async def test_a_reused_message_id_does_not_swallow_another_request(
    open_rig: RigFactory,
) -> None:
    """Regression: a second mail from the same sender under the Message-ID of
    the first but with another request was taken for a second delivery of the
    first (``already_processed``): no row, no request, no reply."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        first = await rig.mail_in("成绩修改申请", correction_body(plan_id, CANDIDATE))
        second = mail(
            SITE_ADDRESS,
            "成绩修改申请",
            correction_body(
                plan_id, CANDIDATE, field_label="理论成绩", published="82.10"
            ),
            await rig.now(),
        )
        second.replace_header("Message-ID", first["Message-ID"])
        await rig.send(second)
        await rig.send(second)  # and that one delivered twice

        run = await rig.poll()
        await rig.send(first)  # the first, delivered again after all this
        later = await rig.poll()

        assert run.counts == {"received": 2, "already_processed": 1}
        assert later.counts == {"already_processed": 1}
        filed = await rig.filed(plan_id)
        assert [r["field"] for r in filed] == ["practical", "theory"]
        rows = await rig.pool.fetch(
            "SELECT request_ids FROM mail_messages WHERE message_id = $1",
            first["Message-ID"],
        )
        assert sorted(r["request_ids"] for r in rows) == [
            [f"{plan_id}-C001"],
            [f"{plan_id}-C002"],
        ]
        assert len(rig.replies_to(SITE_ADDRESS)) == 2
        assert rig.unacknowledged() == 0


def test_what_was_written_is_keyed_as_it_travels_not_as_it_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review: the key of what a mail says hashed the reader's own reading
    (decoded text, file names): a release reading them otherwise gave a mail
    fetched again after the deploy another key, and its requests were filed
    twice. It is keyed by the bytes as sent, transfer encoding undone: a relay
    wrapping the base64 otherwise keeps it, another attachment does not."""
    import base64
    from datetime import UTC, datetime

    def sent(data: bytes) -> EmailMessage:
        message = mail(
            SITE_ADDRESS, "成绩修改申请", "见附件", datetime(2026, 12, 6, tzinfo=UTC)
        )
        message.add_attachment(
            data, maintype="application", subtype="octet-stream", filename="a.xlsx"
        )
        return message

    data = bytes(range(256)) * 4
    original = sent(data).as_bytes()
    wrapped = base64.encodebytes(data)
    assert wrapped in original.replace(b"\r\n", b"\n")
    rewrapped = base64.b64encode(data)
    relayed = original.replace(b"\r\n", b"\n").replace(
        wrapped,
        b"\n".join(rewrapped[i : i + 60] for i in range(0, len(rewrapped), 60)) + b"\n",
    )

    key = read_correction_mail(original).written_key
    assert relayed != original
    assert read_correction_mail(relayed).written_key == key
    assert read_correction_mail(sent(data[::-1]).as_bytes()).written_key != key
    # A release that reads the subject otherwise keys the same mail alike.
    import certflow.corrections.mail as reader

    monkeypatch.setattr(reader, "decode_header_text", lambda value: "读法不同")
    assert read_correction_mail(original).written_key == key
