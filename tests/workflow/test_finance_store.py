"""Finance's records in the database: a retry, a cancelled plan's number, a
voided invoice's number, and the invoices of a joint payment's plans.

The activities of ``PlanStore`` on the real PostgreSQL, as the worker runs
them, without a plan workflow: the cases are about what the database keeps
when an answer is lost or a plan is withdrawn.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.db import migrate
from activities.store import HELD_BACK, PlanStore
from certflow.activity_models import (
    AuditEntry,
    CancelOutcome,
    ClaimRequest,
    FinanceOutcome,
    FinanceRecord,
    JointPaymentsRequest,
)
from certflow.config import Settings
from certflow.joint_invoice import InvoiceConflict
from certflow.models import Role, Stage
from tests.support import database_before, one_activity, waiting_on_locks

AT = datetime(2026, 12, 21, 3, tzinfo=UTC)
DAY = date(2026, 12, 21)


async def _plan(pool: Any) -> str:
    plan_id = f"T{uuid.uuid4().hex[:10].upper()}"
    await pool.execute(
        """
        INSERT INTO plans (plan_id, workflow_id, site_code, site_name, certificate,
            level, module_code, module_name, exam_end_date, stage, created_at,
            updated_at)
        VALUES ($1, $1, 'HB-WH-0031', '武汉市交通职业技术学校', '汽车运用与维修',
            'intermediate', '1-1', '汽车动力与驱动综合分析技术', $2,
            'payment_and_signoff', $3, $3)
        """,
        plan_id,
        date(2026, 11, 4),
        AT,
    )
    return plan_id


def _number() -> str:
    """A 20-digit invoice number no other test (or earlier run) holds."""
    return f"{uuid.uuid4().int % 10**20:020d}"


def _entry(
    plan_id: str, action: str, by: tuple[Role, str], key: str, **details: str
) -> AuditEntry:
    """The audit line of ``action`` on the plan, by a role's person, at ``AT``."""
    role, person = by
    return AuditEntry(
        plan_id=plan_id,
        action=action,
        role=role,
        person=person,
        at=AT,
        details=details,
        idempotency_key=key,
    )


def _invoice(
    plan_id: str,
    number: str,
    *,
    key: str,
    paid: list[str] | None = None,
    amount: str | None = None,
    day: date = DAY,
    whole: bool = False,
) -> FinanceRecord:
    """Finance's record of invoice ``number`` on the plan, as a correction.

    Of ``amount`` dated ``day``, for the whole payment when ``whole``;
    without an amount, as an attempt scheduled before amounts were sent.
    """
    return FinanceRecord(
        entry=_entry(
            plan_id, "correct_invoice", (Role.FINANCE, "fin-sun"), key, invoice=number
        ),
        invoice_number=number,
        paid_plan_ids=paid or [plan_id],
        outside_batch=True,
        joint_amount=amount if whole else None,
        invoice_amount=None if amount is None else Decimal(amount),
        invoice_issued_on=None if amount is None else day,
    )


async def _confirmed(store: PlanStore, plan_id: str, amount: str = "4200.00") -> None:
    """Finance's confirmation of the plan's payment, as the plan audits it."""
    confirm = _entry(
        plan_id,
        "confirm_payment",
        (Role.FINANCE, "fin-sun"),
        f"{plan_id}/confirm",
        amount=amount,
    )
    await ActivityEnvironment().run(store.record_audit, confirm)


async def _record(store: PlanStore, record: FinanceRecord) -> FinanceOutcome:
    """Finance's record, written as the worker runs the activity."""
    outcome: FinanceOutcome = await ActivityEnvironment().run(
        store.record_finance, record
    )
    return outcome


async def _cancel(store: PlanStore, plan_id: str) -> bool:
    """The tech dept cancels the plan, as ``plan cancel`` has it written."""
    cancel = _entry(
        plan_id, "cancel_plan", (Role.TECH_DEPT, "tech-zhao"), f"{plan_id}/cancel"
    )
    outcome: CancelOutcome = await ActivityEnvironment().run(store.cancel_plan, cancel)
    return outcome.cancelled


