"""``python -m starter.stack`` starts every part, prints where, stops on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import aiosmtplib
import pytest

from certflow.config import Settings
from certflow.i18n import t
from starter.smtp_sink import read_messages
from starter.stack import _exports, ensure_signing_key, stack_settings
from tests.support import read_until_ready, stack_process, stop_in_order

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(90)
async def test_stack_starts_prints_endpoints_and_stops_on_sigint(
    tmp_path: Path, free_port: Callable[[], int], fresh_database_url: str
) -> None:
    state = tmp_path / "state"
    port, ui, http, metrics, smtp = (free_port() for _ in range(5))
    env = {**os.environ, "DATABASE_URL": fresh_database_url}
    env.pop("CERTFLOW_STATE", None)
    command = [
        sys.executable,
        "-m",
        "starter.stack",
        "--state",
        str(state),
        "--port",
        str(port),
        "--ui-port",
        str(ui),
        "--http-port",
        str(http),
        "--metrics-port",
        str(metrics),
        "--smtp-port",
        str(smtp),
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        ready = await asyncio.wait_for(read_until_ready(process), timeout=60)
        printed = "\n".join(ready)

        mail = EmailMessage()
        mail["From"] = "tech@certflow.example.org"
        mail["To"] = "gm@certflow.example.org"
        mail["Subject"] = "本地邮件"
        mail.set_content("测试")
        await aiosmtplib.send(mail, hostname="127.0.0.1", port=smtp)

        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
        took = time.monotonic() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = stderr.decode("utf-8")

    assert f"127.0.0.1:{port}" in printed
    assert f"http://127.0.0.1:{ui}" in printed
    assert str(state / "mailbox" / "all") in printed
    assert fresh_database_url in printed
    # A staff tool in another shell finds this stack, not the default one.
    assert f"export TEMPORAL_ADDRESS=127.0.0.1:{port} " in printed
    assert f"CERTFLOW_STATE={state} " in printed and f"SMTP_PORT={smtp}" in printed
    assert process.returncode == 0, errors
    assert took < 15
    assert "stack stopped" in errors
    assert (state / "temporal.sqlite").is_file()
    assert (state / "keys" / "certificate-signing.pem").stat().st_mode & 0o077 == 0
    for private in ("temporal.sqlite", "keys", "mailbox", "."):
        assert (state / private).stat().st_mode & 0o077 == 0, private
    assert [m["subject"] for m in read_messages(state / "mailbox")] == ["本地邮件"]


@pytest.mark.timeout(60)
def test_signing_key_is_created_once_and_never_replaced(tmp_path: Path) -> None:
    settings = Settings.load().with_environment({"CERTFLOW_STATE": str(tmp_path)})
    key_file = settings.certificates.signing_key_file

    first = ensure_signing_key(settings)
    content = key_file.read_bytes()
    second = ensure_signing_key(settings)

    assert (first, second) == (True, False)
    assert key_file.read_bytes() == content
    assert key_file.is_relative_to(tmp_path)
    assert b"PRIVATE KEY" in content
    assert b"PUBLIC KEY" in key_file.with_suffix(".pub.pem").read_bytes()


def test_a_key_named_for_a_rotation_is_the_stacks_and_its_shells(
    tmp_path: Path,
) -> None:
    """Trial: a stack dropped CERTFLOW_SIGNING_KEY_FILE, so a key could not
    be rotated on it: it kept signing with (and the web service in another
    shell kept publishing) the state folder's first key."""
    state, new_key = tmp_path / "state", tmp_path / "keys" / "signing-2027.pem"
    base = Settings.load()
    server = SimpleNamespace(address="127.0.0.1:7999")
    sink = SimpleNamespace(port=2599)

    plain = stack_settings(base, state, "postgresql://x@127.0.0.1/d", "a:1", "h", 1, {})
    rotated = stack_settings(
        base, state, "postgresql://x@127.0.0.1/d", "a:1", "h", 1,
        {"CERTFLOW_SIGNING_KEY_FILE": str(new_key)},
    )  # fmt: skip

    assert plain.certificates.signing_key_file == (
        state.resolve() / "keys" / "certificate-signing.pem"
    )
    assert rotated.certificates.signing_key_file == new_key
    assert rotated.documents_dir == state.resolve() / "documents"
    assert "SIGNING_KEY" not in _exports(server, sink, plain)  # type: ignore[arg-type]
    exported = _exports(server, sink, rotated)  # type: ignore[arg-type]
    assert f"CERTFLOW_SIGNING_KEY_FILE={new_key}" in exported


@pytest.mark.timeout(120)
@pytest.mark.parametrize("training", [False, True], ids=["local", "training"])
async def test_the_stacks_worker_warns_of_roles_without_a_mail_address(
    tmp_path: Path,
    free_port: Callable[[], int],
    fresh_database_url: str,
    training: bool,
) -> None:
    """Trial: only ``python -m worker`` warned at start of a role with no mail
    address, though docs/operations.md says the worker does; the stacks'
    worker said nothing, and that role's mails went nowhere."""
    config = tmp_path / "certflow.toml"
    lines = (REPO / "config" / "certflow.toml").read_text("utf-8").splitlines()
    config.write_text(
        "\n".join(line for line in lines if not line.startswith("finance =")),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLOW_")}
    ports = ["--port", str(free_port()), "--smtp-port", str(free_port())]
    if training:
        mode = ["--training", "--database-url", fresh_database_url]
    else:
        env["DATABASE_URL"] = fresh_database_url
        ui = free_port()
        mode = ["--ui-port", str(ui), "--http-port", str(free_port())]
        mode += ["--metrics-port", str(free_port())]
    argv = ["--config", str(config), "--state", str(tmp_path / "state"), *ports]
    log_file = tmp_path / "stack.log"
    with log_file.open("wb") as log:
        process = await stack_process([*argv, *mode], env, log)
        try:
            await asyncio.wait_for(read_until_ready(process), timeout=60)
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            await stop_in_order(process)
    logged = log_file.read_text("utf-8")

    [warning] = [line for line in logged.splitlines() if "No mail address" in line]
    assert "WARNING" in warning and "finance" in warning
    assert "tech_dept" not in warning and "admins" not in warning


def test_a_key_named_but_missing_stops_the_stack_before_it_makes_one(
    tmp_path: Path,
) -> None:
    """A stack makes its state's key at a first start; a key named for a
    rotation and mistyped would otherwise be a new key, signing unnoticed."""
    import subprocess

    missing = tmp_path / "keys" / "signing-2072.pem"
    done = subprocess.run(
        [sys.executable, "-m", "starter.stack", "--state", str(tmp_path / "state")],
        cwd=REPO,
        env={**os.environ, "CERTFLOW_SIGNING_KEY_FILE": str(missing)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert t("stack.key_missing", path=missing) in done.stderr
    assert not missing.exists() and not (tmp_path / "state").exists()
