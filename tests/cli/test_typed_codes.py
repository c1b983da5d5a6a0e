"""Plan ids and dates as staff type them.

Regression: ``plan start --plan-id p2026-1104-0412`` started a second plan beside
``P2026-1104-0412`` (codes compare as text), both sending escalation mail; and
``--exam-end 2026/11/04`` was refused although files may say it that way.
"""

from __future__ import annotations

from datetime import date

import pytest
from temporalio.client import Client

from certflow.i18n import t
from certflow.models import Stage
from tests.cli.conftest import Certflow
from tests.cli.test_commands import ADMIN, GM, SITE, TECH, start_argv
from tests.cli.test_staff_rules import plan_exists, started_input, with_flag
from tests.support import PlanDriver

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_a_plan_id_typed_in_lower_case_or_full_width_is_the_same_plan(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    plan_id = new_driver.plan.plan_id
    typed = plan_id.lower()
    wide = plan_id.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})

    started = await certflow(
        *with_flag(start_argv(new_driver.plan), "--plan-id", typed)
    )
    again = await certflow(*with_flag(start_argv(new_driver.plan), "--plan-id", wide))
    status = await certflow(*ADMIN, "status", typed)

    assert started.status == 0, started.out
    assert plan_id in started.out
    assert await plan_exists(client, plan_id)
    assert not await plan_exists(client, typed)
    assert again.status == 2  # the same plan, already started
    assert status.status == 0 and plan_id in status.out, status.out


async def test_plan_ids_typed_in_lower_case_sign_off_and_decide_the_same_plan(
    certflow: Certflow,
    new_driver: PlanDriver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: ``site-signoff --platform-plan-id p2026-…`` was refused as
    another plan than ``P2026-…``, ``batch decide --approve p2026-…`` as a plan
    not in the batch; an empty ``--platform-plan-id`` reached the plan and was
    answered with a blank id and an empty problem line."""
    driver = new_driver
    plan_id = driver.plan.plan_id
    typed = plan_id.lower()
    wide = plan_id.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    await driver.reach_payment()
    await driver.pay_and_sign(site_signoff=False)

    empty = await certflow(*SITE, "site-signoff", plan_id, "--platform-plan-id", "")
    err = capsys.readouterr().err
    assert empty.status == 2
    assert t("cli.usage_argument", what="--platform-plan-id", value="") in err
    assert t("cli.code_blank") in err
    assert any(o.duty == "site_signoff" for o in (await driver.status()).owed)

    async def sign_off_and_gather(typed_id: str, batch_id: str) -> None:
        signoff = ["site-signoff", typed_id, "--platform-plan-id", typed_id]
        signed = await certflow(*SITE, *signoff)
        assert signed.status == 0, signed.out
        await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
        gather = ["batch", "gather", "--batch-id", batch_id]
        assert (await certflow(*TECH, *gather)).status == 0
        await driver.wait_gathered(batch_id)

    # Rejected and sent back to sign off again, in lower case and full width.
    first = f"B-{plan_id}"
    await sign_off_and_gather(typed, first)
    returned = await certflow(
        *GM, "batch", "decide", first.lower(),
        "--reject", f"{typed}=平台签发的考试计划有误",
        "--return", f"{wide}＝site_signoff",
    )  # fmt: skip
    assert returned.status == 0, returned.out
    rejected = t("cli.batch_rejected", plan_id=plan_id, reason="平台签发的考试计划有误")
    assert rejected in returned.out
    status = await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    assert [o.duty for o in status.owed if o.duty != "invoice"] == ["site_signoff"]
    second = f"B2-{plan_id}"
    await sign_off_and_gather(wide, second)
    approved = await certflow(*GM, "batch", "decide", second, "--approve", typed)
    assert approved.status == 0, approved.out
    assert t("cli.batch_approved", plans=plan_id) in approved.out
    await driver.wait_for(lambda s: s.stage in (Stage.ISSUANCE, Stage.ISSUED))


@pytest.mark.parametrize(
    "typed", ["2026/11/4", "2026.11.04", "2026年11月4日", "２０２６-11-04"]
)
async def test_an_exam_date_typed_with_other_separators_is_read(
    typed: str, certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    plan = new_driver.plan.model_copy(update={"exam_end_date": date(2026, 11, 4)})
    started = await certflow(*with_flag(start_argv(plan), "--exam-end", typed))

    assert started.status == 0, started.out
    given = await started_input(client, plan.plan_id)
    assert given.info.exam_end_date == date(2026, 11, 4)


async def test_an_impossible_date_is_refused_in_chinese(
    certflow: Certflow, new_driver: PlanDriver, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = await certflow(
        *with_flag(start_argv(new_driver.plan), "--exam-end", "2026/02/30")
    )
    assert refused.status == 2
    # Written as a date, it is a day that does not exist, not a wrong format.
    said = t("cli.no_such_day", value="2026/02/30", year=2026, month=2, day=30)
    assert said in capsys.readouterr().err