async def _void(store: PlanStore, plan_id: str, number: str) -> None:
    """The void of the plan's invoice ``number``, as the plan writes it when a
    batch sends its payment back to be checked again."""
    void = _entry(
        plan_id,
        "void_invoice",
        (Role.GENERAL_MANAGER, "gm-chen"),
        f"{plan_id}/void/{number}",
        invoice=number,
        reason="到账金额待核",
    )
    await ActivityEnvironment().run(store.record_audit, void)


async def test_a_retried_record_already_written_is_done(resources: Any) -> None:
    """Review: the answer of a correction was lost, a batch gathered the plan,
    and the retry was refused as in a batch, though its number and audit line
    were written: the plan kept the old number, the approval sheet the new."""
    pool, _ = resources
    store = PlanStore(pool)
    plan_id = await _plan(pool)
    record = _invoice(plan_id, _number(), key=f"{plan_id}/correct/1")

    first = await _record(store, record)
    await pool.execute("UPDATE plans SET batch_id = 'B1' WHERE plan_id = $1", plan_id)
    retried = await _record(store, record)
    another = _invoice(plan_id, _number(), key=f"{plan_id}/correct/2")
    refused = await _record(store, another)

    assert first.recorded and retried.recorded
    assert not refused.recorded and refused.batch_id == "B1"


async def test_a_cancelled_plans_invoice_number_stays_taken(resources: Any) -> None:
    """Regression: a cancelled plan let go of its invoice number and another
    plan recorded it, though the invoice was still out, finance's to reverse
    (红字发票). Its cancellation's audit line names it, and it stays taken,
    the replacement of a plan started by mistake included."""
    pool, _ = resources
    store = PlanStore(pool)
    mistaken, replacement = await _plan(pool), await _plan(pool)
    number = _number()
    held = _invoice(mistaken, number, key=f"{mistaken}/invoice")
    assert (await _record(store, held)).recorded

    assert await _cancel(store, mistaken)
    again = _invoice(replacement, number, key=f"{replacement}/invoice")
    refused = await _record(store, again)

    assert not refused.recorded
    assert (refused.voided_on, refused.voided_by_cancellation) == (mistaken, True)
    details = await pool.fetchval(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = 'cancel_plan'",
        mistaken,
    )
    assert details["invoice"] == number


async def test_a_cancelled_plans_voided_number_stays_taken(resources: Any) -> None:
    """The number of an invoice a cancelled plan voided before stays taken
    as voided, and the one it held at its cancellation as cancelled, for its
    replacement too."""
    pool, _ = resources
    store = PlanStore(pool)
    mistaken, replacement = await _plan(pool), await _plan(pool)
    voided, held = _number(), _number()
    first = _invoice(mistaken, voided, key=f"{mistaken}/invoice/1")
    assert (await _record(store, first)).recorded
    await _void(store, mistaken, voided)
    second = _invoice(mistaken, held, key=f"{mistaken}/invoice/2")
    assert (await _record(store, second)).recorded
    assert await _cancel(store, mistaken)

    takes_voided = _invoice(replacement, voided, key=f"{replacement}/invoice/1")
    refused = await _record(store, takes_voided)
    takes_held = _invoice(replacement, held, key=f"{replacement}/invoice/2")
    kept = await _record(store, takes_held)

    assert not refused.recorded
    assert (refused.voided_on, refused.voided_at) == (mistaken, AT)
    assert not refused.voided_by_cancellation
    assert not kept.recorded and kept.voided_by_cancellation


