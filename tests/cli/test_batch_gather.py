"""``batch gather`` takes a batch id only for a batch that gathers plans; a
batch keeps the id it was gathered under, and every batch command reaches it.

This module moves the test server's clock (a plan is played to approval), so
its tests keep out of modules that compare dates with today's.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from certflow import search_attributes as sa
from certflow.actions import batch_workflow_id, new_batch_id
from certflow.i18n import t
from certflow.models import Stage
from certflow.plan import Duty, duties_by_party, redo_duties_by_party
from starter.smtp_sink import body_text
from starter.training import training_now
from tests.cli.conftest import Certflow
from tests.cli.test_commands import ADMIN, GM, TECH
from tests.support import PlanDriver, mails_of, unique_plan_id
from tests.workflow.test_web_ui_details import current_details, owed_line

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_gathering_with_nothing_ready_takes_no_batch_id(
    certflow: Certflow, new_driver: PlanDriver, client: Client, resources: Any
) -> None:
    """Regression: a gathering that found no plan ready still started a batch,
    which took its id for ever; the next real batch could not have it."""
    pool, _ = resources
    # Plans other tests left awaiting approval in no batch are gathered (and
    # found gone) first: then nothing is ready.
    await certflow(*TECH, "batch", "gather")
    batch_id = f"B-{unique_plan_id()}"

    empty = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    status = await certflow(*TECH, "batch", "status", batch_id)

    assert empty.status == 0, empty.out
    assert "未创建发证批次" in empty.out, empty.out
    assert t("cli.batch_id_free", batch_id=batch_id) in empty.out
    assert t("cli.batch_started", batch_id=batch_id) not in empty.out
    # A plan another test file left in a state no gathering takes (its
    # workflow on that file's server, gone now) still counts as ready in the
    # plans table: the batch then starts and closes empty, its id still free.
    # Run in parallel (./run test), which files ran before this one varies.
    left_over = await pool.fetchval(
        "SELECT 1 FROM plans WHERE stage = $1 AND batch_id IS NULL LIMIT 1",
        Stage.AWAITING_APPROVAL.value,
    )
    if left_over:
        assert status.status == 0, status.out
        assert t("cli.batch_empty_closed", batch_id=batch_id) in status.out
    else:
        assert status.status == 2, status.out
        assert t("cli.batch_not_found", batch_id=batch_id) in status.out
        with pytest.raises(RPCError):
            await client.get_workflow_handle(batch_workflow_id(batch_id)).describe()
    assert not await pool.fetchval(
        "SELECT 1 FROM batches WHERE batch_id = $1", batch_id
    )

    # A plan ready later is gathered under that id; then the id is taken.
    await new_driver.reach_approval()
    gathered = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    again = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)

    assert gathered.status == 0, gathered.out
    assert t("cli.batch_started", batch_id=batch_id) in gathered.out
    assert new_driver.plan.plan_id in gathered.out
    assert again.status == 2
    assert t("cli.batch_exists", batch_id=batch_id) in again.out


async def test_a_batch_id_the_tool_made_up_and_found_taken_asks_for_no_other(
    certflow: Certflow, client: Client, resources: Any
) -> None:
    """Regression (trial): two ``batch gather`` at once, neither given an id,
    and the second was told its batch B… existed and to choose another id,
    though staff typed none. The id the tool makes up names the second: taken,
    it says another gathering just started, and how to see it."""
    pool, _ = resources
    # Every id the tool can make up in the next minute and a half (on the
    # server's clock, which this module moves), taken.
    now = await training_now(client) or datetime.now(UTC)
    ids = [new_batch_id(now + timedelta(seconds=k)) for k in range(-1, 90)]
    await pool.executemany(
        "INSERT INTO batches (batch_id, created_at, requested_by)"
        " VALUES ($1, $2, 'tech-qian')",
        [(batch_id, now) for batch_id in ids],
    )
    try:
        second = await certflow(*TECH, "batch", "gather")
    finally:
        await pool.execute("DELETE FROM batches WHERE batch_id = ANY($1)", ids)

    assert second.status == 2, second.out
    [batch_id] = [b for b in ids if b in second.out]
    assert t("cli.batch_just_started", batch_id=batch_id) in second.out
    assert "请换一个批次编号" not in second.out


async def test_who_gathered_a_batch_is_recorded_and_shown(
    certflow: Certflow, new_driver: PlanDriver, resources: Any
) -> None:
    """Regression (trial): every batch's row said it was requested by
    ``workflow`` and no audit line said who gathered it: the tech dept person
    who ran ``batch gather`` was known only to Temporal's history."""
    pool, _ = resources
    await new_driver.reach_approval()
    plan_id = new_driver.plan.plan_id
    batch_id = f"B-{unique_plan_id()}"

    gathered = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    status = await certflow(*GM, "batch", "status", batch_id)

    assert gathered.status == 0, gathered.out
    assert status.status == 0, status.out
    gatherer = t("cli.batch_gathered_by", who=f"{t('roles.tech_dept')} tech-zhao")
    assert gatherer in status.out.splitlines()
    row = await pool.fetchrow(
        "SELECT requested_by, created_at FROM batches WHERE batch_id = $1", batch_id
    )
    assert row["requested_by"] == "tech-zhao"
    [line] = await pool.fetch(
        "SELECT role, person, at, details FROM audit"
        " WHERE plan_id = $1 AND action = 'gather_batch'",
        plan_id,
    )
    assert (line["role"], line["person"]) == ("tech_dept", "tech-zhao")
    assert dict(line["details"]) == {"batch_id": batch_id}
    assert line["at"] == row["created_at"]


