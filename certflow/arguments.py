"""The staff tools' argument parser: help and usage errors in Chinese.

argparse writes its own words (``usage:``, the section titles, the help of
``-h``) and its usage errors in English. ``StaffArgumentParser`` says them in
Chinese for the staff tools' parsers only; the help of every command and
argument comes from the ``help`` catalogue (``certflow/messages/help.zh.toml``),
one table per command, looked up with :func:`about` and :func:`argument_help`.

The parser, not argparse's module-level ``gettext``, does the translating: a
replaced ``argparse._`` would speak Chinese to every parser in the process
(the test runner's, a library's) and would rest on a name argparse never
promised to keep. The words argparse formats itself are few and reached
through the formatter and the parser's own groups; its error messages, which
it composes before the parser sees them, are matched in :meth:`error`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any, NoReturn

from certflow.i18n import catalogue, t

# argparse's usage errors, said in Chinese: (pattern, message key). The first
# that matches wins, so the catch-all of a type check's own (Chinese) words,
# ``argument X: ...``, comes last.
_USAGE_ERRORS = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"the following arguments are required: (?P<what>.+)", "usage_missing"),
        (r"one of the arguments (?P<what>.+) is required", "usage_one_of"),
        (
            r"argument (?P<what>\S+): invalid choice: (?P<value>.+?)"
            r" \(choose from (?P<choices>.+)\)",
            "usage_choice",
        ),
        (r"unrecognized arguments: (?P<what>.+)", "usage_unknown"),
        (r"argument (?P<what>\S+): expected one argument", "usage_value"),
        (r"argument (?P<what>\S+): expected at least one argument", "usage_values"),
        (
            r"argument (?P<what>\S+): not allowed with argument (?P<other>\S+)",
            "usage_exclusive",
        ),
        (
            r"argument (?P<what>\S+): ignored explicit argument (?P<value>.+)",
            "usage_no_value",
        ),
        (
            r"ambiguous option: (?P<what>\S+) could match (?P<choices>.+)",
            "usage_ambiguous",
        ),
        (
            r"argument (?P<what>\S+): invalid int value: (?P<value>.+)",
            "usage_bad_int",
        ),
        (
            r"argument (?P<what>\S+): invalid \S+ value: (?P<value>.+)",
            "usage_bad_value",
        ),
        (r"argument (?P<what>\S+): (?P<value>.+)", "usage_argument"),
    )
)


# The values argparse repeats in its own errors, by message key: shortened
# there like every value a refusal repeats (``shown``).
_ECHOED = {
    "usage_choice": ("value",),
    "usage_unknown": ("what",),
    "usage_bad_value": ("value",),
    "usage_bad_int": ("value",),
    "usage_no_value": ("value",),
    "usage_ambiguous": ("what",),
}

# How much of a value a refusal repeats: enough to recognise what was typed.
SHOWN_LENGTH = 40


def shown(value: object) -> str:
    """A typed value as a refusal repeats it: its first 40 characters, then "…".

    A value pasted by mistake (a whole file, a 100,000-character id) would
    otherwise fill the terminal and hide the reason it was refused.
    """
    text = str(value)
    return text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH] + "…"


def _shown_quoted(text: str) -> str:
    """``shown`` for a value argparse quoted (``'expert'``): the quotes kept."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[0] + shown(text[1:-1]) + text[0]
    return shown(text)


# argparse's titles of its own sections (before 3.10: "optional arguments").
_SECTIONS = {
    "positional arguments": "help.words.positionals",
    "options": "help.words.options",
    "optional arguments": "help.words.options",
}


def about(command: str) -> str:
    """What a command does, in one line: ``help.<command>.about``."""
    return t(f"help.{command}.about")


def argument_help(command: str, name: str, **fields: object) -> str:
    """The help of one argument of ``command``: its own, else the common one.

    ``name`` is the flag without dashes, ``-`` as ``_`` (``--paid-on``:
    ``paid_on``); ``help.common`` holds what reads the same everywhere.
    """
    key = f"help.{command}.{name}"
    if key not in catalogue():
        key = f"help.common.{name}"
    return t(key, **fields) if fields else t(key)