async def test_a_joint_invoice_voided_on_one_plan_alone_stays_the_others_own(
    resources: Any,
) -> None:
    """Review: a batch gathered before ``joint-payments-read`` and decided
    after it sent one plan of a joint payment back alone; the invoice was
    voided on that plan and kept by the other, whose every correction keeping
    the number was then refused as voided on the first."""
    pool, _ = resources
    store = PlanStore(pool)
    voiding, keeping, other = await _plan(pool), await _plan(pool), await _plan(pool)
    paid = [voiding, keeping]
    shared = _number()
    for plan_id in paid:
        record = _invoice(plan_id, shared, key=f"{plan_id}/invoice", paid=paid)
        assert (await _record(store, record)).recorded
    await _void(store, voiding, shared)

    # The plan keeping it corrects its record (the date, say), number kept.
    dated = _invoice(keeping, shared, key=f"{keeping}/correct", paid=paid)
    dated.entry.details |= {"old_invoice": shared, "issued_on": "2026-12-20"}
    corrected = await _record(store, dated)
    # The voiding plan may not take it again, nor may another plan.
    again = _invoice(voiding, shared, key=f"{voiding}/invoice/2", paid=paid)
    refused_again = await _record(store, again)
    taken = await _record(store, _invoice(other, shared, key=f"{other}/invoice"))

    assert corrected.recorded, corrected
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit WHERE idempotency_key = $1",
            f"{keeping}/correct",
        )
        == 1
    )
    for refused in (refused_again, taken):
        assert not refused.recorded
        assert (refused.voided_on, refused.voided_at) == (voiding, AT)


async def test_a_joint_payments_number_corrected_on_one_plan_names_the_others(
    resources: Any,
) -> None:
    """Trial: correcting the shared invoice number on one plan of a joint
    payment was accepted without a word, leaving two numbers for one payment."""
    pool, _ = resources
    store = PlanStore(pool)
    first, second = await _plan(pool), await _plan(pool)
    paid = [first, second]
    shared, corrected = _number(), _number()
    for plan_id in paid:
        record = _invoice(plan_id, shared, key=f"{plan_id}/invoice", paid=paid)
        assert (await _record(store, record)).recorded

    correction = _invoice(first, corrected, key=f"{first}/correct", paid=paid)
    correction.entry.details["old_invoice"] = shared
    outcome = await _record(store, correction)
    retried = await _record(store, correction)

    assert outcome.recorded and outcome.still_holding == [second]
    # A retry after a lost answer says the same (review: it said nothing).
    assert retried.recorded and retried.still_holding == [second]


async def _applied(store: PlanStore, plan_id: str, paid: list[str], n: int) -> None:
    """The site's ``n``-th application of the plan, paying for ``paid``."""
    await store.record_audit(
        AuditEntry(
            plan_id=plan_id,
            action="upload_application",
            role=Role.SITE,
            person="whjt-kaowu",
            at=AT + timedelta(minutes=n),
            details={"paid_plans": ",".join(paid)},
            idempotency_key=f"{plan_id}/application/{n}",
        )
    )


async def test_a_batch_reads_the_joint_payments_of_its_plans(resources: Any) -> None:
    """What a joint payment covers is what the latest application of a plan
    of the batch declared, payments naming a common plan being one; a
    cancelled plan holds no invoice and is left out, and so is a plan paid
    alone."""
    pool, _ = resources
    store = PlanStore(pool)
    a, b, c, d, e, f, alone = [await _plan(pool) for _ in range(7)]
    await _applied(store, a, [a], 1)  # replaced by its next application
    await _applied(store, a, [a, b], 2)
    await _applied(store, f, [f, b], 1)
    await _applied(store, c, [c, d, e], 1)
    await _applied(store, alone, [alone, b], 1)
    await _applied(store, alone, [alone], 2)
    assert await _cancel(store, d)

    payments = await ActivityEnvironment().run(
        store.joint_payments,
        JointPaymentsRequest(batch_id="B-joint", plan_ids=[a, c, f, alone]),
    )

    assert sorted((p.plan_ids, p.outside) for p in payments) == sorted(
        [(sorted([a, b, f]), [b]), (sorted([c, e]), [e])]
    )


