"""Whether an invoice fits the other invoices of its payment (合并缴费).

An invoice number names one invoice, with one amount and one date, whichever
plan records it. A joint payment is invoiced one way or the other, never both:

- one invoice for the whole payment, carried by every plan of it under the
  same number and date with the payment's total (its "whole-payment" invoice);
- one invoice per plan, each for the plan's own confirmed amount under a
  number of its own, carried by that plan alone.

The database reads what the plan and the other plans of its payment carry now
and asks ``invoice_conflict`` whether a record fits. A correction is made one
plan at a time: a plan correcting the date (or amount) of a shared invoice
leaves the others carrying what it corrected from, and switching the way a
payment is invoiced leaves the others invoiced the old way for a while; the
answer names them (``left_to_correct``), each to be corrected alike.

Values recorded before they were kept (schema version 15) are unknown (None)
and not compared: a plan of a joint payment then recorded its own part of a
shared invoice, which is how it was accepted.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from itertools import combinations

from certflow.i18n import t
from certflow.models import Model


class InvoiceHolding(Model):
    """The invoice a plan carries (or would carry): its number, the amount and
    date recorded with it, and whether it is the whole payment's invoice
    (None for each where recorded before they were kept)."""

    plan_id: str
    number: str
    amount: Decimal | None = None
    issued_on: date | None = None
    whole_payment: bool | None = None


class InvoiceConflict(StrEnum):
    """How a record does not fit the invoices of its payment."""

    # The plans carrying the number carry another amount or date.
    DIFFERS = "differs"
    # An invoice for the plan's own amount, under a number other plans carry.
    OWN_SHARED = "own_shared"
    # A whole-payment invoice, while plans of the payment carry other invoices.
    INVOICED_APART = "invoiced_apart"
    # An invoice of the plan's own, while the whole payment's is recorded.
    WHOLE_ELSEWHERE = "whole_elsewhere"


def agrees(one: InvoiceHolding, other: InvoiceHolding) -> bool:
    """Whether two records of a number say the same, where both are known."""
    return _same(one.amount, other.amount) and _same(one.issued_on, other.issued_on)


def _same(one: object, other: object) -> bool:
    return one is None or other is None or one == other


def _other_way(claim: InvoiceHolding, holding: InvoiceHolding) -> bool:
    """Whether ``holding``, under another number, invoices the payment the
    other way: any invoice beside a whole-payment one, or the whole payment's
    invoice beside a plan's own. Unknown for a claim of unknown kind."""
    if claim.whole_payment is None:
        return False
    return claim.whole_payment or holding.whole_payment is True


def invoice_conflict(
    claim: InvoiceHolding,
    current: InvoiceHolding | None,
    carriers: list[InvoiceHolding],
    elsewhere: list[InvoiceHolding],
) -> tuple[InvoiceConflict, list[InvoiceHolding]] | None:
    """How ``claim`` does not fit, and the invoices it clashes with; None if it fits.

    ``current`` is the invoice the plan carries now (None before its first, or
    once voided): with one, the record is a correction. ``carriers`` are the
    other plans carrying ``claim.number``, ``elsewhere`` those of the payment
    carrying another number; none of them cancelled, nor voided there.

    A correction keeping the number may leave carriers with what it corrects
    from, and may switch the way the payment is invoiced: neither refuses it
    (see ``left_to_correct``). A first record fits only as the others are.
    """
    if claim.whole_payment is False:
        shared = [c for c in carriers if c.whole_payment is not None]
        if shared:
            return InvoiceConflict.OWN_SHARED, shared
    # What a correction keeping the number corrects from, others may still carry.
    corrected_from = (
        current if current is not None and current.number == claim.number else None
    )
    differing = [
        c
        for c in carriers
        if not agrees(c, claim)
        and not (corrected_from is not None and agrees(c, corrected_from))
    ]
    if differing:
        return InvoiceConflict.DIFFERS, differing
    if current is not None:
        return None
    apart = [e for e in elsewhere if _other_way(claim, e)]
    if not apart:
        return None
    if claim.whole_payment:
        return InvoiceConflict.INVOICED_APART, apart
    return InvoiceConflict.WHOLE_ELSEWHERE, apart


