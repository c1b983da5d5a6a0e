"""The exam mailbox end to end: mail in by SMTP, requests filed, replies out.

Real parts only: the time-skipping Temporal server with a worker holding the
plan and mailbox workflows, PostgreSQL, an SMTP sink delivering the exam
mailbox's mail into a maildir, and ``MaildirSource`` reading that maildir.
Every request is a plan driven to its publicity period first.
"""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.documents import DocumentStore
from activities.heartbeat import HEARTBEAT_TIMEOUT
from certflow.actions import CorrectionApply, CorrectionDecision
from certflow.config import Settings
from certflow.corrections import RefusalReason, read_correction_mail, refusal_text
from certflow.i18n import t
from certflow.models import Stage
from certflow.timeutil import end_of_day, start_of_day
from starter import mailbox_cli
from starter.smtp_sink import body_text
from tests.corrections.mail_intake_support import (
    SITE_ADDRESS,
    STRANGER_ADDRESS,
    FlakyMailer,
    FlakySource,
    FlakyStore,
    RigFactory,
    assign_argv,
    correction_body,
    filled_form,
    intake_rig,
    mail,
)
from tests.support import (
    INFO,
    MANAGER,
    corrections_refused,
    heartbeat_timeouts,
    history_bytes,
)
from workflows import ExamPlanWorkflow
from workflows.mailbox import MAILBOX_WORKFLOW_ID, MailboxPollWorkflow, PollNow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"
# Seq 12 of the sample summary: practical 50.1, total 52.5 (fails); 60.1 passes.
CANDIDATE = "2026110412012"