async def _joint(store: PlanStore, pool: Any, count: int = 2) -> list[str]:
    """``count`` plans of one payment, each confirmed for 4200.00."""
    plans = sorted([await _plan(pool) for _ in range(count)])
    for plan_id in plans:
        await _confirmed(store, plan_id)
    return plans


async def test_plans_of_one_payment_invoicing_at_once_see_each_other(
    resources: Any,
) -> None:
    """Two plans of one payment recording their first invoices at once, under
    two numbers, one for the payment's total and the other for the plan's own
    amount: each checked what the other carried before either had written,
    and both were accepted, invoicing the payment twice."""
    pool, _ = resources
    store = PlanStore(pool)
    first, second = paid = await _joint(store, pool)
    whole = _invoice(
        first, _number(), key=f"{first}/i", paid=paid, amount="8400.00", whole=True
    )
    own = _invoice(second, _number(), key=f"{second}/i", paid=paid, amount="4200.00")

    # Both start while the payment's first lock is held: both wait for it,
    # then for each other.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"invoice/{first}"
        )
        both = asyncio.gather(_record(store, whole), _record(store, own))
        await waiting_on_locks(pool, 2)
    outcomes = await both

    assert sorted(o.recorded for o in outcomes) == [False, True]
    [refused] = [o for o in outcomes if not o.recorded]
    assert refused.conflict in (
        InvoiceConflict.INVOICED_APART,
        InvoiceConflict.WHOLE_ELSEWHERE,
    )
    [clashing] = refused.clashing
    # The refused record's number is not kept for its payment.
    numbers = [whole.invoice_number, own.invoice_number]
    kept = await pool.fetch(
        "SELECT number FROM invoice_numbers WHERE number = ANY($1)", numbers
    )
    assert [row["number"] for row in kept] == [clashing.number]


async def test_a_plan_found_gone_carries_no_invoice(resources: Any) -> None:
    """A plan whose workflow was found gone is marked cancelled and keeps its
    row of the number: it is no plan the number must agree with."""
    pool, _ = resources
    store = PlanStore(pool)
    gone, kept = paid = await _joint(store, pool)
    number = _number()
    held = _invoice(gone, number, key=f"{gone}/i", paid=paid, amount="4200.00")
    assert (await _record(store, held)).recorded
    await pool.execute("UPDATE plans SET stage = 'cancelled' WHERE plan_id = $1", gone)

    again = _invoice(kept, number, key=f"{kept}/i", paid=paid, amount="4200.00")

    outcome = await _record(store, again)
    assert outcome.recorded, outcome


async def test_an_invoice_kept_before_its_amount_is_compared_by_date(
    resources: Any,
) -> None:
    """A plan's invoice recorded before amounts were kept may be its own part
    of a shared invoice, as was accepted then: another plan of the payment
    may record the number with its own amount, on the same date only."""
    pool, _ = resources
    store = PlanStore(pool)
    before, after = paid = await _joint(store, pool)
    number = _number()
    held = _invoice(before, number, key=f"{before}/i", paid=paid, amount="4200.00")
    assert (await _record(store, held)).recorded
    # As migration 015 leaves a row written before it.
    await pool.execute(
        "UPDATE plan_invoices SET amount = NULL, whole_payment = NULL"
        " WHERE plan_id = $1",
        before,
    )

    def own(day: date, n: int) -> FinanceRecord:
        key = f"{after}/i/{n}"
        return _invoice(after, number, key=key, paid=paid, amount="4200.00", day=day)

    other_day = await _record(store, own(DAY - timedelta(days=1), 1))
    same_day = await _record(store, own(DAY, 2))

    assert not other_day.recorded
    assert other_day.conflict is InvoiceConflict.DIFFERS
    assert [(h.plan_id, h.amount, h.issued_on) for h in other_day.clashing] == [
        (before, None, DAY)
    ]
    assert same_day.recorded, same_day


