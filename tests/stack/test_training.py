"""``certflow stack --training``: the same stack on a clock staff can move."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shlex
import signal
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from activities.db import database_name
from certflow.config import Settings
from certflow.i18n import t
from starter import stack
from starter.cli import run
from starter.devserver import DevServer, StackStartError
from starter.embedded_pg import with_database
from starter.smtp_sink import read_messages
from starter.training import TRAINING_DATABASE
from tests.support import (
    read_until_ready,
    run_python,
    stack_process,
    stop_in_order,
)

REPO = Path(__file__).resolve().parents[2]
PLAN_ID = "P2026-TRAIN-01"
LATE_PLAN_ID = "P2026-TRAIN-02"


def _exported(banner: list[str]) -> dict[str, str]:
    """The environment the banner's export line gives staff tools."""
    line = next(line.strip() for line in banner if line.strip().startswith("export "))
    return dict(word.split("=", 1) for word in shlex.split(line)[1:])


async def _certflow(env: dict[str, str], *argv: str) -> tuple[int, str]:
    """Run the staff tool as staff do, in a process of its own."""
    async with asyncio.timeout(90):
        return await run_python("-m", "starter.cli", *argv, env=env)


def _clock_day(text: str) -> date:
    """The day of the training clock as ``certflow clock`` prints it."""
    found = re.findall(r"(\d{4}-\d{2}-\d{2}) \d{2}:\d{2}", text)
    assert found, text
    return date.fromisoformat(found[-1])


def _plan_start(plan_id: str, exam_end: date) -> list[str]:
    return [
        "--as", "tech_dept", "--person", "tech-zhao", "plan", "start",
        "--plan-id", plan_id, "--site-code", "HB-WH-0031",
        "--site-name", "武汉市交通职业技术学校", "--certificate", "汽车运用与维修",
        "--level", "intermediate", "--module-code", "1-1",
        "--module-name", "汽车动力与驱动系统综合分析技术",
        "--exam-end", exam_end.isoformat(), "--lead-evaluator", "ZCX-E-0107",
        "--evaluator", "ZCX-E-0213",
    ]  # fmt: skip


@pytest.mark.timeout(240)
async def test_training_stack_moves_its_clock_and_the_plan_falls_overdue(
    tmp_path: Path, free_port: Callable[[], int], fresh_database_url: str
) -> None:
    state = tmp_path / "training"
    port, smtp = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLOW_")}
    log_file = tmp_path / "stack.log"
    log = log_file.open("wb")
    process = await stack_process(
        [
            *["--training", "--state", str(state)],
            *["--port", str(port), "--smtp-port", str(smtp)],
            *["--database-url", fresh_database_url],
        ],
        env,
        log,
    )
    try:
        banner = await asyncio.wait_for(read_until_ready(process), timeout=60)
        staff = {**env, **_exported(banner)}
        printed = "\n".join(banner)

        shown_status, shown = await _certflow(staff, "clock", "show")
        start_day = _clock_day(shown)
        started = await _certflow(staff, *_plan_start(PLAN_ID, start_day))
        refused = await _certflow(
            staff, "--as", "tech_dept", "--person", "tech-zhao", "clock", "advance", "3"
        )
        # The submission deadline is the end of exam day + 15: 17 days passes it.
        advanced = await _certflow(
            staff, "--as", "admin", "--person", "admin-li", "clock", "advance", "17"
        )
        status = await _certflow(staff, "status", PLAN_ID)
        listed = await _certflow(staff, "list")
        # 67 days on, an exam ending "today" is 67 days after the wall clock's
        # today: the start guard (60 days ahead at most) must read the stack's clock.
        await _certflow(
            staff, "--as", "admin", "--person", "admin-li", "clock", "advance", "50"
        )
        late_day = _clock_day((await _certflow(staff, "clock", "show"))[1])
        late_start = await _certflow(staff, *_plan_start(LATE_PLAN_ID, late_day))

        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        await stop_in_order(process)
        log.close()

    assert "TRAINING" in printed and "训练环境" in printed
    # The test server binds every interface (it takes no address): the banner
    # says so in both languages, naming the port to keep behind a firewall.
    assert f"port {port} can be reached from the network" in printed
    assert f"同一网络中的其他计算机也能连接端口 {port}" in printed
    assert "Web UI   : none" in printed
    assert f"TEMPORAL_ADDRESS=127.0.0.1:{port}" in printed
    assert staff["DATABASE_URL"] == fresh_database_url
    assert staff["CERTFLOW_STATE"] == str(state.resolve())
    assert shown_status == 0 and "训练环境时钟" in shown
    assert started[0] == 0, started[1]
    assert refused[0] == 2 and "只有系统管理员" in refused[1]
    assert advanced[0] == 0, advanced[1]
    after = _clock_day(advanced[1])
    assert after == start_day + timedelta(days=17)
    assert status[0] == 0 and "逾期" in status[1], status[1]
    subjects = [str(m["subject"]) for m in read_messages(state / "mailbox")]
    overdue = [s for s in subjects if PLAN_ID in s and "逾期" in s]
    assert overdue, subjects
    # Visibility queries are not served by the test server: said, not crashed.
    assert listed[0] == 1 and "训练环境" in listed[1] and "Traceback" not in listed[1]
    assert late_day == start_day + timedelta(days=67)
    assert late_start[0] == 0, late_start[1]
    assert process.returncode == 0, log_file.read_text("utf-8")[-3000:]
    # The clock moved only when told: no run-away skipping of years.
    assert str(start_day.year + 2) not in "\n".join(subjects)