async def test_a_batch_gathered_under_the_old_scheduled_id_is_reached_by_it(
    certflow: Certflow,
    new_driver: PlanDriver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A batch the weekly schedule gathered before its batches were named like
    the others keeps the id it took from its workflow id: every batch command
    still reaches it by that id, however it is typed (upper case, a full-width
    colon)."""
    await new_driver.reach_approval()
    at = datetime(2026, 12, 7, 1, tzinfo=UTC) + timedelta(
        seconds=uuid.uuid4().int % 10**7
    )
    batch_id = f"scheduled-{at:%Y-%m-%dT%H:%M:%S}Z"
    # Such a batch's state: its id is the suffix of its workflow id.
    await new_driver.start_batch(batch_id)
    plan_id = new_driver.plan.plan_id
    await new_driver.wait_gathered(batch_id)

    shown = await certflow("batch", "status", batch_id.upper())
    decided = await certflow(
        *GM, "batch", "decide", batch_id.replace(":", "："), "--approve-all"
    )
    mails = await certflow(*ADMIN, "notice", "failed", "--batch", batch_id)
    wrong = await certflow("batch", "status", batch_id.replace("T", " "))

    assert shown.status == 0, shown.out
    assert t("cli.batch_status", batch_id=batch_id, count=1, decided="") in shown.out
    assert f"  {plan_id}" in shown.out.splitlines()
    assert decided.status == 0, decided.out
    assert t("cli.batch_approved", plans=plan_id) in decided.out
    assert mails.status == 0, mails.out
    assert wrong.status == 2
    # Any other id with a colon is no batch id: refused as before.
    refusal = t("cli.bad_code", value=batch_id.replace("T", " "))
    assert refusal in capsys.readouterr().err


async def test_a_joint_payment_invoiced_two_ways_is_named_and_left_out(
    certflow: Certflow, resources: Any
) -> None:
    """Review: a joint payment corrected plan by plan into two whole-payment
    invoices went to the general manager's approval as it was. ``batch
    gather`` leaves its plans out and names them with their invoices, for
    finance to correct."""
    from activities.store import PlanStore
    from tests.workflow.test_finance_store import (
        _awaiting_approval,
        _invoiced_two_ways,
    )

    pool, _ = resources
    # Plans other tests left awaiting approval in no batch are gathered (and
    # found gone) first.
    await certflow(*TECH, "batch", "gather")
    paid, corrected = await _invoiced_two_ways(PlanStore(pool), pool)
    numbers = await pool.fetch(
        "SELECT number FROM plan_invoices WHERE plan_id = ANY($1)", paid
    )
    await _awaiting_approval(pool, paid)
    try:
        gathered = await certflow(*TECH, "batch", "gather")
        batches = await pool.fetchval(
            "SELECT count(*) FROM plans WHERE plan_id = ANY($1)"
            " AND batch_id IS NOT NULL",
            paid,
        )
    finally:
        # Out of later gatherings' way.
        await pool.execute(
            "UPDATE plans SET stage = 'cancelled' WHERE plan_id = ANY($1)", paid
        )

    assert gathered.status == 0, gathered.out
    assert t("cli.batch_none_ready") in gathered.out, gathered.out
    # Its own line: plans of other tests invoiced two ways have theirs (the
    # first gathering cannot take them either).
    [held] = [
        line
        for line in gathered.out.splitlines()
        if "未汇总：" in line and paid[0] in line
    ]
    assert "、".join(paid) in held
    carried = {row["number"] for row in numbers}
    assert corrected in carried and len(carried) == 2
    assert all(number in held for number in carried)
    assert batches == 0


async def test_the_batch_mail_gives_the_commands_that_decide_it(
    certflow: Certflow, new_driver: PlanDriver, sink_messages: Any
) -> None:
    """Regression (trial): the general manager's mail said 请审批（全部批准、
    部分批准或驳回并说明原因） and no more: not the command, nor how a plan is
    sent back to a party. Each command it gives, its placeholders filled in,
    is one ``batch decide`` takes."""
    await certflow(*TECH, "batch", "gather")  # what other tests left ready
    await new_driver.reach_approval()
    plan_id = new_driver.plan.plan_id
    batch_id = f"B-{unique_plan_id()}"
    gathered = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    assert gathered.status == 0 and plan_id in gathered.out, gathered.out
    await new_driver.wait_gathered(batch_id)

    [mail] = await mails_of(
        sink_messages, "-", "batch_ready", subject_holding=f"【发证批次 {batch_id}】"
    )
    body = body_text(mail)
    commands = [
        line.strip()
        for line in body.splitlines()
        if line.strip().startswith("certflow ")
    ]
    decide = f"certflow --as general_manager --person 工号 batch decide {batch_id}"
    assert commands == [
        f"{decide} --approve-all",
        f"{decide} --approve 计划编号 --reject 计划编号=驳回原因",
        f"{decide} --reject 计划编号=驳回原因 --return 计划编号=事项",
    ]
    # Each duty a plan may be sent back to redo, with the party that redoes it.
    assert redo_duties_by_party() in body
    assert (
        "application（缴费并上传证书申请表及院校发票信息收集表，考核站点重办）" in body
    )

    filled = {"工号": "gm-chen", "计划编号": plan_id, "驳回原因": "缴费凭证不清晰"}

    def typed(command: str) -> list[str]:
        for placeholder, value in filled.items():
            command = command.replace(placeholder, value)
        return shlex.split(command.replace("=事项", "=application"))[1:]

    returned = await certflow(*typed(commands[2]))
    assert returned.status == 0, returned.out
    redo = [Duty.APPLICATION, Duty.PAYMENT_CHECK, Duty.SITE_SIGNOFF]
    assert t("cli.batch_returned", items=duties_by_party(redo)) in returned.out
    await new_driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    # The others are taken as commands too, and reach the batch decided.
    for command in commands[:2]:
        again = await certflow(*typed(command))
        assert again.status == 2
        assert t("cli.batch_already_decided", batch_id=batch_id) in again.out


async def _owed_by(client: Client, workflow_id: str) -> list[str]:
    """The plan's ``OwedBy`` search attribute as the server holds it (raw: the
    time-skipping server's NextDeadline trips the SDK's decoding)."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    owed: list[str] = json.loads(fields[sa.OWED_BY.name].data)
    return owed


