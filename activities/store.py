"""Plan records, stage changes, the audit trail and approval batches in PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deadline import transaction_in_time, writes_in_time
from certflow.actions import InvoiceCorrectedWith
from certflow.activity_models import (
    AuditEntry,
    BatchClosing,
    BatchHold,
    CancelOutcome,
    ClaimRequest,
    DeadlineChange,
    FinanceOutcome,
    FinanceRecord,
    HeldBackPayment,
    JointHolds,
    JointPayment,
    JointPaymentCheck,
    JointPaymentsRequest,
    PaymentHold,
    PlanRegistration,
    ReleaseRequest,
    StageChange,
)
from certflow.joint_invoice import (
    InvoiceHolding,
    agrees,
    holdings_text,
    invoice_conflict,
    left_to_correct,
    payment_disagrees,
)
from certflow.joint_payment import (
    LEFT_PAYMENT,
    JointPaymentFacts,
    PaidPlansListing,
    ReceivedHolding,
    lists_disagree,
    received_refusal,
)
from certflow.models import Actor, Stage
from certflow.payment_difference import HOLD_JOINT

# The error type of a registration refused for a plan id another workflow holds.
PLAN_ID_TAKEN = "plan_id_taken"
# The audit action of a plan's start, written with its row.
START_PLAN = "start_plan"
CENT = Decimal("0.01")
# The audit action of a plan gathered into an approval batch.
GATHER_BATCH = "gather_batch"
# The audit action of a plan a gathering left out: its joint payment's
# invoices disagree.
HELD_BACK = "held_back_from_batch"
# The audit action of an invoice set aside: its payment checked again, or the
# invoice reversed and issued anew (see ``_VOIDED``).
VOID_INVOICE = "void_invoice"
# A plan still held back, its invoices unchanged, is told of again at a
# gathering this long after it was last: the next weekly one, whatever its few
# seconds' delay, not one gathered by hand the same week.
HELD_BACK_TOLD_AGAIN = timedelta(days=6)
# The batch's mails that list the plans it held back for their payment (see
# ``ApprovalBatchWorkflow``): one of them sent, or still under way, told them.
HOLDS_TOLD_BY = ("batch_held_for_payment", "batch_ready", "batch_ready_without_report")
# A ``batch_holds`` row to tell of at the gathering of batch $1 at $2: not
# told of, or told by this batch (a retry), or told of last before $3, or told
# by a batch whose every mail of the templates $4 was given up (none sent nor
# under way) and never resent since (``certflow notice resend``: no resend of
# one sent nor under way): nobody heard of it then. Marked told before its
# mail goes out. A mail an admin resent told them: not told again at once.
_TO_TELL = """(told_at IS NULL OR told_batch = $1 OR told_at <= $3
    OR (EXISTS (SELECT 1 FROM notifications n
                WHERE n.batch_id = told_batch AND n.template = ANY($4))
        AND NOT EXISTS (SELECT 1 FROM notifications n
                WHERE n.batch_id = told_batch AND n.template = ANY($4)
                    AND (n.sent_at IS NOT NULL OR n.failure IS NULL))
        AND NOT EXISTS (SELECT 1 FROM notification_resends r
                JOIN notifications n ON n.id = r.notification
                WHERE n.batch_id = told_batch AND n.template = ANY($4)
                    AND (r.sent_at IS NOT NULL OR r.failure IS NULL))))"""

_INSERT_AUDIT = """
    INSERT INTO audit (plan_id, action, role, person, at, accepted, late,
                       details, idempotency_key)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (idempotency_key) DO NOTHING
"""


# The void of the invoice that had a number ($1), refusing it to a plan ($2):
# the first, where a number was voided twice (recorded again on its plan
# before voided numbers were kept). Another plan's void is passed over when
# the plan still holds the number as its own: a batch gathered before
# ``joint-payments-read`` and decided after it may have voided a joint
# payment's invoice on one of its plans alone, the others keeping it, and
# their record of it stays correctable.
# A cancelled plan's invoice (its ``cancel_plan`` line names the number, since
# schema version 19) is finance's to reverse, and refused alike. An invoice
# reversed and issued anew for another amount (its void names the number
# issued in its place, ``replaced_by``) is the other plans' of its payment to
# correct too: one still carrying it keeps it as it carries it ($3 amount,
# $4 date), and may not record it with another amount or date.
_VOIDED = """
    SELECT plan_id, at, action, details ? 'replaced_by' AS reissued FROM audit
    WHERE action IN ('void_invoice', 'cancel_plan') AND details ->> 'invoice' = $1
        AND (plan_id = $2 OR NOT EXISTS (
            SELECT 1 FROM plan_invoices AS held
            WHERE number = $1 AND plan_id = $2
                AND (NOT audit.details ? 'replaced_by'
                    OR (held.amount IS NOT DISTINCT FROM $3
                        AND held.issued_on IS NOT DISTINCT FROM $4))))
    ORDER BY at, id LIMIT 1
"""


def _audit_values(entry: AuditEntry) -> tuple[object, ...]:
    return (
        entry.plan_id,
        entry.action,
        entry.role.value if entry.role else None,
        entry.person,
        entry.at,
        entry.accepted,
        entry.late,
        entry.details,
        entry.idempotency_key,
    )


def _registered_by(row: asyncpg.Record, reg: PlanRegistration) -> bool:
    """Whether the plan's row was written by the workflow registering now.

    The workflow id alone cannot tell (it is derived from the plan id); the
    first run id can. A row from before that was recorded, or a registration
    that sends none, is matched by workflow id and start time instead.
    """
    if row["workflow_id"] != reg.workflow_id:
        return False
    if row["first_run_id"] is not None and reg.first_run_id:
        return bool(row["first_run_id"] == reg.first_run_id)
    return bool(row["created_at"] == reg.started_at)


def _reversed(req: FinanceRecord) -> AuditEntry:
    """The audit line of the invoice a correction to another amount reverses
    (红字冲销): its number, date and amount as the correction's line names
    them (``old_…``), the number issued in its place, who and why."""
    entry = req.entry
    details = entry.details
    return entry.model_copy(
        update={
            "action": VOID_INVOICE,
            "details": {
                "invoice": req.reverses or "",
                "issued_on": str(details.get("old_issued_on", "")),
                "amount": str(details.get("old_amount", "")),
                "replaced_by": req.invoice_number or "",
                "reason": str(details.get("reason", "")),
            },
            "idempotency_key": f"{entry.idempotency_key}/{VOID_INVOICE}",
        }
    )


def _gathered(req: ClaimRequest, plan_id: str, at: datetime) -> AuditEntry:
    """The audit line of a plan an approval batch gathered, and by whom."""
    return AuditEntry(
        plan_id=plan_id,
        action=GATHER_BATCH,
        role=req.requested_role,
        person=req.requested_by,
        at=at,
        details={"batch_id": req.batch_id},
        idempotency_key=f"batch/{req.batch_id}/{GATHER_BATCH}/{plan_id}",
    )


def _held_back(
    req: ClaimRequest,
    run_id: str,
    plan_id: str,
    at: datetime,
    *,
    holdings: list[InvoiceHolding] | None = None,
    payment: dict[str, Any] | None = None,
) -> AuditEntry:
    """The audit line of a plan a gathering left out: with the invoices of its
    joint payment that disagree (plan, number, amount, date of each), or what
    its payment holds it for (``payment``, as the plan recorded it in
    ``payment_holds``: a difference not settled, or an invoice not corrected
    to the settled total) and its figures."""
    details = {"batch_id": req.batch_id}
    if holdings is not None:
        details["invoices"] = "; ".join(
            f"{h.plan_id} {h.number} {h.amount or ''} {h.issued_on or ''}".rstrip()
            for h in holdings
        )
    if payment is not None:
        figures = payment.get("details") or {}
        details |= {str(k): str(v) for k, v in figures.items()}
        details["payment"] = str(payment["reason"])
    return AuditEntry(
        plan_id=plan_id,
        action=HELD_BACK,
        role=req.requested_role,
        person=req.requested_by or "workflow",
        at=at,
        accepted=False,
        details=details,
        idempotency_key=f"batch/{req.batch_id}/{run_id}/{HELD_BACK}/{plan_id}",
    )


async def payment_held(
    conn: asyncpg.Connection, plan_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Of ``plan_ids``, those their payment holds out of approval (see
    ``PlanStore.record_payment_hold``): each with the reason and figures.

    A plan's own payment holds it; so does another plan of its joint payment
    where one invoice is recorded for the whole payment (see
    ``_held_with_partners``). The payments' invoice locks are taken before
    the holds are read: a plan writing its hold waits for the caller's
    transaction, or the caller finds it written.
    """
    own = await _own_holds(conn, plan_ids)
    return await _held_with_partners(conn, plan_ids) | own