async def test_a_retried_correction_names_the_plans_left_to_correct(
    resources: Any,
) -> None:
    """A shared invoice's date corrected on one plan leaves the other with the
    old one: the answer names it, and so does a retry after a lost answer."""
    pool, _ = resources
    store = PlanStore(pool)
    first, second = paid = await _joint(store, pool)
    number = _number()
    for plan_id in paid:
        record = _invoice(
            plan_id, number, key=f"{plan_id}/i", paid=paid, amount="8400.00", whole=True
        )
        assert (await _record(store, record)).recorded
    earlier = DAY - timedelta(days=1)
    dated = _invoice(
        first,
        number,
        key=f"{first}/c",
        paid=paid,
        amount="8400.00",
        whole=True,
        day=earlier,
    )
    dated.entry.details["old_invoice"] = number

    outcome = await _record(store, dated)
    retried = await _record(store, dated)

    for answer in (outcome, retried):
        assert answer.recorded, answer
        assert [(h.plan_id, h.issued_on) for h in answer.still_differing] == [
            (second, DAY)
        ]
        assert answer.still_holding == answer.still_apart == []


async def test_a_correction_switching_how_a_payment_is_invoiced_names_the_rest(
    resources: Any,
) -> None:
    """Plans of a payment each invoiced for their own amount; finance
    corrects one to the whole payment's invoice: accepted (the switch is
    made plan by plan), naming the other, still invoiced on its own."""
    pool, _ = resources
    store = PlanStore(pool)
    first, second = paid = await _joint(store, pool)
    numbers = {plan_id: _number() for plan_id in paid}
    for plan_id in paid:
        record = _invoice(
            plan_id, numbers[plan_id], key=f"{plan_id}/i", paid=paid, amount="4200.00"
        )
        assert (await _record(store, record)).recorded
    whole = _invoice(
        first, _number(), key=f"{first}/c", paid=paid, amount="8400.00", whole=True
    )
    whole.entry.details["old_invoice"] = numbers[first]

    outcome = await _record(store, whole)

    assert outcome.recorded, outcome
    assert [(h.plan_id, h.number) for h in outcome.still_apart] == [
        (second, numbers[second])
    ]
    assert outcome.still_holding == outcome.still_differing == []


async def test_invoices_recorded_before_keep_their_date(
    settings: Settings, tmp_path: Path
) -> None:
    """Schema version 15 gives each invoice a plan holds the date of its
    latest record of that number; its amount and kind stay unknown."""
    async with database_before(15, settings.database_url, tmp_path) as (pool, _):
        plan_id, number = await _plan(pool), _number()
        lines = [
            ("record_invoice", number, "2026-12-20", 1),
            ("correct_invoice", number, "2026-12-21", 2),
            # A later record of another number, since corrected back.
            ("correct_invoice", _number(), "2026-12-22", 3),
        ]
        for action, invoice, day, n in lines:
            line = _entry(
                plan_id,
                action,
                (Role.FINANCE, "fin-sun"),
                f"{plan_id}/{n}",
                invoice=invoice,
                issued_on=day,
            )
            await PlanStore(pool).record_audit(
                line.model_copy(update={"at": AT + timedelta(minutes=n)})
            )
        await pool.execute(
            "INSERT INTO invoice_numbers (number, payment) VALUES ($1, $2)",
            number,
            plan_id,
        )
        await pool.execute(
            "INSERT INTO plan_invoices (plan_id, number, recorded_at)"
            " VALUES ($1, $2, $3)",
            plan_id,
            number,
            AT,
        )

        applied = await migrate(pool)
        row = await pool.fetchrow(
            "SELECT amount, issued_on, whole_payment FROM plan_invoices"
            " WHERE plan_id = $1",
            plan_id,
        )

    assert "015_invoice_values.sql" in applied
    assert tuple(row) == (None, date(2026, 12, 21), None)


