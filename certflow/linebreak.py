"""Where Chinese text may break across lines, for documents certflow lays out.

A PDF library breaks a line wherever the next character no longer fits, so a
line may start with ``；`` or a header split as ``应收金额（元`` / ``）``. The
rules here are the usual ones of Chinese typesetting (标点禁则): a line never
starts with closing punctuation (，。、；：）」 and the like) nor ends with
opening punctuation (（「“ and the like); a run of Latin letters and digits (a
plan id, an amount, a date) is one word; and a short formula written with
spaces around its operator (``计费人数 × 收费标准``) is kept on one line.

A piece that does not fit on a line by itself is broken by looser rules, the
last of which breaks between any two characters, never against punctuation.
Pure code: the caller measures the text (``measure``), in whatever unit its
width is given.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum

# Never at the start of a line: it closes or follows what is before it.
CLOSING = frozenset("，。、；：！？）」』》〉】〕〗〙”’…‥％,.;:!?)]}%")
# Never at the end of a line: it opens what comes after it.
OPENING = frozenset("（「『《〈【〔〖〘“‘([{")
# An operator of a formula when written with a space either side.
OPERATORS = frozenset("=+-×÷−≈≤≥<>")

Measure = Callable[[str], float]
# Widths are sums of floats: a text measured as wide as the width it was
# measured for fits it, whatever the last bit of rounding says.
_ROUNDING = 1e-6


class Rule(IntEnum):
    """How freely a text may break, strictest first; each the next's fallback."""

    # Only at spaces and around brackets and punctuation: a table header
    # (``应收金额`` / ``（元）``), whose words should stay whole.
    PHRASES = 0
    # Also between Chinese characters; formulas and words stay whole.
    TEXT = 1
    # Also inside a formula, at its spaces and characters.
    LOOSE = 2
    # Between any two characters, words too; still never against punctuation.
    CHARACTERS = 3


@dataclass(frozen=True)
class _Atom:
    """A word (letters, digits and the marks between them), or one Chinese
    character or punctuation mark, and the space before it, if any."""

    text: str
    space: str
    word: bool

    @property
    def spaced(self) -> bool:
        return bool(self.space)


def break_lines(
    text: str, width: float, measure: Measure, rule: Rule = Rule.TEXT
) -> list[str]:
    """Return ``text`` as lines no wider than ``width``, broken where ``rule``
    allows, and where it cannot fit so, by the looser rules after it.

    A newline in ``text`` always breaks; spaces at a break are dropped. A
    piece wider than ``width`` even broken between characters (a character
    and the punctuation bound to it) is left whole: that line is too wide.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_fill(paragraph, width, measure, rule) or [""])
    return lines


def widest_piece(text: str, measure: Measure, rule: Rule = Rule.TEXT) -> float:
    """The width of the widest piece of ``text`` that ``rule`` never breaks:
    the narrowest a column can be for its text to break only where allowed."""
    pieces = (unit for line in text.split("\n") for _, unit in _units(line, rule))
    return max((measure(unit) for unit in pieces), default=0.0)


def _fill(text: str, width: float, measure: Measure, rule: Rule) -> list[str]:
    lines: list[str] = []
    line = ""
    room = width + _ROUNDING
    for space, unit in _units(text, rule):
        joined = f"{line}{space}{unit}" if line else unit
        if measure(joined) <= room:
            line = joined
            continue
        if line:
            lines.append(line)
        if measure(unit) <= room or rule is Rule.CHARACTERS:
            line = unit
            continue
        *whole, line = _fill(unit, width, measure, Rule(rule + 1))
        lines.extend(whole)
    if line:
        lines.append(line)
    return lines


def _units(text: str, rule: Rule) -> Iterator[tuple[str, str]]:
    """The pieces ``rule`` never breaks inside, each with the space before it."""
    atoms = _atoms(text, rule)
    keep = _kept_together(atoms, rule)
    space, unit = "", ""
    for atom, kept in zip(atoms, keep, strict=True):
        if unit and kept:
            unit += atom.space + atom.text
            continue
        if unit:
            yield space, unit
        space, unit = atom.space, atom.text
    if unit:
        yield space, unit


def _atoms(text: str, rule: Rule) -> list[_Atom]:
    atoms: list[_Atom] = []
    space = ""
    for char in text:
        if char.isspace():
            space += char
            continue
        word = char.isascii() or not (
            unicodedata.east_asian_width(char) in "WF" or _punctuation(char)
        )
        last = atoms[-1] if atoms else None
        if word and last and last.word and not space and rule < Rule.CHARACTERS:
            atoms[-1] = _Atom(last.text + char, last.space, True)
        else:
            atoms.append(_Atom(char, space, word))
        space = ""
    return atoms


def _punctuation(char: str) -> bool:
    return char in CLOSING or char in OPENING


def _kept_together(atoms: list[_Atom], rule: Rule) -> list[bool]:
    """For each atom, whether no line may break just before it."""
    keep = [False] * len(atoms)
    for index in range(1, len(atoms)):
        before, atom = atoms[index - 1], atoms[index]
        if atom.text[0] in CLOSING or before.text[-1] in OPENING:
            keep[index] = True
        elif rule is Rule.PHRASES and not atom.spaced:
            keep[index] = not (before.text[-1] in CLOSING or atom.text[0] in OPENING)
    if rule <= Rule.TEXT:
        for index, atom in enumerate(atoms):
            if atom.text in OPERATORS and _spaced(atoms, index):
                _keep_formula(atoms, keep, index)
    return keep


def _spaced(atoms: list[_Atom], index: int) -> bool:
    after = index + 1
    return (
        0 < index and after < len(atoms) and atoms[index].spaced and atoms[after].spaced
    )


def _keep_formula(atoms: list[_Atom], keep: list[bool], operator: int) -> None:
    """Bind an operator to its operands: the words and characters up to the
    nearest space or punctuation on either side (``计费人数 × 收费标准``)."""
    keep[operator] = keep[operator + 1] = True
    index = operator - 1
    while index > 0 and _joined(atoms, index):
        keep[index] = True
        index -= 1
    index = operator + 2
    while index < len(atoms) and _joined(atoms, index):
        keep[index] = True
        index += 1


def _joined(atoms: list[_Atom], index: int) -> bool:
    """Whether an atom follows the one before it with no space or punctuation
    between them: both are of one word or one operand."""
    before, atom = atoms[index - 1], atoms[index]
    return not (
        atom.spaced or _punctuation(atom.text[0]) or _punctuation(before.text[-1])
    )
