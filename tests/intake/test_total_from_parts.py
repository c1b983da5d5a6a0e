"""The total (总成绩) as a function of the part scores, for corrections.

A correction changes a part score and the total follows from the plan's
weights; a total asked for alone is answered with the part that would give it.
"""

from __future__ import annotations

from decimal import Decimal

from activities.intake import _corrected
from certflow.intake.summary import compute_total, parts_for_total
from certflow.models import PassRule, PassRuleKind, PlanInfo

D = Decimal
BOTH = PassRule()  # both parts at least 60; weights 0.3 and 0.7
WEIGHTED = PassRule(kind=PassRuleKind.WEIGHTED_TOTAL_AT_LEAST, threshold=60)
PRACTICAL_ONLY = PassRule(kind=PassRuleKind.PRACTICAL_ONLY, threshold=60)


def test_each_part_that_can_give_the_total_is_offered() -> None:
    # Seq 2 of the sample: 74 and 84.6 give 81.42.
    options = parts_for_total(BOTH, D("74"), D("84.6"), D("85"))

    assert options == {"theory": D("85.93"), "practical": D("89.71")}
    assert compute_total(BOTH, options["theory"], D("84.6")) == D("85.00")
    assert compute_total(BOTH, D("74"), options["practical"]) == D("85.00")


def test_a_part_that_would_leave_0_to_100_is_not_offered() -> None:
    # Seq 12: 66.70 needs theory 105.43, or practical 60.10.
    assert parts_for_total(BOTH, D("82.1"), D("50.1"), D("66.7")) == {
        "practical": D("60.10")
    }
    assert parts_for_total(BOTH, D("100"), D("100"), D("100")) == {
        "theory": D("100.00"),
        "practical": D("100.00"),
    }
    assert parts_for_total(BOTH, D("0"), D("0"), D("99")) == {}


def test_without_a_theory_score_the_total_is_the_practical_score() -> None:
    assert parts_for_total(PRACTICAL_ONLY, None, D("58"), D("61.5")) == {
        "practical": D("61.50")
    }


def test_a_part_of_weight_zero_is_never_offered() -> None:
    rule = PassRule(theory_weight=0, practical_weight=1)
    assert parts_for_total(rule, D("40"), D("58"), D("61")) == {"practical": D("61.00")}


def _row(theory: str, practical: str) -> dict[str, object]:
    """The columns of a ``scores`` row ``_corrected`` reads."""
    total = compute_total(WEIGHTED, D(theory), D(practical))
    return {
        "theory": D(theory),
        "practical": D(practical),
        "total": total,
        "status": "present",
        "passed": total >= 60,
    }


def test_a_part_correction_recomputes_the_total_and_the_result_follows_it(
    plan: PlanInfo,
) -> None:
    weighted = plan.model_copy(update={"pass_rule": WEIGHTED})
    # Seq 12 under a weighted rule: 59.70 fails; theory 84.10 makes it 60.30.
    changes = _corrected(weighted, _row("82.1", "50.1"), "theory", "84.10")  # type: ignore[arg-type]

    assert changes == {
        "theory": (D("82.1"), D("84.10")),
        "total": (D("59.70"), D("60.30")),
        "passed": (False, True),
    }
    # Under both-parts-at-least the practical 50.10 still fails it.
    both = _corrected(plan, _row("82.1", "50.1"), "theory", "84.10")  # type: ignore[arg-type]
    assert both["total"] == (D("59.70"), D("60.30")) and "passed" not in both