async def test_a_mailed_request_is_filed_acknowledged_decided_and_applied(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        request = await rig.mail_in(
            f"{plan_id} 成绩修改申请",
            correction_body(plan_id, CANDIDATE, published="50.1", requested="60.10"),
        )

        run = await rig.poll()

        assert (run.fetched, run.counts) == (1, {"received": 1})
        status = await driver.status()
        request_id = f"{plan_id}-C001"
        assert list(status.correction_states) == [request_id]
        [filed] = await rig.filed(plan_id)
        assert filed["request_id"] == request_id
        assert (filed["admission_number"], filed["field"]) == (CANDIDATE, "practical")
        assert (filed["published_score"], filed["requested_score"]) == ("50.1", "60.10")
        assert (filed["entered_by"], filed["requester_email"]) == (
            "mailbox",
            SITE_ADDRESS,
        )
        row = await rig.mail_row(request["Message-ID"])
        assert (row["status"], row["plan_id"], row["request_ids"]) == (
            "received",
            plan_id,
            [request_id],
        )
        assert filed["source_key"] == f"{row['dedupe_key']}#1"
        assert row["replied_at"] is not None and rig.unacknowledged() == 0
        # What it asks, why and who asked are filed from PostgreSQL: none of
        # it is in the plan's or the mailbox's history, nor left as a draft.
        history = await history_bytes(*rig.handles())
        for personal in (filed["reason"], filed["requester"], SITE_ADDRESS, "60.10"):
            assert personal.encode() not in history, personal
        drafts = "SELECT count(*) FROM correction_drafts WHERE plan_id = $1"
        assert await rig.pool.fetchval(drafts, plan_id) == 0

        [reply] = rig.replies_to(SITE_ADDRESS)
        assert reply["In-Reply-To"] == request["Message-ID"]
        assert reply["Message-ID"] == row["reply_message_id"]
        text = body_text(reply)
        assert request_id in text and CANDIDATE in text
        assert "雷*" in text and "雷芳彬" not in text  # the name is masked

        # The regional manager approves, the info center applies: history kept.
        decided = await driver.h.execute_update(
            ExamPlanWorkflow.decide_correction,
            CorrectionDecision(actor=MANAGER, request_id=request_id, approve=True),
        )
        assert decided.accepted
        applied = await driver.h.execute_update(
            ExamPlanWorkflow.apply_correction,
            CorrectionApply(actor=INFO, request_id=request_id),
        )
        assert applied.accepted
        history = await rig.pool.fetch(
            "SELECT field, old_value, new_value, changed_by FROM score_history "
            "WHERE plan_id = $1 AND request_id = $2 ORDER BY id",
            plan_id,
            request_id,
        )
        changes = {r["field"]: (r["old_value"], r["new_value"]) for r in history}
        assert changes["practical"] == ("50.10", "60.10")
        assert {r["changed_by"] for r in history} == {INFO.person}
        score = await rig.pool.fetchrow(
            "SELECT practical, passed FROM scores "
            "WHERE plan_id = $1 AND admission_number = $2",
            plan_id,
            CANDIDATE,
        )
        assert (score["practical"], score["passed"]) == (Decimal("60.10"), True)


async def test_a_request_received_after_the_cutoff_is_refused_naming_the_date(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity()
        plan_id = driver.plan.plan_id
        window = (await driver.status()).publicity
        assert window is not None
        late = end_of_day(window.cutoff_day) + timedelta(hours=2)
        await driver.skip_to(late)
        assert (await driver.status()).stage == Stage.PUBLICITY
        await rig.start_poller()
        request = await rig.mail_in("成绩修改申请", correction_body(plan_id, CANDIDATE))
        # Dated before the cut-off by the sender, stamped after it by the mailbox.
        backdated = mail(
            SITE_ADDRESS,
            "成绩修改申请（补）",
            correction_body(
                plan_id, "2026110412004", published="53.1", requested="63.1"
            ),
            end_of_day(window.cutoff_day) - timedelta(hours=3),
        )
        stamp = (
            f"Received: from mx.example by exam-mailbox; {format_datetime(late)}\r\n"
        )
        await rig.send_raw(stamp.encode() + backdated.as_bytes())

        run = await rig.poll()

        assert run.counts == {"refused": 2}
        assert (await driver.status()).correction_states == {}
        assert await rig.filed(plan_id) == []
        row = await rig.mail_row(request["Message-ID"])
        assert (row["status"], row["request_ids"]) == ("refused", [])
        assert window.cutoff_day.isoformat() in row["reasons"]
        assert (await rig.mail_row(backdated["Message-ID"]))["received_at"] == late
        replies = rig.replies_to(SITE_ADDRESS)
        assert len(replies) == 2
        assert all(window.cutoff_day.isoformat() in body_text(r) for r in replies)


async def test_a_request_received_before_publicity_opens_is_refused_naming_it(
    open_rig: RigFactory,
) -> None:
    """Regression: a mail that came in after the upload's confirmation but
    before the first publicity day was filed."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True, opened=False)
        plan_id = driver.plan.plan_id
        window = (await driver.status()).publicity
        assert window is not None
        # The eve of the first day, as the mailbox stamped it.
        eve = start_of_day(window.start_day) - timedelta(minutes=5)
        await driver.skip_to(eve)
        request = await rig.mail_in("成绩修改申请", correction_body(plan_id, CANDIDATE))

        run = await rig.poll()

        assert run.counts == {"refused": 1}
        assert (await driver.status()).correction_states == {}
        assert await rig.filed(plan_id) == []
        row = await rig.mail_row(request["Message-ID"])
        assert (row["status"], row["request_ids"]) == ("refused", [])
        opens = refusal_text(
            RefusalReason.PUBLICITY_NOT_OPEN, plan_id=plan_id, opens=window.start_day
        )
        assert row["reasons"] == opens
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert reply["In-Reply-To"] == request["Message-ID"]
        assert opens in body_text(reply)


async def test_strangers_unknown_plans_and_robots_file_nothing(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        for about in (plan_id, "P2099-0101-0009"):
            await rig.mail_in(
                "成绩修改", correction_body(about, CANDIDATE), sender=STRANGER_ADDRESS
            )
        await rig.mail_in("成绩修改", correction_body("P2099-0101-0001", CANDIDATE))
        # A vacation robot's answer: recorded, never answered.
        vacation = (CORPUS / "13-vacation-autoreply.eml").read_bytes()
        await rig.send_raw(vacation)

        run = await rig.poll()

        assert run.counts == {"refused": 3, "ignored": 1}
        assert await rig.filed(plan_id) == []
        to_stranger = [body_text(r) for r in rig.replies_to(STRANGER_ADDRESS)]
        assert len(to_stranger) == 2
        for text, about in zip(to_stranger, (plan_id, "P2099-0101-0009"), strict=True):
            assert STRANGER_ADDRESS in text and about in text
            assert "登记的邮箱" in text  # sender not the plan's site
            assert "不存在" not in text  # nor told which plans exist
        [to_site] = rig.replies_to(SITE_ADDRESS)
        assert "P2099-0101-0001" in body_text(to_site)
        assert "不存在" in body_text(to_site)  # unknown plan
        robot = await rig.mail_row(read_correction_mail(vacation).message_id)
        assert (robot["status"], robot["reply_sha256"]) == ("ignored", None)
        assert rig.unacknowledged() == 0


async def test_see_attachment_without_one_is_answered_with_what_is_missing(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        await rig.start_poller()
        sent = await rig.mail_in(
            "成绩修改申请", "老师好：\n本校的成绩修改申请表见附件，请审核。\n谢谢！"
        )

        run = await rig.poll()

        assert run.counts == {"unmatched": 1}
        row = await rig.mail_row(sent["Message-ID"])
        [reply] = rig.replies_to(SITE_ADDRESS)
        text = body_text(reply)
        missing = t("corrections.problem.attachment_missing")
        assert missing in text and missing in row["reasons"]
        # The precise reason alone, not the general "could not read your form".
        assert refusal_text(RefusalReason.UNREADABLE_FORM) not in text
        assert rig.unacknowledged() == 0


async def test_a_mail_without_a_form_waits_for_staff_who_assign_it(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        plea = await rig.mail_in(
            "关于考生成绩的问题",
            "老师好，我校一名考生对实操成绩有异议，详情见电话沟通。",
        )

        run = await rig.poll()

        assert run.counts == {"unmatched": 1}
        row = await rig.mail_row(plea["Message-ID"])
        assert (row["status"], row["request_ids"]) == ("unmatched", [])
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert "邮件中没有找到成绩修改申请表" in body_text(reply)

        out = io.StringIO()
        code = await mailbox_cli.run(
            ["list", "--status", "unmatched"], rig.settings, out=out
        )
        listing = out.getvalue()
        assert code == 0 and row["dedupe_key"][:12] in listing
        assert SITE_ADDRESS in listing and "待人工处理" in listing

        argv = assign_argv(row["dedupe_key"], plan_id, CANDIDATE)
        out = io.StringIO()
        code = await mailbox_cli.run(argv, rig.settings, client=rig.env.client, out=out)
        assert code == 0, out.getvalue()
        request_id = f"{plan_id}-C001"
        assert request_id in out.getvalue()
        # Assigning the same request again files nothing new.
        again = io.StringIO()
        code = await mailbox_cli.run(
            argv, rig.settings, client=rig.env.client, out=again
        )
        assert code == 0 and request_id in again.getvalue()

        [filed] = await rig.filed(plan_id)
        assert (filed["request_id"], filed["entered_by"]) == (request_id, "ic-li")
        # The request counts as received when the mail was.
        assert filed["received_at"] == row["received_at"]
        assigned = await rig.mail_row(plea["Message-ID"])
        assert (assigned["status"], assigned["request_ids"]) == (
            "assigned",
            [request_id],
        )
        assert assigned["assigned_by"] == "ic-li"
        assert list((await driver.status()).correction_states) == [request_id]
        acknowledgements = [
            r for r in rig.replies_to(SITE_ADDRESS) if request_id in body_text(r)
        ]
        assert acknowledgements


async def test_a_mail_delivered_twice_files_one_request(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        request = await rig.mail_in("成绩修改申请", correction_body(plan_id, CANDIDATE))
        await rig.send(request)  # the same Message-ID, delivered again

        run = await rig.poll()
        await rig.send(request)  # and once more, after it was processed
        later = await rig.poll()

        assert run.counts == {"received": 1, "already_processed": 1}
        assert later.counts == {"already_processed": 1}
        assert [r["request_id"] for r in await rig.filed(plan_id)] == [
            f"{plan_id}-C001"
        ]
        assert list((await driver.status()).correction_states) == [f"{plan_id}-C001"]
        assert len(rig.replies_to(SITE_ADDRESS)) == 1
        assert rig.unacknowledged() == 0


async def test_a_crash_before_acknowledging_neither_loses_nor_doubles_requests(
    open_rig: RigFactory,
) -> None:
    sources: list[FlakySource] = []

    def crashing(inner: Any) -> FlakySource:
        sources.append(FlakySource(inner, failures=1))
        return sources[-1]

    async with open_rig(wrap_source=crashing) as rig:
        driver = await rig.plan_in_publicity()
        plan_id = driver.plan.plan_id
        first = await rig.mail_in("申请一", correction_body(plan_id, CANDIDATE))
        second = await rig.mail_in(
            "申请二",
            correction_body(
                plan_id,
                "2026110412004",
                field_label="理论成绩",
                published="53.1",
                requested="63.1",
            ),
        )

        # The first poll crashes once the first mail is recorded, before the
        # source forgets it; Temporal retries the poll, which finishes both.
        await rig.start_poller()

        state = await rig.progress()
        assert state.last is not None
        assert state.last.counts == {"already_processed": 1, "received": 1}
        assert sources[0].failures == 0 and len(sources[0].acknowledged) == 2
        filed = await rig.filed(plan_id)
        assert [(r["request_id"], r["admission_number"]) for r in filed] == [
            (f"{plan_id}-C001", CANDIDATE),
            (f"{plan_id}-C002", "2026110412004"),
        ]
        assert len((await driver.status()).correction_states) == 2
        replies = rig.replies_to(SITE_ADDRESS)
        assert sorted(r["In-Reply-To"] for r in replies) == sorted(
            [first["Message-ID"], second["Message-ID"]]
        )
        assert rig.unacknowledged() == 0


async def test_a_crash_before_the_reply_sends_it_once_on_retry(
    open_rig: RigFactory,
) -> None:
    mailers: list[FlakyMailer] = []

    def crashing(inner: Any) -> FlakyMailer:
        mailers.append(FlakyMailer(inner, failures=1))
        return mailers[-1]

    async with open_rig(wrap_mailer=crashing) as rig:
        driver = await rig.plan_in_publicity()
        plan_id = driver.plan.plan_id
        request = await rig.mail_in("成绩修改申请", correction_body(plan_id, CANDIDATE))

        await rig.start_poller()

        assert mailers[0].failures == 0
        assert len(await rig.filed(plan_id)) == 1
        row = await rig.mail_row(request["Message-ID"])
        assert row["status"] == "received" and row["replied_at"] is not None
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert reply["Message-ID"] == row["reply_message_id"]
        assert rig.unacknowledged() == 0


async def test_a_crash_between_filing_and_recording_files_nothing_twice(
    open_rig: RigFactory, resources: tuple[Any, DocumentStore]
) -> None:
    store = FlakyStore(resources[1].root)
    async with open_rig(intake_store=store) as rig:
        driver = await rig.plan_in_publicity()
        plan_id = driver.plan.plan_id
        request = await rig.mail_in("成绩修改申请", correction_body(plan_id, CANDIDATE))

        # The first attempt files the request with the plan, then dies before
        # the mail is recorded; the retry finds the request by its source key.
        await rig.start_poller()

        assert store.failures == 0
        state = await rig.progress()
        assert state.last is not None and state.last.counts == {"received": 1}
        request_id = f"{plan_id}-C001"
        assert [r["request_id"] for r in await rig.filed(plan_id)] == [request_id]
        assert list((await driver.status()).correction_states) == [request_id]
        row = await rig.mail_row(request["Message-ID"])
        assert row["request_ids"] == [request_id]
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert request_id in body_text(reply)


async def test_the_poller_continues_as_new_keeping_its_counts(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        await rig.start_poller(polls_per_run=2)
        assert rig.poller is not None
        first_run = (await rig.poller.describe()).run_id
        await rig.mail_in("成绩修改", correction_body("P2099-0101-0002", CANDIDATE))
        await rig.poll()  # the second poll of the first run: the mail, refused

        # This wake ends the first run; the next one polls at once. Queries wait
        # for the new run: the time-skipping server loses a query sent to a run
        # while it continues as new.
        await rig.poller.signal(MailboxPollWorkflow.poll_now, PollNow())
        for _ in range(100):
            if (await rig.poller.describe()).run_id != first_run:
                break
            await asyncio.sleep(0.1)
        state = await rig.polls_beyond(2)

        assert (await rig.poller.describe()).run_id != first_run
        assert state.polls == 3 and state.fetched == 1
        assert state.counts == {"refused": 1}
        # Polls heartbeat: one whose worker died is retried within 30 s.
        polls = await heartbeat_timeouts(rig.poller, "process_mailbox")
        assert polls == {HEARTBEAT_TIMEOUT.total_seconds()}


async def test_the_poll_command_starts_the_poller_once_then_wakes_it(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        await rig.mail_in("成绩修改", correction_body("P2099-0101-0003", CANDIDATE))
        out = io.StringIO()

        code = await mailbox_cli.run(
            ["poll"], rig.settings, client=rig.env.client, out=out
        )

        assert code == 0 and "已开始读取考务邮箱" in out.getvalue()
        rig.poller = rig.env.client.get_workflow_handle(MAILBOX_WORKFLOW_ID)
        state = await rig.polls_beyond(0)
        assert state.counts == {"refused": 1}
        first_run = (await rig.poller.describe()).run_id

        await rig.mail_in("成绩修改", correction_body("P2099-0101-0004", CANDIDATE))
        code = await mailbox_cli.run(
            ["poll"], rig.settings, client=rig.env.client, out=out
        )

        assert code == 0
        state = await rig.polls_beyond(state.polls)
        assert state.counts == {"refused": 2}
        assert (await rig.poller.describe()).run_id == first_run  # one poller


async def test_a_mail_partly_filed_is_acknowledged_with_what_was_not(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        body = (
            correction_body(plan_id, CANDIDATE)
            + "\n"
            + correction_body(
                plan_id, "2026110499999", field_label="理论成绩", published="40"
            )
        )
        request = await rig.mail_in("两名考生成绩修改申请", body)

        run = await rig.poll()

        assert run.counts == {"received": 1}
        [filed] = await rig.filed(plan_id)
        assert filed["admission_number"] == CANDIDATE
        row = await rig.mail_row(request["Message-ID"])
        assert row["request_ids"] == [filed["request_id"]]
        assert "2026110499999" in row["reasons"]
        [reply] = rig.replies_to(SITE_ADDRESS)
        text = body_text(reply)
        assert filed["request_id"] in text
        assert "以下内容未能登记" in text and "2026110499999" in text


async def test_a_form_whose_formula_lost_its_result_files_nothing_and_says_where(
    open_rig: RigFactory, tmp_path: Path
) -> None:
    """Regression: the published score, looked up with a formula by a tool
    that saved no result, was answered as missing ("缺少“原成绩”")."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        values = [plan_id, "雷芳彬", None, CANDIDATE, "1-1", "实操成绩",
                  "=VLOOKUP(D4,公示成绩!A:H,8,0)", "60.1", "实操评分表抄录错误",
                  "武汉市交通职业技术学校考务办"]  # fmt: skip
        form = filled_form([values], tmp_path / "成绩修改申请表.xlsx")
        await rig.mail_in_form(plan_id, form)

        run = await rig.poll()

        assert run.counts == {"unmatched": 1}
        assert await rig.filed(plan_id) == []
        assert (await driver.status()).correction_states == {}
        [reply] = rig.replies_to(SITE_ADDRESS)
        text = body_text(reply)
        where = "工作表“成绩修改申请表” 第 4 行 “原成绩”列"
        assert f"{where}：{t('intake.formula_without_result')}" in text
        assert t("corrections.problem.missing_field", label="原成绩") not in text


async def test_a_request_for_a_plan_whose_workflow_ended_is_refused(
    open_rig: RigFactory,
) -> None:
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        await driver.h.terminate("closed by an operator")
        request = await rig.mail_in("成绩修改申请", correction_body(plan_id, CANDIDATE))

        run = await rig.poll()

        # The status query still answers from history; the update cannot run.
        assert run.counts == {"refused": 1}
        assert await rig.filed(plan_id) == []
        row = await rig.mail_row(request["Message-ID"])
        assert row["reasons"] and row["replied_at"] is not None
        assert len(rig.replies_to(SITE_ADDRESS)) == 1


async def test_a_request_the_plan_cannot_file_now_waits_in_the_mailbox(
    open_rig: RigFactory,
) -> None:
    """Regression: a filing that failed for a system reason (here PostgreSQL
    refusing the row) was answered to the school as refused, for good."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        async with corrections_refused(rig.pool, plan_id):
            request = await rig.mail_in(
                "成绩修改申请", correction_body(plan_id, CANDIDATE)
            )

            run = await rig.poll()

            assert run.counts == {"deferred": 1}
            assert await rig.mail_row(request["Message-ID"]) is None
            assert rig.replies_to(SITE_ADDRESS) == []
            assert rig.unacknowledged() == 1  # still in the mailbox
            assert await rig.filed(plan_id) == []
            assert list((await driver.status()).correction_states) == []

        run = await rig.poll()  # the database is well again

        assert run.counts == {"received": 1}
        request_id = f"{plan_id}-C001"
        assert [r["request_id"] for r in await rig.filed(plan_id)] == [request_id]
        row = await rig.mail_row(request["Message-ID"])
        assert row["status"] == "received" and row["request_ids"] == [request_id]
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert request_id in body_text(reply)
        assert rig.unacknowledged() == 0


# A second address registered for the sample site, whose mailbox is gone.
MOVED_ADDRESS = "kaowu-old@whjtxx.example.edu.cn"


async def test_a_reply_that_can_never_be_delivered_does_not_block_the_mailbox(
    env: WorkflowEnvironment,
    resources: tuple[Any, DocumentStore],
    worker_settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: a reply refused for good (every recipient refused 550, or an
    address aiosmtplib refuses as malformed) failed the poll, and the same
    oldest mail failed every retry first: nobody's request was read again."""
    sites = dict(worker_settings.site_recipients)
    sites["HB-WH-0031"] = [*sites["HB-WH-0031"], MOVED_ADDRESS]
    settings = worker_settings.model_copy(update={"site_recipients": sites})
    rig_opened = intake_rig(env, resources, settings, tmp_path, refused=[MOVED_ADDRESS])
    async with rig_opened as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        gone = await rig.mail_in(
            "成绩修改申请", correction_body(plan_id, CANDIDATE), sender=MOVED_ADDRESS
        )
        # "zhang@@example.org" reads as "@example.org", which aiosmtplib
        # refuses with a ValueError before it talks to the server.
        typo = await rig.mail_in_from(
            "zhang@@example.org", "成绩修改申请", correction_body(plan_id, CANDIDATE)
        )
        good = await rig.mail_in(
            "成绩修改申请",
            correction_body(
                plan_id, CANDIDATE, field_label="理论成绩", published="82.10"
            ),
        )

        with caplog.at_level(logging.WARNING, logger="activities.mail_intake"):
            run = await rig.poll()

        assert run.fetched == 3
        assert run.counts == {"received": 2, "refused": 1}
        assert rig.unacknowledged() == 0
        filed = await rig.filed(plan_id)
        assert [r["requester_email"] for r in filed] == [MOVED_ADDRESS, SITE_ADDRESS]

        unanswered = await rig.mail_row(gone["Message-ID"])
        assert unanswered["status"] == "received"
        assert unanswered["replied_at"] is None
        assert "550" in unanswered["reply_failure"]
        assert MOVED_ADDRESS not in unanswered["reply_failure"]
        assert rig.replies_to(MOVED_ADDRESS) == []

        malformed = await rig.mail_row(typo["Message-ID"])
        assert malformed["status"] == "refused" and malformed["replied_at"] is None
        assert "malformed" in malformed["reply_failure"]

        answered = await rig.mail_row(good["Message-ID"])
        assert answered["replied_at"] is not None
        assert answered["reply_failure"] is None
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert reply["In-Reply-To"] == good["Message-ID"]

        warnings = [r.getMessage() for r in caplog.records if "given up" in r.msg]
        assert sorted(warnings) == sorted(
            f"mail reply given up key={row['dedupe_key'][:12]}"
            f" reason={row['reply_failure']}"
            for row in (unanswered, malformed)
        )
        for line in warnings:
            assert "@" not in line and "example" not in line

        # Staff see who was not answered.
        out = io.StringIO()
        assert await mailbox_cli.run(["list"], rig.settings, out=out) == 0
        unanswered_lines = [
            line for line in out.getvalue().splitlines() if "未送达" in line
        ]
        assert len(unanswered_lines) == 2
        assert any(unanswered["dedupe_key"][:12] in x for x in unanswered_lines)

        # A second poll tries nothing again.
        run = await rig.poll()
        assert run.fetched == 0


@pytest.mark.parametrize("smtputf8", [True, False], ids=["smtputf8", "ascii_only"])
async def test_a_sender_address_outside_ascii_blocks_nothing(
    env: WorkflowEnvironment,
    resources: tuple[Any, DocumentStore],
    worker_settings: Settings,
    tmp_path: Path,
    smtputf8: bool,
) -> None:
    """Regression: a mail from 张三@example.org (raw UTF-8 headers, as mail
    programs send it) was answered through a server without SMTPUTF8, which
    aiosmtplib refuses before any exchange (SMTPNotSupported): the poll failed,
    and every retry failed on the same oldest mail first. Where the server
    takes SMTPUTF8 the answer goes out; where it does not, it is given up."""
    rig_opened = intake_rig(
        env, resources, worker_settings, tmp_path, smtputf8=smtputf8
    )
    async with rig_opened as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        wide = await rig.mail_in_from(
            "张三 <张三@example.org>",
            "成绩修改申请",
            correction_body(plan_id, CANDIDATE),
        )
        good = await rig.mail_in(
            "成绩修改申请",
            correction_body(
                plan_id, CANDIDATE, field_label="理论成绩", published="82.10"
            ),
        )

        run = await rig.poll()

        assert run.fetched == 2
        assert rig.unacknowledged() == 0
        wide_row = await rig.mail_row(wide["Message-ID"])
        if smtputf8:
            assert wide_row["replied_at"] is not None
            assert wide_row["reply_failure"] is None
        else:
            assert wide_row["replied_at"] is None
            assert "SMTPUTF8" in wide_row["reply_failure"]
            assert "张三" not in wide_row["reply_failure"]
        answered = await rig.mail_row(good["Message-ID"])
        assert answered["replied_at"] is not None
