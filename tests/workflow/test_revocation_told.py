"""A revocation is recorded with its role and told to those who keep records.

Trial: ``certflow revoke`` wrote its audit row with ``role`` NULL, mailed
nobody (the info center keeps the national platform and the organisation's
database in step, the site tells its candidate), and ``certflow status`` still
read 已发证书 15 with no word of the certificate revoked.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities
from activities.db import create_pool
from activities.documents import DocumentStore
from activities.revocation import REVOKE_ACTION, revoke
from certflow.activity_models import IssueRequest
from certflow.config import PROJECT_DIR, Settings
from certflow.models import PlanInfo, Role, Stage
from starter.cli import run
from starter.smtp_sink import body_text
from tests.cli.test_commands import personal_data
from tests.support import PlanDriver, free_ports, mails_of
from tests.workflow.test_issuance import plan_with_scores

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

TECH = ["--as", "tech_dept", "--person", "tech-zhao"]


def config_for(settings: Settings, folder: Path) -> Path:
    """The project's configuration with this test's task queue, for a tool
    that reads its own (``revoke``); the servers come from the environment."""
    text = (PROJECT_DIR / "config" / "certflow.toml").read_text(encoding="utf-8")
    queue = settings.temporal.task_queue
    path = folder / "certflow.toml"
    path.write_text(
        text.replace('task_queue = "certflow"', f'task_queue = "{queue}"'),
        encoding="utf-8",
    )
    return path


async def issued_alone(
    resources: Any, settings: Settings, folder: Path, year: int
) -> tuple[PlanInfo, str]:
    """A plan with scores, its certificates issued on 5 March of ``year``
    without its workflow; the plan and its first certificate's number."""
    pool, store = resources
    plan = await plan_with_scores(pool, store, folder)
    issued = await ActivityEnvironment().run(
        CertificateActivities(settings, pool, store).issue_certificates,
        IssueRequest(plan=plan, issued_on=date(year, 3, 5)),
    )
    return plan, issued.numbers[0]


async def certflow(*argv: str, **given: Any) -> tuple[int, str]:
    out = io.StringIO()
    status = await run(list(argv), out=out, **given)
    return status, out.getvalue()


async def test_a_revocation_is_audited_with_its_role_mailed_and_counted(
    make_driver: Any,
    resources: Any,
    worker_settings: Settings,
    env: Any,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_approval()
    await driver.approve_in_batch()
    # Issued, the invoice still owed: the plan's workflow runs on.
    status = await driver.wait_for(lambda s: s.stage is Stage.ISSUED)
    plan_id = driver.plan.plan_id
    number = await pool.fetchval(
        "SELECT number FROM certificates WHERE plan_id = $1 ORDER BY number LIMIT 1",
        plan_id,
    )
    monkeypatch.setenv("DATABASE_URL", worker_settings.database_url)
    monkeypatch.setenv("TEMPORAL_ADDRESS", env.client.service_client.config.target_host)
    config = config_for(worker_settings, tmp_path)

    code, _ = await certflow(
        "--config", str(config), *TECH, "revoke", number, "--reason", "成绩更正"
    )

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "已安排邮件通知信息管理中心和考核站点" in printed
    audit = await pool.fetchrow(
        "SELECT role, person FROM audit WHERE action = 'revoke_certificate'"
        " AND details ->> 'number' = $1",
        number,
    )
    assert (audit["role"], audit["person"]) == ("tech_dept", "tech-zhao")

    [mail] = await mails_of(
        sink_messages, plan_id, "certificate_revoked", subject_holding=number
    )
    body = body_text(mail)
    addressed = str(mail["To"])
    assert "info-center@certflow.example.org" in addressed
    assert "kaowu@whjtxx.example.edu.cn" in addressed
    revoked_on = await pool.fetchval(
        "SELECT revoked_on FROM certificates WHERE number = $1", number
    )
    assert f"已于 {revoked_on.isoformat()} 撤销" in body
    assert "撤销原因：成绩更正" in body
    secrets = personal_data(driver.files["summary"])
    assert secrets and not [s for s in secrets if s in body or s in str(mail)]

    # The status counts it: in words, in JSON, and on the plan's Web UI page.
    given = {"settings": worker_settings, "client": driver.client}
    code, text = await certflow("status", plan_id, **given)
    assert code == 0, text
    issued = status.certificates_issued
    assert re.search(rf"已发证书\s+{issued}（其中已撤销 1 本）", text), text
    code, text = await certflow("status", plan_id, "--json", **given)
    assert json.loads(text)["certificates_revoked"] == 1
    for _ in range(100):
        metadata = await driver.h.query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        )
        if "其中已撤销：1 张" in metadata.current_details:
            break
        await asyncio.sleep(0.1)
    assert "其中已撤销：1 张" in metadata.current_details


