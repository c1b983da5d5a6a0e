"""``certflow status`` shows the plan's facts to anyone, and its personal data
as ``certflow document`` does: to the roles whose part needs it, a site and a
lead evaluator on their own plan only.

Trial: status checked no role. Anyone, any site, saw the consistency review's
mismatches (candidates' masked names and ID numbers, admission numbers) of
any plan, and in ``--json`` the names of its files.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from certflow.i18n import t
from tests.cli.conftest import Certflow
from tests.cli.test_commands import (
    CONTACT,
    FINANCE,
    LEAD,
    OTHER_SITE,
    SITE,
    personal_data,
    start_and_submit,
    start_argv,
)
from tests.support import PlanDriver

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

OTHER_LEAD = ["--as", "lead_evaluator", "--person", "ZCX-E-0999"]


async def test_mismatches_and_file_names_reach_only_those_who_read_the_report(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    driver = new_driver
    plan_id = driver.plan.plan_id
    files = await start_and_submit(certflow, driver)
    status = await driver.wait_for(
        lambda s: any(o.duty == "consistency_review" for o in s.owed)
    )
    assert status.consistency is not None
    [mismatch] = status.consistency.mismatches
    summary_name = files["summary"].name

    seen: dict[str, Any] = {}
    for who, actor in {
        "nobody": [],
        "finance": FINANCE,
        "contact": CONTACT,
        "site": SITE,
        "lead": LEAD,
    }.items():
        seen[who] = (
            await certflow(*actor, "status", plan_id),
            await certflow(*actor, "status", plan_id, "--json"),
        )
    other_site = await certflow(*OTHER_SITE, "status", plan_id)
    other_lead = await certflow(*OTHER_LEAD, "status", plan_id, "--json")

    for who in ("nobody", "finance"):
        text, raw = seen[who]
        assert text.status == 0 and raw.status == 0, text.out
        assert mismatch not in text.out and mismatch not in raw.out
        assert t("stages.consistency_review") in text.out  # the plan's facts
        assert "（共 1 处" not in text.out
        assert "不一致之处共 1 处：明细含考生信息" in text.out
        shown = json.loads(raw.out)
        assert shown["consistency"]["mismatches"] == []
        assert shown["consistency"]["mismatch_count"] == 1
    # Finance lists documents (its application, its form): it sees file names.
    assert summary_name not in seen["nobody"][1].out
    assert summary_name in seen["finance"][1].out
    for who in ("contact", "site", "lead"):
        text, raw = seen[who]
        assert text.status == 0, text.out
        assert f"  1. {mismatch}" in text.out
        assert json.loads(raw.out)["consistency"]["mismatches"] == [mismatch]
        assert summary_name in raw.out
    for refused in (other_site, other_lead):
        assert refused.status == 2
        assert mismatch not in refused.out and plan_id in refused.out
    assert t("plan.wrong_site", plan_id=plan_id) in other_site.out
    # Whoever sees them, the names and ID numbers are masked.
    everything = "".join(text.out + raw.out for text, raw in seen.values())
    assert {v for v in personal_data(files["summary"]) if v in everything} == set()


async def test_status_shows_the_exam_and_its_evaluator_team_by_staff_id(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression (trial): ``status`` named the plan, its site and stage, but
    not the exam it is for (certificate, module, end date) nor its team: staff
    looked them up elsewhere. The team is shown by staff id, never a name."""
    plan = new_driver.plan
    assert (await certflow(*start_argv(plan))).status == 0
    # Staff ids of the team that the sample's sheets name evaluators by.
    assert plan.evaluator_ids and all(plan.evaluator_ids)

    text = await certflow("status", plan.plan_id)
    raw = await certflow(*SITE, "status", plan.plan_id, "--json")

    assert text.status == 0 and raw.status == 0, text.out
    facts = {
        label: value
        for label, _, value in (line.partition("  ") for line in text.out.splitlines())
        if value
    }
    team = "、".join(plan.evaluator_ids)
    assert {
        key: facts[key].strip()
        for key in ("证书", "考核模块", "考试结束日期", "考评组")
    } == {
        "证书": f"{plan.certificate}（{plan.level.chinese}）",
        "考核模块": f"{plan.module_code} {plan.module_name}",
        "考试结束日期": plan.exam_end_date.isoformat(),
        "考评组": f"考评组长 {plan.lead_evaluator_id}；考评员 {team}",
    }
    shown = json.loads(raw.out)
    assert {k: shown[k] for k in ("certificate", "level", "module_code")} == {
        "certificate": plan.certificate,
        "level": plan.level.value,
        "module_code": plan.module_code,
    }
    assert shown["module_name"] == plan.module_name
    assert shown["exam_end_date"] == plan.exam_end_date.isoformat()
    assert shown["lead_evaluator_id"] == plan.lead_evaluator_id
    assert shown["evaluator_ids"] == plan.evaluator_ids