def _owed_row(out: str, duty: str) -> list[str]:
    """The columns of ``duty``'s row in the status's table of what is owed."""
    line = next(line for line in out.splitlines() if t(f"duties.{duty}") in line)
    return re.split(r"\s{2,}", line.strip())


async def test_a_plan_no_batch_has_taken_waits_for_its_gathering_not_the_gm(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    """Trial: before any gathering, ``certflow status`` said 批准发证 总经理
    自…起等待, though no batch had put the plan to the general manager: the
    tech dept (or the weekly schedule) gathers it first. The status, the Web
    UI's details and ``OwedBy`` name who acts; once a batch holds the plan,
    the general manager owes the decision."""
    await new_driver.reach_approval()
    plan_id = new_driver.plan.plan_id
    workflow_id = new_driver.h.id

    waiting = await certflow(*TECH, "status", plan_id)

    assert waiting.status == 0, waiting.out
    duty, owner, *_ = _owed_row(waiting.out, "approval_gathering")
    assert (duty, owner) == (t("duties.approval_gathering"), t("roles.tech_dept"))
    # The test server runs no schedule: the tech dept gathers on demand.
    assert t("cli.status.awaits_batch_on_demand") in waiting.out.splitlines()
    # Finance may still owe the invoice: it is told apart from the approval.
    owed_by = await _owed_by(client, workflow_id)
    assert "tech_dept" in owed_by and "general_manager" not in owed_by
    details = await current_details(new_driver)
    assert t("roles.tech_dept") in owed_line(details, "approval_gathering")

    batch_id = f"B-{unique_plan_id()}"
    gathered = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    assert gathered.status == 0, gathered.out
    await new_driver.wait_for(lambda s: s.batch_id == batch_id)
    in_batch = await certflow(*TECH, "status", plan_id)

    duty, owner, *_ = _owed_row(in_batch.out, "approval")
    assert (duty, owner) == (t("duties.approval"), t("roles.general_manager"))
    assert t("duties.approval_gathering") not in in_batch.out
    assert t("cli.status.awaits_batch_on_demand") not in in_batch.out
    owed_by = await _owed_by(client, workflow_id)
    assert "general_manager" in owed_by and "tech_dept" not in owed_by
    details = await current_details(new_driver)
    assert t("roles.general_manager") in owed_line(details, "approval")
