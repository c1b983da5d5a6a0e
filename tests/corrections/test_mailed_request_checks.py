"""What the exam mailbox keeps of a mail, and what it checks of a request
before its plan files it (staff trial of the correction stage).

Real parts only: the time-skipping Temporal server with a worker holding the
plan and mailbox workflows, PostgreSQL, an SMTP sink delivering the exam
mailbox's mail into a maildir, and ``MaildirSource`` reading that maildir.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.db import migrate
from activities.documents import DocumentStore
from certflow.actions import CorrectionDecision
from certflow.config import Settings
from certflow.corrections import RefusalReason, read_correction_mail, refusal_text
from certflow.i18n import t
from starter.smtp_sink import body_text, read_maildir
from tests.corrections.mail_intake_support import (
    SITE_ADDRESS,
    IntakeRig,
    RigFactory,
    correction_body,
    filled_form,
    intake_rig,
)
from tests.support import (
    MANAGER,
    PlanDriver,
    approve_and_apply,
    correction_request,
    database_before,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# Seq 6 of the sample summary: 杨鹏, recorded absent (缺考), no score.
ABSENT = "2026110412006"
# Seq 12: 雷芳彬, practical 50.10.
SEQ_12 = "2026110412012"
# Seq 4 and 5 of the sample summary: 陈思彬 and 方浩, both present.
CHEN_SIBIN = "2026110412004"
FANG_HAO = "2026110412005"
# A resident ID number of the sample summary (seq 1), and how it is kept.
ID_NUMBER = "421002200506166066"
MASKED = "4210**********6066"


async def test_an_id_number_in_a_mails_subject_is_kept_masked(
    open_rig: RigFactory,
) -> None:
    """Regression: ``mail_messages.subject`` kept an ID number a sender put in
    the subject whole, for ``mailbox list --subjects`` to show."""
    async with open_rig() as rig:
        await rig.start_poller()
        whole = await rig.mail_in(f"黎芬 {ID_NUMBER} 成绩复核", "成绩有误，请复核。")
        grouped = await rig.mail_in(
            "黎芬 4210 0220 0506 1660 66 成绩复核", "成绩有误，请复核。"
        )

        run = await rig.poll()

        assert run.counts == {"unmatched": 2}
        assert (await rig.mail_row(whole["Message-ID"]))["subject"] == (
            f"黎芬 {MASKED} 成绩复核"
        )
        assert (await rig.mail_row(grouped["Message-ID"]))["subject"] == (
            f"黎芬 {MASKED} 成绩复核"
        )
        # The sender is answered about the mail as they wrote it.
        replies = rig.replies_to(SITE_ADDRESS)
        assert any(ID_NUMBER in str(reply["Subject"]) for reply in replies)


async def test_subjects_stored_before_are_masked_by_the_migration(
    settings: Settings, tmp_path: Path
) -> None:
    async with database_before(25, settings.database_url, tmp_path) as (pool, _):
        for key, subject in (
            ("a", f"黎芬{ID_NUMBER}成绩复核"),
            ("b", "胡俊霞 33010620030828700X 与 2026110412002"),
            ("c", "准考证号 2026110412004 成绩复核"),
        ):
            await pool.execute(
                """
                INSERT INTO mail_messages (dedupe_key, message_id, sender, subject,
                    received_at, source_key, status, raw_sha256, processed_at)
                VALUES ($1, $1, 'kaowu@example.org', $2, $3, $1, 'unmatched',
                    'x', $3)
                """,
                key,
                subject,
                datetime(2026, 12, 21, tzinfo=UTC),
            )

        await migrate(pool)

        kept = dict(await pool.fetch("SELECT dedupe_key, subject FROM mail_messages"))
    assert kept == {
        "a": f"黎芬{MASKED}成绩复核",
        "b": "胡俊霞 3301**********700X 与 2026110412002",
        "c": "准考证号 2026110412004 成绩复核",
    }


async def _mailed_in_publicity(
    rig: IntakeRig, admission: str, **fields: str
) -> tuple[PlanDriver, EmailMessage]:
    """A new plan in publicity, the poller started, and a mail in the
    mailbox of one request of it for ``admission`` (``fields`` as
    ``correction_body`` takes them)."""
    driver = await rig.plan_in_publicity(then_poll=True)
    body = correction_body(driver.plan.plan_id, admission, **fields)
    return driver, await rig.mail_in("成绩修改申请", body)


async def test_a_mailed_score_for_an_absent_candidate_is_answered_status_first(
    open_rig: RigFactory,
) -> None:
    """Regression: a mailed theory score for a candidate recorded 缺考 was
    filed and confirmed; the sender is now answered to correct the status
    first, and nothing is filed."""
    async with open_rig() as rig:
        driver, request = await _mailed_in_publicity(
            rig,
            ABSENT,
            field_label="理论成绩",
            published="缺考",
            requested="70",
            name="杨鹏",
        )
        plan_id = driver.plan.plan_id

        run = await rig.poll()

        assert run.counts == {"refused": 1}
        assert await rig.filed(plan_id) == []
        assert (await driver.status()).correction_states == {}
        said = t(
            "intake_db.score_without_status",
            admission=ABSENT,
            status="缺考",
            field="理论成绩",
        )
        assert (await rig.mail_row(request["Message-ID"]))["reasons"] == said
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert said in body_text(reply)


async def test_a_mailed_request_naming_another_candidate_is_refused_unnamed(
    open_rig: RigFactory,
) -> None:
    """Regression: 张三 with the admission number of 方浩 was filed and
    confirmed. Refused now, without saying whose the number is; a name
    written with a space in it is the same name."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        theory = {"field_label": "理论成绩", "requested": "70"}
        body = correction_body(
            plan_id, FANG_HAO, published="58.1", name="张三", **theory
        ) + correction_body(
            plan_id, CHEN_SIBIN, published="53.1", name="陈 思彬", **theory
        )
        request = await rig.mail_in("成绩修改申请", body)

        run = await rig.poll()

        assert run.counts == {"received": 1}
        [filed] = await rig.filed(plan_id)
        assert filed["admission_number"] == CHEN_SIBIN
        said = refusal_text(
            RefusalReason.NAME_MISMATCH, plan_id=plan_id, admission_number=FANG_HAO
        )
        row = await rig.mail_row(request["Message-ID"])
        # The first of the body's two requests.
        placed = t("corrections.problem.in_body", n=1, message=said)
        assert (row["request_ids"], row["reasons"]) == ([filed["request_id"]], placed)
        [reply] = rig.replies_to(SITE_ADDRESS)
        text = body_text(reply)
        assert said in text and filed["request_id"] in text
        assert "方浩" not in text and "方*" not in text


