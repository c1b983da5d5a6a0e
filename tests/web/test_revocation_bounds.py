"""A revocation's reason is bounded as every reason staff give, where it is recorded.

The reason is published (status list, verification page) and mailed: one of
tens of thousands of characters, or holding a right-to-left override, is
refused by :func:`activities.revocation.revoke` itself, as by ``certflow
revoke`` (``certflow.free_text``), and nothing is recorded.
"""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from activities.revocation import RevocationError, revoke
from certflow.free_text import REASON_MAX_LENGTH
from certflow.i18n import t
from certflow.models import Role
from tests.web.samples import WANG, Issued

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize(
    ("reason", "refusal"),
    [
        (
            "正" * (REASON_MAX_LENGTH + 1),
            t(
                "free_text.too_long",
                field="撤销原因",
                limit=REASON_MAX_LENGTH,
                length=REASON_MAX_LENGTH + 1,
                hint=t("free_text.hints.reason"),
            ),
        ),
        (
            "成绩\u202e更正",
            # Said as a published reason's own refusal, which explains why.
            t("revocation.reason_holds_hidden", characters="U+202E"),
        ),
    ],
    ids=["too_long", "bidi"],
)
async def test_a_reason_over_its_bound_is_refused_and_nothing_recorded(
    web_pool: asyncpg.Pool, issued: Issued, reason: str, refusal: str
) -> None:
    number = issued.of(WANG)
    day = date(2026, 12, 18)

    with pytest.raises(RevocationError) as refused:
        await revoke(web_pool, number, reason=reason, revoked_on=day, by="t",
                     role=Role.TECH_DEPT)  # fmt: skip

    assert str(refused.value) == refusal
    recorded = await web_pool.fetchval(
        "SELECT count(*) FROM certificates WHERE number = $1"
        " AND (revoked_on IS NOT NULL OR revocation_reason IS NOT NULL)",
        number,
    )
    assert recorded == 0
