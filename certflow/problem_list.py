"""The problems of a refused file as the staff tool and the refusal mail list
them: a reason that recurs down one column is one line naming every row.

A formula saved without its result in one column, or a VLOOKUP's ``#N/A``,
is one reason in thirty cells. Listed cell by cell, its long advice filled the
screen (and the mail) thirty times and pushed every other problem past the
lines shown. Each cell is still located (its rows are named), and the
annotated report marks every cell on its own. Pure code: problems in, lines
of Chinese out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from certflow.i18n import t
from certflow.models import Problem


def grouped(problems: Iterable[Problem]) -> list[list[Problem]]:
    """The problems in groups, in the order each group first occurs.

    Problems share a group when they are the same reason (code and message)
    in the same sheet and column on different rows, with the same value or
    none: lines that would differ only by their row, as a column of ``#N/A``
    does. Every other problem is a group of one.
    """
    groups: dict[object, list[Problem]] = {}
    for number, problem in enumerate(problems):
        key: object = number
        if problem.row is not None:
            key = (
                problem.sheet,
                problem.column,
                problem.code,
                problem.message,
                problem.value or "",
            )
        groups.setdefault(key, []).append(problem)
    return list(groups.values())


def problem_lines(
    problems: Sequence[Problem], total: int, limit: int | None = None
) -> tuple[list[str], int]:
    """The lines listing ``problems`` (at most ``limit``, one per group), and
    how many of the ``total`` problems found no line.

    ``problems`` may be the first of more (a refusal keeps a few dozen); the
    cells left out, there and past ``limit``, are counted, not listed.
    """
    shown = grouped(problems)[:limit]
    listed = sum(len(group) for group in shown)
    return [group_line(group) for group in shown], max(total, len(problems)) - listed


def recorded_text(problems: Sequence[Problem], total: int) -> str:
    """A refused file's problems as one text kept with its record, which
    ``certflow document list`` prints under 未受理的原因.

    The lines its sender was told, numbered when more than one, without the
    cells' values: roles that may not fetch the file list its record, and a
    value is what the file holds (a school's bank account, a phone number).
    """
    unvalued = [problem.model_copy(update={"value": None}) for problem in problems]
    lines, hidden = problem_lines(unvalued, total)
    if len(lines) > 1:
        lines = [
            t("cli.problem_numbered", number=number, line=line)
            for number, line in enumerate(lines, start=1)
        ]
    if hidden > 0:
        lines.append(t("cli.problems_not_recorded", count=hidden))
    return "".join(lines)


def group_line(group: Sequence[Problem]) -> str:
    """One group as one line: a problem alone as it renders, a recurring one
    where it is, its rows (``第 4 至 33 行``) and how many cells it is in,
    then its message with the value the cells share."""
    first = group[0]
    if len(group) == 1:
        return first.render()
    rows = sorted({problem.row for problem in group if problem.row is not None})
    place = first.model_copy(update={"row": None}).locate()
    unplaced = first.model_copy(update={"sheet": None, "row": None, "column": None})
    return t(
        "cli.problem_group",
        where=" ".join([place, t("cli.problem_rows", rows=row_ranges(rows))]).strip(),
        count=len(group),
        message=unplaced.render(),
    )


def row_ranges(rows: Sequence[int]) -> str:
    """Sorted row numbers as a reader says them: ``4 至 12、15、20 至 33``."""
    spans: list[list[int]] = []
    for row in rows:
        if spans and row == spans[-1][1] + 1:
            spans[-1][1] = row
        else:
            spans.append([row, row])
    return "、".join(
        str(first) if first == last else t("cli.problem_span", first=first, last=last)
        for first, last in spans
    )
