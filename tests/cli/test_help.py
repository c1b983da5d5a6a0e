"""``--help`` of every command speaks Chinese, and so do argparse's usage errors.

A new user's ``certflow status --help`` was English from ``usage:`` to
``show this help message and exit``. Every command and subcommand, the tools
``certflow`` hands over to included, is asked for its help here; only flags,
placeholders (``PLAN_ID``), codes typed as they are (roles, stages, command
names) and the names of things (Temporal, a file name) may be in Latin letters.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from certflow.i18n import t
from certflow.models import Role
from certflow.plan import REDO_DUTIES
from certflow.plan_documents import FETCHABLE_KINDS
from starter import mailbox_cli, smtp_sink, stack
from starter.cli import build_parser, main
from tests.support import english_words
from web import app

ROOT = Path(__file__).resolve().parents[2]
# Names and examples the help may show as they are.
NAMES = ("certflow", "Temporal", "PostgreSQL", "Ctrl-C", "X-Forwarded-For",
         "state", "pub.pem", "status-list.json", "keys.json", "all", "exam",
         "exam@example.org",
         "elementary", "intermediate", "advanced",
         # The training stack's default folder and database.
         "training", "certflow_training")  # fmt: skip


def _subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommands(sub, (*path, name))


# certflow NAME hands the rest of the line to these tools' own parsers.
DELEGATED = {
    "mailbox": mailbox_cli.build_parser(),
    "mail": smtp_sink.build_parser(),
    "stack": stack.build_parser(),
    "web": app.build_parser(),
}
PARSERS = [
    *_subcommands(build_parser()),
    *(
        ((name, *path), sub)
        for name, parser in DELEGATED.items()
        for path, sub in _subcommands(parser)
    ),
]
COMMANDS = list(dict.fromkeys(path for path, _ in PARSERS))


def _codes() -> set[str]:
    """Every value typed as it is: command names, the choices of arguments, and
    the duties typed inside a value (``batch decide --return PLAN_ID=DUTY``)."""
    codes: set[str] = {d.value for d in REDO_DUTIES}
    # Role codes are typed values too, though role flags convert them (they
    # take the Chinese names as well) rather than list them as choices.
    codes.update(role.value for role in Role)
    # Kinds of document likewise (``document get KIND``).
    codes.update(kind.value for kind in FETCHABLE_KINDS)
    for _, parser in PARSERS:
        for action in parser._actions:
            codes.update(str(choice) for choice in action.choices or ())
    return codes


def latin_words(text: str, *typed: str) -> list[str]:
    """The English of ``text``: Latin words no code, name, placeholder or ``typed``."""
    return [
        word
        for word in english_words(text, *_codes(), *NAMES, *typed)
        if not word.isupper()  # a placeholder (FILE), an acronym, an env variable
    ]


def certflow_exit(*argv: str) -> int:
    """Run ``certflow`` in-process; the tools it hands over to exit by SystemExit."""
    try:
        return main(list(argv))
    except SystemExit as exit:
        return int(exit.code or 0)


def test_every_command_was_found() -> None:
    assert {("plan", "start"), ("plan", "cancel"), ("upload", "scan"),
            ("batch", "decide"), ("correction", "history"), ("mailbox", "assign"),
            ("mail", "show"), ("revoke",), ("verify",), ("keys", "create"),
            ("calendar", "load"), ("status",), ("list",), ("stack",),
            ("notice", "failed"), ("notice", "resend"),
            ("web",)} <= set(COMMANDS)  # fmt: skip


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_the_help_of_every_command_is_chinese(
    path: tuple[str, ...],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")

    status = certflow_exit(*path, "--help")

    shown = capsys.readouterr().out
    assert status == 0
    assert shown.startswith(t("help.words.usage"))
    assert t("help.words.help") in shown
    assert latin_words(shown) == []


def test_the_installed_command_shows_chinese_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "upload", "scan", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80"},
    )

    assert done.returncode == 0, done.stderr
    assert t("help.upload_scan.about") in done.stdout
    assert t("help.common.signed_by") in done.stdout
    assert latin_words(done.stdout) == []
    # CJK counts two columns: no line is wider than the terminal.
    widths = [
        sum(2 if ord(c) > 0x2E80 else 1 for c in line)
        for line in done.stdout.splitlines()
    ]
    assert max(widths) <= 80


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["review", "P1", "--approve", "--send-back", "site"],
         t("cli.usage_exclusive", what="--send-back", other="--approve")),
        (["review", "P1"],
         t("cli.usage_one_of", what="--approve --send-back")),
        (["review", "P1", "--send-back"], t("cli.usage_values", what="--send-back")),
        (["status"], t("cli.usage_missing", what="PLAN_ID")),
        (["status", "P1", "--bogus"], t("cli.usage_unknown", what="--bogus")),
        (["list", "--stage", "done"], "不在可选范围内"),
        (["mailbox", "list", "--limit", "0"], t("mailbox.bad_limit", value="0")),
        (["mail", "show", "one"], t("cli.usage_bad_int", what="NUMBER",
                                    value="'one'")),
        (["stack", "--mailbox", "exam"], t("stack.bad_mailbox", value="exam")),
        (["web", "--port"], t("cli.usage_value", what="--port")),
        (["revoke", "N1", "--reason", "x", "--date", "明天"],
         t("cli.bad_date", value="明天")),
    ],
    ids=["exclusive", "one-of", "no-value", "missing", "unknown", "choice",
         "mailbox", "mail", "stack", "web", "revoke"],
)  # fmt: skip
def test_usage_errors_are_chinese_from_usage_to_reason(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = certflow_exit(*argv)

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(t("help.words.usage"))
    assert expected in err
    assert latin_words(err, *argv) == []  # what was typed is shown as it was
