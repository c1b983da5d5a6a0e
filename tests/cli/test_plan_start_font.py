"""``plan start`` refuses a plan whose certificates the certificate font
cannot draw.

Found by a staff trial: ``plan start --module-name
汽车动力与驱动系统综合分析技术𠮷`` (a character outside the basic plane the
default font lacks) was taken. Intake, payment, the sign-offs and approval
all passed; then issuance could not print the module's row, and the plan
waited in issuance for good: the tech dept owed a repair it could not make
(a plan's module name cannot be changed, nor can a plan in issuance be
cancelled), and ``issue-again`` did not say which text was at fault.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from temporalio.client import Client

from certflow.certificates import FONT_ENV, unsupported_characters
from certflow.config import Settings
from certflow.i18n import t
from tests.cli.conftest import Certflow, certflow_runner
from tests.cli.test_commands import ADMIN, start_argv
from tests.cli.test_staff_rules import plan_exists, started_input, with_flag
from tests.support import (
    RARE_CHARACTER,
    PlanDriver,
    font_printing,
    sample_plan,
    unique_plan_id,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

MODULE_NAME = f"汽车动力与驱动系统综合分析技术{RARE_CHARACTER}"


@pytest.fixture(autouse=True)
def default_font(monkeypatch: pytest.MonkeyPatch) -> None:
    """The certificate font the stack has by default, which lacks the rare
    character (skipped where it prints it)."""
    monkeypatch.delenv(FONT_ENV, raising=False)
    if not unsupported_characters(RARE_CHARACTER):
        pytest.skip("the default certificate font prints the rare character")


def unprintable(field: str, flag: str) -> str:
    """The refusal of a plan field holding the rare character."""
    return t(
        "cli.plan_field_invalid",
        field=t(f"cli.plan_fields.{field}"),
        flag=flag,
        problem=t("cli.plan_field_unprintable", chars="U+20BB7"),
    )


async def test_a_module_name_the_font_cannot_draw_is_refused_naming_flag_and_code_point(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    argv = with_flag(start_argv(new_driver.plan), "--module-name", MODULE_NAME)

    outcome = await certflow(*argv)

    assert outcome.status == 2
    assert outcome.out.strip() == unprintable("module_name", "--module-name")
    assert not await plan_exists(client, new_driver.plan.plan_id)


async def test_every_printed_text_the_font_cannot_draw_is_named_at_once(
    worker_settings: Settings, new_driver: PlanDriver, client: Client
) -> None:
    """The certificate's name and the module code are printed too, and so is
    the organisation configured: each is named, the plan not started."""
    argv = start_argv(new_driver.plan)
    argv = with_flag(argv, "--certificate", f"汽车运用与维修{RARE_CHARACTER}")
    argv = with_flag(argv, "--module-code", f"1-1{RARE_CHARACTER}")
    org = worker_settings.model_copy(
        update={"organisation": f"北京中车行{RARE_CHARACTER}高新技术有限公司"}
    )

    outcome = await certflow_runner(org, client)(*argv)

    assert outcome.status == 2
    assert outcome.out.strip().splitlines() == [
        unprintable("certificate", "--certificate"),
        unprintable("module_code", "--module-code"),
        t("cli.organisation_unprintable", chars="U+20BB7"),
    ]
    assert not await plan_exists(client, new_driver.plan.plan_id)


async def test_a_plan_file_names_its_key(settings: Settings, tmp_path: Path) -> None:
    plan = sample_plan(date.today(), unique_plan_id())
    plan = plan.model_copy(update={"module_name": MODULE_NAME})
    path = tmp_path / "plan.toml"
    path.write_text(
        "\n".join(
            f'{name} = "{value}"'
            for name, value in plan.model_dump(mode="json").items()
            if isinstance(value, str)
        ),
        encoding="utf-8",
    )

    outcome = await certflow_runner(settings, None)(
        *ADMIN, "plan", "start", "--from-file", str(path)
    )

    assert outcome.status == 2
    assert outcome.out.strip() == unprintable("module_name", "module_name")


async def test_a_module_name_the_configured_font_draws_starts_the_plan(
    certflow: Certflow,
    new_driver: PlanDriver,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The font the worker is configured with decides, not the default."""
    monkeypatch.setenv(FONT_ENV, str(font_printing(RARE_CHARACTER)))
    argv = with_flag(start_argv(new_driver.plan), "--module-name", MODULE_NAME)

    outcome = await certflow(*argv)

    assert outcome.status == 0, outcome.out
    info = (await started_input(client, new_driver.plan.plan_id)).info
    assert info.module_name == MODULE_NAME


async def test_without_a_certificate_font_the_plan_starts_saying_nothing_was_checked(
    certflow: Certflow,
    new_driver: PlanDriver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A machine without the font cannot check: issuance names a missing font
    as its own cause, which the tech dept mends, so the plan is not refused."""
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "gone.ttc"))

    outcome = await certflow(*start_argv(new_driver.plan))

    assert outcome.status == 0, outcome.out
    assert outcome.out.strip().splitlines()[-1] == t("cli.plan_font_unchecked")
