"""Which plans make up a joint payment (合并缴费), agreed across its plans.

Each plan's application lists the plans its payment covers (``--paid-plan``);
one payment has one make-up, so every plan of it must list the same plans. A
plan cancelled, or ended with no certificate to issue, holds no money and
drops out of every list (``LEFT_PAYMENT``). The plan workflow
cannot see the other plans: the database reads what each lists (its latest
accepted application), whether finance has confirmed it, and how, and the
rules here say whether an application or a confirmation fits:

- an application naming other plans is refused where one of them is
  cancelled or has ended (approved, issued), or where a plan of the payment
  whose money finance has already confirmed lists other plans than it does:
  a confirmed application is no longer uploaded again by its site;
- finance's confirmation, and its invoice, are refused while the plans'
  lists disagree, naming the plans and what each lists;
- one payment arrives once: a confirmation must give the day (and the bank
  reference, where both give one) the other confirmed plans of it give.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from certflow.i18n import t
from certflow.models import Model, Stage

# Stages of a plan that has left its payment, holding no money of it:
# cancelled, or ended with no certificate to issue (无证书可发). It drops out
# of every plan's list, owes no confirmation, and counts in no total. Passed
# to SQL as ``stage = ANY($n)``.
LEFT_PAYMENT: tuple[str, ...] = (Stage.CANCELLED.value, Stage.NO_CERTIFICATES.value)


class PaidPlansListing(Model):
    """Another plan of a payment as the database knows it: what its latest
    accepted application lists (cancelled plans left out; empty before it
    applied), whether its money is confirmed, and whether it has ended."""

    plan_id: str
    listed: list[str] = Field(default_factory=list)
    confirmed: bool = False
    ended: bool = False


class ReceivedHolding(Model):
    """Another plan's confirmation in effect: the day the money arrived, and
    finance's reference (empty where none was given)."""

    plan_id: str
    received_on: date
    reference: str = ""


class JointPaymentFacts(Model):
    """What the database knows of the plans a plan's payment touches: the
    plans it names and those whose applications name it, but itself."""

    cancelled: list[str] = Field(default_factory=list)
    listings: list[PaidPlansListing] = Field(default_factory=list)
    received: list[ReceivedHolding] = Field(default_factory=list)


def _listed(plan_ids: list[str], cancelled: list[str]) -> list[str]:
    return sorted(set(plan_ids) - set(cancelled))


def _disagreeing(
    plan_id: str, paid: list[str], facts: JointPaymentFacts
) -> list[PaidPlansListing]:
    """The other plans of the payment, having applied, that list otherwise."""
    own = _listed(paid, facts.cancelled)
    return [
        listing
        for listing in facts.listings
        if listing.listed and listing.listed != own
    ]


def lists_disagree(plan_id: str, paid: list[str], facts: JointPaymentFacts) -> bool:
    """Whether a plan of the payment that has applied lists other plans."""
    return bool(_disagreeing(plan_id, paid, facts))


def _listings_text(
    plan_id: str, paid: list[str], others: list[PaidPlansListing]
) -> str:
    """``P1 列出 P1、P2；P3 列出 P3``: each plan with what it lists."""
    rows = [(plan_id, paid), *((o.plan_id, o.listed) for o in others)]
    return "；".join(
        t("plan.paid_plans_listing", plan_id=p, listed="、".join(sorted(listed)))
        for p, listed in sorted(rows)
    )


def application_refusal(
    plan_id: str, paid: list[str], facts: JointPaymentFacts
) -> str | None:
    """Why an application listing ``paid`` does not fit its payment; None if
    it does. Plans not confirmed yet may still disagree: their sites may
    upload again, and finance confirms none of them until they agree."""
    named = set(paid) - {plan_id}
    cancelled = sorted(named & set(facts.cancelled))
    if cancelled:
        return t("plan.paid_plans_cancelled", plans="、".join(cancelled))
    ended = sorted(o.plan_id for o in facts.listings if o.ended and o.plan_id in named)
    if ended:
        return t("plan.paid_plans_ended", plans="、".join(ended))
    settled = [o for o in _disagreeing(plan_id, paid, facts) if o.confirmed]
    if settled:
        return t(
            "plan.paid_plans_settled",
            listings=_listings_text(plan_id, _listed(paid, facts.cancelled), settled),
        )
    return None


def lists_refusal(
    plan_id: str, paid: list[str], facts: JointPaymentFacts, action: str
) -> str | None:
    """Why finance's ``action`` (a message key naming it) waits: the plans of
    the payment list different plans. Said with what each lists and whose
    site is to upload again (or, all confirmed, how that one is undone)."""
    others = _disagreeing(plan_id, paid, facts)
    if not others:
        return None
    listings = _listings_text(plan_id, _listed(paid, facts.cancelled), others)
    unsettled = sorted(
        {o.plan_id for o in others if not o.confirmed}
        | ({plan_id} if action == "plan.paid_plans_to_confirm" else set())
    )
    advice = (
        t("plan.paid_plans_upload_again", plans="、".join(unsettled))
        if unsettled
        else t("plan.paid_plans_send_back")
    )
    return t("plan.paid_plans_differ", listings=listings) + advice + t(action)


def _received_text(holdings: list[ReceivedHolding]) -> str:
    """``P1（到账 2027-01-20，备注 B-1）``: each plan with its confirmation."""
    return "、".join(
        t(
            "plan.received_holding",
            plan_id=r.plan_id,
            day=r.received_on.isoformat(),
            reference=r.reference or "—",
        )
        for r in holdings
    )


def received_refusal(
    received_on: date, reference: str, facts: JointPaymentFacts, plans: list[str]
) -> str | None:
    """Why a confirmation of a joint payment (``plans``) is refused: another
    plan of it confirmed the money as arrived on another day, or under
    another reference (where both give one). One payment arrives once."""
    given = reference.strip()
    differing = [
        r
        for r in facts.received
        if r.received_on != received_on
        or (given and r.reference and r.reference != given)
    ]
    if not differing:
        return None
    return t(
        "plan.received_differs",
        plans="、".join(plans),
        day=received_on.isoformat(),
        reference=given or "—",
        holders=_received_text(differing),
    )


def received_still_apart(differing: list[ReceivedHolding]) -> str:
    """The note of a corrected confirmation naming the other plans of the
    payment left to correct alike; empty when none is."""
    if not differing:
        return ""
    return t(
        "plan.received_still_apart",
        holders=_received_text(differing),
    )
