"""The worker's log, as ``python -m worker`` and ``certflow stack`` write it.

One event per line, whatever writes it:

- the SDK core (Rust) writes its own lines straight to stdout, coloured with
  ANSI codes even into a file: where stdout is no terminal it is told not to;
- a record's ``extra`` fields that certflow passes (plan id, stage, template,
  activity, …) are appended as ``key=value``: workflows log "stage entered"
  with the stage in ``extra`` only, which the plain format left out. Only the
  fields named in :data:`FIELDS` are shown, none of which holds personal data;
- a database away (refused, closed to connections, starting, full, a dropped
  connection) is an expected failure the activities retry: its exception is
  written as its type and SQLSTATE on the record's line, not as a traceback
  repeated for every attempt of every plan.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from activities.db import unavailable

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The ``extra`` fields certflow's log calls pass, in the order they are
# appended. Free text (reasons, names, file names) is never passed as one.
FIELDS = (
    "plan_id",
    "batch_id",
    "stage",
    "template",
    "duty",
    "alarm",
    "activity",
    "cause",
    "state",
    "request_id",
    "count",
    "years",
    "updates",
    "events",
    "polls",
    "fetched",
)


class FieldsFormatter(logging.Formatter):
    """The plain format, with certflow's ``extra`` fields appended and a
    database outage's exception in one line."""

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and unavailable(exc):
            # As a copy: other handlers of the record still see its traceback.
            record = logging.makeLogRecord(record.__dict__)
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.getMessage()} {outage(exc)}"
            record.args = None
        line = super().format(record)
        fields = [
            f"{name}={getattr(record, name)}"
            for name in FIELDS
            if hasattr(record, name) and f"{name}=" not in line
        ]
        if not fields:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} {' '.join(fields)}{newline}{rest}"


def outage(exc: BaseException) -> str:
    """``error=TypeName sqlstate=55000 (database unavailable)``, for one line."""
    code = getattr(exc, "sqlstate", None)
    state = f" sqlstate={code}" if code else ""
    return f"error={type(exc).__name__}{state} (database unavailable)"


def configure(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send the process's log to ``stream`` (stderr) in the worker's format,
    unless it has handlers already.

    Call before the first Temporal client connects: the SDK core reads its
    colour setting when its runtime is made.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(FieldsFormatter(FORMAT))
    # As basicConfig does: a process whose log is already set up (a test
    # runner's capture) keeps it.
    logging.basicConfig(level=level, handlers=[handler])
    uncoloured_core()


def uncoloured_core() -> None:
    """Keep the SDK core's ANSI colour codes out of a log that is no terminal.

    The core writes its lines to stdout itself (not through Python's
    logging), coloured whatever stdout is; it leaves colour out where
    ``NO_COLOR`` is set (https://no-color.org).
    Forwarding its lines to a Python logger instead would leave the core's
    threads calling into Python while the interpreter ends, which crashed
    the process at exit.
    """
    if not sys.stdout.isatty():
        os.environ.setdefault("NO_COLOR", "1")