def payment_disagrees(holdings: list[InvoiceHolding]) -> bool:
    """Whether the invoices a payment's plans carry do not invoice it one way.

    ``holdings`` are the invoices of the plans of one payment that carry one
    (a plan without one still owes it: the invoice does not hold approval).
    They agree when every plan carrying a number carries the same amount and
    date, a plan's own invoice is carried by that plan alone, and a
    whole-payment invoice is the only invoice of the payment. A correction
    made plan by plan leaves them disagreeing for a while (see
    ``left_to_correct``); values recorded before they were kept are not
    compared.
    """
    by_number: dict[str, list[InvoiceHolding]] = {}
    for holding in holdings:
        by_number.setdefault(holding.number, []).append(holding)
    for carriers in by_number.values():
        if any(not agrees(one, other) for one, other in combinations(carriers, 2)):
            return True
        if len(carriers) > 1 and any(h.whole_payment is False for h in carriers):
            return True
    whole = any(holding.whole_payment for holding in holdings)
    return whole and len(by_number) > 1


def left_to_correct(
    current: InvoiceHolding,
    carriers: list[InvoiceHolding],
    elsewhere: list[InvoiceHolding],
) -> tuple[list[InvoiceHolding], list[InvoiceHolding]]:
    """What a recorded invoice leaves the other plans of its payment to correct.

    The carriers of its number with another amount or date (what a correction
    changed), and the plans invoiced the other way under another number.
    """
    differing = [c for c in carriers if not agrees(c, current)]
    apart = [e for e in elsewhere if _other_way(current, e)]
    return differing, apart


def _figures(holding: InvoiceHolding) -> str:
    """``8400.00 元，2026-12-22 开具``: what is known of the invoice."""
    figures = []
    if holding.amount is not None:
        figures.append(t("plan.invoice_holding_amount", amount=f"{holding.amount:.2f}"))
    if holding.issued_on is not None:
        figures.append(
            t("plan.invoice_holding_date", day=holding.issued_on.isoformat())
        )
    return "，".join(figures) or t("plan.invoice_holding_unknown")


def holdings_text(holdings: list[InvoiceHolding], *, numbered: bool = False) -> str:
    """The plans and what each carries, for a message to finance:
    ``P1（8400.00 元，2026-12-22 开具）``, with the number when ``numbered``."""
    key = "plan.invoice_holding_numbered" if numbered else "plan.invoice_holding"
    return "、".join(
        t(key, plan_id=h.plan_id, number=h.number, figures=_figures(h))
        for h in holdings
    )


def conflict_message(
    conflict: InvoiceConflict,
    claim: InvoiceHolding,
    clashing: list[InvoiceHolding],
    plans: list[str],
) -> str:
    """Why ``claim`` was refused, naming the invoices it clashes with, and the
    rule: the payment (``plans``) is invoiced one way."""
    fields = {
        "number": claim.number,
        "figures": _figures(claim),
        "plans": "、".join(plans),
        "holders": holdings_text(
            clashing,
            numbered=conflict
            in (InvoiceConflict.INVOICED_APART, InvoiceConflict.WHOLE_ELSEWHERE),
        ),
    }
    return t(f"plan.invoice_{conflict.value}", **fields) + t("plan.invoice_joint_rule")


def still_to_correct(
    number: str, differing: list[InvoiceHolding], apart: list[InvoiceHolding]
) -> str:
    """The note of a recorded correction naming the plans left to correct alike."""
    note = ""
    if differing:
        note += t(
            "plan.invoice_still_differs",
            number=number,
            holders=holdings_text(differing),
        )
    if apart:
        note += t(
            "plan.invoice_still_apart", holders=holdings_text(apart, numbered=True)
        )
    return note