def code_typed(text: str, codes: Iterable[str], prefix: str) -> str | None:
    """The one of ``codes`` that ``text`` names, or None: the code in any
    case, or its Chinese name (key ``prefix + code``), as staff type either.

    ``code_typed(" Tech_Dept", roles, "roles.")`` and ``code_typed("技术部",
    roles, "roles.")`` are ``tech_dept``.
    """
    typed = unicodedata.normalize("NFKC", text).strip()
    for code in codes:
        if typed.lower() == code or typed == t(prefix + code):
            return code
    return None


def named_codes(codes: Iterable[str], prefix: str) -> str:
    """Codes as typed, each with its name (key ``prefix + code``).

    ``named_codes(["site"], "roles.")`` is ``site（考核站点）``.
    """
    return "、".join(f"{code}（{t(prefix + code)}）" for code in codes)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# A piece of help a line may break after: spaces, or one CJK character or a
# word, with the marks that may not end a line before it (``（``) and those
# that may not start one after it (``）``, ``、``).
_CJK = "\u2e80-\u9fff\uff00-\uffef"
_OPENING = "（【「『"
_CLOSING = "）】」』、，。：；！？"
_PIECE = re.compile(rf"\s+|[{_OPENING}]*(?:[{_CJK}]|[^\s{_CJK}]+)[{_CLOSING}]*")


def wrap(text: str, width: int) -> list[str]:
    """Break text into lines of at most ``width`` columns, CJK counted as two.

    argparse's own wrapping counts characters, so Chinese help ran twice as
    wide as the terminal. Chinese breaks between any two characters, but a
    closing mark never starts a line, nor does an opening one end it.
    """
    lines: list[str] = []
    line = ""
    for piece in _PIECE.findall(" ".join(text.split())):
        if piece.isspace():
            line += " " if line else ""
        elif line and _width(line + piece) > width:
            lines.append(line.rstrip())
            line = piece
        else:
            line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


class StaffHelpFormatter(argparse.HelpFormatter):
    """argparse's help layout with Chinese words and CJK-aware line breaks."""

    def __init__(self, prog: str, *args: Any, **kwargs: Any) -> None:
        # argparse leaves two columns of the terminal free; one more keeps the
        # usage line inside it, as argparse counts "用法：" three columns wide.
        kwargs.setdefault("width", shutil.get_terminal_size().columns - 3)
        super().__init__(prog, *args, **kwargs)

    def add_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[Any],
        prefix: str | None = None,
    ) -> None:
        super().add_usage(
            usage, actions, groups, t("help.words.usage") if prefix is None else prefix
        )

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))


class StaffArgumentParser(argparse.ArgumentParser):
    """An argument parser whose help and usage errors are Chinese, as answers are."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", StaffHelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        """A group; argparse's own two (positionals, options) titled in Chinese.

        Titled as they are made, before a parent parser's groups are merged in
        by title, so the flags shared through ``parents`` join the same section.
        """
        group = super().add_argument_group(*args, **kwargs)
        if group.title in _SECTIONS:
            group.title = t(_SECTIONS[group.title])
        return group

    def add_argument(self, *args: Any, **kwargs: Any) -> Any:
        """An argument; the ``-h`` argparse adds itself gets Chinese help."""
        if kwargs.get("action") == "help":
            kwargs["help"] = t("help.words.help")
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        for pattern, key in _USAGE_ERRORS:
            if match := pattern.fullmatch(message):
                fields = match.groupdict()
                for name in _ECHOED.get(key, ()):
                    fields[name] = _shown_quoted(fields[name])
                message = t(f"cli.{key}", **fields)
                break
        self.print_usage(sys.stderr)
        self.exit(2, t("cli.usage_error", prog=self.prog, message=message) + "\n")
