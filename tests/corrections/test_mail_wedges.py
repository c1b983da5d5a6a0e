"""One mail never stops the exam mailbox, whoever sent it.

Regressions of a hostile sender's trial: a mailed form with no usable From
(none, ``<>``, a group with no address, ``x@``) raised while its refusal was
phrased, and a NUL in a header (a Message-ID, an attachment's name written
``scan%00.pdf``) made PostgreSQL refuse the mail's row. Either was retried
without end, no mail after it was read, and a site's request with such a
Message-ID was filed (its manager mailed) while its mail was never recorded
nor acknowledged.

Real parts only: the time-skipping Temporal server, PostgreSQL, an SMTP sink
delivering into the exam maildir read by ``MaildirSource``.
"""

from __future__ import annotations

from typing import Any

import pytest

from certflow.corrections import RefusalReason, refusal_text
from certflow.i18n import t
from starter.smtp_sink import body_text
from tests.corrections.mail_intake_support import (
    SITE_ADDRESS,
    STRANGER_ADDRESS,
    IntakeRig,
    RigFactory,
    correction_body,
    mail,
)
from tests.corrections.test_mailed_request_checks import SEQ_12

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def _bad_then_good(
    rig: IntakeRig, plan_id: str, bad: bytes, message_id: str, counted: str
) -> Any:
    """Mail ``bad``, then a site's valid request (the bad one files nothing),
    poll once: ``bad`` is recorded as ``counted``, the request after it is
    filed, nothing is left in the mailbox. Return the bad mail's row."""
    await rig.send_raw(bad)
    good = await rig.mail_in("成绩修改申请", correction_body(plan_id, SEQ_12))

    run = await rig.poll()

    assert run.counts == {counted: 1, "received": 1}, run.counts
    assert (await rig.mail_row(str(good["Message-ID"])))["status"] == "received"
    assert [r["admission_number"] for r in await rig.filed(plan_id)] == [SEQ_12]
    assert rig.unacknowledged() == 0
    return await rig.mail_row(message_id)


@pytest.mark.parametrize(
    "written",
    [None, "<>", "undisclosed-recipients:;", "x@"],
    ids=["no-from", "empty", "group", "no-domain"],
)
async def test_a_form_with_no_usable_sender_is_kept_refused_and_the_rest_read(
    open_rig: RigFactory, written: str | None
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        bad = mail(SITE_ADDRESS, "成绩修改申请", correction_body(plan_id, SEQ_12),
                   await rig.now())  # fmt: skip
        # Written as a hostile client writes it, past what EmailMessage takes.
        site = f"From: {SITE_ADDRESS}\n".encode()
        given = b"" if written is None else f"From: {written}\n".encode()
        row = await _bad_then_good(
            rig,
            plan_id,
            bad.as_bytes().replace(site, given),
            str(bad["Message-ID"]),
            "refused",
        )

    assert row["reasons"] == refusal_text(RefusalReason.NO_SENDER)
    assert row["reply_sha256"] is None  # nobody to answer


async def test_a_nul_in_a_strangers_headers_is_recorded_and_the_rest_read(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        bad = mail(STRANGER_ADDRESS, "成绩修改申请", "见附件", await rig.now())
        bad.add_attachment(
            b"%PDF-1.4\n", maintype="application", subtype="pdf", filename="scan.pdf"
        )
        raw = bad.as_bytes().replace(
            b'filename="scan.pdf"', b"filename*=utf-8''scan%00.pdf"
        )
        row = await _bad_then_good(
            rig, plan_id, raw, str(bad["Message-ID"]), "unmatched"
        )

    assert row is not None and "\x00" not in (row["reasons"] or "")


async def test_a_sites_request_with_a_nul_in_its_message_id_is_filed_once_and_answered(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        sent = mail(SITE_ADDRESS, "成绩修改申请", correction_body(plan_id, SEQ_12),
                    await rig.now())  # fmt: skip
        del sent["Message-ID"]
        sent["Message-ID"] = "<req-1@whjtxx.example.edu.cn>"
        await rig.send_raw(sent.as_bytes().replace(b"<req-1@", b"<req\x00-1@"))

        first = await rig.poll()
        again = await rig.poll()

        assert first.counts == {"received": 1}, first.counts
        assert again.counts == {}
        [filed] = await rig.filed(plan_id)
        row = await rig.mail_row("<req\ufffd-1@whjtxx.example.edu.cn>")
        assert row["status"] == "received" and row["request_ids"] == [
            filed["request_id"]
        ]
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert filed["request_id"] in body_text(reply)
        assert rig.unacknowledged() == 0


async def test_a_mail_whose_reading_raises_is_kept_for_staff_once(
    open_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: a mail whose processing raised was left in the mailbox, read
    again at every poll and shown nowhere; two hundred of them (a poll's
    batch) would hold up every other mail. It is recorded for staff, answered
    to nobody, and no poll reads it again."""
    import activities.mail_intake as intake

    reading = intake.read_correction_mail

    def tripping(raw: bytes) -> Any:
        if b"X-Trip: yes" in raw:
            raise ValueError("a value no path foresaw")
        return reading(raw)

    monkeypatch.setattr(intake, "read_correction_mail", tripping)
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        bad = mail(SITE_ADDRESS, "成绩修改申请", correction_body(plan_id, SEQ_12),
                   await rig.now())  # fmt: skip
        bad["X-Trip"] = "yes"
        await rig.send(bad)
        good = await rig.mail_in("成绩修改申请", correction_body(plan_id, SEQ_12))

        first = await rig.poll()
        again = await rig.poll()

        assert first.counts == {"kept_for_staff": 1, "received": 1}, first.counts
        assert again.counts == {}, again.counts
        kept = await rig.pool.fetch(
            "SELECT status, reasons, reply_sha256 FROM mail_messages"
            " WHERE dedupe_key LIKE 'unprocessed-%'"
        )
        assert [tuple(row) for row in kept] == [
            ("unmatched", t("corrections.refusal.unprocessed"), None)
        ]
        assert (await rig.mail_row(str(good["Message-ID"])))["status"] == "received"
        assert len(rig.replies_to(SITE_ADDRESS)) == 1  # the good one's
        assert rig.unacknowledged() == 0
