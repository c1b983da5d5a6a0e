"""An ID number a mailed form holds goes neither into a plan nor a log whole.

Regression (hostile trial of the correction stage): a mailed request whose
修改原因 or 申请人 held an ID number was filed, the number in the plan's
history, the database and the regional manager's mail; a From display name
that was an ID number became the requester of a form without 申请人; an ID
number typed as the plan id was logged and stored whole in
``mail_messages.plan_id``; and a refused 准考证号, 考试计划编号 or 修改项目 was
repeated whole in the reply and in ``mail_messages.reasons``.

Now the mailbox refuses such a reason or requester naming the field (never
the number), passes over such a display name for the address, refuses an ID
number as plan id unlooked-up, and masks every value it repeats. The plan's
own validator refuses an ID number in a request's reason or requester from
any client.

Real parts only: the time-skipping Temporal server, PostgreSQL, an SMTP sink
delivering into the exam maildir read by ``MaildirSource``.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from certflow.actions import CorrectionSubmission
from certflow.corrections import read_correction_mail
from certflow.i18n import t
from starter.smtp_sink import body_text, read_maildir
from tests.corrections.mail_intake_support import (
    EXAM_MAILBOX,
    SITE_ADDRESS,
    IntakeRig,
    RigFactory,
    correction_body,
    mail,
)
from tests.corrections.test_mailed_request_checks import CHEN_SIBIN, SEQ_12
from tests.support import INFO, history_bytes, mails_of
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# Resident ID numbers as the trial typed them into forms and headers.
IN_REASON = "420111200402277205"
IN_REQUESTER = "420902200602229213"
AS_DISPLAY_NAME = "420111200709138234"
AS_PLAN_ID = "330106200308287009"
IN_ADMISSION = "110105200412147666"
EVERY_NUMBER = (IN_REASON, IN_REQUESTER, AS_DISPLAY_NAME, AS_PLAN_ID, IN_ADMISSION)


def _outgoing(rig: IntakeRig) -> list[EmailMessage]:
    """Every mail certflow sent (replies, the plans' mails), not those sent to it."""
    return [
        m
        for m in read_maildir(rig.sink.root / "all")
        if EXAM_MAILBOX not in str(m.get("To", ""))
    ]


def _holds_any(text: str) -> list[str]:
    return [number for number in EVERY_NUMBER if number in text]


def _replies(rig: IntakeRig) -> dict[str, str]:
    """The replies to the site, by the Message-ID they answer: their text."""
    return {r["In-Reply-To"]: body_text(r) for r in rig.replies_to(SITE_ADDRESS)}


async def test_an_id_number_in_a_mailed_reason_or_requester_is_refused_unrepeated(
    open_rig: RigFactory,
) -> None:
    """The reply names 修改原因 / 申请人 and says why, nothing is filed, and
    the number is in no reply, row or history."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        in_reason = await rig.mail_in(
            "成绩修改申请",
            correction_body(
                plan_id, SEQ_12, reason=f"考生身份证号 {IN_REASON}，实操分数抄错"
            ),
        )
        in_requester = await rig.mail_in(
            "成绩修改申请",
            correction_body(plan_id, SEQ_12).replace(
                "申请人：武汉市交通职业技术学校考务办", f"申请人：王喆 {IN_REQUESTER}"
            ),
        )

        run = await rig.poll()

        assert run.counts == {"unmatched": 2}
        assert await rig.filed(plan_id) == []
        replies = _replies(rig)
        for sent, label in ((in_reason, "修改原因"), (in_requester, "申请人")):
            said = t("corrections.problem.text_holds_id_number", label=label)
            row = await rig.mail_row(sent["Message-ID"])
            assert said in row["reasons"]
            assert said in replies[sent["Message-ID"]]
            assert _holds_any(row["reasons"]) == []
        assert not any(_holds_any(body_text(m)) for m in _outgoing(rig))
        assert _holds_any((await history_bytes(*rig.handles())).decode("latin-1")) == []


async def test_a_display_name_holding_an_id_number_is_not_the_requester(
    open_rig: RigFactory,
) -> None:
    """A form without 申请人 from a mail program showing an ID number as the
    sender's name is filed, with the address as requester: the number is in
    neither the plan, the request nor the regional manager's mail."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        body = correction_body(plan_id, SEQ_12).replace(
            "申请人：武汉市交通职业技术学校考务办\n", ""
        )
        sent = mail(SITE_ADDRESS, "成绩修改申请", body, await rig.now())
        sent.replace_header("From", f"{AS_DISPLAY_NAME} <{SITE_ADDRESS}>")
        await rig.send(sent)

        run = await rig.poll()

        assert run.counts == {"received": 1}
        [filed] = await rig.filed(plan_id)
        assert filed["requester"] == SITE_ADDRESS
        [received] = await mails_of(
            lambda: _outgoing(rig), plan_id, "correction_received"
        )
        assert SITE_ADDRESS in body_text(received)
        assert not any(_holds_any(body_text(m)) for m in _outgoing(rig))
        assert _holds_any((await history_bytes(*rig.handles())).decode("latin-1")) == []


