"""What the status tells of a plan's people: who started it, who cancelled it
and why, and what each review decided."""

from __future__ import annotations

import asyncio

import pytest

from certflow.i18n import t
from certflow.models import Stage
from tests.cli.conftest import Certflow
from tests.cli.test_commands import (
    CONTACT,
    LEAD,
    SITE,
    TECH,
    start_and_submit,
    start_argv,
)
from tests.support import PlanDriver, english_words

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

REASON = "考试结束日期录入错误，已按正确日期重新登记"


def history_lines(out: str) -> list[str]:
    return out.split(t("cli.status.history"))[1].splitlines()


async def test_a_plan_started_by_mistake_is_cancelled_and_says_who_and_why(
    certflow: Certflow, new_driver: PlanDriver, resources: tuple[object, object]
) -> None:
    plan_id = new_driver.plan.plan_id
    assert (await certflow(*start_argv(new_driver.plan))).status == 0
    new_driver.handle = new_driver.client.get_workflow_handle(f"exam-plan-{plan_id}")
    await new_driver.wait_for(lambda s: bool(s.owed))
    started = await certflow("status", plan_id)

    by_lead = await certflow(*LEAD, "plan", "cancel", plan_id, "--reason", REASON)
    cancelled = await certflow(*TECH, "plan", "cancel", plan_id, "--reason", REASON)
    await asyncio.wait_for(new_driver.h.result(), 30)
    shown = await certflow("status", plan_id)
    again = await certflow(*TECH, "plan", "cancel", plan_id, "--reason", REASON)
    upload = await certflow(*SITE, "confirm-summary", plan_id)
    restarted = await certflow(*start_argv(new_driver.plan))

    # Who started the plan is on record from its first line.
    first = history_lines(started.out)[3]
    assert f"{t('roles.admin')} admin-liu" in first
    assert t("actions.start_plan") in first
    pool = resources[0]
    starter = await pool.fetchrow(  # type: ignore[attr-defined]
        "SELECT role, person FROM audit WHERE plan_id = $1 AND action = 'start_plan'",
        plan_id,
    )
    assert dict(starter) == {"role": "admin", "person": "admin-liu"}

    assert by_lead.status == 2
    assert t("roles.tech_dept") in by_lead.out and t("roles.admin") in by_lead.out
    assert cancelled.status == 0, cancelled.out
    assert t("plan.cancelled", plan_id=plan_id) in cancelled.out

    assert shown.status == 0
    assert f"{t('stages.cancelled')} ({Stage.CANCELLED.value})" in shown.out
    label = t("cli.status.cancelled")
    line = next(x for x in shown.out.splitlines() if x.startswith(label))
    assert f"{t('roles.tech_dept')} tech-zhao" in line and REASON in line
    assert t("stages.score_submission") in line
    assert t("cli.status.nothing_owed") in shown.out
    last = history_lines(shown.out)[-1]
    assert "tech-zhao" in last and t("actions.cancel_plan") in last and REASON in last
    assert english_words(shown.out, "tech-zhao", "admin-liu", "cancelled") == []

    # An ended plan takes no action, and is not said to be missing; it says
    # how it ended (trial: "cancelled, or issued and invoiced" for either).
    for answer in (again, upload):
        assert answer.status == 2
        assert t("cli.plan_closed_cancelled", plan_id=plan_id) in answer.out
        assert t("cli.plan_not_found", plan_id=plan_id) not in answer.out

    # Its id is not started again, and the answer says why: not "started already".
    assert restarted.status == 2
    assert t("cli.plan_id_cancelled", plan_id=plan_id) in restarted.out
    assert t("cli.plan_exists", plan_id=plan_id) not in restarted.out


