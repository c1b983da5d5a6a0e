"""``--wait`` and ``--config`` work before or after the subcommand, as ``--as`` does.

A new user's ``certflow status P --wait 5`` was refused as an unknown
argument, while ``certflow status P --as site`` was taken.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from certflow.i18n import t
from starter.cli import DEFAULT_WAIT, main, parse, run

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "wait"),
    [
        (["status", "P1", "--wait", "5"], 5.0),
        (["--wait", "7", "status", "P1"], 7.0),
        (["--wait", "7", "status", "P1", "--wait", "3"], 3.0),
        (["list", "--overdue", "--wait", "4"], 4.0),
        (["--as", "site", "upload", "scan", "P1", "f.pdf", "--wait", "9"], 9.0),
        (["status", "P1"], DEFAULT_WAIT),
    ],
)
def test_wait_is_read_before_or_after_the_subcommand(
    argv: list[str], wait: float
) -> None:
    args, _ = parse(argv)

    assert args.wait == wait


def test_a_wait_after_the_subcommand_is_checked_as_before_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit:
        parse(["status", "P1", "--wait", "0"])

    assert exit.value.code == 2
    assert t("cli.bad_wait", value="0") in capsys.readouterr().err


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize(
    "argv",
    [["status", "P1"], ["list", "--overdue"], ["calendar", "show", "2027"]],
    ids=" ".join,
)
async def test_a_config_after_the_subcommand_is_the_one_read(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "other.toml"

    # No settings given: the command reads the file it is told to.
    status = await run([*argv, "--config", str(missing)], out=io.StringIO())

    assert status == 2
    assert t("config.missing", path=missing) in capsys.readouterr().err


def test_the_mailbox_reads_a_config_given_after_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "other.toml"

    status = main(["mailbox", "list", "--config", str(missing)])

    assert status == 2
    assert t("config.missing", path=missing) in capsys.readouterr().err


def test_the_stack_reads_a_config_given_after_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "other.toml"

    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "stack", "--state", str(tmp_path),
         "--config", str(missing)],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert t("config.missing", path=missing) in done.stderr