# A second address registered for the sample site: the one a request comes from.
DESK_ADDRESS = "kaowu-desk@whjtxx.example.edu.cn"


async def test_the_outcome_of_a_mailed_request_goes_to_its_sender(
    env: WorkflowEnvironment,
    resources: tuple[Any, DocumentStore],
    worker_settings: Settings,
    tmp_path: Path,
) -> None:
    """Regression: the reply said 核实结果另行通知 and nothing followed. The
    outcome goes to the address the request came from, not the site's
    others."""
    sites = dict(worker_settings.site_recipients)
    sites["HB-WH-0031"] = [*sites["HB-WH-0031"], DESK_ADDRESS]
    settings = worker_settings.model_copy(update={"site_recipients": sites})
    async with intake_rig(env, resources, settings, tmp_path) as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        await rig.mail_in(
            "成绩修改申请",
            correction_body(plan_id, CHEN_SIBIN, field_label="理论成绩",
                            published="53.1", requested="63.1"),
            sender=DESK_ADDRESS,
        )  # fmt: skip
        assert (await rig.poll()).counts == {"received": 1}
        request_id = f"{plan_id}-C001"

        decided = await driver.h.execute_update(
            ExamPlanWorkflow.decide_correction,
            CorrectionDecision(
                actor=MANAGER,
                request_id=request_id,
                approve=False,
                reason="经核对试卷，评分无误",
            ),
        )

        assert decided.accepted
        [told] = await _plan_mails(rig, plan_id, "correction_rejected")
        assert str(told["To"]) == DESK_ADDRESS
        text = body_text(told)
        assert request_id in text and "经核对试卷，评分无误" in text
        # Quoted back to the exam mailbox, it reads as no request.
        assert read_correction_mail(told.as_bytes()).drafts == []


