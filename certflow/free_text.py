"""Free text staff send to a plan or a batch: how long it may be, what it may hold.

Every reason, comment, name and payment detail a staff member types goes into
the workflow's history, most into its state (carried from run to run when the
plan continues as new), its status and the mails it sends; a revocation's
reason is published. A text of tens of thousands of characters, sent back and
forth a few times, made a plan's state carried to its next run larger than
the server takes (2 MB): the plan stopped for good. A right-to-left override
(U+202E) or a zero-width space turns or hides what a reader sees.

So each such field says its bound (:class:`TextBound`) where its request
model declares it, ``reason: Reason = ""``, and one check reads it: the
workflows' update validators (:func:`text_problem`, before anything is
recorded) and the staff tool's arguments (``TextBound.problem``, before
anything is sent). The models themselves stay lenient: a plan replays the
requests it took before the bounds, and a validator does not run on replay.

The bounds:

- a reason or a comment: 500 characters, as ``plan cancel --reason`` always
  had, several lines allowed: enough for a paragraph that says why, and a
  plan's 60 history lines of it stay far below the server's limit;
- a correction request's reason: 2,000 characters, the requester's own words
  as a mailed form has always been read (kept in the database, not in the
  plan's state);
- a person's or unit's name (the requester): 100 characters on one line, as
  a plan's names;
- a payment's method or reference, a score as quoted: 100 characters on one
  line, as the staff tool always took them;
- a mail address: 254 characters (RFC 5321), on one line;
- a file name, as the staff tool keeps it: 200 characters, on one line.

Each line break counts as one character, whether written CR LF, CR or LF.
None may hold a control character (Unicode Cc; a multi-line text keeps its
line breaks and tabs) nor a format character (Cf: bidi
overrides and isolates, zero-width spaces and joiners, the soft hyphen), a
line or paragraph separator (Zl, Zp) or half a surrogate pair (Cs): what
``certflow.text`` calls hidden. The check names each by its code point and
never repeats the text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel

from certflow.i18n import t, t_or
from certflow.mail_address import MAIL_ADDRESS_MAX_LENGTH
from certflow.text import as_seen, code_points, is_hidden, line_feeds

# The characters a multi-line text keeps: its line feeds (a CR LF or a CR
# read as one) and tabs.
_LAYOUT = frozenset("\n\t")
# What breaks a text of one line (or moves along it): said as such.
_BREAKS = frozenset("\r\n\t")


@dataclass(frozen=True)
class TextBound:
    """The most characters a free text may hold, and whether it may break lines.

    ``kind`` names the hint a refusal gives (``free_text.hints.<kind>``).
    """

    kind: str
    max_length: int
    multiline: bool = False

    def problem(self, text: str, field: str) -> str | None:
        """Why ``text``, given as ``field``, is refused; None to take it.

        A line break counts as one character, written CR LF, CR or LF: the
        length said is the length the sender sees. The text itself is never
        repeated: it may hold anything at all.
        """
        lines = line_feeds(text)
        if len(lines) > self.max_length:
            return t(
                "free_text.too_long",
                field=field,
                limit=self.max_length,
                length=len(lines),
                hint=t(f"free_text.hints.{self.kind}"),
            )
        hidden = [ch for ch in lines if self.hides(ch)]
        if not hidden:
            return None
        if not self.multiline and set(hidden) <= _BREAKS:
            return t("free_text.one_line", field=field)
        key = "free_text.hidden_lines" if self.multiline else "free_text.hidden"
        return t(key, field=field, chars=code_points(hidden))

    def hides(self, ch: str) -> bool:
        """Whether ``ch`` is refused: hidden, and no line feed or tab of a
        multi-line text (whose lines may also end in CR LF, as a spreadsheet
        cell's written on Windows do, or in a CR alone: ``problem`` reads
        either as a line feed)."""
        return is_hidden(ch) and not (self.multiline and ch in _LAYOUT)

    def fitted(self, text: str) -> str:
        """``text`` made to be taken: as its reader sees it (``as_seen``: each
        hidden character left out, a line break or a tab of a text of one line
        made a space), then cut to the bound. For a text nobody typed for the
        purpose, which nobody could be asked to type again: a mail's sender in
        the requester's place."""
        kept = as_seen(text, multiline=self.multiline)
        if not self.multiline:
            kept = " ".join(kept.split())
        return clipped(kept.strip(), self.max_length)


REASON_MAX_LENGTH = 500
REQUEST_REASON_MAX_LENGTH = 2000
NAME_MAX_LENGTH = 100
DETAIL_MAX_LENGTH = 100
FILENAME_MAX_LENGTH = 200

REASON = TextBound("reason", REASON_MAX_LENGTH, multiline=True)
REQUEST_REASON = TextBound("request_reason", REQUEST_REASON_MAX_LENGTH, multiline=True)
NAME = TextBound("name", NAME_MAX_LENGTH)
DETAIL = TextBound("detail", DETAIL_MAX_LENGTH)
ADDRESS = TextBound("address", MAIL_ADDRESS_MAX_LENGTH)
FILENAME = TextBound("filename", FILENAME_MAX_LENGTH)

# The fields of request models, by bound. A bound on a dict or a list holds
# for each of its values.
Reason = Annotated[str, REASON]
RequestReason = Annotated[str, REQUEST_REASON]
PersonName = Annotated[str, NAME]
Detail = Annotated[str, DETAIL]
Address = Annotated[str, ADDRESS]
FileName = Annotated[str, FILENAME]


def limits() -> dict[str, str]:
    """The bounds as the staff tool's help says them (``{reason_limit}``…)."""
    return {
        "reason_limit": str(REASON_MAX_LENGTH),
        "request_reason_limit": str(REQUEST_REASON_MAX_LENGTH),
        "name_limit": str(NAME_MAX_LENGTH),
        "detail_limit": str(DETAIL_MAX_LENGTH),
    }


def field_label(name: str, key: object = None) -> str:
    """A field of a request as staff know it: ``理由``; ``理由（P2026-…）``
    for the value of one key of it (the reason given for one plan)."""
    label = t_or(name, f"free_text.fields.{name}")
    return label if key is None else t("free_text.keyed", field=label, key=key)


def text_problem(request: BaseModel) -> str | None:
    """Why a request to a workflow is refused for one of its free texts
    (those of the models it holds too), the first in field order; None when
    every one is within its bound."""
    return next(_problems(request), None)


def _problems(model: BaseModel) -> Iterator[str]:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        bound = next((m for m in info.metadata if isinstance(m, TextBound)), None)
        for key, item in _items(value):
            if isinstance(item, BaseModel):
                yield from _problems(item)
            elif bound is not None and isinstance(item, str):
                problem = bound.problem(item, field_label(name, key))
                if problem is not None:
                    yield problem


def _items(value: object) -> Iterator[tuple[object, object]]:
    """The values a field holds, each with its key in a dict (else None)."""
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, list | tuple):
        for item in value:
            yield None, item
    else:
        yield None, value


def clipped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, "…" in place of what was cut.

    For what a plan carries to its next run and shows: the whole text stays in
    the plan's history and the database.
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"