async def test_an_id_number_as_plan_id_is_neither_logged_nor_stored(
    open_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The form's 考试计划编号 holding an ID number: refused masked, and the
    log line and ``mail_messages.plan_id`` do not hold it."""
    async with open_rig() as rig:
        await rig.plan_in_publicity(then_poll=True)
        sent = await rig.mail_in("成绩修改申请", correction_body(AS_PLAN_ID, SEQ_12))

        with caplog.at_level(logging.INFO, logger="activities.mail_intake"):
            run = await rig.poll()

        assert run.counts == {"unmatched": 1}
        logged = [r.getMessage() for r in caplog.records if "mail recorded" in r.msg]
        assert len(logged) == 1 and _holds_any(logged[0]) == []
        row = await rig.mail_row(sent["Message-ID"])
        assert row["plan_id"] is None
        assert "3301**********7009" in row["reasons"]
        assert _holds_any(row["reasons"]) == []
        assert _holds_any(_replies(rig)[sent["Message-ID"]]) == []


async def test_refused_values_of_a_mailed_form_are_repeated_masked(
    open_rig: RigFactory,
) -> None:
    """准考证号, 考试计划编号 and 修改项目 refused: the value is shown back with
    the ID number in it masked, in the reply and the row. A plan id holding
    one is refused as such; one glued into a longer run of digits as malformed.
    """
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        forms = {
            "bad_admission_number": correction_body(
                plan_id, f"{CHEN_SIBIN} {IN_ADMISSION}", name="陈思彬"
            ),
            "plan_id_is_id_number": correction_body(
                f"{plan_id} {IN_ADMISSION}", SEQ_12
            ),
            "bad_plan_id": correction_body(f"{plan_id} {IN_ADMISSION}99", SEQ_12),
            "unknown_score_field": correction_body(
                plan_id, SEQ_12, field_label=f"实操 {IN_ADMISSION}"
            ),
        }
        sent = {code: await rig.mail_in("成绩修改申请", b) for code, b in forms.items()}

        run = await rig.poll()

        assert run.counts == {"unmatched": 4}
        replies = _replies(rig)
        for code, message in sent.items():
            row = await rig.mail_row(message["Message-ID"])
            reading = read_correction_mail(message.as_bytes())
            assert [p.code for p in reading.problems] == [code]
            assert "（值：" in row["reasons"] and "1101*" in row["reasons"], code
            assert _holds_any(row["reasons"]) == [], code
            assert _holds_any(replies[message["Message-ID"]]) == [], code


async def test_a_plan_refuses_an_id_number_in_a_requests_reason_or_requester(
    open_rig: RigFactory,
) -> None:
    """Whichever client sends it: the validator refuses, naming the field,
    before anything reaches the plan's history."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity()
        requests: dict[str, dict[str, Any]] = {
            "理由": {"reason": f"身份证 {IN_REASON}"},
            "申请人": {"reason": "成绩登记错误", "requester": f"王喆 {IN_REQUESTER}"},
        }
        for field, texts in requests.items():
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await driver.h.execute_update(
                    ExamPlanWorkflow.submit_correction,
                    CorrectionSubmission(
                        actor=INFO,
                        admission_number=SEQ_12,
                        field="practical",
                        requested_score="60.1",
                        **texts,
                    ),
                )
            said = t("plan.correction_holds_id_number", field=field)
            assert str(getattr(refused.value.cause, "message", "")) == said

        assert _holds_any((await history_bytes(*rig.handles())).decode("latin-1")) == []
