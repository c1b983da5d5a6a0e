"""What a correction request asks, for whoever acts on it, and its outcome
for whoever asked (staff trial of the correction stage, 4.1.7).

The staff tool against the time-skipping server, a worker, PostgreSQL and
the SMTP sink the worker mails through.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from certflow.i18n import t
from starter.smtp_sink import body_text
from tests.cli.conftest import Certflow
from tests.support import PlanDriver, history_bytes, mails_of

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

INFO = ["--as", "info_center", "--person", "ic-li"]
MANAGER = ["--as", "regional_manager", "--person", "rm-zhou"]
SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]
LEAD = ["--as", "lead_evaluator", "--person", "ZCX-E-0107"]  # the sample plan's
FINANCE = ["--as", "finance", "--person", "fin-he"]
ADMIN = ["--as", "admin", "--person", "admin-liu"]
# Seq 4 of the sample summary: 陈思彬, theory 53.10; seq 12: 雷芳彬, practical 50.10.
SEQ_4, SEQ_12 = "2026110412004", "2026110412012"
REQUESTER = "王喆/武汉市交通职业技术学校"
REQUESTER_ADDRESS = "wangzhe@whjtxx.example.edu.cn"
SITE_ADDRESS = "kaowu@whjtxx.example.edu.cn"
MANAGER_ADDRESS = "region-manager@certflow.example.org"


def _submit(plan_id: str, admission: str, field: str, *extra: str) -> list[str]:
    return [*INFO, "correction", "submit", plan_id, "--admission", admission,
            "--field", field, *extra]  # fmt: skip


async def _taking_requests(driver: PlanDriver) -> str:
    """Start the plan and bring it to its first publicity day; its id."""
    await driver.reach_publicity()
    await driver.open_publicity()
    return driver.plan.plan_id


async def _filed(certflow: Certflow, argv: list[str]) -> str:
    """Enter a request with the staff tool; return its number."""
    submitted = await certflow(*argv)
    found = re.search(r"编号：(\S+)", submitted.out)
    assert submitted.status == 0 and found is not None, submitted.out
    return found.group(1)


async def test_the_regional_manager_sees_what_a_request_asks(
    certflow: Certflow, new_driver: PlanDriver, sink_messages: Any
) -> None:
    """Regression: the regional manager's mail said only 收到成绩修改申请 C00N,
    and status and history showed numbers and states: nothing to decide on."""
    plan_id = await _taking_requests(new_driver)
    request_id = await _filed(
        certflow,
        _submit(plan_id, SEQ_4, "theory", "--published", "53.1", "--requested",
                "63.1", "--reason", "复核试卷发现第三大题漏计 10 分",
                "--requester", REQUESTER, "--email", REQUESTER_ADDRESS),
    )  # fmt: skip

    [mail] = await mails_of(sink_messages, plan_id, "correction_received")
    text = body_text(mail)
    assert MANAGER_ADDRESS in str(mail["To"])
    for shown in ("陈**（准考证号 2026110412004）", "理论成绩现为 53.10",
                  "申请修改为 63.1", "申请表所填原成绩为 53.1",
                  "复核试卷发现第三大题漏计 10 分", REQUESTER,
                  f"certflow correction show {plan_id} {request_id}"):  # fmt: skip
        assert shown in text, shown
    assert "陈思彬" not in text

    one = await certflow(*MANAGER, "correction", "show", plan_id, "c001")
    listed = await certflow(*MANAGER, "correction", "show", plan_id)
    by_site = await certflow(*SITE, "correction", "show", plan_id)
    missing = await certflow(*MANAGER, "correction", "show", plan_id, "C009")
    status = await certflow(*MANAGER, "status", plan_id)
    site_status = await certflow(*SITE, "status", plan_id)
    lead_status = await certflow(*LEAD, "status", plan_id)

    assert one.status == 0, one.out
    for label, value in (
        ("申请编号", request_id),
        ("状态", t("correction_status.pending")),
        ("考生", "陈**（准考证号 2026110412004）"),
        ("修改项目", "理论成绩"),
        ("现有成绩", "53.10"),
        ("申请表所填原成绩", "53.1"),
        ("申请修改为", "63.1"),
        ("申请理由", "复核试卷发现第三大题漏计 10 分"),
        ("申请人", f"{REQUESTER}（{REQUESTER_ADDRESS}）"),
        ("登记", "由 ic-li 登记"),
    ):
        assert re.search(rf"^{label}\s+{re.escape(value)}$", one.out, re.M), label
    assert listed.status == 0 and request_id in listed.out
    assert "陈**" in listed.out and "63.1" in listed.out
    assert "陈思彬" not in one.out + listed.out
    assert by_site.status == 2 and "不能查看成绩修改申请的内容" in by_site.out
    assert missing.status == 2
    # The plan's status names the command: what requests ask is not in it.
    assert f"certflow correction show {plan_id}" in status.out
    assert "陈" not in status.out and "63.1" not in status.out
    # Not to those the command refuses: the site, the lead evaluator.
    for refused in (site_status, lead_status):
        assert refused.status == 0, refused.out
        assert "correction show" not in refused.out
        assert t("cli.status.correction_counts", pending=1, approved=0,
                 rejected=0, applied=0) in refused.out  # fmt: skip
    assert t("plan.unknown_correction", request_id="C009") in missing.out


async def test_a_requests_personal_parts_stay_out_of_the_plans_history(
    certflow: Certflow, new_driver: PlanDriver, resources: tuple[Any, object]
) -> None:
    """Regression: the scores a request asked and quoted, its reason, who
    asked and their address went into the plan's Temporal history with the
    update (in the Web UI of every operator) and stayed there for good. The
    staff tool keeps them in PostgreSQL; the plan files them from there."""
    plan_id = await _taking_requests(new_driver)
    reason = "复核试卷发现第三大题漏计 10 分"
    request_id = await _filed(
        certflow,
        _submit(plan_id, SEQ_4, "theory", "--published", "53.1", "--requested",
                "63.7", "--reason", reason, "--requester", REQUESTER,
                "--email", REQUESTER_ADDRESS),
    )  # fmt: skip
    # The same score again while the first is open: the plan's activity
    # refuses it, and its draft goes with the refusal.
    again = await certflow(
        *_submit(plan_id, SEQ_4, "theory", "--requested", "64.9",
                 "--reason", "第二份申请的理由")
    )  # fmt: skip
    pool: Any = resources[0]

    assert again.status == 2, again.out
    history = await history_bytes(new_driver.h)
    for personal in (reason, REQUESTER, REQUESTER_ADDRESS, "63.7", "64.9",
                     "第二份申请的理由"):  # fmt: skip
        assert personal.encode() not in history, personal
    filed = await pool.fetchrow(
        "SELECT published_score, requested_score, reason, requester, requester_email"
        " FROM correction_requests WHERE request_id = $1",
        request_id,
    )
    assert tuple(filed) == ("53.1", "63.7", reason, REQUESTER, REQUESTER_ADDRESS)
    drafts = "SELECT count(*) FROM correction_drafts WHERE plan_id = $1"
    assert await pool.fetchval(drafts, plan_id) == 0
    shown = await certflow(*MANAGER, "correction", "show", plan_id, request_id)
    assert reason in shown.out and "63.7" in shown.out


async def test_the_requester_is_told_the_outcome_at_a_site_address_only(
    certflow: Certflow, new_driver: PlanDriver, sink_messages: Any
) -> None:
    """Regression: the automatic reply promised 核实结果另行通知, and nobody
    was told when a request was rejected or applied. Then the outcome, with
    the candidate's scores, went to whatever address the request named (any
    ``--email``, the sender of mail the mailbox refused): only one the site
    registered is mailed now, the site otherwise."""
    plan_id = await _taking_requests(new_driver)
    asked = await _filed(
        certflow,
        _submit(plan_id, SEQ_4, "theory", "--requested", "63.1", "--reason",
                "复核试卷", "--email", REQUESTER_ADDRESS),
    )  # fmt: skip
    # The site's registered address, as somebody typed it.
    typed = SITE_ADDRESS.upper()
    from_site = await _filed(
        certflow,
        _submit(plan_id, SEQ_12, "practical", "--requested", "60.1",
                "--reason", "实操评分表抄录错误", "--email", typed),
    )  # fmt: skip

    rejected = await certflow(
        *MANAGER, "correction", "decide", plan_id, asked, "--reject",
        "--reason", "经核对试卷，第三大题评分无误",
    )  # fmt: skip
    await certflow(*MANAGER, "correction", "decide", plan_id, from_site, "--approve")
    applied = await certflow(*INFO, "correction", "apply", plan_id, from_site)
    assert rejected.status == 0 and applied.status == 0, rejected.out + applied.out

    [no] = await mails_of(sink_messages, plan_id, "correction_rejected")
    # Not the site's: its scores go to the site, not the address given.
    assert str(no["To"]) == SITE_ADDRESS
    said = body_text(no)
    assert asked in said and "不予修改" in said
    assert "经核对试卷，第三大题评分无误" in said
    assert "陈**（准考证号 2026110412004）的理论成绩" in said
    [done] = await mails_of(sink_messages, plan_id, "correction_applied")
    assert str(done["To"]) == typed  # the site's, as the request gave it
    told = body_text(done)
    assert from_site in told and "雷**（准考证号 2026110412012）" in told
    assert (
        "实操成绩由 50.10 改为 60.10" in told and "考核结果由 不合格 改为 合格" in told
    )
    assert "陈思彬" not in said and "雷芳彬" not in told


async def test_a_candidates_score_history_is_for_the_readers_of_requests_only(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression: ``correction history`` printed a candidate's scores, who
    changed them and why to any role (or none given), while ``correction
    show`` kept the requests to the regional manager, the info center and
    administrators. History keeps to them too, refused to others as show is."""
    plan_id = await _taking_requests(new_driver)
    request_id = await _filed(
        certflow,
        _submit(plan_id, SEQ_12, "practical", "--published", "50.1",
                "--requested", "60.10", "--reason", "实操评分表抄录错误"),
    )  # fmt: skip
    # Decided and applied by the short form, as ``correction show`` takes it
    # (staff trial: ``correction decide P C001`` answered 不存在).
    short = request_id.rsplit("-", 1)[1]
    assert short == "C001"
    decided = await certflow(*MANAGER, "correction", "decide", plan_id, short.lower(),
                             "--approve")  # fmt: skip
    assert decided.status == 0, decided.out
    applied = await certflow(*INFO, "correction", "apply", plan_id, short)
    assert applied.status == 0, applied.out

    for reader in (MANAGER, INFO, ADMIN):
        read = await certflow(*reader, "correction", "history", plan_id, SEQ_12)
        assert read.status == 0, read.out
        assert request_id in read.out and "60.10" in read.out
    for role, other in (("site", SITE), ("lead_evaluator", LEAD),
                        ("finance", FINANCE)):  # fmt: skip
        history = await certflow(*other, "correction", "history", plan_id, SEQ_12)
        shown = await certflow(*other, "correction", "show", plan_id)
        assert history.status == shown.status == 2, history.out
        named = t(f"roles.{role}")
        assert history.out.strip() == t(
            "cli.correction_history_not_allowed", role=named
        )
        assert shown.out.strip() == t("cli.correction_show_not_allowed", role=named)
        assert request_id not in history.out and "60.10" not in history.out
    nobody = await certflow("correction", "history", plan_id, SEQ_12)
    assert nobody.status == 2 and nobody.out.strip() == t("cli.actor_missing")