async def _plan_mails(rig: IntakeRig, plan_id: str, template: str) -> list[Any]:
    """The plan's mails of ``template`` the rig's sink got (10 s at most)."""
    for _ in range(100):
        found = [
            m
            for m in read_maildir(rig.sink.root / "all")
            if m["X-Certflow-Plan"] == plan_id and m["X-Certflow-Template"] == template
        ]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {template} mail for {plan_id}")


async def test_a_mailed_request_for_the_score_on_record_is_answered_unchanged(
    open_rig: RigFactory,
) -> None:
    """Regression: a request for the score already on record (50.10 asked as
    50.1) was filed, held the candidate's real request back while open, and
    once applied the site was mailed that the score had been updated. The
    sender is now answered that nothing would change, and nothing is filed."""
    async with open_rig() as rig:
        driver, request = await _mailed_in_publicity(
            rig, SEQ_12, published="50.10", requested="50.1"
        )
        plan_id = driver.plan.plan_id

        run = await rig.poll()

        assert run.counts == {"refused": 1}
        assert await rig.filed(plan_id) == []
        assert (await driver.status()).correction_states == {}
        said = t(
            "intake_db.requested_on_record",
            admission=SEQ_12,
            field="实操成绩",
            on_record="50.10",
            requested="50.1",
        )
        assert (await rig.mail_row(request["Message-ID"]))["reasons"] == said
        [reply] = rig.replies_to(SITE_ADDRESS)
        assert said in body_text(reply)


