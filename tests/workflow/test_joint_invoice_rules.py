"""The rule of a joint payment's invoices (``certflow.joint_invoice``), on its own:
one number, one amount and date; one way of invoicing a payment; corrections
made plan by plan."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from certflow.i18n import t
from certflow.joint_invoice import (
    InvoiceConflict,
    InvoiceHolding,
    agrees,
    conflict_message,
    holdings_text,
    invoice_conflict,
    left_to_correct,
    payment_disagrees,
)

DAY, NEXT = date(2026, 12, 21), date(2026, 12, 22)


def _held(
    plan_id: str,
    number: str = "26442000000000000101",
    amount: str | None = "8400.00",
    day: date | None = DAY,
    whole: bool | None = True,
) -> InvoiceHolding:
    """An invoice a plan carries: by default the whole payment's (8400.00)."""
    return InvoiceHolding(
        plan_id=plan_id,
        number=number,
        amount=None if amount is None else Decimal(amount),
        issued_on=day,
        whole_payment=whole,
    )


def _own(
    plan_id: str, number: str = "26442000000000000101", day: date = DAY
) -> InvoiceHolding:
    """An invoice of a plan's own amount (4200.00) alone."""
    return _held(plan_id, number, amount="4200.00", day=day, whole=False)


def test_records_agree_on_what_both_know() -> None:
    assert agrees(_held("P1"), _held("P2"))
    assert not agrees(_held("P1"), _own("P2"))
    assert not agrees(_held("P1"), _held("P2", day=NEXT))
    # Recorded before amounts were kept: only the date is compared.
    assert agrees(_held("P1", amount=None, whole=None), _own("P2"))
    assert not agrees(_held("P1", amount=None, whole=None), _own("P2", day=NEXT))


def test_a_first_record_must_carry_what_the_others_carry() -> None:
    claim = _held("P2")
    assert invoice_conflict(claim, None, [], []) is None
    assert invoice_conflict(claim, None, [_held("P1")], []) is None
    other_day = _held("P1", day=NEXT)
    assert invoice_conflict(claim, None, [other_day], []) == (
        InvoiceConflict.DIFFERS,
        [other_day],
    )
    own = _own("P1")
    assert invoice_conflict(claim, None, [own], []) == (InvoiceConflict.DIFFERS, [own])


def test_an_invoice_for_a_plans_own_amount_is_that_plans_alone() -> None:
    claim = _own("P2")
    for carrier in (_own("P1"), _held("P1")):
        assert invoice_conflict(claim, None, [carrier], []) == (
            InvoiceConflict.OWN_SHARED,
            [carrier],
        )
    # Its own part of a shared invoice, as recorded before amounts were kept.
    before = _held("P1", amount=None, whole=None)
    assert invoice_conflict(claim, None, [before], []) is None
    later = _held("P1", amount=None, day=NEXT, whole=None)
    assert invoice_conflict(claim, None, [later], []) == (
        InvoiceConflict.DIFFERS,
        [later],
    )


def test_a_payment_is_invoiced_one_way() -> None:
    whole, own = _held("P2", "11111111"), _own("P2", "22222222")
    apart = _own("P1", "33333333")
    whole_elsewhere = _held("P1", "44444444")
    unknown = _held("P1", "55555555", amount=None, whole=None)
    assert invoice_conflict(whole, None, [], [apart]) == (
        InvoiceConflict.INVOICED_APART,
        [apart],
    )
    assert invoice_conflict(whole, None, [], [unknown]) == (
        InvoiceConflict.INVOICED_APART,
        [unknown],
    )
    assert invoice_conflict(own, None, [], [whole_elsewhere]) == (
        InvoiceConflict.WHOLE_ELSEWHERE,
        [whole_elsewhere],
    )
    # One invoice per plan, each its own number: fits.
    assert invoice_conflict(own, None, [], [apart, unknown]) is None


