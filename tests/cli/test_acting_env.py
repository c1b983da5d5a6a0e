"""Who acts: a shell set up for one role never lends its person to another.

Staff set ``CERTFLOW_ROLE`` and ``CERTFLOW_PERSON`` once per shell. Acting once
as another role with ``--as`` only used to record the action under the
environment's person, a member of staff of the other role.
"""

from __future__ import annotations

import pytest
from temporalio.service import RPCError

from certflow.actions import plan_workflow_id
from certflow.i18n import t
from tests.cli.conftest import Certflow
from tests.cli.test_commands import start_argv
from tests.support import PlanDriver

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


def without_acting_flags(argv: list[str]) -> list[str]:
    """``argv`` of ``start_argv`` without its ``--as admin --person …``."""
    return argv[4:]


async def test_another_role_needs_its_own_person(
    certflow: Certflow, new_driver: PlanDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTFLOW_ROLE", "site")
    monkeypatch.setenv("CERTFLOW_PERSON", "whjt-kaowu")
    monkeypatch.setenv("CERTFLOW_SITE", "HB-WH-0031")
    start = without_acting_flags(start_argv(new_driver.plan))

    borrowed = await certflow("--as", "tech_dept", *start)
    own = await certflow("--as", "tech_dept", "--person", "tech-zhao", *start)
    as_the_shell = await certflow("confirm-summary", new_driver.plan.plan_id)

    assert borrowed.status == 2
    assert (
        t(
            "cli.person_of_other_role",
            role=t("roles.tech_dept"),
            env_role=t("roles.site"),
            person="whjt-kaowu",
        )
        in borrowed.out
    )
    assert own.status == 0, own.out
    # The shell's own role still acts with its person alone: the plan itself
    # answers (no summary to confirm yet), not the tool's check of who acts.
    assert as_the_shell.status == 2
    assert as_the_shell.out.strip() == t(
        "cli.refused", reason=t("plan.summary_not_accepted")
    )


async def test_the_role_variable_is_read_as_staff_type_it_and_checked(
    certflow: Certflow, new_driver: PlanDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: CERTFLOW_ROLE=boss (or Tech_Dept) ended in a traceback."""
    start = without_acting_flags(start_argv(new_driver.plan))
    monkeypatch.setenv("CERTFLOW_PERSON", "tech-zhao")
    monkeypatch.setenv("CERTFLOW_ROLE", "boss")
    unknown = await certflow(*start)
    monkeypatch.setenv("CERTFLOW_ROLE", " Tech_Dept")
    same_role = await certflow("--as", "tech_dept", *start)
    monkeypatch.delenv("CERTFLOW_PERSON")
    nobody = await certflow("--as", "tech_dept", *start)

    assert unknown.status == 2
    assert unknown.out.startswith(t("cli.bad_env_role", value="boss", roles="")[:30])
    assert "Traceback" not in unknown.out
    assert same_role.status == 0, same_role.out
    assert nobody.status == 2
    assert nobody.out.strip() == t("cli.person_missing", role=t("roles.tech_dept"))


@pytest.mark.parametrize(
    "person",
    ["张三", "330106200308287009", "33010620030828700X", "admin li", " admin-li"],
)
async def test_a_person_that_is_no_staff_id_is_refused_and_never_repeated(
    certflow: Certflow,
    new_driver: PlanDriver,
    monkeypatch: pytest.MonkeyPatch,
    person: str,
) -> None:
    """Regression: a name or an ID number given as ``--person`` (or in the
    environment) went into the audit trail and the plan's history for good."""
    start = without_acting_flags(start_argv(new_driver.plan))

    typed = await certflow("--as", "admin", "--person", person, *start)
    monkeypatch.setenv("CERTFLOW_ROLE", "admin")
    monkeypatch.setenv("CERTFLOW_PERSON", person)
    from_env = await certflow(*start)

    for result in (typed, from_env):
        assert result.status == 2
        assert t("cli.person_not_staff_id") in result.out
        assert person.strip() not in result.out
    with pytest.raises(RPCError):  # no plan was started
        await new_driver.client.get_workflow_handle(
            plan_workflow_id(new_driver.plan.plan_id)
        ).describe()


async def test_an_empty_site_variable_is_no_site(
    certflow: Certflow, new_driver: PlanDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a shell that cleared its site (``export CERTFLOW_SITE=``, or
    a site's shell reused by the tech dept) refused every command of every
    role with ``参数 --site：编号不能为空``; an empty CERTFLOW_PERSON was
    already taken as none."""
    monkeypatch.setenv("CERTFLOW_SITE", "")
    start = await certflow(*start_argv(new_driver.plan))
    plan_id = new_driver.plan.plan_id
    status = await certflow(
        "--as", "tech_dept", "--person", "tech-zhao", "status", plan_id
    )
    site = await certflow(
        "--as", "site", "--person", "whjt-kaowu", "confirm-summary", plan_id
    )

    assert start.status == 0, start.out
    assert status.status == 0, status.out
    assert plan_id in status.out
    assert site.status == 2
    assert site.out.strip() == t("cli.site_missing")