async def _invoiced_two_ways(store: PlanStore, pool: Any) -> tuple[list[str], str]:
    """Two plans of one payment carrying its whole invoice; then one of them
    corrected to another number for the whole payment, the other left as it
    was: two whole-payment invoices for one payment. The plans, and the
    corrected plan's number."""
    paid = await _joint(store, pool)
    for n, plan_id in enumerate(paid):
        await _applied(store, plan_id, paid, n)
    shared, corrected = _number(), _number()
    for plan_id in paid:
        whole = _invoice(
            plan_id, shared, key=f"{plan_id}/i", paid=paid, amount="8400.00", whole=True
        )
        assert (await _record(store, whole)).recorded
    first = paid[0]
    correction = _invoice(
        first, corrected, key=f"{first}/c", paid=paid, amount="8400.00", whole=True
    )
    correction.entry.details["old_invoice"] = shared
    outcome = await _record(store, correction)
    # Accepted plan by plan, with a note naming the other plan.
    assert outcome.recorded and outcome.still_holding == [paid[1]]
    return paid, corrected


async def _awaiting_approval(pool: Any, plan_ids: list[str]) -> None:
    await pool.execute(
        "UPDATE plans SET stage = $1 WHERE plan_id = ANY($2)",
        Stage.AWAITING_APPROVAL.value,
        plan_ids,
    )


async def test_a_joint_payment_invoiced_two_ways_is_held_back_from_approval(
    resources: Any,
) -> None:
    """Review: once a plan had an invoice, a correction skipped the check that
    the payment is invoiced one way. One plan of a joint payment corrected to
    another whole-payment invoice left two for one payment, and nothing later
    checked it: a batch gathered both plans for the general manager's
    approval. A gathering now leaves out the plans of a payment whose invoices
    disagree, naming the invoices in each plan's audit trail; a plan paid
    alone is gathered as ever."""
    pool, _ = resources
    store = PlanStore(pool)
    paid, _ = await _invoiced_two_ways(store, pool)
    alone = await _plan(pool)
    await _awaiting_approval(pool, [*paid, alone])
    batch_id = f"B-{uuid.uuid4().hex[:10]}"

    claimed = await one_activity("claim_ready_plans").run(
        store.claim_ready_plans,
        ClaimRequest(batch_id=batch_id, requested_by="tech-zhao"),
    )

    assert alone in claimed
    assert not set(paid) & set(claimed)
    # Of this test's plans: the gathering holds back what other tests left
    # held (a payment difference not settled) too.
    lines = await pool.fetch(
        "SELECT plan_id, details FROM audit WHERE action = $1"
        " AND details ->> 'batch_id' = $2 AND plan_id = ANY($3) ORDER BY plan_id",
        HELD_BACK,
        batch_id,
        [*paid, alone],
    )
    assert [line["plan_id"] for line in lines] == paid
    for line in lines:
        assert all(p in line["details"]["invoices"] for p in paid)
    # Held back until finance corrects the other plan alike.
    second = paid[1]
    number = await pool.fetchval(
        "SELECT number FROM plan_invoices WHERE plan_id = $1", paid[0]
    )
    alike = _invoice(
        second, number, key=f"{second}/c", paid=paid, amount="8400.00", whole=True
    )
    assert (await _record(store, alike)).recorded
    again = await one_activity("claim_ready_plans").run(
        store.claim_ready_plans, ClaimRequest(batch_id=f"{batch_id}-2")
    )
    assert set(paid) <= set(again)


async def _invoiced_whole(store: PlanStore, paid: list[str], number: str) -> None:
    """The whole-payment invoice ``number`` (8400.00) recorded on each plan."""
    for plan_id in paid:
        whole = _invoice(
            plan_id, number, key=f"{plan_id}/i", paid=paid, amount="8400.00", whole=True
        )
        assert (await _record(store, whole)).recorded


