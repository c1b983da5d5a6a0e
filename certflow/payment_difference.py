"""A confirmed payment that a later score correction made differ, and its
settlement by finance.

Money finance has confirmed is a fact of the bank account: a correction
applied afterwards that changes how many candidates passed (or were absent
and paid for) never reopens it. The plan records the difference instead
(补缴, owed by the site; 退还, owed to the site), finance settles it once the
money has moved, and the confirmed payment then reads the new total. Pure
rules only: the workflow keeps the models, the staff tool and the status
read them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, computed_field

from certflow.activity_models import BatchHold
from certflow.i18n import t
from certflow.models import Model, Role

CENT = Decimal("0.01")


def _to_cent(amount: Decimal) -> Decimal:
    return amount.quantize(CENT)


# Money of a difference: exact to the cent here, a number in JSON like the
# payment's other money (``status --json``, and the plan's state carried
# across continue-as-new), with a ``_text`` beside it. A state written when
# it was a string ("300.00") still reads, and a number reads back to the cent.
Money = Annotated[
    Decimal,
    AfterValidator(_to_cent),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class DifferenceKind(StrEnum):
    """Who owes the difference: the site pays more, or is paid back."""

    SUPPLEMENT = "supplement"  # 补缴
    REFUND = "refund"  # 退还


class PaymentDifference(Model):
    """What a confirmed payment covers against what the corrected counts ask.

    ``request_id`` is the correction that made (or last changed) it. The
    expected figures follow the rule of the site's application: the passing
    candidates plus the absentees it paid for (no more than are absent), at
    the plan's fee.
    """

    opened_at: datetime
    request_id: str
    confirmed_heads: int
    confirmed_amount: Money
    expected_heads: int
    expected_absentees_paid: int
    expected_amount: Money

    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount(self) -> Money:
        """The difference, signed: more than zero is owed by the site."""
        return (self.expected_amount - self.confirmed_amount).quantize(CENT)

    # The money as text with two decimals, as the payment's own beside it.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount_text(self) -> str:
        return f"{self.amount:.2f}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def confirmed_amount_text(self) -> str:
        return f"{self.confirmed_amount:.2f}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expected_amount_text(self) -> str:
        return f"{self.expected_amount:.2f}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kind(self) -> DifferenceKind:
        return DifferenceKind.SUPPLEMENT if self.amount > 0 else DifferenceKind.REFUND

    @computed_field  # type: ignore[prop-decorator]
    @property
    def owner(self) -> Role:
        """Finance settles it with the site."""
        return Role.FINANCE


class SettledDifference(PaymentDifference):
    """A difference finance settled: the money received from the site (or
    returned to it) on ``settled_on``, by whom and when it was recorded."""

    settled_at: datetime
    settled_on: date
    reference: str = ""
    role: Role
    person: str


def expected_amount(
    fee: Decimal | None,
    paid_heads: int,
    paid_amount: Decimal,
    heads: int,
) -> Decimal | None:
    """What ``heads`` candidates cost: at the plan's fee; without a fee (none
    configured for its certificate), at the rate of the payment finance first
    confirmed (``paid_amount`` for ``paid_heads``), rounded once, so a count
    that comes back comes back to the same money. None where neither is
    known (no fee, and no head paid for)."""
    if fee is not None:
        return (fee * heads).quantize(CENT)
    if paid_heads <= 0:
        return None
    return (paid_amount * heads / paid_heads).quantize(CENT)


def difference_text(difference: PaymentDifference) -> str:
    """The difference as staff read it: kind, amount and both figures."""
    return t(
        f"payment_difference.{difference.kind.value}",
        amount=f"{abs(difference.amount):.2f}",
        expected_heads=difference.expected_heads,
        expected=f"{difference.expected_amount:.2f}",
        confirmed_heads=difference.confirmed_heads,
        confirmed=f"{difference.confirmed_amount:.2f}",
    )


def settlement_text(settled: SettledDifference) -> str:
    """A settled difference as staff read it: what, when the money moved,
    who recorded it and when."""
    return t(
        f"payment_difference.settled_{settled.kind.value}",
        difference=difference_text(settled),
        day=settled.settled_on.isoformat(),
        reference=(
            t("payment_difference.reference", reference=settled.reference)
            if settled.reference
            else ""
        ),
        who=f"{t(f'roles.{settled.role.value}')} {settled.person}",
    )


# What ``payment_holds`` says holds a plan out of approval.
HOLD_DIFFERENCE = "difference"
HOLD_INVOICE = "invoice"
# Another plan of its joint payment, invoiced whole, holds it (details
# ``plan`` and ``plan_reason``: which plan, for which of the two above).
HOLD_JOINT = "joint"


def hold_details(difference: PaymentDifference) -> dict[str, str]:
    """A difference's figures as ``payment_holds`` keeps them."""
    return {
        "kind": difference.kind.value,
        "amount": f"{abs(difference.amount):.2f}",
        "expected_heads": str(difference.expected_heads),
        "expected": f"{difference.expected_amount:.2f}",
        "confirmed_heads": str(difference.confirmed_heads),
        "confirmed": f"{difference.confirmed_amount:.2f}",
    }