async def _own_holds(
    conn: asyncpg.Connection, plan_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Of ``plan_ids``, those still of their payment (``LEFT_PAYMENT``) that
    hold themselves out of approval by it, with the reason and figures."""
    rows = await conn.fetch(
        "SELECT plan_id, reason, details FROM payment_holds JOIN plans USING (plan_id)"
        " WHERE plan_id = ANY($1) AND reason IS NOT NULL AND stage <> ALL($2)"
        " ORDER BY plan_id",
        plan_ids,
        list(LEFT_PAYMENT),
    )
    return {
        row["plan_id"]: {"reason": row["reason"], "details": row["details"]}
        for row in rows
    }


async def _held_with_partners(
    conn: asyncpg.Connection, plan_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """Of ``plan_ids``, those another plan of their joint payment holds: the
    payment is invoiced whole, and that plan's payment holds it (a difference
    not settled, or its invoice not reissued for the settled total). The one
    invoice is then wrong on every plan of the payment, until it is reissued
    for the new total and recorded anew on all (then their invoices agree,
    or ``disagreeing_payments`` holds them). Each with ``joint`` and the
    holding plan's reason and figures."""
    rows = await conn.fetch(_PAID_PLANS, plan_ids)
    groups = joint_groups({row["plan_id"]: _plan_ids(row["paid"]) for row in rows})
    named = sorted({p for group in groups for p in group})
    await _lock_payment(conn, named)
    invoices = await _invoices(conn, named)
    holding = await _own_holds(conn, named)
    held: dict[str, dict[str, Any]] = {}
    for group in groups:
        carried = [h for h in invoices if h.plan_id in group]
        # Recorded before the way was kept, a number carried by two plans.
        shared = {
            h.number for h in carried if [c.number for c in carried].count(h.number) > 1
        }
        whole = [h for h in carried if h.whole_payment or h.number in shared]
        holders = sorted(p for p in group if p in holding)
        if not whole or not holders:
            continue
        for plan_id in sorted(group & set(plan_ids)):
            holder = next((p for p in holders if p != plan_id), None)
            if holder is None:
                continue
            hold = holding[holder]
            held[plan_id] = {
                "reason": HOLD_JOINT,
                "details": {
                    **hold["details"],
                    "plan": holder,
                    "plan_reason": hold["reason"],
                    "invoice": whole[0].number,
                },
            }
    return held


# What each plan's latest accepted application says its payment covers.
_PAID_PLANS = """
    SELECT DISTINCT ON (plan_id) plan_id, details ->> 'paid_plans' AS paid
    FROM audit
    WHERE plan_id = ANY($1) AND action = 'upload_application' AND accepted
    ORDER BY plan_id, at DESC, id DESC
"""


def _plan_ids(paid: str | None) -> set[str]:
    """The plan ids of an application's ``paid_plans`` detail (comma-joined)."""
    return {p.strip() for p in (paid or "").split(",") if p.strip()}


def joint_groups(covers: dict[str, set[str]]) -> list[set[str]]:
    """The payments of several plans: each plan with what its payment covers,
    payments sharing a plan merged into one. A plan paid alone is left out."""
    groups: list[set[str]] = []
    for plan_id, paid in sorted(covers.items()):
        group = {plan_id, *paid}
        if len(group) < 2:
            continue
        for other in [g for g in groups if g & group]:
            group |= other
            groups.remove(other)
        groups.append(group)
    return groups


def payment_key(plan_id: str, paid_plan_ids: list[str]) -> str:
    """The payment an invoice is for: the plans it paid, sorted, comma-joined."""
    return ",".join(sorted({plan_id, *paid_plan_ids}))


async def _live_payment(conn: asyncpg.Connection, plan_ids: list[str]) -> str:
    """The payment of ``plan_ids`` as ``payment_key`` names it, the plans
    that left it (cancelled, or ended with no certificate: ``LEFT_PAYMENT``)
    left out: they drop out of every plan's list, so a plan still listing one
    and a plan listing the others alone pay one payment."""
    left = await conn.fetch(
        "SELECT plan_id FROM plans WHERE plan_id = ANY($1) AND stage = ANY($2)",
        sorted(set(plan_ids)),
        list(LEFT_PAYMENT),
    )
    gone = {row["plan_id"] for row in left}
    return ",".join(sorted(set(plan_ids) - gone))


async def _lock_payment(conn: asyncpg.Connection, plan_ids: list[str]) -> None:
    """Serialise the invoice records, and the confirmations, of the plans of
    one payment.

    Whether an invoice fits depends on what the other plans of its payment
    carry, under its number or another one: two plans recording at once
    (one the payment's total, the other its own amount, say) must each see
    the other's record, not both miss it. So does whether a confirmation
    fits (one payment arrives on one day under one reference): two plans
    confirmed at once, each on another day, would both find the other
    unconfirmed. One lock per plan, taken in order, so payments naming a
    common plan wait for each other without deadlock.
    """
    for plan_id in sorted(set(plan_ids)):
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"invoice/{plan_id}"
        )


# The invoices plans carry now: of the plans $1, and under the number $2 (if
# any). A plan that left its payment carries none (a cancellation lets go of
# its number, but a plan found gone is marked cancelled and keeps its row; a
# plan ending with no certificate had none: ``LEFT_PAYMENT``), nor does a
# plan that voided the invoice it still names.
_CARRIED = """
    SELECT held.plan_id, held.number, held.amount, held.issued_on,
        held.whole_payment
    FROM plan_invoices AS held JOIN plans USING (plan_id)
    WHERE (held.plan_id = ANY($1) OR held.number = $2)
        AND plans.stage <> ALL($3)
        AND NOT EXISTS (
            SELECT 1 FROM audit WHERE action = 'void_invoice'
                AND audit.plan_id = held.plan_id
                AND details ->> 'invoice' = held.number)
    ORDER BY held.plan_id
"""


async def _carried(
    conn: asyncpg.Connection, plan_id: str, number: str, paid_plan_ids: list[str]
) -> tuple[InvoiceHolding | None, list[InvoiceHolding], list[InvoiceHolding]]:
    """The plan's invoice now; the other plans carrying ``number``; and the
    other plans of its payment carrying another number."""
    held = await _invoices(conn, [plan_id, *paid_plan_ids], number)
    current = next((h for h in held if h.plan_id == plan_id), None)
    others = [h for h in held if h.plan_id != plan_id]
    carriers = [h for h in others if h.number == number]
    elsewhere = [h for h in others if h.number != number and h.plan_id in paid_plan_ids]
    return current, carriers, elsewhere


async def _invoices(
    conn: asyncpg.Connection, plan_ids: list[str], number: str | None = None
) -> list[InvoiceHolding]:
    """The invoices ``plan_ids`` carry now, and the plans carrying ``number``."""
    rows = await conn.fetch(_CARRIED, plan_ids, number, list(LEFT_PAYMENT))
    return [InvoiceHolding(**dict(row)) for row in rows]