@pytest.mark.timeout(60)
async def test_clock_advance_is_refused_on_a_real_clock_dev_server(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    server = DevServer(
        tmp_path / "temporal.sqlite",
        port=free_port(),
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
    )
    async with server:
        settings = Settings.load().with_environment(
            {"TEMPORAL_ADDRESS": server.address, "CERTFLOW_STATE": str(tmp_path)}
        )

        async def certflow(*argv: str) -> tuple[int, str]:
            out = io.StringIO()
            return await run(list(argv), settings=settings, out=out), out.getvalue()

        shown = await certflow("clock", "show")
        refused = await certflow(
            "--as", "admin", "--person", "a", "clock", "advance", "3"
        )

    assert shown[0] == 0 and "真实时钟" in shown[1]
    assert refused[0] == 2 and "真实时钟" in refused[1] and "不能拨快" in refused[1]


@pytest.mark.timeout(60)
def test_training_stack_refuses_a_real_stack_folder_and_database(
    tmp_path: Path, free_port: Callable[[], int], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "temporal.sqlite").write_bytes(b"")
    ports = ["--port", str(free_port()), "--smtp-port", str(free_port())]

    in_real_folder = stack.main(["--training", "--state", str(tmp_path), *ports])
    folder_text = capsys.readouterr().err
    base = Settings.load()
    real_database = ["--database-url", base.database_url]
    own = stack.main(
        ["--training", "--state", str(tmp_path / "t"), *ports, *real_database]
    )
    database_text = capsys.readouterr().err

    assert in_real_folder == 1 and "temporal.sqlite" in folder_text
    name = database_name(base.database_url)
    assert own == 1
    assert t("stack.training_database_taken", name=name) in database_text


def test_the_training_stack_restarts_from_the_shell_its_export_line_set_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Trial: after the banner's ``export`` line (DATABASE_URL naming the
    training database), restarting with the same ``--database-url`` was
    refused, calling the training database 正式数据库. The configured database
    proper is still refused."""
    configured = Settings.load().database_url
    training = with_database(configured, TRAINING_DATABASE)
    monkeypatch.setenv("DATABASE_URL", training)  # as the export line sets it
    from_that_shell = Settings.load()

    assert stack.training_database_url(from_that_shell, training) == training
    assert stack.training_database_url(from_that_shell, None) == training
    real = with_database(configured, "certflow_records")
    monkeypatch.setenv("DATABASE_URL", real)
    with pytest.raises(StackStartError) as refused:
        stack.training_database_url(Settings.load(), real)
    said = t("stack.training_database_taken", name="certflow_records")
    assert refused.value.zh == said
    assert "正式数据库" not in refused.value.zh


def test_training_stack_refuses_the_configured_database_named_by_its_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The configured URL names no database, so the driver connects to the
    user's: a training URL naming that database outright is the same one."""
    for name in ("PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    base = Settings.load().model_copy(
        update={"database_url": "postgresql://records@127.0.0.1:5432"}
    )

    with pytest.raises(StackStartError, match="'records'"):
        stack.training_database_url(base, "postgresql://records@127.0.0.1:5432/records")
    assert stack.training_database_url(base, None).endswith("/certflow_training")