async def test_a_request_for_the_score_on_record_is_refused_by_the_plan(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression (staff trial): theory 53.1 for a candidate recorded with
    53.10 was filed (已受理 C001) and held the candidate's real request back.
    It is refused saying nothing would change, and nothing is filed.
    The words quoting both scores reach the tool from the request's draft,
    not through the plan's history (which holds the problem's code only)."""
    plan_id = await _taking_requests(new_driver)

    same = await certflow(
        *_submit(plan_id, SEQ_4, "theory", "--requested", "53.1", "--reason", "复核")
    )

    assert same.status == 2
    on_record = t(
        "intake_db.requested_on_record",
        admission=SEQ_4,
        field="理论成绩",
        on_record="53.10",
        requested="53.1",
    )
    assert on_record in same.out
    history = await history_bytes(new_driver.h)
    assert b"53.10" not in history and b"53.1" not in history
    shown = await certflow(*INFO, "correction", "show", plan_id)
    assert shown.out.strip() == t("cli.corrections_none", plan_id=plan_id)


async def test_the_history_of_a_number_not_on_the_list_says_so(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression (staff trial): ``correction history`` of a number not on the
    plan's list answered 没有成绩修改记录 with exit status 0. It is refused
    naming the list, as ``submit`` refuses it; a candidate with no
    correction still has no record."""
    plan_id = await _taking_requests(new_driver)
    stranger = "2026110499999"

    history = await certflow(*INFO, "correction", "history", plan_id, stranger)
    submitted = await certflow(
        *_submit(plan_id, stranger, "theory", "--requested", "60", "--reason", "复核")
    )
    unchanged = await certflow(*INFO, "correction", "history", plan_id, SEQ_4)

    not_listed = t("intake_db.unknown_candidate", admission=stranger, plan_id=plan_id)
    assert history.status == submitted.status == 2
    assert history.out.strip() == not_listed
    assert not_listed in submitted.out
    assert unchanged.status == 0
    assert unchanged.out.strip() == t(
        "cli.history_empty", admission=SEQ_4, plan_id=plan_id
    )
