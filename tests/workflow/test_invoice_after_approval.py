"""A joint payment's invoice corrected after one of its plans was approved.

The invoice is finance's record and holds no approval (4.2.6 names the
payment confirmation): finance corrects it also once a plan is approved, and
a whole-payment invoice corrected on one plan of the payment is corrected at
once on the approved plans carrying it (their workflows may have ended),
each audited, the tech dept and the general manager mailed. Regression
(trials): a plan rejected beside an approved plan of its payment, and a plan
held for a payment difference beside one, could never be invoiced anew, and
a decision splitting a payment warned nobody.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from certflow.actions import DifferenceSettlement
from certflow.certificates import FONT_ENV
from certflow.i18n import t
from certflow.models import Role, Stage
from certflow.timeutil import format_cst
from starter.cli import batch_lines
from tests.cli.conftest import certflow_runner
from tests.support import (
    FINANCE,
    PlanDriver,
    mails_of,
    refusal_text,
    waiting_on_locks,
)
from tests.workflow.test_finance import sign_off
from tests.workflow.test_invoice_records import (
    _batch_of,
    _decide,
    _invoice,
    _jointly_invoiced,
)
from tests.workflow.test_payment_difference_joint import (
    late_difference_in_joint_payment,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

wf = ExamPlanWorkflow
# Seq 12 of the sample fails (practical 50.10); 60.10 makes it pass.
SEQ_12 = "2026110412012"
CORRECTED = "invoice_corrected_after_approval"


def _body(mail: Any) -> str:
    return str(mail.get_body(("plain",)).get_content())


async def _held(pool: Any, plan_id: str) -> list[str]:
    """The invoices a plan's latest hold named (empty: not held for them)."""
    row = await pool.fetchrow(
        "SELECT invoices, released_at FROM batch_holds WHERE plan_id = $1", plan_id
    )
    if row is None or row["released_at"] is not None:
        return []
    return [h["number"] for h in row["invoices"]]


async def _split_decided(
    make_driver: Any, number: str
) -> tuple[Any, PlanDriver, PlanDriver]:
    """Two plans of one payment invoiced whole under ``number``; the general
    manager approves the second and rejects the first for its invoice."""
    rejected, approved = await _jointly_invoiced(make_driver, number)
    batch = await _batch_of(rejected, approved)
    decided = await _decide(
        batch,
        approve=[approved.plan.plan_id],
        reject={rejected.plan.plan_id: "发票抬头有误，请财务部重开"},
    )
    await rejected.wait_for(lambda s: s.batch_id is None)
    return decided, rejected, approved


async def test_a_decision_splitting_a_joint_payment_warns_and_names_its_plans(
    make_driver: Any, sink_messages: Any
) -> None:
    """Regression (trial): the general manager approved one plan of a joint
    payment and rejected the other for its invoice; nothing said that the
    rejected plan's invoice was now the approved one's too. The decision's
    answer names both, and the rejection mail says how the invoice goes."""
    decided, rejected, approved = await _split_decided(
        make_driver, "26442000000000080101"
    )
    a, b = rejected.plan.plan_id, approved.plan.plan_id

    [split] = decided.split_payments
    assert (split.approved, split.rejected, split.invoiced_whole) == ([b], [a], True)
    assert t("cli.batch_joint_split", approved=b, rejected=a) in batch_lines(decided)
    [mail] = await mails_of(sink_messages, a, "approval_rejected")
    assert t("mail.approval_rejected.split", approved=b).strip() in _body(mail)
    assert "发票抬头有误" in _body(mail)