async def test_a_correction_leaving_a_gathered_plan_of_its_payment_apart_is_refused(
    resources: Any,
) -> None:
    """Review: a plan of a joint payment an approval batch holds is decided on
    its invoice as gathered, and no longer corrected; another plan of the
    payment corrected to another whole-payment invoice left the two apart for
    good. Such a correction is refused, naming the gathered plan."""
    pool, _ = resources
    store = PlanStore(pool)
    paid = await _joint(store, pool)
    shared, other = _number(), _number()
    await _invoiced_whole(store, paid, shared)
    gathered, corrected = paid
    batch_id = f"B-{uuid.uuid4().hex[:10]}"
    await pool.execute(
        "UPDATE plans SET batch_id = $1 WHERE plan_id = $2", batch_id, gathered
    )

    correction = _invoice(
        corrected, other, key=f"{corrected}/c", paid=paid, amount="8400.00", whole=True
    )
    correction.entry.details["old_invoice"] = shared
    outcome = await _record(store, correction)

    assert not outcome.recorded
    assert outcome.gathered == {gathered: batch_id}
    assert [(h.plan_id, h.number) for h in outcome.clashing] == [(gathered, shared)]
    held = "SELECT number FROM plan_invoices WHERE plan_id = $1"
    assert await pool.fetchval(held, corrected) == shared
    taken = "SELECT 1 FROM invoice_numbers WHERE number = $1"
    assert await pool.fetchval(taken, other) is None


async def test_a_whole_invoice_corrected_on_one_plan_is_corrected_on_approved_ones(
    resources: Any,
) -> None:
    """Regression (trial): the approved plan of a joint payment invoiced
    whole could not be corrected, and a correction of the other plans was
    refused as leaving it apart. A correction of the whole invoice that
    approved plans do not refuse (``with_approved``) is written on the
    approved plan too, audited there, named again on a retry; one from an
    attempt scheduled before it is refused as ever."""
    pool, store = resources[0], PlanStore(resources[0])
    paid = await _joint(store, pool)
    shared, anew = _number(), _number()
    await _invoiced_whole(store, paid, shared)
    approved, corrected = paid
    batch_id = f"B-{uuid.uuid4().hex[:10]}"
    await pool.execute(
        "INSERT INTO batches (batch_id, created_at, requested_by, status)"
        " VALUES ($1, $2, 'tech-zhao', 'decided')",
        batch_id,
        AT,
    )
    await pool.execute(
        "UPDATE plans SET batch_id = $1, stage = $2 WHERE plan_id = $3",
        batch_id,
        Stage.ISSUED.value,
        approved,
    )

    def correction(key: str, *, with_approved: bool) -> FinanceRecord:
        record = _invoice(
            corrected, anew, key=key, paid=paid, amount="8400.00", whole=True
        )
        record.entry.details |= {"old_invoice": shared, "reason": "红字冲销后重开"}
        return record.model_copy(update={"with_approved": with_approved})

    before = await _record(store, correction(f"{corrected}/c0", with_approved=False))
    outcome = await _record(store, correction(f"{corrected}/c1", with_approved=True))
    retried = await _record(store, correction(f"{corrected}/c1", with_approved=True))

    assert not before.recorded and before.approved == [approved]
    assert outcome.recorded and outcome.corrected_with == [approved]
    assert outcome.still_holding == [] and outcome.still_apart == []
    assert retried.recorded and retried.corrected_with == [approved]
    held = "SELECT number FROM plan_invoices WHERE plan_id = $1"
    assert await pool.fetchval(held, approved) == anew
    [line] = await pool.fetch(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = 'correct_invoice'"
        " AND details ->> 'with_plan' = $2",
        approved,
        corrected,
    )
    assert (line["details"]["old_invoice"], line["details"]["invoice"]) == (
        shared,
        anew,
    )
    # The old number is no payment's now.
    taken = "SELECT 1 FROM invoice_numbers WHERE number = $1"
    assert await pool.fetchval(taken, shared) is None