def test_a_correction_is_made_plan_by_plan() -> None:
    current = _held("P1")
    moved = _held("P1", day=NEXT)
    # The others still carry what it corrects from: accepted.
    assert invoice_conflict(moved, current, [_held("P2"), _held("P3")], []) is None
    # One carries something else again: refused, naming that one only.
    astray = _held("P3", day=date(2026, 12, 20))
    assert invoice_conflict(moved, current, [_held("P2"), astray], []) == (
        InvoiceConflict.DIFFERS,
        [astray],
    )
    # A correction to another number is checked as a first record of it.
    renumbered = _held("P1", "99999999", day=NEXT)
    carrier = _held("P2", "99999999")
    assert invoice_conflict(renumbered, current, [carrier], []) == (
        InvoiceConflict.DIFFERS,
        [carrier],
    )
    # Switching the way the payment is invoiced is not refused.
    switched = _held("P1", "1234567890")
    assert invoice_conflict(switched, _own("P1"), [], [_own("P2", "7777")]) is None


def test_a_claim_of_unknown_kind_is_compared_by_date_alone() -> None:
    """An attempt scheduled before amounts were sent claims neither kind."""
    claim = _held("P2", amount=None, whole=None)
    assert invoice_conflict(claim, None, [_own("P1")], [_held("P3", "1")]) is None
    assert invoice_conflict(claim, None, [_own("P1", day=NEXT)], []) == (
        InvoiceConflict.DIFFERS,
        [_own("P1", day=NEXT)],
    )


def test_what_a_record_leaves_to_correct() -> None:
    current = _held("P1", day=NEXT)
    behind, level = _held("P2"), _held("P3", day=NEXT)
    apart, legacy = _own("P4", "1"), _held("P5", "2", amount=None, whole=None)
    assert left_to_correct(current, [behind, level], [apart, legacy]) == (
        [behind],
        [apart, legacy],
    )
    own = _own("P1", "3")
    assert left_to_correct(own, [], [apart, legacy, _held("P6", "4")]) == (
        [],
        [_held("P6", "4")],
    )


def test_a_payment_agrees_once_invoiced_one_way_by_every_plan_invoiced() -> None:
    other = "26442000000000000202"
    # One whole-payment invoice, or each plan its own; a plan not invoiced yet.
    assert not payment_disagrees([_held("P1"), _held("P2")])
    assert not payment_disagrees([_own("P1"), _own("P2", other)])
    assert not payment_disagrees([_held("P1")])
    # Two whole-payment invoices, or the two ways at once.
    assert payment_disagrees([_held("P1"), _held("P2", other)])
    assert payment_disagrees([_held("P1"), _own("P2", other)])
    # One number carried with two dates, or a plan's own invoice shared.
    assert payment_disagrees([_held("P1"), _held("P2", day=NEXT)])
    assert payment_disagrees([_own("P1"), _own("P2")])
    # Recorded before amounts and kinds were kept: compared by date alone.
    legacy = _held("P2", other, amount=None, whole=None)
    assert not payment_disagrees([_held("P1", amount=None, whole=None), legacy])


def test_finance_is_told_the_plans_and_what_they_carry() -> None:
    text = holdings_text([_held("P1"), _own("P2", "88888888")], numbered=True)
    assert text == (
        "P1 的发票 26442000000000000101（8400.00 元，2026-12-21 开具）、"
        "P2 的发票 88888888（4200.00 元，2026-12-21 开具）"
    )
    unknown = holdings_text([_held("P1", amount=None, day=None, whole=None)])
    assert unknown == "P1（" + t("plan.invoice_holding_unknown") + "）"

    message = conflict_message(
        InvoiceConflict.DIFFERS, _own("P2"), [_held("P1")], ["P1", "P2"]
    )
    assert "P1（8400.00 元，2026-12-21 开具）" in message
    assert "4200.00 元" in message
    assert message.endswith(t("plan.invoice_joint_rule"))
    whole = conflict_message(
        InvoiceConflict.WHOLE_ELSEWHERE, _own("P2", "5"), [_held("P1")], ["P1", "P2"]
    )
    assert "合并缴费（P1、P2）" in whole
    assert "P1 的发票 26442000000000000101（8400.00 元" in whole