async def test_a_revocation_temporal_cannot_be_told_of_is_kept_for_a_resend(
    client: Any,
    resources: Any,
    worker_settings: Settings,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The revocation stands without Temporal; its mail is listed by
    ``notice failed`` and goes out with ``notice resend``."""
    pool, _ = resources
    # A year no other test issues in, so its counter is this test's.
    plan, number = await issued_alone(resources, worker_settings, tmp_path, 2018)
    monkeypatch.setenv("DATABASE_URL", worker_settings.database_url)
    # Nothing listens there: Temporal is out of reach.
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_ports(1)[0]}")
    config = config_for(worker_settings, tmp_path)

    code, _ = await certflow(
        "--config", str(config), *TECH, "revoke", number, "--reason", "成绩更正"
    )

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert await pool.fetchval(
        "SELECT revoked_on IS NOT NULL FROM certificates WHERE number = $1", number
    )
    found = re.search(r"notice resend (\d+)", printed)
    assert found is not None, printed
    given = {"settings": worker_settings, "client": client}
    admin = ["--as", "admin", "--person", "admin-liu"]
    code, text = await certflow(*admin, "notice", "failed", **given)
    assert code == 0 and "无法连接 Temporal" in text, text

    code, text = await certflow(*admin, "notice", "resend", found.group(1), **given)

    assert code == 0, text
    [mail] = await mails_of(
        sink_messages, plan.plan_id, "certificate_revoked", subject_holding=number
    )
    assert "【补发】" in str(mail["Subject"])
    assert "撤销原因：成绩更正" in body_text(mail)


async def test_a_revocation_whose_tool_stopped_before_its_mail_is_told_again(
    client: Any,
    resources: Any,
    worker_settings: Settings,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Regression: the revocation commits before its mail is started; a tool
    killed in between left the mail unrecorded for good (``notice failed``
    did not list it) and revoking again was refused as done. Revoking again
    says so and sends the mail; once it is recorded, nothing more is sent."""
    pool, _ = resources
    # A year no other test issues in, so its counter is this test's.
    plan, number = await issued_alone(resources, worker_settings, tmp_path, 2015)
    # Recorded, and the tool gone before it started the mail.
    await revoke(
        pool,
        number,
        reason="成绩更正",
        revoked_on=date(2015, 4, 20),
        by="tech-zhao",
        role=Role.TECH_DEPT,
    )
    monkeypatch.setenv("DATABASE_URL", worker_settings.database_url)
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    config = config_for(worker_settings, tmp_path)
    argv = ["--config", str(config), *TECH, "revoke", number, "--reason", "成绩更正"]

    code, _ = await certflow(*argv)

    printed = capsys.readouterr().out
    assert code == 2, printed
    assert f"证书 {number} 已于 2015-04-20 撤销，不能重复撤销" in printed, printed
    assert "已安排邮件通知信息管理中心和考核站点" in printed
    [mail] = await mails_of(
        sink_messages, plan.plan_id, "certificate_revoked", subject_holding=number
    )
    assert "已于 2015-04-20 撤销" in body_text(mail)
    assert "撤销原因：成绩更正" in body_text(mail)
    key = f"{REVOKE_ACTION}:{number}"
    for _ in range(100):
        if await pool.fetchval(
            "SELECT 1 FROM notifications WHERE idempotency_key = $1", key
        ):
            break
        await asyncio.sleep(0.1)

    code, _ = await certflow(*argv)

    printed = capsys.readouterr().out
    assert code == 2 and "已安排邮件通知" not in printed, printed


async def test_two_revocations_in_one_plan_at_once_are_counted_one_after_the_other(
    resources: Any,  # the migrated schema
    worker_settings: Settings,
    tmp_path: Path,
) -> None:
    """Regression: two revocations of one plan running together each counted
    the plan's revoked certificates before the other committed, and both
    mails said 1 when the second was the plan's second.

    Both are held at their audit row (its key taken by a transaction of the
    test's, not committed) and let go together."""
    pool = await create_pool(worker_settings.database_url, max_size=4)
    try:
        store = DocumentStore(worker_settings.documents_dir)
        plan = await plan_with_scores(pool, store, tmp_path)
        issued = await ActivityEnvironment().run(
            CertificateActivities(worker_settings, pool, store).issue_certificates,
            # A year no other test issues in, so its counter is this test's.
            IssueRequest(plan=plan, issued_on=date(2016, 5, 9)),
        )
        first, second = issued.numbers[:2]
        holder = await asyncpg.connect(worker_settings.database_url)
        try:
            held = holder.transaction()
            await held.start()
            await holder.executemany(
                "INSERT INTO audit (plan_id, action, at, accepted, late,"
                " idempotency_key) VALUES ($1, 'hold', now(), true, false, $2)",
                [(plan.plan_id, f"{REVOKE_ACTION}:{n}") for n in (first, second)],
            )
            revocations = [
                asyncio.create_task(
                    revoke(
                        pool,
                        number,
                        reason="成绩更正",
                        revoked_on=date(2016, 6, 1),
                        by="tech-zhao",
                        role=Role.TECH_DEPT,
                    )
                )
                for number in (first, second)
            ]
            # Both have revoked their certificate and wait at the audit row.
            await _waiting_at_audit(pool, 2)
            await held.rollback()
            told = await asyncio.gather(*revocations)
        finally:
            await holder.close()
    finally:
        await pool.close()

    assert sorted(r.revoked_in_plan for r in told) == [1, 2]


async def _waiting_at_audit(pool: Any, sessions: int) -> None:
    """Wait until ``sessions`` sessions wait for a lock to write an audit row."""
    for _ in range(300):
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%INSERT INTO audit%' AND datname = current_database()"
        )
        if waiting >= sessions:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the revocations never reached their audit rows")
