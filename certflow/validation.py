"""What a request model refused, said in Chinese for the staff member who typed it.

Pydantic explains a refused field in English ("String should have at least 1
character"); staff read Chinese. Each error is named by the field's label (the
command-line flag where there is one) and its kind phrased from the catalogue
(``validation.*``). The input itself is never repeated: it may hold a name.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from certflow.i18n import t

# Pydantic error types that mean the same thing to staff, by catalogue key.
_KINDS: dict[str, tuple[str, ...]] = {
    "missing": ("missing",),
    "not_a_number": (
        "int_parsing",
        "int_type",
        "int_from_float",
        "float_parsing",
        "float_type",
        "decimal_parsing",
        "decimal_type",
        "finite_number",
    ),
    "not_a_date": (
        "date_parsing",
        "date_type",
        "date_from_datetime_parsing",
        "date_from_datetime_inexact",
        "datetime_parsing",
        "datetime_type",
        "datetime_from_date_parsing",
    ),
    "too_short": ("string_too_short", "too_short"),
    "too_long": ("string_too_long", "too_long"),
    "greater_than": ("greater_than",),
    "greater_than_equal": ("greater_than_equal",),
    "less_than": ("less_than",),
    "less_than_equal": ("less_than_equal",),
    "decimal_places": ("decimal_max_places",),
    "pattern": ("string_pattern_mismatch",),
    "choice": ("enum", "literal_error"),
    "not_true_false": ("bool_parsing", "bool_type"),
    "not_text": ("string_type",),
    "not_a_list": ("list_type",),
    "not_a_table": ("dict_type", "model_type", "model_attributes_type"),
    "not_a_duration": ("time_delta_parsing", "time_delta_type"),
    "id_number": ("id_number",),
    "hidden": ("hidden",),
    "repeated_staff_id": ("repeated_staff_id",),
    "lead_as_evaluator": ("lead_as_evaluator_staff_id",),
}
_KIND_OF = {kind: key for key, kinds in _KINDS.items() for kind in kinds}


def explain(
    err: ValidationError, label: Callable[[tuple[int | str, ...]], str]
) -> list[str]:
    """One Chinese line per refused field: its label, then what is wrong with it.

    ``label`` names a field from its location (``("amount",)``,
    ``("actor", "person")``) as staff know it.
    """
    return [
        t("validation.line", field=label(tuple(e["loc"])), problem=problem_of(e))
        for e in err.errors(include_input=False, include_url=False)
    ]


def problem_of(error: ErrorDetails) -> str:
    """What is wrong with one refused field, in Chinese, without its input."""
    kind = _KIND_OF.get(error["type"])
    limits = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    if error["type"] == "value_error" and limits.get("error"):
        return limits["error"]  # a validator's own reason, from the catalogue
    if kind is None:
        return t("validation.other", code=error["type"])
    if error["type"] in ("too_short", "too_long"):
        kind = f"{kind}_items"  # a list: counted in items, not characters
    elif kind == "too_short" and limits.get("min_length") == "1":
        return t("validation.empty")
    return t(f"validation.{kind}", **limits)
