"""Reading the form typed into a mail body: "考试计划编号：P2026-1104-0412" lines.

Colons may be full-width or ASCII. Several requests may follow each other: a label
seen again starts the next request. Rows pasted from the spreadsheet arrive as
tab-separated lines and are read as a table.
"""

from __future__ import annotations

import re

from certflow.corrections.form import (
    Record,
    check_records,
    label_key,
    share_common_fields,
)
from certflow.corrections.model import CorrectionDraft
from certflow.corrections.table import records_from_rows
from certflow.intake.cells import CellValue
from certflow.models import Problem

_LINE = re.compile(
    r"^[\s　]*[【\[]?(?P<label>[^:：\t【】\[\]]{1,24}?)[】\]]?"
    r"[\s　]*[:：][\s　]*(?P<value>.*?)[\s　]*$"
)
_INNER_LABEL = re.compile(
    r"(?<=[\s　,，;；、])(?P<label>[^\s　:：,，;；、]{2,12})[\s　]*[:：][\s　]*"
)
# The first line of a quoted mail, as QQ Mail, Foxmail, 163, Outlook and Gmail
# write it.
_QUOTE_START = re.compile(
    r"^[\s　]*("
    r"-{2,}[\s　]*(原始邮件|转发邮件|Original Message|Forwarded message)[\s　]*-{2,}"
    r"|_{10,}"
    r"|(发件人|From)[\s　]*[:：].*"
    r"|.*(写道|wrote)[\s　]*[:：]"
    r")[\s　]*$",
    re.IGNORECASE,
)
# The value of a label left empty may follow on the next lines (a reason written
# as a paragraph); only these keys may run on, so a signature never does.
_RUN_ON = ("reason", "requester")


def records_from_text(text: str) -> list[Record]:
    """Return the requests of the newest part of ``text`` that holds any.

    Chinese clients quote the mail answered below a separator line ("原始邮件",
    "发件人：…", "…写道：") without any "> " marks. A request written above the
    quote is the new one and the quoted form is not read again; a forward with
    nothing above the quote but a note is read from the quoted part.
    """
    for segment in _segments(text):
        records = _records_of_segment(segment)
        if records:
            return records
    return []


def _segments(text: str) -> list[list[str]]:
    """Split a body into the newest text and the quoted mails below it."""
    segments: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.lstrip().startswith(">"):
            continue
        if _QUOTE_START.match(line) and segments[-1]:
            segments.append([])
        segments[-1].append(line)
    return segments


def _records_of_segment(lines: list[str]) -> list[Record]:
    records: list[Record] = []
    current = Record()
    running: str | None = None
    index = 0

    while index < len(lines):
        line = lines[index]
        if "\t" in line and (table := _table_at(lines, index)) is not None:
            table_records, index = table
            records.extend(table_records)
            running = None
            continue
        index += 1

        pairs = _pairs(line)
        if not pairs:
            if running and line.strip():
                current.values[running] = (
                    current.values[running] + line.strip()
                ).strip()
            else:
                running = None
            continue

        for key, value in pairs:
            if key in current.values:
                records.append(current)
                current = Record()
            current.values[key] = value
            running = key if key in _RUN_ON and not value else None
    records.append(current)

    attempts = [r for r in records if r.attempted()]
    for ordinal, record in enumerate(attempts, start=1):
        record.ordinal = ordinal
    share_common_fields(attempts)
    return attempts


def _pairs(line: str) -> list[tuple[str, str]]:
    """Return the (form key, value) pairs of one line; [] if it starts with no label.

    Several fields may share a line ("考生姓名：陈思彬  准考证号：2026110412004"):
    the line is split where a known label follows a space or a separator. A
    reason is free text and is never split.
    """
    match = _LINE.match(line)
    key = label_key(match.group("label")) if match else None
    if match is None or key is None:
        return []
    value = match.group("value")
    if key == "reason":
        return [(key, value)]

    pairs: list[tuple[str, str]] = []
    start = 0
    for inner in _INNER_LABEL.finditer(value):
        inner_key = label_key(inner.group("label"))
        if inner_key is None or inner_key == key:
            continue
        pairs.append((key, value[start : inner.start()].strip(" 　,，;；、")))
        key, start = inner_key, inner.end()
        if key == "reason":
            break
    pairs.append((key, value[start:].strip()))
    return pairs


def _table_at(lines: list[str], start: int) -> tuple[list[Record], int] | None:
    """Read a tab-separated table starting at ``lines[start]``, if it is one."""
    end = start
    while end < len(lines) and "\t" in lines[end]:
        end += 1
    rows: list[list[CellValue]] = [
        [c.strip() for c in lines[i].split("\t")] for i in range(start, end)
    ]
    records = records_from_rows(rows, sheet=None, first_row_number=None)
    if records is None:
        return None
    return records, end


def read_correction_form_text(
    text: str, *, sender: str, sender_name: str = ""
) -> tuple[list[CorrectionDraft], list[Problem]]:
    """Read the requests typed in a mail body.

    A text with no request in it gives no drafts and no problems: whether that is
    a problem depends on the rest of the mail (a form may be attached).
    """
    return check_records(
        records_from_text(text), sender=sender.lower(), sender_name=sender_name
    )
