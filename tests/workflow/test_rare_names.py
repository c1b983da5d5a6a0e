"""Names the certificate font cannot print: refused at intake for every
candidate, refused when a correction would make such a candidate pass, and,
where one reaches issuance anyway, held out while the plan's others are issued.

The tester's plan: a rare character (𠮷) in the names of an absent and of a
failing candidate was accepted, corrections made both pass, and issuance
failed on them after the general manager's approval, retried every few
minutes for ever, its errors naming the character; no PDF after the fourth
was drawn and nobody was told.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from certflow.actions import (
    ActionResult,
    CorrectionApply,
    CorrectionDecision,
    SimpleAction,
)
from certflow.certificates import FONT_ENV, find_font
from certflow.models import Role, Stage
from certflow.plan import Duty
from starter.cli import for_reader, render_status
from tests.support import (
    INFO,
    LEAD,
    MANAGER,
    RARE_CHARACTER,
    TECH,
    HeldAnswer,
    PlanDriver,
    approve_and_apply,
    correction_request,
    damaged_font,
    font_printing,
    log_lines_holding,
    mails_of,
    refused,
    settle,
    worker_holding,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]
wf = ExamPlanWorkflow

# The sample's seq 1 (黎芬: theory 0, practical 69, failed), seq 2 (胡俊霞,
# passed) and seq 6 (杨鹏, absent); rows 4, 5 and 9 of its sheet.
SEQ_1, SEQ_2, SEQ_6 = "2026110412001", "2026110412002", "2026110412006"


def _rename(pool: Any, driver: PlanDriver, admission: str, name: str) -> Any:
    """Give a candidate a name in the score database, as a version that let
    it in would have kept it."""
    return pool.execute(
        "UPDATE scores SET name = $3 WHERE plan_id = $1 AND admission_number = $2",
        driver.plan.plan_id,
        admission,
        name,
    )


async def _issuance_attempts(driver: PlanDriver) -> list[int]:
    """The attempt each issuance activity of the plan ran at, and failed or
    finished; none may still be pending (being retried)."""
    described = await driver.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=driver.client.namespace,
            execution=WorkflowExecution(workflow_id=driver.h.id),
        )
    )
    pending = [a.activity_type.name for a in described.pending_activities]
    assert "issue_certificates" not in pending
    scheduled: dict[int, str] = {}
    attempts = []
    async for event in driver.h.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            if scheduled[attributes.scheduled_event_id] == "issue_certificates":
                attempts.append(attributes.attempt)
    return attempts


def _body(mail: Any) -> str:
    return str(mail.get_body(("plain",)).get_content())


async def test_an_absent_or_failing_candidates_unprintable_name_is_refused_at_upload(
    make_driver: Any, tmp_path: Path
) -> None:
    """Regression: only passing candidates' names were checked against the
    certificate font; an absent and a failing candidate's were accepted, and
    corrections during publicity then made them pass."""
    driver: PlanDriver = await make_driver()
    await driver.start()
    book = openpyxl.load_workbook(driver.files["summary"])
    sheet = book.worksheets[0]
    sheet["B4"] = f"黎{RARE_CHARACTER}"  # failed
    sheet["B9"] = f"杨{RARE_CHARACTER}"  # absent
    rare = tmp_path / "rare-names.xlsx"
    book.save(rare)

    result = await driver.upload(wf.upload_score_summary, LEAD, rare)

    assert not result.accepted
    found = sorted((p.code, p.sheet, p.row, p.column) for p in result.problems)
    assert found == [
        ("unprintable_name", "成绩汇总", 4, "姓名"),
        ("unprintable_name", "成绩汇总", 9, "姓名"),
    ]


async def test_a_correction_making_an_unprintable_name_pass_waits_for_the_font(
    make_driver: Any, resources: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a status correction (缺考 to 正常) and two part scores made
    an absent candidate pass, and a mailed request (theory 0 to 80) a failing
    one, though the certificate font could not print either name."""
    pool, _ = resources
    printing = font_printing(RARE_CHARACTER)
    driver: PlanDriver = await make_driver()
    await driver.reach_publicity()
    await driver.open_publicity()
    await _rename(pool, driver, SEQ_1, f"黎{RARE_CHARACTER}")
    await _rename(pool, driver, SEQ_6, f"杨{RARE_CHARACTER}")

    async def file(admission: str, field: str, value: str) -> str:
        filed = await driver.h.execute_update(
            wf.submit_correction, correction_request(admission, field, value)
        )
        assert filed.accepted and filed.reference, filed.message
        return str(filed.reference)

    async def decide(request_id: str) -> ActionResult:
        return await driver.h.execute_update(  # type: ignore[no-any-return]
            wf.decide_correction,
            CorrectionDecision(actor=MANAGER, request_id=request_id, approve=True),
        )

    async def apply(request_id: str) -> ActionResult:
        return await driver.h.execute_update(  # type: ignore[no-any-return]
            wf.apply_correction, CorrectionApply(actor=INFO, request_id=request_id)
        )

    def refused_for_the_name(result: ActionResult) -> None:
        assert not result.accepted
        assert [p.code for p in result.problems] == ["unprintable_name"]
        assert "第 2 个字" in result.message and "技术部" in result.message
        assert RARE_CHARACTER not in result.message

    # The failing candidate: theory 0 to 80 makes 72.30, a pass.
    theory_1 = await file(SEQ_1, "theory", "80")
    refused_for_the_name(await decide(theory_1))
    # Present again: no part score yet, no pass, nothing to print.
    await approve_and_apply(driver, await file(SEQ_6, "status", "正常"))
    theory_6 = await file(SEQ_6, "theory", "80")
    practical_6 = await file(SEQ_6, "practical", "80")
    assert (await decide(theory_6)).accepted
    # With the approved theory score, the practical one makes a pass.
    refused_for_the_name(await decide(practical_6))
    status = await driver.status()
    assert status.correction_states[practical_6] == "pending"
    assert status.correction_states[theory_1] == "pending"

    # The tech dept configures a font that prints the name.
    monkeypatch.setenv(FONT_ENV, str(printing))
    assert (await decide(practical_6)).accepted
    # The font changed back before the info center applied it: checked again.
    monkeypatch.delenv(FONT_ENV)
    assert (await apply(theory_6)).accepted
    refused_for_the_name(await apply(practical_6))
    passed = await pool.fetchval(
        "SELECT passed FROM scores WHERE plan_id = $1 AND admission_number = $2",
        driver.plan.plan_id,
        SEQ_6,
    )
    assert passed is False
    monkeypatch.setenv(FONT_ENV, str(printing))
    assert (await apply(practical_6)).accepted
    passed = await pool.fetchval(
        "SELECT passed FROM scores WHERE plan_id = $1 AND admission_number = $2",
        driver.plan.plan_id,
        SEQ_6,
    )
    assert passed is True