def hold_text(reason: str, details: dict[str, str]) -> str:
    """What holds a plan out of approval by its payment, as staff read it."""
    if reason == HOLD_DIFFERENCE:
        return t(
            "payment_difference.held_difference",
            difference=t(f"payment_difference.{details.get('kind', '')}", **details),
        )
    if reason == HOLD_JOINT:
        return t("payment_difference.held_joint", cause=joint_cause(details), **details)
    return t("payment_difference.held_invoice", **details)


def held_back_lines(holds: list[BatchHold]) -> str:
    """The plans a gathering held back, one line each with why, as a batch's
    mail names them (plan ids, invoice numbers and money only): its payment
    difference, its invoice after one, another plan of its joint payment
    invoiced whole, or its joint payment's invoices that disagree."""
    lines = []
    for hold in holds:
        details = hold.payment_details
        if hold.invoices:
            plans = "、".join(dict.fromkeys(h.plan_id for h in hold.invoices))
            key, fields = "held_invoices", {"plans": plans}
        elif hold.payment_reason == HOLD_DIFFERENCE:
            kind = details.get("kind", "")
            difference = t(f"payment_difference.{kind}", **details)
            key, fields = "held_difference", {"difference": difference}
        elif hold.payment_reason == HOLD_JOINT:
            key, fields = "held_joint", {**details, "cause": joint_cause(details)}
        else:
            key, fields = "held_invoice", dict(details)
        lines.append(t(f"mail.batch_ready.{key}", plan_id=hold.plan_id, **fields))
    return "\n".join(lines)


def joint_cause(details: dict[str, str]) -> str:
    """What holds the plan of a joint payment invoiced whole that holds its
    partners (``details`` of a ``joint`` hold): its difference, or its
    invoice to reissue for the settled total."""
    if details.get("plan_reason") == HOLD_DIFFERENCE:
        return t(
            "payment_difference.joint_difference",
            difference=t(f"payment_difference.{details.get('kind', '')}", **details),
            **details,
        )
    return t("payment_difference.joint_invoice", **details)


def settlement_refusal(
    difference: PaymentDifference | None,
    amount: Decimal,
    received_on: date | None,
    refunded_on: date | None,
) -> tuple[str, str] | None:
    """Why finance's settlement is refused, as (code, message); None to take it.

    There must be a difference open; a supplement is received
    (``received_on``), a refund paid back (``refunded_on``), one of the two;
    and the amount is the difference, to the cent.
    """
    if difference is None:
        return "nothing_to_settle", t("plan.difference_none")
    wanted = abs(difference.amount)
    if difference.kind is DifferenceKind.SUPPLEMENT and (
        received_on is None or refunded_on is not None
    ):
        return "bad_argument", t(
            "plan.difference_needs_received", difference=difference_text(difference)
        )
    if difference.kind is DifferenceKind.REFUND and (
        refunded_on is None or received_on is not None
    ):
        return "bad_argument", t(
            "plan.difference_needs_refunded", difference=difference_text(difference)
        )
    given = amount.quantize(CENT)
    if given != wanted:
        return "amount_mismatch", t(
            "plan.difference_amount_mismatch",
            given=f"{given:.2f}",
            wanted=f"{wanted:.2f}",
            difference=difference_text(difference),
            gap=f"{given - wanted:+.2f}",
        )
    return None
