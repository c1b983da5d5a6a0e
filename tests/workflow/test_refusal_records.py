"""An application the plan refuses unread is recorded with why, and audited.

Trial: an application whose figures did not add up (a head count one short,
an amount 0.01 yuan over, a payment dated tomorrow) was refused, and nothing
of the refusal reached the audit trail; ``certflow document list`` showed
未受理（1 处问题） without saying what the problem was.

In a module of its own: the race below needs a time-skipping clock starting
at today, inside the years whose holiday schedule is known.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from certflow.config import Settings
from certflow.models import DocumentKind
from starter.sample_plan import sample_invoice_form
from tests.cli.conftest import certflow_runner
from tests.cli.test_commands import personal_data
from tests.support import SCAN_PDF, PlanDriver
from tests.workflow.test_application_race import _read_while_a_correction_applies

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]


def _scan(folder: Path, name: str) -> Path:
    """A scan of the sealed application, unlike any other test's."""
    path = folder / name
    path.write_bytes(SCAN_PDF + b"\0" * 64 + os.urandom(16).hex().encode())
    return path


async def _refusals(pool: Any, plan_id: str) -> list[Any]:
    return list(
        await pool.fetch(
            "SELECT action, role, person, accepted, details FROM audit"
            " WHERE plan_id = $1 AND action = 'upload_application' AND NOT accepted"
            " ORDER BY id",
            plan_id,
        )
    )


async def test_an_application_refused_for_its_figures_is_audited_and_listed_with_why(
    make_driver: Any,
    resources: Any,
    client: Any,
    worker_settings: Settings,
    tmp_path: Path,
) -> None:
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    await driver.reach_payment()
    plan_id = driver.plan.plan_id
    today = await driver.today()
    form = tmp_path / "院校发票信息收集表.xlsx"
    form.write_bytes(sample_invoice_form())
    cases = {
        "heads": ("13", "4200.00", today),
        "cent": ("14", "4200.01", today),
        "tomorrow": ("14", "4200.00", today + timedelta(days=1)),
    }

    said = {}
    for name, (heads, amount, paid_on) in cases.items():
        scan = _scan(tmp_path, f"申请表-{name}.pdf")
        outcome = await certflow(
            *SITE, "application", plan_id, "--scan", str(scan),
            "--invoice-form", str(form), "--paid-plan", plan_id,
            "--head-count", heads, "--amount", amount,
            "--paid-on", paid_on.isoformat(),
        )  # fmt: skip
        assert outcome.status == 2, (name, outcome.out)
        said[name] = outcome.out.strip().removeprefix("未受理：")

    audited = await _refusals(pool, plan_id)
    assert [(r["role"], r["person"]) for r in audited] == [("site", "whjt-kaowu")] * 3
    assert [r["details"]["refusal"] for r in audited] == list(said.values())
    assert "13" in said["heads"] and "4200.01" in said["cent"]
    listed = await certflow(*SITE, "document", "list", plan_id)
    assert "未受理的原因：" in listed.out
    for reason in said.values():
        assert reason in listed.out, listed.out
    secrets = personal_data(driver.files["summary"])
    shown = listed.out + "".join(str(r["details"]) for r in audited)
    assert secrets and not [s for s in secrets if s in shown]


async def test_an_application_refused_at_its_turn_is_audited_with_why(
    make_driver: Any, resources: Any
) -> None:
    """A correction applied while the application waited its turn made its
    figures wrong: the plan refuses it then, and says why in the record."""
    pool, store = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id

    answer = await _read_while_a_correction_applies(driver, pool, store)

    assert not answer.accepted
    [audited] = await _refusals(pool, plan_id)
    assert audited["role"] == "site"
    assert audited["details"]["refusal"] == answer.message
    reason = await pool.fetchval(
        "SELECT refusal FROM plan_documents WHERE plan_id = $1 AND kind = $2",
        plan_id,
        DocumentKind.CERTIFICATE_APPLICATION.value,
    )
    assert reason == answer.message