async def test_status_tells_what_each_review_decided_and_why(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression: a send-back and the approval after it both read
    "考务部区域联系人 rc-zhang 一致性核对", and the consistency line still asked
    for the review that had been done."""
    plan_id = new_driver.plan.plan_id
    files = await start_and_submit(certflow, new_driver)
    await new_driver.wait_for(
        lambda s: any(o.duty == "consistency_review" for o in s.owed)
    )
    back = "考生签到表缺少第 12 号考生的签名"
    # The sign-in sheet is the site's: sent back to the lead evaluator, refused.
    wrong_party = await certflow(
        *CONTACT,
        "review",
        plan_id,
        "--send-back",
        "lead_evaluator",
        "--item",
        "candidate_sign_in",
        "--reason",
        back,
    )
    sent_back = await certflow(
        *CONTACT, "review", plan_id, "--send-back", "site", "--reason", back
    )
    await new_driver.wait_for(lambda s: s.stage == Stage.SCORE_SUBMISSION)
    after_send_back = await certflow("status", plan_id)
    for argv in (
        [*SITE, "upload", "candidates", plan_id, str(files["candidates"])],
        [*SITE, "upload", "evaluators", plan_id, str(files["evaluators"])],
        [*SITE, "confirm-summary", plan_id, "--version", "1"],
    ):
        outcome = await certflow(*argv)
        assert outcome.status == 0, outcome.out
    await new_driver.wait_for(
        lambda s: any(o.duty == "consistency_review" for o in s.owed)
    )
    why = "多签到的一人为旁听人员，已与考核站点核实"
    approved = await certflow(*CONTACT, "review", plan_id, "--approve", "--reason", why)
    await new_driver.wait_for(lambda s: s.stage != Stage.CONSISTENCY_REVIEW)
    shown = await certflow("status", plan_id)

    assert wrong_party.status == 2
    assert (
        t(
            "plan.send_back_item_not_of_party",
            item=t("duties.candidate_sign_in"),
            owner=t("roles.site"),
            named=t("roles.lead_evaluator"),
        )
        in wrong_party.out
    )
    assert sent_back.status == 0 and approved.status == 0
    # What went back to whom, in the answer and in the history line.
    site_items = [
        t(f"duties.{d}")
        for d in ("candidate_sign_in", "evaluator_sign_in", "summary_confirmation")
    ]
    what = t("plan.sent_back_group", items="、".join(site_items), party=t("roles.site"))
    assert t("plan.sent_back", items=what) in sent_back.out
    review = t("actions.review_consistency")
    lines = [x for x in history_lines(shown.out) if review in x and "rc-zhang" in x]
    assert len(lines) == 2, shown.out
    assert lines[0].endswith(
        t(
            "cli.status.decided",
            action=f"{review} {what}",
            outcome=t("cli.outcomes.sent_back"),
        )
        + t("cli.status.reason", reason=back)
    )
    assert lines[1].endswith(
        t("cli.status.decided", action=review, outcome=t("cli.outcomes.approved"))
        + t("cli.status.reason", reason=why)
    )

    def consistency(out: str) -> str:
        label = t("cli.status.consistency")
        return next(x for x in out.splitlines() if x.startswith(label))

    assert t("cli.outcomes.sent_back") in consistency(after_send_back.out)
    assert back in consistency(after_send_back.out)
    line = consistency(shown.out)
    assert "rc-zhang" in line and t("cli.outcomes.approved") in line and why in line
    assert "请逐条核对" not in line


async def test_a_confirmation_without_version_names_the_version_confirmed(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression: ``confirm-summary`` without ``--version`` answered 已受理 and
    its history line named no version: the site could not tell which one it
    had confirmed once the lead evaluator had uploaded a second."""
    import openpyxl

    from tests.cli.test_commands import sample_files

    plan_id = new_driver.plan.plan_id
    files = sample_files(new_driver)
    assert (await certflow(*start_argv(new_driver.plan))).status == 0
    new_driver.handle = new_driver.client.get_workflow_handle(f"exam-plan-{plan_id}")
    # A second summary: the same rows, another file.
    book = openpyxl.load_workbook(files["summary"])
    book.properties.title = "第二版"
    second = new_driver.tmp / "summary-v2.xlsx"
    book.save(second)
    for path in (files["summary"], second):
        uploaded = await certflow(*LEAD, "upload", "summary", plan_id, str(path))
        assert uploaded.status == 0, uploaded.out

    confirmed = await certflow(*SITE, "confirm-summary", plan_id)
    shown = await certflow("status", plan_id)

    assert confirmed.status == 0, confirmed.out
    assert confirmed.out.strip() == t("plan.summary_confirmed", version=2)
    last = history_lines(shown.out)[-1]
    assert last.endswith(
        f"{t('actions.confirm_score_summary')} {t('plan.version_ref', version=2)}"
    )
