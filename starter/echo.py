"""The staff tool never repeats an ID number typed on its command line.

Staff paste an ID number where a certificate number, a plan id, a staff id or
a file name belongs (``certflow revoke 330106200308287009``). Every message
that repeats what was typed (不存在, 格式不对, …) would then print the whole
number on the terminal, into its scroll-back and the screenshot sent to a
colleague; the web pages refuse to repeat such input for the same reason.

:func:`masking_typed_id_numbers` wraps standard output and standard error while
a command runs. Each value among the arguments shaped like an ID number (15 to
18 digits and an optional X, as typed or as the tool reads it: full-width
digits, spaces between the groups, a zero-width space, a lower-case x) is
masked as :func:`certflow.privacy.mask_id_number` masks it, in every message
that repeats it. Only what was typed is masked: an admission number or an
invoice number the tool prints of its own records is left whole.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO, cast

from certflow.arguments import shown
from certflow.identity import compact_code
from certflow.privacy import id_shaped_runs, mask_id_numbers_in, mask_id_shaped


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
        for typed in sorted(self.spaced, key=len, reverse=True):
            if typed:
                text = text.replace(typed, self.spaced[typed])
        return mask_id_shaped(text, lambda run: compact_code(run) in self.numbers)


class _MaskingStream:
    """A text stream that masks the typed ID numbers in what is written to it;
    everything else (flush, fileno, encoding…) is the wrapped stream's."""

    def __init__(self, inner: TextIO, typed: TypedIdNumbers) -> None:
        self._inner = inner
        self._typed = typed

    def write(self, text: str) -> int:
        self._inner.write(self._typed.mask(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def masked(stream: TextIO, typed: TypedIdNumbers) -> TextIO:
    """``stream`` masking ``typed``, or ``stream`` itself when nothing was typed."""
    return cast(TextIO, _MaskingStream(stream, typed)) if typed else stream


@contextmanager
def masking_typed_id_numbers(arguments: Sequence[str]) -> Iterator[TypedIdNumbers]:
    """Mask the ID numbers among ``arguments`` in everything printed meanwhile."""
    typed = TypedIdNumbers(arguments)
    if not typed:
        yield typed
        return
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = masked(stdout, typed), masked(stderr, typed)
    try:
        yield typed
    finally:
        sys.stdout, sys.stderr = stdout, stderr