async def _keep_holds(
    conn: asyncpg.Connection,
    batch_id: str,
    held_back: dict[str, list[InvoiceHolding]],
    at: datetime,
    payment_holds: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Keep the plans a gathering held back (``batch_holds``), with the
    invoices of their payment or what their payment holds them for
    (``payment_holds``), and release every other plan's hold: it was
    gathered, or what held it is settled now, or it waits no more.

    A plan held back for the same invoices (and payment hold) as before keeps
    when it was first held back and told of; for others, or after a release,
    its hold starts anew, to be told of anew.
    """
    paid = payment_holds or {}
    held = sorted(set(held_back) | set(paid))
    await conn.execute(
        """
        UPDATE batch_holds SET released_at = $2
        WHERE released_at IS NULL AND plan_id <> ALL($1)
        """,
        held,
        at,
    )
    same = """h.released_at IS NULL AND h.invoices = EXCLUDED.invoices
        AND h.payment_hold IS NOT DISTINCT FROM EXCLUDED.payment_hold"""
    await conn.executemany(
        f"""
        INSERT INTO batch_holds AS h
            (plan_id, batch_id, invoices, held_at, last_held_at, payment_hold)
        VALUES ($1, $2, $3, $4, $4, $5)
        ON CONFLICT (plan_id) DO UPDATE SET
            held_at = CASE WHEN {same} THEN h.held_at ELSE $4 END,
            told_at = CASE WHEN {same} THEN h.told_at END,
            told_batch = CASE WHEN {same} THEN h.told_batch END,
            batch_id = EXCLUDED.batch_id,
            invoices = EXCLUDED.invoices,
            payment_hold = EXCLUDED.payment_hold,
            last_held_at = EXCLUDED.last_held_at,
            released_at = NULL
        """,
        [
            (
                plan_id,
                batch_id,
                [h.model_dump(mode="json") for h in held_back.get(plan_id, [])],
                at,
                paid.get(plan_id),
            )
            for plan_id in held
        ],
    )


# The plans held back now, with why: by the gathering of a batch ($1), or
# one plan ($2).
_OPEN_HOLDS = """
    SELECT plan_id, batch_id, invoices, held_at, last_held_at, payment_hold
    FROM batch_holds
    WHERE released_at IS NULL AND (batch_id = $1 OR plan_id = $2)
    ORDER BY plan_id
"""


async def open_holds(
    pool: asyncpg.Pool, *, batch_id: str | None = None, plan_id: str | None = None
) -> list[BatchHold]:
    """The open holds (``batch_holds``) of a batch's gathering, or of one plan."""
    rows = await pool.fetch(_OPEN_HOLDS, batch_id, plan_id)
    return [_batch_hold(row) for row in rows]


def _batch_hold(row: asyncpg.Record) -> BatchHold:
    """A ``batch_holds`` row as the plans and the staff tool read it."""
    return BatchHold(
        plan_id=row["plan_id"],
        batch_id=row["batch_id"],
        at=row["last_held_at"],
        since=row["held_at"],
        invoices=[InvoiceHolding.model_validate(h) for h in row["invoices"]],
        payment_reason=(row["payment_hold"] or {}).get("reason"),
        payment_details=(row["payment_hold"] or {}).get("details") or {},
    )


# The whole-payment invoices written on the approved plan $1 as another plan
# of its payment corrected them (see ``_correct_alike``), oldest first, each
# with whether the invoice it replaced was reversed: a void line names both.
_CORRECTED_WITH = """
    SELECT a.at, a.role, a.person, a.details, EXISTS (
            SELECT 1 FROM audit AS v WHERE v.action = 'void_invoice'
                AND v.details ->> 'invoice' = a.details ->> 'old_invoice'
                AND v.details ->> 'replaced_by' = a.details ->> 'invoice'
        ) AS reissued
    FROM audit AS a
    WHERE a.plan_id = $1 AND a.action = 'correct_invoice' AND a.accepted
        AND a.details ? 'with_plan'
    ORDER BY a.at, a.id
"""


async def corrected_with(
    pool: asyncpg.Pool, plan_id: str
) -> list[InvoiceCorrectedWith]:
    """The invoices corrected on ``plan_id`` with other plans of its joint
    payment, as those plans signalled them to it (``invoice_corrected_with``):
    for the status of a plan whose workflow ended, which heard of none.
    Lines from before their date and amount were kept are left out."""
    corrected = []
    for row in await pool.fetch(_CORRECTED_WITH, plan_id):
        details = row["details"]
        if not (details.get("issued_on") and details.get("amount")):
            continue
        corrected.append(
            InvoiceCorrectedWith(
                with_plan=details["with_plan"],
                old_number=details["old_invoice"],
                number=details["invoice"],
                issued_on=date.fromisoformat(details["issued_on"]),
                amount=Decimal(details["amount"]),
                reissued=row["reissued"],
                at=row["at"],
                actor=Actor(role=row["role"], person=row["person"]),
                reason=details.get("reason", ""),
            )
        )
    return corrected


async def current_invoice(pool: asyncpg.Pool, plan_id: str) -> InvoiceHolding | None:
    """The invoice ``plan_id`` carries now, as the database holds it."""
    async with pool.acquire() as conn:
        held = await _invoices(conn, [plan_id])
    return next((h for h in held if h.plan_id == plan_id), None)


async def disagreeing_payments(
    conn: asyncpg.Connection, plan_ids: list[str]
) -> dict[str, list[InvoiceHolding]]:
    """Of ``plan_ids``, those whose joint payment's plans carry invoices that
    do not invoice it one way (see ``payment_disagrees``): each with the
    invoices of its payment.

    What a payment covers is what the plans' latest accepted applications
    declared, as ``joint_payments`` reads it. The payments' invoice locks
    are taken, as a record of their invoices takes them: in the caller's
    transaction, none of their invoices changes before it ends.
    """
    rows = await conn.fetch(_PAID_PLANS, plan_ids)
    groups = joint_groups({row["plan_id"]: _plan_ids(row["paid"]) for row in rows})
    named = sorted({p for group in groups for p in group})
    await _lock_payment(conn, named)
    held = await _invoices(conn, named)
    disagreeing: dict[str, list[InvoiceHolding]] = {}
    for group in groups:
        holdings = [h for h in held if h.plan_id in group]
        if payment_disagrees(holdings):
            disagreeing.update({p: holdings for p in plan_ids if p in group})
    return disagreeing


async def _gathered_apart(
    conn: asyncpg.Connection, claim: InvoiceHolding, others: list[InvoiceHolding]
) -> FinanceOutcome | None:
    """Refuse a record leaving the payment's invoices disagreeing with those of
    its plans an approval batch holds (or approved).

    A correction is made plan by plan and may leave the others to correct
    alike; but a plan a batch holds is decided on its invoice as gathered,
    and an approved one is corrected only with the whole-payment invoice it
    carries (see ``_approved_alike``): they would stay apart.
    """
    if not payment_disagrees([claim, *others]):
        return None
    # An approved plan keeps naming the batch that approved it, decided since:
    # it is told apart from one waiting in an open batch.
    rows = await conn.fetch(
        "SELECT plan_id, batch_id, batches.status = 'decided' AS decided"
        " FROM plans LEFT JOIN batches USING (batch_id)"
        " WHERE plan_id = ANY($1) AND batch_id IS NOT NULL ORDER BY plan_id",
        [h.plan_id for h in others],
    )
    if not rows:
        return None
    gathered = {row["plan_id"]: row["batch_id"] for row in rows}
    return FinanceOutcome(
        recorded=False,
        gathered=gathered,
        approved=[row["plan_id"] for row in rows if row["decided"]],
        clashing=[h for h in others if h.plan_id in gathered],
    )


async def _approved_alike(
    conn: asyncpg.Connection,
    req: FinanceRecord,
    claim: InvoiceHolding,
    current: InvoiceHolding | None,
    others: list[InvoiceHolding],
) -> list[InvoiceHolding]:
    """The approved plans of the payment a correction corrects with it.

    A whole-payment invoice is one invoice: reversed and issued again, it is
    so for every plan of the payment. An approved (or issued) plan carrying
    the one the plan corrects from, as the whole payment's, takes the
    corrected one at once; its workflow may have ended, and the invoice is
    finance's record, not what it was approved on (4.2.6 names the payment
    confirmation). Plans not approved are corrected plan by plan, as ever:
    each is held out of approval until it is.
    """
    if not (
        req.with_approved
        and current is not None
        and current.whole_payment
        and claim.whole_payment
    ):
        return []
    alike = [h for h in others if h.number == current.number and h.whole_payment]
    if not alike:
        return []
    rows = await conn.fetch(
        "SELECT plan_id FROM plans JOIN batches USING (batch_id)"
        " WHERE plan_id = ANY($1) AND batches.status = 'decided'",
        [h.plan_id for h in alike],
    )
    approved = {row["plan_id"] for row in rows}
    return [h for h in alike if h.plan_id in approved]


async def _correct_alike(
    conn: asyncpg.Connection,
    req: FinanceRecord,
    claim: InvoiceHolding,
    approved: list[InvoiceHolding],
) -> None:
    """Write the corrected whole-payment invoice on the approved plans that
    carried the old one, each with an audit line naming the plan it was
    corrected with, finance's reason, and the invoice it replaced."""
    entry = req.entry
    for old in approved:
        await conn.execute(
            "UPDATE plan_invoices SET number = $2, recorded_at = $3, amount = $4,"
            " issued_on = $5, whole_payment = true WHERE plan_id = $1",
            old.plan_id,
            claim.number,
            entry.at,
            claim.amount,
            claim.issued_on,
        )
        line = entry.model_copy(
            update={
                "plan_id": old.plan_id,
                "late": False,
                "details": {
                    "invoice": claim.number,
                    "issued_on": claim.issued_on.isoformat() if claim.issued_on else "",
                    "amount": _amount_text(claim.amount),
                    "old_invoice": old.number,
                    "old_issued_on": old.issued_on.isoformat() if old.issued_on else "",
                    "old_amount": _amount_text(old.amount),
                    "reason": str(entry.details.get("reason", "")),
                    "with_plan": entry.plan_id,
                },
                "idempotency_key": _with_key(entry.idempotency_key, old.plan_id),
            }
        )
        await conn.execute(_INSERT_AUDIT, *_audit_values(line))


def _amount_text(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:.2f}"


def _with_key(key: str, plan_id: str) -> str:
    """The idempotency key of the audit line of a correction the approved
    plan ``plan_id`` took with another plan's (whose line has ``key``)."""
    return f"{key}/with/{plan_id}"


def _claim(req: FinanceRecord, number: str) -> InvoiceHolding:
    """The invoice the record gives its plan. Of unknown amount and kind from
    an attempt scheduled before they were sent."""
    amount = req.invoice_amount
    return InvoiceHolding(
        plan_id=req.entry.plan_id,
        number=number,
        amount=None if amount is None else amount.quantize(CENT),
        issued_on=req.invoice_issued_on,
        whole_payment=None if amount is None else req.joint_amount is not None,
    )


async def _claim_invoice_number(
    conn: asyncpg.Connection, req: FinanceRecord, number: str
) -> FinanceOutcome | None:
    """Give ``number`` to the plan; or refuse, changing nothing: the plans
    holding it for another payment, or the invoices of its payment it does
    not fit (see ``certflow.joint_invoice``).

    The insert waits for another transaction inserting the same number, so
    of two plans recording it at once the second sees the first's payment;
    plans of one payment wait for each other on ``_lock_payment``.
    """
    plan_id = req.entry.plan_id
    payment = await _live_payment(conn, [plan_id, *req.paid_plan_ids])
    await conn.execute(
        "INSERT INTO invoice_numbers (number, payment) VALUES ($1, $2) "
        "ON CONFLICT (number) DO NOTHING",
        number,
        payment,
    )
    held_for = await conn.fetchval(
        "SELECT payment FROM invoice_numbers WHERE number = $1 FOR UPDATE", number
    )
    if held_for != payment and (
        await _live_payment(conn, held_for.split(",")) != payment
    ):
        others = await conn.fetch(
            "SELECT plan_id FROM plan_invoices WHERE number = $1 AND plan_id <> $2 "
            "ORDER BY plan_id",
            number,
            plan_id,
        )
        if others:
            return FinanceOutcome(
                recorded=False, other_plans=[row["plan_id"] for row in others]
            )
        # Held by no other plan: the number is this plan's payment's now.
        await conn.execute(
            "UPDATE invoice_numbers SET payment = $2 WHERE number = $1",
            number,
            payment,
        )
    claim = _claim(req, number)
    current, carriers, elsewhere = await _carried(
        conn, plan_id, number, req.paid_plan_ids
    )
    conflict = invoice_conflict(claim, current, carriers, elsewhere)
    if conflict is not None:
        await _let_go(conn, number)  # inserted above for nothing
        how, clashing = conflict
        return FinanceOutcome(recorded=False, conflict=how, clashing=clashing)
    others = [*carriers, *elsewhere]
    approved = await _approved_alike(conn, req, claim, current, others)
    corrected = {h.plan_id for h in approved}
    after = [
        claim.model_copy(update={"plan_id": h.plan_id}) if h.plan_id in corrected else h
        for h in others
    ]
    apart = await _gathered_apart(conn, claim, after)
    if apart is not None:
        await _let_go(conn, number)
        return apart
    await _correct_alike(conn, req, claim, approved)
    before = await conn.fetchval(
        "SELECT number FROM plan_invoices WHERE plan_id = $1 FOR UPDATE", plan_id
    )
    await conn.execute(
        """
        INSERT INTO plan_invoices (plan_id, number, recorded_at, amount, issued_on,
                                   whole_payment)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (plan_id) DO UPDATE SET number = $2, recorded_at = $3,
            amount = $4, issued_on = $5, whole_payment = $6
        """,
        plan_id,
        number,
        req.entry.at,
        claim.amount,
        claim.issued_on,
        claim.whole_payment,
    )
    if before is not None and before != number:
        # The number the plan held before (corrected) is free once nobody holds it.
        await _let_go(conn, before)
    return None


async def _not_in_force(
    conn: asyncpg.Connection, replaces: InvoiceHolding
) -> FinanceOutcome | None:
    """Refuse a correction replacing an invoice other than the plan's in
    force, the database's (under the payment's locks: a whole-payment
    invoice corrected on the plan with another plan of its payment, at
    this moment, is seen). A plan with no invoice row was invoiced before
    numbers were claimed: nothing to compare, the plan's record stands."""
    plan_id = replaces.plan_id
    row = await conn.fetchval("SELECT 1 FROM plan_invoices WHERE plan_id = $1", plan_id)
    if row is None:
        return None
    held = await _invoices(conn, [plan_id])
    current = next((h for h in held if h.plan_id == plan_id), None)
    if (
        current is not None
        and current.number == replaces.number
        and agrees(current, replaces)
    ):
        return None
    return FinanceOutcome(recorded=False, not_in_force=True, in_force=current)


async def _let_go(conn: asyncpg.Connection, number: str | None) -> None:
    """Free ``number`` for any payment if no plan holds it."""
    await conn.execute(
        "DELETE FROM invoice_numbers WHERE number = $1 AND NOT EXISTS "
        "(SELECT 1 FROM plan_invoices WHERE number = $1)",
        number,
    )


async def _recorded(conn: asyncpg.Connection, req: FinanceRecord) -> FinanceOutcome:
    """The answer to a record written (now, or by an attempt whose answer was
    lost): what the other plans of its payment are left to correct alike.

    The plans still holding the number a correction replaced; those carrying
    the plan's number with the amount or date it corrected; and those
    invoiced the other way (see ``certflow.joint_invoice.left_to_correct``).
    """
    entry = req.entry
    if req.invoice_number is None:
        return FinanceOutcome(recorded=True)
    replaced = entry.details.get("old_invoice") or None
    if replaced == req.invoice_number:
        replaced = None  # kept: corrected its date or amount
    holders = [
        row["plan_id"]
        for row in await conn.fetch(
            "SELECT plan_id FROM plan_invoices WHERE number = $1"
            " AND plan_id <> $2 ORDER BY plan_id",
            replaced,
            entry.plan_id,
        )
    ]
    current, carriers, elsewhere = await _carried(
        conn, entry.plan_id, req.invoice_number, req.paid_plan_ids
    )
    if current is None or current.number != req.invoice_number:
        # Voided or corrected since this record: nothing of it is left.
        return FinanceOutcome(recorded=True, still_holding=holders)
    differing, apart = left_to_correct(current, carriers, elsewhere)
    corrected_with = [
        row["plan_id"]
        for row in await conn.fetch(
            "SELECT plan_id FROM audit WHERE idempotency_key = ANY($1)"
            " ORDER BY plan_id",
            [_with_key(entry.idempotency_key, p) for p in req.paid_plan_ids],
        )
    ]
    return FinanceOutcome(
        recorded=True,
        still_holding=holders,
        still_differing=differing,
        still_apart=[a for a in apart if a.plan_id not in holders],
        corrected_with=corrected_with,
    )


# Each plan's latest confirmation of its payment (or finance's correction of
# it), and its latest return by a batch for the payment to be checked again.
_CONFIRMED = """
    SELECT DISTINCT ON (plan_id) plan_id, at, details ->> 'amount' AS amount,
        details ->> 'received_on' AS received_on,
        coalesce(details ->> 'reference', '') AS reference
    FROM audit
    WHERE plan_id = ANY($1) AND accepted
        AND action IN ('confirm_payment', 'correct_payment',
                       'settle_payment_difference')
    ORDER BY plan_id, at DESC, id DESC
"""
_CHECKED_AGAIN = """
    SELECT plan_id, max(at) AS at FROM audit
    WHERE plan_id = ANY($1) AND action = 'reject_batch'
        AND details ->> 'returned_to' LIKE '%payment_check%'
    GROUP BY plan_id
"""


# The latest accepted application of each plan among $1, or naming $2 in it.
_LISTINGS = """
    WITH touching AS (
        SELECT DISTINCT plan_id FROM audit
        WHERE action = 'upload_application' AND accepted
            AND (plan_id = ANY($1)
                OR $2 = ANY(string_to_array(details ->> 'paid_plans', ',')))
    )
    SELECT DISTINCT ON (plan_id) plan_id, details ->> 'paid_plans' AS paid
    FROM audit
    WHERE plan_id IN (SELECT plan_id FROM touching)
        AND action = 'upload_application' AND accepted
    ORDER BY plan_id, at DESC, id DESC
"""
# Stages of a plan past its payment: approved, its certificates issued.
_ENDED = (Stage.ISSUANCE.value, Stage.ISSUED.value)


async def _confirmations(
    conn: asyncpg.Connection, plan_ids: list[str]
) -> dict[str, asyncpg.Record]:
    """Of ``plan_ids``, those whose money finance has confirmed and no batch
    has sent back to be checked again since: each with its latest
    confirmation (or correction of it)."""
    confirmed = {r["plan_id"]: r for r in await conn.fetch(_CONFIRMED, plan_ids)}
    returned = {
        r["plan_id"]: r["at"] for r in await conn.fetch(_CHECKED_AGAIN, plan_ids)
    }
    return {
        p: row
        for p, row in confirmed.items()
        if not (p in returned and returned[p] >= row["at"])
    }


async def joint_payment_facts(
    conn: asyncpg.Connection, plan_id: str, paid_plan_ids: list[str]
) -> JointPaymentFacts:
    """What the other plans a payment touches list and confirmed: those
    ``paid_plan_ids`` names, and those whose latest application names
    ``plan_id`` (see ``certflow.joint_payment``). Plans that left their
    payment (cancelled, or ended ``no_certificates`` after their application:
    ``LEFT_PAYMENT``) drop out of every list, and are named in ``cancelled``."""
    named = sorted(set(paid_plan_ids) - {plan_id})
    applied = {}
    for row in await conn.fetch(_LISTINGS, named, plan_id):
        paid = _plan_ids(row["paid"])
        if row["plan_id"] != plan_id and (row["plan_id"] in named or plan_id in paid):
            applied[row["plan_id"]] = paid
    others = sorted(set(named) | set(applied))
    mentioned = sorted(set(others).union(*applied.values()))
    stages = {
        row["plan_id"]: row["stage"]
        for row in await conn.fetch(
            "SELECT plan_id, stage FROM plans WHERE plan_id = ANY($1)", mentioned
        )
    }
    cancelled = sorted(p for p, s in stages.items() if s in LEFT_PAYMENT)
    live = [p for p in others if p not in cancelled]
    confirmed = await _confirmations(conn, live)
    listings = [
        PaidPlansListing(
            plan_id=p,
            listed=sorted(applied.get(p, set()) - set(cancelled)),
            confirmed=p in confirmed,
            ended=stages.get(p) in _ENDED,
        )
        for p in live
    ]
    received = [
        ReceivedHolding(
            plan_id=p,
            received_on=date.fromisoformat(row["received_on"]),
            reference=row["reference"].strip(),
        )
        for p, row in sorted(confirmed.items())
        if p in named and row["received_on"]
    ]
    return JointPaymentFacts(cancelled=cancelled, listings=listings, received=received)


async def _joint_total_refusal(
    conn: asyncpg.Connection, payment: str, amount: str
) -> FinanceOutcome | None:
    """Refuse an invoice amount that is not its joint payment's total.

    The total is the amounts finance confirmed on each plan of the payment
    (``payment``, as ``payment_key`` names it), added up; every one of them
    must be confirmed, and not sent back since to be checked again. A plan
    that left the payment (``LEFT_PAYMENT``) holds no invoice and is left out
    (as ``joint_payments`` leaves it out of the batch's reading), named in
    the refusal.
    """
    declared = payment.split(",")
    cancelled = [
        row["plan_id"]
        for row in await conn.fetch(
            "SELECT plan_id FROM plans WHERE plan_id = ANY($1) AND stage = ANY($2)"
            " ORDER BY plan_id",
            declared,
            list(LEFT_PAYMENT),
        )
    ]
    plan_ids = [p for p in declared if p not in cancelled]
    confirmed = {r["plan_id"]: r for r in await conn.fetch(_CONFIRMED, plan_ids)}
    returned = {
        r["plan_id"]: r["at"] for r in await conn.fetch(_CHECKED_AGAIN, plan_ids)
    }
    unconfirmed = [
        p
        for p in plan_ids
        if p not in confirmed
        or confirmed[p]["amount"] is None
        or (p in returned and returned[p] >= confirmed[p]["at"])
    ]
    if unconfirmed:
        return FinanceOutcome(
            recorded=False, unconfirmed=unconfirmed, cancelled=cancelled
        )
    total = sum((Decimal(confirmed[p]["amount"]) for p in plan_ids), Decimal(0))
    if total.quantize(CENT) == Decimal(amount).quantize(CENT):
        return None
    return FinanceOutcome(
        recorded=False, joint_total=f"{total.quantize(CENT)}", cancelled=cancelled
    )


def _received_apart(
    entry: AuditEntry, facts: JointPaymentFacts
) -> list[ReceivedHolding]:
    """The other plans of a payment whose confirmations give another day or
    reference than the correction ``entry`` wrote: each is corrected alike."""
    day = date.fromisoformat(entry.details["received_on"])
    reference = str(entry.details.get("reference") or "").strip()
    return [
        r
        for r in facts.received
        if r.received_on != day or (reference and r.reference not in ("", reference))
    ]


def _received_apart_refused(req: FinanceRecord, facts: JointPaymentFacts) -> bool:
    """Whether a confirmation (``received_once``) does not fit its payment:
    its plans list other plans, or another plan of it confirmed the money
    as arriving on another day or under another reference."""
    entry = req.entry
    if lists_disagree(entry.plan_id, req.paid_plan_ids, facts):
        return True
    day = date.fromisoformat(entry.details["received_on"])
    reference = str(entry.details.get("reference") or "")
    return received_refusal(day, reference, facts, []) is not None


class PlanStore:
    """Activities that keep the organisation's records of each plan."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn
    async def register_plan(self, reg: PlanRegistration) -> None:
        """Create the plan's row; a retried start leaves it as it is.

        A row of the plan id written by another workflow (Temporal's store
        reset, a second stack on this database) is refused without retries:
        the plan's scores, requests and numbers would otherwise be mixed into
        the old plan's. The workflow ends, saying so.

        The person who started the plan is written to the audit trail in the
        same transaction: a plan nobody can be asked about is one nobody dares
        to cancel.
        """
        info = reg.info
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                """
                INSERT INTO plans (plan_id, workflow_id, site_code, site_name,
                                   certificate, level, module_code, module_name,
                                   exam_end_date, stage, created_at, updated_at,
                                   stage_at, first_run_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11, $12)
                ON CONFLICT (plan_id) DO NOTHING
                RETURNING true
                """,
                info.plan_id,
                reg.workflow_id,
                info.site_code,
                info.site_name,
                info.certificate,
                info.level.value,
                info.module_code,
                info.module_name,
                info.exam_end_date,
                Stage.SCORE_SUBMISSION.value,
                reg.started_at,
                reg.first_run_id or None,
            )
            if inserted:
                if reg.started_by is not None:
                    await conn.execute(
                        _INSERT_AUDIT,
                        *_audit_values(
                            AuditEntry(
                                plan_id=info.plan_id,
                                action=START_PLAN,
                                role=reg.started_by.role,
                                person=reg.started_by.person,
                                at=reg.started_at,
                                idempotency_key=(
                                    f"{reg.workflow_id}/{reg.first_run_id}/start"
                                ),
                            )
                        ),
                    )
                return
            row = await conn.fetchrow(
                """
                SELECT workflow_id, first_run_id, created_at FROM plans
                WHERE plan_id = $1 FOR UPDATE
                """,
                info.plan_id,
            )
            assert row is not None  # the conflict was on this very row
            if not _registered_by(row, reg):
                raise ApplicationError(
                    f"Plan id {info.plan_id} is registered by another workflow.",
                    type=PLAN_ID_TAKEN,
                    non_retryable=True,
                )
            if row["first_run_id"] is None and reg.first_run_id:
                await conn.execute(
                    "UPDATE plans SET first_run_id = $2 WHERE plan_id = $1",
                    info.plan_id,
                    reg.first_run_id,
                )

    @activity.defn
    async def record_stage(self, change: StageChange) -> None:
        """Record the stage a plan entered; a cancelled plan's row stays cancelled.

        A stage change the workflow started just before the plan was cancelled
        may reach the database after the cancellation: it must not revive it.
        Nor may an older change overwrite a newer one: an attempt that timed
        out (waiting for a connection, say) is retried and not stopped, and
        its write may land after its retry's and after the plan's next stage.
        The workflow's clock orders the changes.
        """
        await self.pool.execute(
            """
            UPDATE plans
            SET stage = $2, overdue = $3, next_deadline = $4, updated_at = $5,
                stage_at = $5
            WHERE plan_id = $1 AND stage <> $6 AND updated_at <= $5
            """,
            change.plan_id,
            change.stage.value,
            change.overdue,
            change.next_deadline,
            change.at,
            Stage.CANCELLED.value,
        )

    @activity.defn
    async def record_deadlines(self, change: DeadlineChange) -> None:
        """Record whether the plan is overdue and its next deadline.

        As ``record_stage`` orders its writes: the workflow's clock decides,
        so an attempt landing late leaves a newer write (of the stage too) as
        it is, and a cancelled plan's row stays as its cancellation wrote it.
        The stage's own stamp (``stage_at``) stays: ``release_plans`` asks
        whether the plan wrote a newer *stage* than the general manager's
        decision, and newer deadlines are not one.
        """
        await self.pool.execute(
            """
            UPDATE plans SET overdue = $2, next_deadline = $3, updated_at = $4
            WHERE plan_id = $1 AND stage <> $5 AND updated_at <= $4
            """,
            change.plan_id,
            change.overdue,
            change.next_deadline,
            change.at,
            Stage.CANCELLED.value,
        )

    @activity.defn
    @writes_in_time
    async def cancel_plan(self, entry: AuditEntry) -> CancelOutcome:
        """Mark the plan's row cancelled and write ``entry``, its audit line.

        A plan an approval batch has gathered is not cancelled: the batch
        claims plans in the database before the plan hears of it, and the row
        lock lets exactly one of the two win. A retry after a lost answer
        writes the same values again, and the audit line once.
        """
        async with self.pool.acquire() as conn, transaction_in_time(conn):
            # The row lock orders this with ``claim_ready_plans``.
            batch_id = await conn.fetchval(
                "SELECT batch_id FROM plans WHERE plan_id = $1 FOR UPDATE",
                entry.plan_id,
            )
            if batch_id is not None:
                return CancelOutcome(cancelled=False, batch_id=batch_id)
            await conn.execute(
                """
                UPDATE plans
                SET stage = $2, overdue = false, next_deadline = NULL, updated_at = $3,
                    stage_at = $3
                WHERE plan_id = $1
                """,
                entry.plan_id,
                Stage.CANCELLED.value,
                entry.at,
            )
            # The plan holds its invoice no longer, and the invoice is
            # finance's to reverse (红字发票): its number, named in the audit
            # line, is never recorded again (see ``_VOIDED``).
            held = await conn.fetchval(
                "DELETE FROM plan_invoices WHERE plan_id = $1 RETURNING number",
                entry.plan_id,
            )
            await _let_go(conn, held)
            # Nothing holds a cancelled plan out of approval any more: a
            # payment difference is not settled once the plan is withdrawn.
            await conn.execute(
                "UPDATE payment_holds SET reason = NULL, details = '{}', at = $2"
                " WHERE plan_id = $1 AND at <= $2",
                entry.plan_id,
                entry.at,
            )
            if held is not None:
                entry = entry.model_copy(
                    update={"details": {**entry.details, "invoice": held}}
                )
            await conn.execute(_INSERT_AUDIT, *_audit_values(entry))
        return CancelOutcome(cancelled=True)

    @activity.defn
    @writes_in_time
    async def record_finance(self, req: FinanceRecord) -> FinanceOutcome:
        """Write finance's record of an invoice or a correction, or refuse it.

        All or nothing, in one transaction: the plan's row is locked first
        (as ``cancel_plan`` does), so a correction and a batch gathering the
        plan cannot both win; then the invoice number is claimed for the
        plan's payment, and checked against the invoices the other plans of
        the payment carry (one number, one amount and date; a joint payment
        invoiced one way: see ``certflow.joint_invoice``), those plans'
        records waiting meanwhile; then the audit line is written. A retry
        after a lost answer claims the same number for the same plan again,
        and writes the line once.

        Finance's confirmation of a payment (``received_once``) is checked
        and written the same way: under the locks of the plans of its
        payment, against what the other plans list and confirmed, so two
        plans of one payment confirmed at once on two days are not both
        taken.

        A voided invoice's number is never claimed again, by any plan: the
        invoice is void, and its number is not issued twice. Except by a plan
        that still holds it, where another plan of its payment voided it alone
        (see ``_VOIDED``): the number is still that plan's own.
        """
        entry = req.entry
        async with self.pool.acquire() as conn, transaction_in_time(conn):
            batch_id = await conn.fetchval(
                "SELECT batch_id FROM plans WHERE plan_id = $1 FOR UPDATE",
                entry.plan_id,
            )
            # A retry of a record already written (its answer was lost) is
            # done, whatever happened since: checked again, a batch that has
            # gathered the plan meanwhile would refuse it while the number
            # and the audit line stay written.
            done = await conn.fetchval(
                "SELECT 1 FROM audit WHERE idempotency_key = $1",
                entry.idempotency_key,
            )
            if done:
                # Said again as the first attempt said it.
                return await _recorded(conn, req)
            if req.outside_batch and batch_id is not None:
                # An invoice correction is taken once the batch is decided
                # (the plan approved); never while the batch waits for it.
                decided = req.with_approved and await conn.fetchval(
                    "SELECT status = 'decided' FROM batches WHERE batch_id = $1",
                    batch_id,
                )
                if not decided:
                    return FinanceOutcome(recorded=False, batch_id=batch_id)
            if req.received_once:
                # Taken before the other plans are read: their confirmations
                # take the same locks, so one confirmed at this moment is seen.
                await _lock_payment(conn, [entry.plan_id, *req.paid_plan_ids])
            facts = await joint_payment_facts(conn, entry.plan_id, req.paid_plan_ids)
            if req.invoice_number is not None and lists_disagree(
                entry.plan_id, req.paid_plan_ids, facts
            ):
                # Whose invoice it is waits for which plans the payment covers.
                return FinanceOutcome(recorded=False, paid_plans=facts)
            if req.received_once and _received_apart_refused(req, facts):
                return FinanceOutcome(recorded=False, paid_plans=facts)
            if req.joint_amount is not None:
                refused = await _joint_total_refusal(
                    conn,
                    payment_key(entry.plan_id, req.paid_plan_ids),
                    req.joint_amount,
                )
                if refused is not None:
                    return refused
            if req.invoice_number is not None:
                await _lock_payment(conn, [entry.plan_id, *req.paid_plan_ids])
                if req.replaces is not None:
                    refused = await _not_in_force(conn, req.replaces)
                    if refused is not None:
                        return refused
                voided = await conn.fetchrow(
                    _VOIDED,
                    req.invoice_number,
                    entry.plan_id,
                    req.invoice_amount,
                    req.invoice_issued_on,
                )
                if voided is not None:
                    return FinanceOutcome(
                        recorded=False,
                        voided_on=voided["plan_id"],
                        voided_at=voided["at"],
                        voided_by_cancellation=voided["action"] == "cancel_plan",
                        voided_by_reissue=voided["reissued"],
                    )
                refused = await _claim_invoice_number(conn, req, req.invoice_number)
                if refused is not None:
                    return refused
            await conn.execute(_INSERT_AUDIT, *_audit_values(entry))
            if req.reverses is not None:
                await conn.execute(_INSERT_AUDIT, *_audit_values(_reversed(req)))
            recorded = await _recorded(conn, req)
            if entry.action == "correct_payment":
                recorded.still_received = _received_apart(entry, facts)
            return recorded

    @activity.defn
    async def record_payment_hold(self, hold: PaymentHold) -> None:
        """Write what holds the plan out of approval by its payment (or that
        nothing does): ``claim_ready_plans`` reads it. Written at the plan's
        clock, so an attempt that lands late never undoes a newer write.

        Under the plan's invoice lock, as a gathering reads the holds of a
        joint payment's plans (see ``payment_held``): a hold written while
        a gathering weighs the plan's partners waits for it to end."""
        async with self.pool.acquire() as conn, conn.transaction():
            await _lock_payment(conn, [hold.plan_id])
            await conn.execute(
                """
                INSERT INTO payment_holds AS h (plan_id, reason, details, at)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (plan_id) DO UPDATE
                    SET reason = EXCLUDED.reason, details = EXCLUDED.details,
                        at = EXCLUDED.at
                    WHERE h.at <= EXCLUDED.at
                """,
                hold.plan_id,
                hold.reason,
                hold.details,
                hold.at,
            )

    @activity.defn
    async def joint_holds(self, req: JointPaymentCheck) -> JointHolds:
        """Whether another plan of the plan's joint payment holds it out of
        approval (``payment_held``'s ``joint``), and which other plans of the
        payment nothing holds now: the plan withholds its ready mail while
        held, and tells those it freed (its hold was the last). Read as a
        gathering reads them, under the payment's invoice locks; the
        ``joint`` holds a gathering kept for the plans found free are
        released (``batch_holds``), as the next gathering would."""
        async with self.pool.acquire() as conn, conn.transaction():
            joint = await _held_with_partners(conn, [req.plan_id])
            rows = await conn.fetch(_PAID_PLANS, [req.plan_id])
            groups = joint_groups(
                {row["plan_id"]: _plan_ids(row["paid"]) for row in rows}
            )
            partners = sorted({p for group in groups for p in group} - {req.plan_id})
            live = await conn.fetch(
                "SELECT plan_id FROM plans WHERE plan_id = ANY($1)"
                " AND stage <> ALL($2)",
                partners,
                list(LEFT_PAYMENT),
            )
            candidates = sorted(row["plan_id"] for row in live)
            held = await payment_held(conn, candidates)
            free = [p for p in candidates if p not in held]
            # A gathering's ``joint`` hold of a plan nothing holds now is over:
            # the staff tool reads no stale hold until the next gathering.
            await conn.execute(
                "UPDATE batch_holds SET released_at = $2"
                " WHERE plan_id = ANY($1) AND released_at IS NULL"
                " AND payment_hold ->> 'reason' = $3",
                free,
                datetime.now(UTC),
                HOLD_JOINT,
            )
        return JointHolds(held=joint.get(req.plan_id), free=free)

    @activity.defn
    async def check_joint_payment(self, req: JointPaymentCheck) -> JointPaymentFacts:
        """What the other plans of a plan's payment list and confirmed, for
        the plan to check an application or a confirmation against (see
        ``certflow.joint_payment``): the plan cannot read other plans."""
        async with self.pool.acquire() as conn:
            return await joint_payment_facts(conn, req.plan_id, req.paid_plan_ids)

    @activity.defn
    async def record_audit(self, entry: AuditEntry) -> None:
        """Append one audit line; the idempotency key makes retries harmless."""
        await self.pool.execute(_INSERT_AUDIT, *_audit_values(entry))

    @activity.defn
    async def claim_ready_plans(self, req: ClaimRequest) -> list[str]:
        """Put every plan awaiting approval and in no open batch into this batch.

        The conditional update is atomic, so two batches gathering at once can
        never both take the same plan. The batch's run claims once: its first
        attempt to get here writes the run's claim with the plans it took, and
        every other attempt of the run (a retry after a lost answer, or the
        first attempt itself, timed out and not stopped, running after its
        retry) waits for that claim and returns its plans. A plan ready since
        is left for a later batch, never put into one that does not know it.

        The batch's row, which holds its id for good, is written only with
        the plans it claims: a batch that finds none takes no id. The row
        names who gathered it, and each plan gathered gets an audit line
        saying by whom (``schedule`` for the weekly schedule), written once.
        """
        run_id = activity.info().workflow_run_id
        at = req.at or datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            # Waits while another attempt of the run, claiming now, has not
            # committed; finds its claim once it has.
            first = await conn.fetchval(
                """
                INSERT INTO batch_claims (batch_id, run_id, plan_ids, claimed_at)
                VALUES ($1, $2, '{}', $3) ON CONFLICT DO NOTHING RETURNING true
                """,
                req.batch_id,
                run_id,
                at,
            )
            if not first:
                claimed: list[str] = await conn.fetchval(
                    "SELECT plan_ids FROM batch_claims"
                    " WHERE batch_id = $1 AND run_id = $2",
                    req.batch_id,
                    run_id,
                )
                return sorted(claimed)
            # Locked before their invoices are read: a correction of one of
            # them waits, and then finds it gathered.
            ready = await conn.fetch(
                "SELECT plan_id FROM plans WHERE stage = $1 AND batch_id IS NULL"
                " ORDER BY plan_id FOR UPDATE",
                Stage.AWAITING_APPROVAL.value,
            )
            ready_ids = [r["plan_id"] for r in ready]
            held_back = await disagreeing_payments(conn, ready_ids)
            # A payment difference not settled, or an invoice not corrected
            # to the settled total, holds the plan as disagreeing invoices do.
            for_payment = await payment_held(conn, ready_ids)
            await conn.executemany(
                _INSERT_AUDIT,
                [
                    _audit_values(
                        _held_back(
                            req,
                            run_id or "",
                            plan_id,
                            at,
                            holdings=held_back.get(plan_id),
                            payment=for_payment.get(plan_id),
                        )
                    )
                    for plan_id in sorted(set(held_back) | set(for_payment))
                ],
            )
            await _keep_holds(conn, req.batch_id, held_back, at, for_payment)
            rows = await conn.fetch(
                """
                UPDATE plans SET batch_id = $1
                WHERE (stage = $2 AND batch_id IS NULL AND plan_id <> ALL($3))
                    OR batch_id = $1
                RETURNING plan_id
                """,
                req.batch_id,
                Stage.AWAITING_APPROVAL.value,
                sorted(set(held_back) | set(for_payment)),
            )
            plan_ids = sorted(r["plan_id"] for r in rows)
            if not plan_ids:
                return []
            await conn.execute(
                "UPDATE batch_claims SET plan_ids = $3"
                " WHERE batch_id = $1 AND run_id = $2",
                req.batch_id,
                run_id,
                plan_ids,
            )
            await conn.execute(
                """
                INSERT INTO batches (batch_id, created_at, requested_by)
                VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
                """,
                req.batch_id,
                at,
                # A batch started before it said who gathered it.
                req.requested_by or "workflow",
            )
            await conn.executemany(
                """
                INSERT INTO batch_plans (batch_id, plan_id) VALUES ($1, $2)
                ON CONFLICT DO NOTHING
                """,
                [(req.batch_id, p) for p in plan_ids],
            )
            if req.requested_by:
                await conn.executemany(
                    _INSERT_AUDIT,
                    [
                        _audit_values(_gathered(req, plan_id, at))
                        for plan_id in plan_ids
                    ],
                )
        return plan_ids

    @activity.defn
    async def held_back_to_tell(self, req: ClaimRequest) -> list[HeldBackPayment]:
        """The plans this batch's gathering held back that finance and the
        general manager are to be told of, by joint payment.

        A plan is told of once per hold: when first held back, or held back
        for other invoices than before; held back still, it is told of again
        at a gathering ``HELD_BACK_TOLD_AGAIN`` after it last was. Those told
        are marked so by this batch, and a retry of it finds them again (the
        mail's idempotency key sends it once). Those whose batch's mails were
        all given up count as not told (see ``payment_holds_told``).
        """
        at = req.at or datetime.now(UTC)
        rows = await self.pool.fetch(
            f"""
            UPDATE batch_holds SET told_at = $2, told_batch = $1
            WHERE batch_id = $1 AND released_at IS NULL
                AND jsonb_array_length(invoices) > 0
                AND {_TO_TELL}
            RETURNING plan_id, invoices
            """,
            req.batch_id,
            at,
            at - HELD_BACK_TOLD_AGAIN,
            ["batch_held_back"],
        )
        payments: dict[str, list[str]] = {}
        for row in sorted(rows, key=lambda r: r["plan_id"]):
            holdings = [InvoiceHolding.model_validate(h) for h in row["invoices"]]
            text = holdings_text(holdings, numbered=True)
            payments.setdefault(text, []).append(row["plan_id"])
        return [
            HeldBackPayment(plan_ids=plans, invoices=text)
            for text, plans in payments.items()
        ]

    @activity.defn
    async def payment_holds_told(self, req: ClaimRequest) -> list[BatchHold]:
        """Mark the plans this batch's gathering held back for their payment
        alone (no invoices of a joint payment disagreeing: those have a mail
        of their own, see ``held_back_to_tell``) as told to the general
        manager; return those not told of before, for a gathering that forms
        no batch to mail finance and the general manager.

        A plan is told of once per hold (a hold whose figures change is
        another), and again at a gathering ``HELD_BACK_TOLD_AGAIN`` after it
        last was; a batch's own mail lists every plan it held back. A retry
        finds the plans this batch marked again (the mail's idempotency key
        sends it once).

        Marked before the mail goes out (the mail is the batch's, after this
        returns): a batch whose every mail listing them was given up
        (``HOLDS_TOLD_BY``, none sent nor still under way) told nobody, and
        its plans count as not told at the next gathering, not a week on.
        The mail given up is listed by ``notice failed`` meanwhile; once an
        admin resent it (``notice resend``, sent or under way) they count as
        told by it.
        """
        at = req.at or datetime.now(UTC)
        rows = await self.pool.fetch(
            f"""
            UPDATE batch_holds SET told_at = $2, told_batch = $1
            WHERE batch_id = $1 AND released_at IS NULL
                AND jsonb_array_length(invoices) = 0 AND payment_hold IS NOT NULL
                AND {_TO_TELL}
            RETURNING plan_id, batch_id, invoices, held_at, last_held_at, payment_hold
            """,
            req.batch_id,
            at,
            at - HELD_BACK_TOLD_AGAIN,
            list(HOLDS_TOLD_BY),
        )
        return [_batch_hold(row) for row in sorted(rows, key=lambda r: r["plan_id"])]

    @activity.defn
    async def batch_holds(self, req: ClaimRequest) -> list[BatchHold]:
        """The plans this batch's gathering held back and holds still, for
        the batch to tell each plan why (see ``ExamPlanWorkflow.batch_held_back``)."""
        return await open_holds(self.pool, batch_id=req.batch_id)

    @activity.defn
    async def joint_payments(self, req: JointPaymentsRequest) -> list[JointPayment]:
        """The payments covering a plan of the batch and other plans too.

        What a plan's payment covers is what its site's latest accepted
        application declared (the ``upload_application`` audit line's
        ``paid_plans``); payments naming a common plan are one. Plans that
        left their payment (``LEFT_PAYMENT``), or unknown to the database,
        hold no invoice and are left out. Read once the batch has its plans,
        for ``batch status`` to list, and again when the general manager's
        decision sends a plan back for its payment to be checked again, for
        the decision to be checked against (see
        ``ApprovalBatchWorkflow.decide``): a plan of the payment that left it
        in between no longer counts.
        """
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_PAID_PLANS, req.plan_ids)
            groups = joint_groups(
                {row["plan_id"]: _plan_ids(row["paid"]) for row in rows}
            )
            named = sorted({p for group in groups for p in group})
            stages = {
                row["plan_id"]: row["stage"]
                for row in await conn.fetch(
                    "SELECT plan_id, stage FROM plans WHERE plan_id = ANY($1)", named
                )
            }
            held = await _invoices(conn, named)
        batch = set(req.plan_ids)
        payments = []
        for group in groups:
            plans = [
                p
                for p in sorted(group)
                if p in stages and stages[p] not in LEFT_PAYMENT
            ]
            if len(plans) > 1:
                outside = [p for p in plans if p not in batch]
                kinds = {h.whole_payment for h in held if h.plan_id in plans}
                payments.append(
                    JointPayment(
                        plan_ids=plans,
                        outside=outside,
                        invoiced_whole=True in kinds if kinds else None,
                    )
                )
        return payments

    @activity.defn
    async def release_plans(self, req: ReleaseRequest) -> None:
        """Take rejected plans out of the batch so a later batch may gather them.

        A plan sent back to redo duties leaves the approval stage in the same
        statement: its workflow records the new stage on its own, maybe a moment
        later, and a batch gathering in between must not take it again. A
        stage the plan wrote after the decision (``stage_at``; its deadlines
        written since do not count) is newer, and stays.
        """
        await self.pool.execute(
            """
            UPDATE plans SET batch_id = NULL,
                stage = CASE
                    WHEN plan_id = ANY($3)
                         AND ($5::timestamptz IS NULL
                              OR coalesce(stage_at, updated_at) <= $5)
                    THEN $4 ELSE stage END
            WHERE batch_id = $1 AND plan_id = ANY($2)
            """,
            req.batch_id,
            req.plan_ids,
            req.returned,
            Stage.PAYMENT_AND_SIGNOFF.value,
            req.decided_at,
        )

    @activity.defn
    async def mark_plans_gone(self, req: ReleaseRequest) -> None:
        """Record plans whose workflow no longer runs, so no batch gathers them.

        A batch left with no plan took its id for nothing: its row goes too,
        and the id may name a later batch.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                UPDATE plans SET batch_id = NULL, stage = $3, updated_at = now(),
                    stage_at = now()
                WHERE batch_id = $1 AND plan_id = ANY($2)
                """,
                req.batch_id,
                req.plan_ids,
                Stage.CANCELLED.value,
            )
            await conn.execute(
                "DELETE FROM batch_plans WHERE batch_id = $1 AND plan_id = ANY($2)",
                req.batch_id,
                req.plan_ids,
            )
            await conn.execute(
                "DELETE FROM batches WHERE batch_id = $1 AND NOT EXISTS"
                " (SELECT 1 FROM batch_plans WHERE batch_id = $1)",
                req.batch_id,
            )

    @activity.defn
    async def close_batch(self, req: BatchClosing) -> None:
        """Mark the batch decided: by whom, when, and each plan's verdict.

        ``decided_at`` is the batch workflow's time, as ``created_at`` is the
        gathering's: the database's clock would date the decision before the
        gathering on a server whose clock runs ahead (a training stack). A
        closing that names no decision (a batch closed empty has no row; one
        closed by a release before decisions were recorded) names nobody and
        keeps the time first written, else the database's. Every attempt
        writes the same values: a retry changes nothing.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                UPDATE batches SET status = 'decided',
                    decided_by = coalesce($2, decided_by),
                    decided_at = coalesce($3, decided_at, now())
                WHERE batch_id = $1
                """,
                req.batch_id,
                req.decided_by or None,
                req.decided_at,
            )
            await conn.executemany(
                """
                UPDATE batch_plans SET verdict = $3, reason = $4
                WHERE batch_id = $1 AND plan_id = $2
                """,
                [
                    (
                        req.batch_id,
                        v.plan_id,
                        "approved" if v.approved else "rejected",
                        v.reason or None,
                    )
                    for v in req.verdicts
                ],
            )
