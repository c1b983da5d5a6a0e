"""Typed custom search attributes, so operators can filter plans in the Web UI.

None of them holds personal data: plan and site codes, the stage, deadlines and
flags only. They must be registered on the server before a workflow upserts them.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import (
    SearchAttributeKey,
)

PLAN_ID = SearchAttributeKey.for_keyword("PlanId")
SITE_CODE = SearchAttributeKey.for_keyword("SiteCode")
STAGE = SearchAttributeKey.for_keyword("Stage")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
OWED_BY = SearchAttributeKey.for_keyword_list("OwedBy")
CALENDAR_MISSING = SearchAttributeKey.for_bool("CalendarMissing")
BATCH_ID = SearchAttributeKey.for_keyword("BatchId")

ALL: list[SearchAttributeKey[Any]] = [
    PLAN_ID,
    SITE_CODE,
    STAGE,
    NEXT_DEADLINE,
    OVERDUE,
    OWED_BY,
    CALENDAR_MISSING,
    BATCH_ID,
]

_CLI_TYPES = {
    "KEYWORD": "Keyword",
    "DATETIME": "Datetime",
    "BOOL": "Bool",
    "KEYWORD_LIST": "KeywordList",
    "TEXT": "Text",
    "INT": "Int",
    "FLOAT": "Double",
}


def cli_flags() -> list[str]:
    """Return ``--search-attribute Name=Type`` flags registering every key above.

    They are for ``temporal server start-dev``.
    """
    flags: list[str] = []
    for key in ALL:
        flags += [
            "--search-attribute",
            f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}",
        ]
    return flags
