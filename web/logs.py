"""The web service's log: one line per event, and nothing a visitor sent.

Visitors send names, ID numbers and whole files. The service's own lines
(``certflow.web``) carry only route templates, outcomes and certificate
numbers of the configured scheme; this module makes sure nothing else reaches
the log through the libraries that read what visitors send:

- the PDF and image libraries that read an uploaded certificate (pypdf, Pillow,
  fontTools, fpdf) are silenced: their notes quote the file (a string from the
  page tree, the first bytes of a file that is no PDF), and the verdict on the
  page already says what is wrong with it;
- any other library's line (the multipart parser, asyncio, asyncpg, Python
  warnings) is replaced by a fixed line naming the logger and level, so
  operators still see that something happened;
- a record's text is kept on one line: a line feed, carriage return or any
  other control or format character is written as an escape (``\\n``), so no
  value in a message can start a line of its own;
- an exception is written as its type and where it was raised, never its
  message or traceback text, which may quote a form field or a file.

uvicorn's access log stays off (it would print query strings, i.e. download
tokens); ``uvicorn.error`` says only fixed sentences and is kept.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import TextIO

from certflow.text import is_hidden

# The loggers whose lines are written as they are: the service's own code, and
# uvicorn's fixed sentences about the server (never its access log).
OWN_LOGGERS = ("certflow", "web", "activities", "uvicorn.error")
# The libraries that read uploaded files: their notes quote the file.
SILENCED_LIBRARIES = ("pypdf", "PIL", "fontTools", "fpdf")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(stream: TextIO | None = None) -> None:
    """Send the process's log to ``stream`` (stderr) in the service's format.

    Called once by ``certflow web`` before anything is served; replaces any
    handler the root logger had.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(OneLineFormatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in SILENCED_LIBRARIES:
        # Above CRITICAL: pypdf reports with logger.error too.
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    # Python warnings would otherwise be printed to stderr as they are.
    logging.captureWarnings(True)


def is_own(name: str) -> bool:
    """Whether the logger ``name`` is the service's own or uvicorn's server log."""
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


class OneLineFormatter(logging.Formatter):
    """Formats each record as one line that holds nothing a visitor sent.

    The service's own records keep their text, escaped to stay on its line;
    another library's text is withheld; an exception is its type and place.
    """

    def format(self, record: logging.LogRecord) -> str:
        if is_own(record.name):
            text = one_line(record.getMessage())
        else:
            text = "library message withheld"
        if record.exc_info and record.exc_info[1] is not None:
            text += " " + exception_summary(record.exc_info[1])
        line = logging.LogRecord(
            record.name,
            record.levelno,
            record.pathname,
            record.lineno,
            text,
            None,
            None,
        )
        line.created, line.msecs = record.created, record.msecs
        return super().format(line)


def one_line(text: str) -> str:
    """``text`` with every control, format or line-separator character escaped.

    A line feed becomes ``\\n``, a zero-width space ``\\u200b``: what is left
    reads as one line and shows every character that was there.
    """
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if is_hidden(ch) else ch
        for ch in text
    )


def exception_summary(exc: BaseException) -> str:
    """``error=TypeName at file.py:123``: where it was raised, not what it says."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
    return f"error={type(exc).__name__}{where}"
