"""The web service's log lines: one line each, nothing a visitor sent."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import asyncpg
import pytest

from certflow.certificates import generate_keypair, render_pdf, sign
from certflow.certificates.keys import load_private_key
from tests.web.samples import WANG, ClientFactory, Issued
from tests.web.test_web_app import server_log, upload
from web import logs, records

FORGED = "2026-12-05 07:00:00,000 INFO certflow.web download number=X outcome=served"


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """The process's logging as ``certflow web`` sets it up, into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: logging.getLogger(name).level for name in logs.SILENCED_LIBRARIES}
    out = io.StringIO()
    logs.configure(out)
    try:
        yield out
    finally:
        logging.captureWarnings(False)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_a_line_feed_in_a_message_cannot_start_a_line_of_its_own(
    configured: io.StringIO,
) -> None:
    logging.getLogger("certflow.web").info(
        "verify number=%s outcome=valid", f"ZCX1\n{FORGED}\r\u2028\u200b"
    )

    [line] = configured.getvalue().splitlines()
    assert line.endswith(
        "verify number=ZCX1\\n2026-12-05 07:00:00,000 INFO certflow.web download "
        "number=X outcome=served\\r\\u2028\\u200b outcome=valid"
    )


def test_an_exception_is_logged_as_its_type_and_place_not_its_text(
    configured: io.StringIO,
) -> None:
    try:
        raise ValueError(f"bad value {WANG.id_number}\n{FORGED}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")

    [line] = configured.getvalue().splitlines()
    assert "Exception in ASGI application error=ValueError at test_logs.py:" in line
    assert WANG.id_number not in line


def test_other_libraries_lines_are_withheld_and_pdf_readers_silenced(
    configured: io.StringIO,
) -> None:
    logging.getLogger("python_multipart.multipart").warning("got %r", WANG.name)
    logging.getLogger("pypdf._reader").warning("invalid pdf header: %r", b"33010")
    logging.getLogger("pypdf._cmap").error("bad cmap %s", WANG.id_number)
    logging.getLogger("PIL.PngImagePlugin").warning("chunk %s", WANG.name)
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /download/X?t=s"')

    lines = configured.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "WARNING python_multipart.multipart library message withheld",
        "INFO uvicorn.access library message withheld",
    ]


@pytest.mark.asyncio(loop_scope="session")
async def test_the_number_of_a_pdf_signed_by_a_stranger_is_not_logged(
    web_client: ClientFactory,
    web_pool: asyncpg.Pool,
    issued: Issued,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: the upload's log line took the number from the file itself,
    unverified when its key is not ours: a file numbered with an ID number
    put that number into the log."""
    record = await records.get(web_pool, issued.of(WANG))
    assert record is not None
    data = record.data.model_copy(update={"number": WANG.id_number})
    stranger = load_private_key(generate_keypair()[0])
    caplog.set_level(logging.INFO)

    answer = await upload(web_client(), render_pdf(sign(data, stranger)))

    # No certificate of ours has that number: the file is not ours.
    assert "不是本机构签发的" in answer.text
    assert WANG.id_number not in answer.text
    log = server_log(caplog)
    assert "verify number=- outcome=unknown source=pdf" in log
    assert WANG.id_number not in log