async def test_a_name_the_font_cannot_print_is_held_and_the_others_issued(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: issuance failed on such a name and was retried every five
    minutes for ever, no owner and nobody told; the plan stayed at
    "证书发放中, 已发证书 0" with 4 of its PDFs written, and its errors
    named the character in the worker's log."""
    pool, _ = resources
    printing = font_printing(RARE_CHARACTER)
    driver: PlanDriver = await make_driver()
    await driver.reach_approval()
    # Let in by an older version, made to pass by corrections.
    await _rename(pool, driver, SEQ_2, f"胡{RARE_CHARACTER}霞")
    caplog.set_level(logging.DEBUG)

    await driver.approve_in_batch()

    status = await driver.wait_for(lambda s: s.stage == Stage.ISSUED)
    assert status.certificates_issued == 13
    [held] = status.certificates_held
    assert (held.admission_number, held.masked_name, held.positions) == (
        SEQ_2,
        "胡**",
        [2],
    )
    assert held.number is None
    [repair] = [o for o in status.owed if o.duty == Duty.ISSUANCE_REPAIR]
    assert repair.owner is Role.TECH_DEPT
    # certflow status: who is held, to those told; how many, to anyone.
    told = "\n".join(render_status(for_reader(status, Role.TECH_DEPT)))
    assert f"准考证号 {SEQ_2}（胡**）：姓名的第 2 个字证书字体无法显示" in told
    others = "\n".join(render_status(for_reader(status, Role.FINANCE)))
    assert "暂缓发放的证书 1 本" in others and SEQ_2 not in others
    rows = await pool.fetch(
        "SELECT admission_number, pdf_sha256 FROM certificates WHERE plan_id = $1",
        driver.plan.plan_id,
    )
    assert len(rows) == 13 and all(r["pdf_sha256"] for r in rows)
    assert SEQ_2 not in {r["admission_number"] for r in rows}
    [told] = await mails_of(sink_messages, driver.plan.plan_id, "certificates_held")
    assert "tech@" in str(told["To"]) and "info-center@" in str(told["To"])
    body = _body(told)
    assert f"准考证号 {SEQ_2}（胡**）" in body and "第 2 个字" in body
    assert f"issue-again {driver.plan.plan_id}" in body
    assert RARE_CHARACTER not in body

    # Nothing retries it: an hour on, the issuance ran once, at its first try.
    await driver.skip_by(timedelta(hours=1))
    assert await _issuance_attempts(driver) == [1]
    assert log_lines_holding(caplog, RARE_CHARACTER) == []

    # The tech dept configures a font that prints it and issues again.
    monkeypatch.setenv(FONT_ENV, str(printing))
    again = await driver.h.execute_update(wf.issue_again, SimpleAction(actor=TECH))
    assert again.accepted, again.message
    status = await driver.status()
    assert status.certificates_issued == 14 and status.certificates_held == []
    assert not any(o.duty == Duty.ISSUANCE_REPAIR for o in status.owed)
    await mails_of(sink_messages, driver.plan.plan_id, "held_certificates_issued")
    numbers = sorted(
        r["number"]
        for r in await pool.fetch(
            "SELECT number FROM certificates WHERE plan_id = $1", driver.plan.plan_id
        )
    )
    # The held certificate took the next number: none skipped, none doubled.
    tails = [int(n[-6:]) for n in numbers]
    assert tails == list(range(tails[0], tails[0] + 14))
    assert await _issuance_attempts(driver) == [1, 1]

    # Nothing is owed but the invoice; once recorded, the plan ends.
    await driver.record_invoice()
    result = await driver.h.result()
    assert result.certificates_issued == 14


# What the worker's font is, the cause recorded and the words that say it.
FONTS_NOT_USABLE = {
    "missing": ("font_missing", "发证的工作进程找不到证书字体"),
    # Regression: a font cut short failed issuance with fontTools' own error,
    # retried for ever, and nobody was told.
    "damaged": ("font_unreadable", "证书字体文件已损坏"),
}


@pytest.mark.parametrize("font", FONTS_NOT_USABLE)
async def test_an_issuance_no_retry_can_mend_is_not_retried_and_waits_for_the_tech_dept(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    font: str,
) -> None:
    """No certificate font on the worker, or a font file cut short: nothing is
    numbered, the tech dept is told and owes the repair, and the plan does not
    retry on its own."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    cause, said = FONTS_NOT_USABLE[font]
    path = tmp_path / "gone.ttc" if font == "missing" else damaged_font(tmp_path)

    await driver.approve_with_the_font(sink_messages, path, monkeypatch)

    status = await driver.wait_for(lambda s: s.issuance_blocked is not None)
    assert status.stage == Stage.ISSUANCE and status.issuance_blocked == cause
    assert f"证书无法发放：{said}" in "\n".join(render_status(status))
    assert status.certificates_issued == 0
    assert [o.owner for o in status.owed if o.duty == Duty.ISSUANCE_REPAIR] == [
        Role.TECH_DEPT
    ]
    numbered = await pool.fetchval(
        "SELECT count(*) FROM certificates WHERE plan_id = $1", driver.plan.plan_id
    )
    assert numbered == 0
    [told] = await mails_of(sink_messages, driver.plan.plan_id, "issuance_blocked")
    assert "tech@" in str(told["To"]) and said in _body(told)
    # The tech dept issues again, nobody else.
    wrong = driver.h.execute_update(wf.issue_again, SimpleAction(actor=INFO))
    assert await refused(wrong) == "wrong_role"

    await driver.skip_by(timedelta(hours=1))
    assert await _issuance_attempts(driver) == [1]

    # Still missing: the tech dept is answered so, and the plan waits on.
    still = await driver.h.execute_update(wf.issue_again, SimpleAction(actor=TECH))
    assert not still.accepted and said in still.message
    monkeypatch.delenv(FONT_ENV)
    again = await driver.h.execute_update(wf.issue_again, SimpleAction(actor=TECH))
    assert again.accepted, again.message
    status = await driver.status()
    assert status.stage == Stage.ISSUED and status.certificates_issued == 14
    assert status.issuance_blocked is None
    assert not any(o.duty == Duty.ISSUANCE_REPAIR for o in status.owed)
    await mails_of(sink_messages, driver.plan.plan_id, "certificates_issued")


async def test_an_issuance_blocked_by_the_plans_own_text_names_the_row(
    make_driver: Any, sink_messages: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff trial: a plan whose module name the font could not draw (``plan
    start`` refuses one now; a switch of the font may still bring one about)
    waited in issuance, and the tech dept's mail, ``status`` and each
    ``issue-again`` said only that the certificate name, the module, the
    organisation or the fixed wording held such a character, though the
    worker knew it was the module."""
    monkeypatch.delenv(FONT_ENV, raising=False)
    printing = font_printing(RARE_CHARACTER)
    default = find_font()
    monkeypatch.setenv(FONT_ENV, str(printing))
    module_name = f"汽车动力与驱动系统综合分析技术{RARE_CHARACTER}"
    driver: PlanDriver = await make_driver(module_name=module_name)

    await driver.approve_with_the_font(sink_messages, default, monkeypatch)

    status = await driver.wait_for(lambda s: s.issuance_blocked is not None)
    assert status.issuance_blocked == "plan_text"
    assert status.issuance_blocked_rows == ["module"]
    said = "本计划的考核模块（模块代码或名称）中有证书字体无法显示的字"
    assert f"证书无法发放：{said}" in "\n".join(render_status(status))
    [told] = await mails_of(sink_messages, driver.plan.plan_id, "issuance_blocked")
    assert said in _body(told)
    still = await driver.h.execute_update(wf.issue_again, SimpleAction(actor=TECH))
    assert not still.accepted and said in still.message

    # A font that draws it mends it: nothing blocks the plan any more.
    monkeypatch.setenv(FONT_ENV, str(printing))
    again = await driver.h.execute_update(wf.issue_again, SimpleAction(actor=TECH))
    assert again.accepted, again.message
    status = await driver.status()
    assert status.issuance_blocked is None and status.issuance_blocked_rows == []
    # Regression: each issue_again blocked as before mailed the notice anew.
    await mails_of(sink_messages, driver.plan.plan_id, "certificates_issued")
    blocked = await mails_of(sink_messages, driver.plan.plan_id, "issuance_blocked")
    assert len(blocked) == 1


async def test_a_plan_reads_issued_only_with_its_held_certificates(
    make_driver: Any, resources: Any
) -> None:
    """Flaky run: the plan read issued, nothing held and no repair owed,
    while its stage was written and the parties told; staff asking then
    (``certflow status``) were told every certificate had gone out."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    hold = HeldAnswer("record_stage", when=lambda change: change.stage == Stage.ISSUED)
    async with worker_holding(driver, resources, hold):
        try:
            await driver.reach_approval()
            await _rename(pool, driver, SEQ_2, f"胡{RARE_CHARACTER}霞")
            await driver.approve_in_batch()
            await asyncio.wait_for(hold.written.wait(), 60)
            status = await driver.status()
        finally:
            hold.released.set()
        # The plan takes the held answer and mails the tech dept before its
        # worker stops: a workflow task left for a worker that is gone keeps
        # the test server's clock locked, even once the plan is terminated,
        # and every later skip of time in the module times out.
        assert await settle(driver.client, driver.h.id, any_activity=True)
    assert status.stage == Stage.ISSUED
    assert [h.admission_number for h in status.certificates_held] == [SEQ_2]
    assert Duty.ISSUANCE_REPAIR in {o.duty for o in status.owed}