async def test_a_blank_published_score_is_taken_where_the_candidate_has_none(
    open_rig: RigFactory,
) -> None:
    """Regression: once 杨鹏 was corrected from 缺考 to 正常, a mailed theory
    score with 原成绩 left blank was refused "缺少原成绩" (while 无 passed):
    he has no theory score to copy. A blank 原成绩 of a score on record is
    still refused, saying to copy it, or to leave it blank only where there
    is none."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        present = await driver.h.execute_update(
            ExamPlanWorkflow.submit_correction,
            correction_request(ABSENT, "status", "正常"),
        )
        assert present.reference is not None
        await approve_and_apply(driver, present.reference)
        body = correction_body(
            plan_id, ABSENT, field_label="理论成绩", published="", requested="70"
        ) + correction_body(plan_id, SEQ_12, published="", requested="60.1")
        request = await rig.mail_in("成绩修改申请", body)

        run = await rig.poll()

        assert run.counts == {"received": 1}
        filed = [f for f in await rig.filed(plan_id) if f["field"] == "theory"]
        assert [(f["admission_number"], f["published_score"]) for f in filed] == [
            (ABSENT, "")
        ]
        said = refusal_text(
            RefusalReason.PUBLISHED_MISSING,
            plan_id=plan_id,
            admission_number=SEQ_12,
            field="实操成绩",
        )
        row = await rig.mail_row(request["Message-ID"])
        # The second of the body's two requests.
        assert row["reasons"] == t("corrections.problem.in_body", n=2, message=said)
        assert "50.1" not in said
        [reply] = rig.replies_to(SITE_ADDRESS)
        text = body_text(reply)
        assert "理论成绩由 无 改为 70" in text and said in text


async def test_two_refusals_of_one_request_are_two_sentences(
    open_rig: RigFactory,
) -> None:
    """Regression: the plan's two refusals of one row were joined as
    "…数字。；申请表…"."""
    async with open_rig() as rig:
        _, request = await _mailed_in_publicity(
            rig, CHEN_SIBIN, field_label="理论成绩", published="99", requested="120"
        )

        assert (await rig.poll()).counts == {"refused": 1}

        reasons = (await rig.mail_row(request["Message-ID"]))["reasons"]
        assert "。；" not in reasons
        assert reasons == t("intake_db.bad_score", value="120") + t(
            "intake_db.published_differs", given="99", on_record="53.10"
        )


async def test_each_refused_request_of_a_mail_names_its_row(
    open_rig: RigFactory, tmp_path: Path
) -> None:
    """Trial: a form of several rows, some refused by the plan's record,
    was answered "申请修改的成绩“101”无效…" and "考试计划…中没有准考证号…"
    without saying which rows of the form they were: a site filing a
    dozen rows could not tell which to send again. Each is now placed as
    the form's own problems are, by sheet and row, and a request typed in
    a body of several by its number."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        module = "1-1 汽车动力与驱动系统综合分析技术"
        rows: list[list[object]] = [
            [plan_id, "陈思彬", None, CHEN_SIBIN, module, "理论成绩", "53.1",
             "63.1", "漏计第三大题", "王老师"],
            [plan_id, "雷芳彬", None, SEQ_12, module, "实操成绩", "50.1",
             "101", "录入错误", "王老师"],
            [plan_id, "严豪刚", None, "2026110412099", module, "理论成绩", "50",
             "60", "录入错误", "王老师"],
        ]  # fmt: skip
        form = filled_form(rows, tmp_path / "成绩修改申请表.xlsx")
        await rig.mail_in_form(plan_id, form)
        typed = await rig.mail_in(
            "成绩修改申请",
            correction_body(plan_id, FANG_HAO, field_label="理论成绩",
                            published="58.1", requested="68.1")
            + "\n"
            + correction_body(plan_id, SEQ_12, requested="120"),
        )  # fmt: skip

        run = await rig.poll()

        assert run.counts == {"received": 2}
        filed = await rig.filed(plan_id)
        assert {r["admission_number"] for r in filed} == {CHEN_SIBIN, FANG_HAO}
        sheet = "工作表“成绩修改申请表”"
        out_of_range = t("intake_db.bad_score", value="101")
        unknown = refusal_text(
            RefusalReason.CANDIDATE_NOT_IN_PLAN,
            plan_id=plan_id,
            admission_number="2026110412099",
        )
        by_form, by_body = rig.replies_to(SITE_ADDRESS)
        said = body_text(by_form)
        assert f"{sheet} 第 5 行：{out_of_range}" in said
        assert f"{sheet} 第 6 行：{unknown}" in said
        in_body = t(
            "corrections.problem.in_body",
            n=2,
            message=t("intake_db.bad_score", value="120"),
        )
        assert in_body in body_text(by_body)
        kept = await rig.mail_row(typed["Message-ID"])
        assert kept["reasons"].startswith(in_body)


async def test_a_draft_nobody_filed_is_gone_a_day_on_without_another_request(
    open_rig: RigFactory,
) -> None:
    """Regression: a draft left behind (the staff tool stopped waiting, a
    sender killed) was deleted only when a later request was sent, which in a
    plan's quiet months may be the next exam's: the scores, the reason, who
    asked and their address stayed in a table nobody reads. The mailbox's
    poll deletes those over a day old, requests or not; a newer one stays."""
    async with open_rig() as rig:
        await rig.start_poller()
        old, new = uuid.uuid4().hex, uuid.uuid4().hex
        for key, age in ((old, timedelta(hours=25)), (new, timedelta(hours=1))):
            await rig.pool.execute(
                "INSERT INTO correction_drafts (draft_key, plan_id, published_score,"
                " requested_score, reason, requester, requester_email, created_at)"
                " VALUES ($1, 'P2026-0000-0001', '50.1', '60.1', '评分表抄错',"
                " '王喆', 'wangzhe@whjtxx.example.edu.cn', now() - $2::interval)",
                key,
                age,
            )

        await rig.poll()

        left = await rig.pool.fetch(
            "SELECT draft_key FROM correction_drafts WHERE draft_key = ANY($1)",
            [old, new],
        )
        assert [r["draft_key"] for r in left] == [new]
