"""A refused hidden character is named the same way wherever it is refused.

The staff tool, the plan's update validators and plan start each tell which
characters they refused by code point, each once, at most five of them.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from certflow.free_text import DETAIL, REASON
from certflow.i18n import t
from certflow.models import PlanText
from certflow.text import code_points, visible

# Seven hidden characters, the first two twice.
SEVEN = "\u200b\u202e\u200b\u00ad\u202e\u2066\u2067\u2068\ufeff"
SEVEN_NAMED = "U+200B、U+202E、U+00AD、U+2066、U+2067、…"


class Holder(BaseModel):
    text: PlanText


def test_code_points_name_each_character_once_in_order() -> None:
    assert code_points(["\u202e", "\u200b", "\u202e"]) == "U+202E、U+200B"
    assert code_points("") == ""


def test_past_five_characters_an_ellipsis_stands_for_the_rest() -> None:
    assert code_points(SEVEN) == SEVEN_NAMED
    assert code_points(SEVEN[:6]) == "U+200B、U+202E、U+00AD、U+2066"


def test_a_free_text_and_a_plan_name_name_the_same_characters() -> None:
    assert DETAIL.problem("付款" + SEVEN, "付款方式") == t(
        "free_text.hidden", field="付款方式", chars=SEVEN_NAMED
    )
    assert REASON.problem("理由\n" + SEVEN, "理由") == t(
        "free_text.hidden_lines", field="理由", chars=SEVEN_NAMED
    )
    with pytest.raises(ValidationError) as refused:
        Holder.model_validate({"text": "汽车" + SEVEN})
    error = refused.value.errors()[0]
    assert error["type"] == "hidden"
    assert error["ctx"]["chars"] == SEVEN_NAMED


def test_visible_shows_each_hidden_character_by_its_code_point() -> None:
    assert visible("甲\u202e乙") == "甲<U+202E>乙"
    assert visible("甲\n乙\t") == "甲\n乙\t"