async def test_a_plan_rejected_beside_an_approved_one_corrects_the_invoice_of_both(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    """Regression (trial): C2 approved (and issued: its workflow ended) and
    C1 rejected for its invoice; every correction of C1's invoice was
    refused, since it left C2's apart, and C1 could not be gathered again.
    Now the whole-payment invoice reissued on C1 is corrected on C2 at once,
    audited on both, the tech dept and the general manager told, and C1 is
    gathered by the next batch. Switching the payment to an invoice per plan
    stays refused: C2's whole invoice cannot be split."""
    pool, _ = resources
    shared, anew = "26442000000000080201", "26442000000000080202"
    _, rejected, approved = await _split_decided(make_driver, shared)
    a, b = rejected.plan.plan_id, approved.plan.plan_id
    await approved.wait_for(lambda s: s.stage == Stage.ISSUED, attempts=600)

    own = await _invoice(
        rejected, "26442000000000080203", correct=True, reason="改为分别开票"
    )
    assert not own.accepted
    assert t("plan.invoice_gathered_plan", plan_id=b, batch_id=rejected.batch_id) in (
        own.message
    )

    reissued = await _invoice(
        rejected,
        anew,
        amount="8400.00",
        correct=True,
        reason="发票抬头有误，红字冲销后重开",
    )
    assert reissued.accepted, reissued.message
    assert t("plan.invoice_corrected_with", plans=b) in reissued.message
    carried = await pool.fetch(
        "SELECT plan_id, number, amount FROM plan_invoices WHERE plan_id = ANY($1)",
        [a, b],
    )
    assert {(r["plan_id"], r["number"], f"{r['amount']:.2f}") for r in carried} == {
        (a, anew, "8400.00"),
        (b, anew, "8400.00"),
    }
    [line] = await pool.fetch(
        "SELECT role, person, details FROM audit"
        " WHERE plan_id = $1 AND action = 'correct_invoice'",
        b,
    )
    assert (line["role"], line["person"]) == (Role.FINANCE.value, FINANCE.person)
    details = line["details"]
    assert (details["old_invoice"], details["invoice"], details["with_plan"]) == (
        shared,
        anew,
        a,
    )
    assert details["reason"] == "发票抬头有误，红字冲销后重开"
    [told] = await mails_of(sink_messages, a, CORRECTED)
    for role in (Role.TECH_DEPT, Role.GENERAL_MANAGER):
        assert all(x in str(told["To"]) for x in rejected.settings.recipients[role])
    assert b in _body(told) and shared in _body(told) and anew in _body(told)
    # Regression (review): reissued for the same amount, the old invoice was
    # not voided, and its number was free once both plans had let it go.
    assert t("mail.invoice_corrected_after_approval.reissued") in _body(told)
    [void] = await pool.fetch(
        "SELECT plan_id, at, details FROM audit WHERE action = 'void_invoice'"
        " AND details ->> 'invoice' = $1",
        shared,
    )
    assert (void["plan_id"], void["details"]["replaced_by"]) == (a, anew)
    again = await _invoice(
        rejected, shared, amount="8400.00", correct=True, reason="改回原号码"
    )
    assert (again.accepted, again.message) == (
        False,
        t(
            "plan.invoice_number_reversed",
            number=shared,
            plan_id=a,
            at=format_cst(void["at"]),
        ),
    )

    # The payment agrees again: the next batch gathers the rejected plan.
    again = f"{rejected.batch_id}-2"
    await rejected.start_batch(again)
    await rejected.wait_gathered(again)
    assert await _held(pool, a) == []


async def _difference_beside_an_issued_plan(
    make_driver: Any, number: str
) -> tuple[PlanDriver, PlanDriver]:
    """Two plans of one payment, 4200.00 each, invoiced whole (8400.00) under
    ``number``: the second approved and issued; the first, confirmed, then
    a 15th candidate's pass applied late, owes a 300.00 supplement."""
    held, issued = await late_difference_in_joint_payment(
        make_driver, number, (SEQ_12, "practical", "60.10"), issue_partner=True
    )
    difference = (await held.status()).payment.difference
    assert difference is not None and difference.amount == Decimal("300.00")
    return held, issued


async def test_a_difference_beside_an_issued_plan_reissues_the_whole_invoice(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    """Regression (trial): a late correction made one plan of a joint payment
    invoiced whole owe 300.00 while the other plan was already issued; once
    settled, the held plan's invoice was to be reissued for the new total,
    but correcting it was refused (it left the issued plan apart) and the
    issued plan's was refused too: the plan stayed held for good. Now the
    reissued whole invoice (8700.00) is corrected on both at once, and the
    held plan is gathered."""
    pool, _ = resources
    shared, anew = "26442000000000080301", "26442000000000080302"
    held, issued = await _difference_beside_an_issued_plan(make_driver, shared)
    a, b = held.plan.plan_id, issued.plan.plan_id
    settled = await held.h.execute_update(
        wf.settle_payment_difference,
        DifferenceSettlement(
            actor=FINANCE, amount=Decimal("300.00"), received_on=await held.today()
        ),
    )
    assert settled.accepted, settled.message
    await sign_off(held)

    # The invoice recorded was issued for the old total: not a typing error.
    typo = _invoice(
        held, anew, amount="8700.00", correct=True, reason="录入错误", typo=True
    )
    assert await refusal_text(typo) == "invoice_reversed: " + t(
        "plan.invoice_typo_after_settlement", number=shared, amount="8400.00"
    )
    reissued = await _invoice(
        held,
        anew,
        amount="8700.00",
        correct=True,
        reason="补缴后红字冲销，按新合计重开",
    )
    assert reissued.accepted, reissued.message
    assert t("plan.difference_invoice_corrected") in reissued.message
    assert t("plan.invoice_corrected_with", plans=b) in reissued.message
    rows = await pool.fetch(
        "SELECT plan_id, number, amount FROM plan_invoices WHERE plan_id = ANY($1)",
        [a, b],
    )
    assert {(r["plan_id"], r["number"], f"{r['amount']:.2f}") for r in rows} == {
        (a, anew, "8700.00"),
        (b, anew, "8700.00"),
    }
    [told] = await mails_of(sink_messages, a, CORRECTED)
    assert b in _body(told) and "8700.00" in _body(told)

    # Nothing holds it now: the next batch gathers it.
    batch_id = f"B-{a}-next"
    await held.start_batch(batch_id)
    await held.wait_gathered(batch_id)


async def _approved_still_running(
    make_driver: Any,
    number: str,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[PlanDriver, PlanDriver]:
    """Two plans of one payment invoiced whole under ``number``, the first
    rejected, the second approved in the same decision, its workflow still
    running: from the approval on, the certificate font is gone, and its
    issuance blocks."""
    rejected, approved = await _jointly_invoiced(make_driver, number)
    a, b = rejected.plan.plan_id, approved.plan.plan_id
    batch = await _batch_of(rejected, approved)
    await rejected.batch_form_sent(sink_messages)
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "gone.ttc"))
    await _decide(batch, approve=[b], reject={a: "发票抬头有误，请财务部重开"})
    await rejected.wait_for(lambda s: s.batch_id is None)
    await approved.wait_for(lambda s: s.issuance_blocked is not None)
    return rejected, approved


async def test_an_approved_plan_still_running_takes_the_invoice_corrected_with_it(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Regression (review): the whole-payment invoice corrected on a rejected
    plan was written on the approved plan in the database alone; that plan's
    workflow, still running (its certificates held, the font gone), kept the
    old invoice, and its own correction later named the old one as replaced
    and reversed it, never the one the database held. The approved plan is
    signalled and records the corrected invoice; its correction starts there."""
    pool, _ = resources
    shared, anew, third = (
        "26442000000000080401",
        "26442000000000080402",
        "26442000000000080403",
    )
    rejected, approved = await _approved_still_running(
        make_driver, shared, sink_messages, monkeypatch, tmp_path
    )
    b = approved.plan.plan_id

    reissued = await _invoice(
        rejected, anew, amount="8400.00", correct=True, reason="发票抬头有误"
    )
    assert reissued.accepted, reissued.message
    assert t("plan.invoice_corrected_with", plans=b) in reissued.message
    status = await approved.wait_for(lambda s: s.payment.invoice_number == anew)
    assert status.stage == Stage.ISSUANCE
    [voided] = status.payment.voided_invoices
    assert (voided.number, voided.replaced_by) == (shared, anew)

    # Its own correction replaces (and reverses) the invoice the database holds.
    again = await _invoice(
        approved, third, amount="8400.00", correct=True, reason="纳税人识别号有误"
    )
    assert again.accepted, again.message
    line = await pool.fetchval(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = 'correct_invoice'"
        " AND NOT details ? 'with_plan'",
        b,
    )
    assert (line["old_invoice"], line["invoice"]) == (anew, third)
    reversed_ = await pool.fetch(
        "SELECT details ->> 'invoice' AS number FROM audit"
        " WHERE plan_id = $1 AND action = 'void_invoice'",
        b,
    )
    assert [r["number"] for r in reversed_] == [anew]


async def _signal_seen(driver: PlanDriver, name: str) -> None:
    """Until a workflow task of the plan has completed after it received the
    signal ``name``: its handler has run, or waits (for the plan's lock)."""
    for _ in range(100):
        events = [e async for e in driver.h.fetch_history_events()]
        at = [
            i
            for i, e in enumerate(events)
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and e.workflow_execution_signaled_event_attributes.signal_name == name
        ]
        done = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        if at and any(e.event_type == done for e in events[at[-1] :]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{driver.plan.plan_id} never took the signal {name}")


async def test_an_invoice_corrected_with_another_plan_waits_for_the_plans_own(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Regression (review): the invoice corrected with another plan of the
    payment (``invoice_corrected_with``) was taken without the plan's lock.
    Finance corrected the approved plan's invoice while another plan's
    correction wrote a new whole invoice on it: the signal came while the
    plan's own correction waited for the database, and was taken in between,
    and the plan's correction then reversed the invoice the signal brought
    (listed voided, though the database voided none on it). Taken after the
    plan's own correction, the plan's records are the database's.

    Regression (review): the plan's own correction, which said it replaced
    the invoice the signal had not yet brought, was still written: the
    invoice in force (the other plan's) was replaced unvoided, and the one
    already reversed reversed again. The database refuses it, under the
    payment's locks, naming the invoice in force; nothing is written, and a
    correction from the invoice in force is taken."""
    pool, _ = resources
    shared, own, other = (
        "26442000000000080501",
        "26442000000000080502",
        "26442000000000080503",
    )
    rejected, approved = await _approved_still_running(
        make_driver, shared, sink_messages, monkeypatch, tmp_path
    )
    b = approved.plan.plan_id
    first_day = (await approved.status()).payment.invoice_issued_on
    assert first_day is not None

    async with pool.acquire() as conn, conn.transaction():
        # The approved plan's record waits for its row; the other plan's
        # correction, which writes the approved plan's invoice, does not.
        await conn.execute(
            "SELECT 1 FROM plans WHERE plan_id = $1 FOR NO KEY UPDATE", b
        )
        mine = asyncio.create_task(
            _invoice(approved, own, amount="8400.00", correct=True, reason="税号有误")
        )
        await waiting_on_locks(pool, 1)
        theirs = await _invoice(
            rejected, other, amount="8400.00", correct=True, reason="抬头有误"
        )
        assert theirs.accepted, theirs.message
        assert t("plan.invoice_corrected_with", plans=b) in theirs.message
        await _signal_seen(approved, "invoice_corrected_with")
    answer = await mine
    assert not answer.accepted, answer.message
    status = await approved.wait_for(lambda s: s.payment.invoice_number == other)
    in_force = t(
        "plan.invoice_named",
        number=other,
        day=status.payment.invoice_issued_on.isoformat(),
        amount="8400.00",
    )
    assert answer.message == t(
        "plan.invoice_not_in_force",
        replaced=t(
            "plan.invoice_named",
            number=shared,
            day=first_day.isoformat(),
            amount="8400.00",
        ),
        in_force=in_force,
    )
    carried = await pool.fetchval(
        "SELECT number FROM plan_invoices WHERE plan_id = $1", b
    )
    assert status.payment.invoice_number == carried == other
    # Nothing of the refused correction is written: no line, no number.
    assert not await pool.fetchval(
        "SELECT count(*) FROM audit WHERE plan_id = $1"
        " AND action IN ('correct_invoice', 'void_invoice')"
        " AND details ->> 'invoice' = $2",
        b,
        own,
    )
    assert not await pool.fetchval(
        "SELECT 1 FROM invoice_numbers WHERE number = $1", own
    )
    # Voided as the other plan's reissue voided it, once, and nothing else.
    assert [(v.number, v.replaced_by) for v in status.payment.voided_invoices] == [
        (shared, other)
    ]

    # Sent again from the invoice in force, it is taken, reversing that one.
    again = await _invoice(
        approved, own, amount="8400.00", correct=True, reason="税号有误"
    )
    assert again.accepted, again.message
    status = await approved.status()
    assert status.payment.invoice_number == own
    assert [(v.number, v.replaced_by) for v in status.payment.voided_invoices] == [
        (shared, other),
        (other, own),
    ]
    voided = await pool.fetch(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = 'void_invoice'"
        " ORDER BY id",
        b,
    )
    assert [(v["details"]["invoice"], v["details"]["replaced_by"]) for v in voided] == [
        (other, own)
    ]


async def test_the_status_of_an_ended_plan_shows_the_invoice_corrected_with_it(
    make_driver: Any, resources: Any, client: Any, worker_settings: Any
) -> None:
    """Regression (review): an approved plan whose workflow had ended (issued
    and invoiced) showed in ``certflow status`` the invoice its workflow
    recorded, though a whole-payment invoice corrected on another plan of
    its payment had been written on it in the database. Its status shows the
    invoice the database holds, the replaced one voided as reissued, and a
    history line naming the plan it was corrected with, as a running plan's
    would; the workflow's record stays in its audit trail."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    shared, anew = "26442000000000080601", "26442000000000080602"
    _, rejected, approved = await _split_decided(make_driver, shared)
    a, b = rejected.plan.plan_id, approved.plan.plan_id
    await approved.wait_for(lambda s: s.stage == Stage.ISSUED, attempts=600)
    await asyncio.wait_for(approved.h.result(), 30)
    reason = "发票抬头有误，红字冲销后重开"
    reissued = await _invoice(
        rejected, anew, amount="8400.00", correct=True, reason=reason
    )
    assert reissued.accepted, reissued.message
    today = (await rejected.today()).isoformat()

    shown = (await certflow("status", b)).out
    line = t("cli.status.invoice_line", number=anew, day=today, amount="8400.00")
    [invoice] = [r for r in shown.splitlines() if r.startswith("发票 ")]
    assert line in invoice, shown
    [voided] = [r for r in shown.splitlines() if t("cli.status.invoice_voided") in r]
    assert shared in voided, voided
    assert t("cli.status.invoice_voided_reissued", number=anew) in voided, voided
    assert t("plan.invoice_corrected_with_note", plan_id=a, reason=reason) in shown
    payment = json.loads((await certflow("status", b, "--json")).out)["payment"]
    assert (payment["invoice_number"], payment["invoice_amount_text"]) == (
        anew,
        "8400.00",
    )
    assert [(v["number"], v["replaced_by"]) for v in payment["voided_invoices"]] == [
        (shared, anew)
    ]
    recorded = await pool.fetchval(
        "SELECT details ->> 'invoice' FROM audit WHERE plan_id = $1"
        " AND action = 'record_invoice'",
        b,
    )
    assert recorded == shared
