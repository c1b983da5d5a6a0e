"""What the staff tool repeats of its input: no typed ID number, no hidden character.

Staff paste an ID number where a certificate number, a plan id, a staff id or
a file name belongs (``certflow revoke 330106200308287009``). Every message
that repeats what was typed (不存在, 格式不对, …) would then print the whole
number on the terminal, into its scroll-back and the screenshot sent to a
colleague; the web pages refuse to repeat such input for the same reason.

And what the tool repeats (a typed value, a spreadsheet's cell or sheet name,
a file's name) may hold characters that show as nothing or move the text
around them: a right-to-left override (U+202E) turns the rest of the terminal
line around, a zero-width space makes a refused value look like a good one.

:func:`safe_echo` wraps standard output and standard error while a command
runs, and :func:`echoing` any other stream the command writes to:

- each value among the arguments shaped like an ID number (15 to 18 digits
  and an optional X, as typed or as the tool reads it: full-width digits,
  spaces between the groups, a zero-width space, a lower-case x) is masked as
  :func:`certflow.privacy.mask_id_number` masks it, in every message that
  repeats it. Only what was typed is masked: an admission number or an
  invoice number the tool prints of its own records is left whole;
- every control or format character but a line feed and a tab is written as
  its code point (``<U+202E>``, :func:`certflow.text.visible`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO, cast

from certflow.arguments import shown
from certflow.identity import compact_code
from certflow.privacy import id_shaped_runs, mask_id_numbers_in, mask_id_shaped
from certflow.text import visible


class TypedIdNumbers:
    """The ID-number-shaped values typed among a command's arguments."""

    def __init__(self, arguments: Sequence[str]) -> None:
        self.numbers: frozenset[str] = frozenset(
            compact_code(run)
            for argument in arguments
            for text in (argument, compact_code(argument))
            for run in id_shaped_runs(text)
        )
        # An argument whose number holds spaces or invisible letters is
        # repeated as typed by some messages: replaced whole, as the tool read it.
        self.spaced: dict[str, str] = {}
        for argument in arguments:
            read = compact_code(argument)
            if id_shaped_runs(read) and not id_shaped_runs(argument):
                masked = mask_id_numbers_in(read)
                self.spaced[argument.strip()] = masked
                self.spaced[shown(argument)] = masked

    def __bool__(self) -> bool:
        return bool(self.numbers)

    def mask(self, text: str) -> str:
        """``text`` with every typed ID number in it masked."""
        if not self:
            return text
        for typed in sorted(self.spaced, key=len, reverse=True):
            if typed:
                text = text.replace(typed, self.spaced[typed])
        return mask_id_shaped(text, lambda run: compact_code(run) in self.numbers)


class _EchoStream:
    """A text stream that masks the typed ID numbers in what is written to it,
    then shows its hidden characters; everything else (flush, fileno,
    encoding…) is the wrapped stream's.

    Masked first: a typed number with a zero-width space in it is found as
    typed, before the space is written out as ``<U+200B>``.
    """

    def __init__(self, inner: TextIO, typed: TypedIdNumbers) -> None:
        self._inner = inner
        self._typed = typed

    def write(self, text: str) -> int:
        self._inner.write(visible(self._typed.mask(text)))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def echoing(stream: TextIO, typed: TypedIdNumbers) -> TextIO:
    """``stream``, masking ``typed`` and showing hidden characters."""
    return cast(TextIO, _EchoStream(stream, typed))


@contextmanager
def safe_echo(arguments: Sequence[str]) -> Iterator[TypedIdNumbers]:
    """Mask the ID numbers among ``arguments``, and show hidden characters,
    in everything printed meanwhile."""
    typed = TypedIdNumbers(arguments)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = echoing(stdout, typed), echoing(stderr, typed)
    try:
        yield typed
    finally:
        sys.stdout, sys.stderr = stdout, stderr
