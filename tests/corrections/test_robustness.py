"""Whatever arrives in the mailbox, reading it gives a reading, never an exception.

The mailbox is open to the world: truncated deliveries, damaged attachments and
junk must end in the unmatched queue, not in a crashed activity retried forever.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certflow.corrections import (
    INTAKE_PROBLEM_CODES,
    PROBLEM_CODES,
    MailReading,
    dedupe_key,
    read_correction_mail,
)
from certflow.i18n import catalogue, t
from certflow.isolation import ReadingBounds, read_apart

CORPUS = [
    p.read_bytes()
    for p in sorted(
        (Path(__file__).resolve().parents[1] / "corpus" / "mail").glob("*.eml")
    )
]


def _check(raw: bytes) -> None:
    reading = read_correction_mail(raw)
    assert {p.code for p in reading.problems} <= PROBLEM_CODES
    # It must also travel: the workflow receives it as JSON.
    MailReading.model_validate_json(reading.model_dump_json())
    assert len(dedupe_key(reading)) == 64
    assert reading.drafts or reading.problems


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=len(CORPUS) - 1),
    cut=st.floats(min_value=0, max_value=1),
    flips=st.lists(
        st.tuples(st.floats(min_value=0, max_value=1), st.integers(0, 255)), max_size=30
    ),
)
def test_damaged_corpus_messages_still_read(
    index: int, cut: float, flips: list[tuple[float, int]]
) -> None:
    raw = bytearray(CORPUS[index])
    for where, value in flips:
        raw[int(where * (len(raw) - 1))] = value
    _check(bytes(raw[: max(1, int(cut * len(raw)))]))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_read_as_no_form(raw: bytes) -> None:
    _check(raw)


def test_a_message_nested_thousands_deep_is_handed_to_people() -> None:
    raw = b"From: a@example.cn\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for level in range(1, 3000):
        raw += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (
            level - 1,
            level,
        )
    reading = read_correction_mail(raw)
    assert reading.sender == "a@example.cn"
    assert [p.code for p in reading.problems] == ["unreadable_mail"]
    assert reading.problems[0].message == t("corrections.problem.mail_too_deep")


def test_every_problem_code_has_a_chinese_text() -> None:
    texts = catalogue()
    for code in PROBLEM_CODES:
        shared = code in INTAKE_PROBLEM_CODES
        text = texts[f"intake.{code}" if shared else f"corrections.problem.{code}"]
        assert not text.isascii()


def _html_mail(body: str) -> bytes:
    """A mail whose only body is ``body``, as HTML."""
    message = EmailMessage()
    message["From"] = "a@example.cn"
    message["Subject"] = "成绩修改申请"
    message.set_content(body, subtype="html")
    return message.as_bytes()


def test_a_body_of_style_sheets_written_to_be_read_again_is_read_at_once() -> None:
    """Regression: three patterns over a mail's HTML body were tried again
    from each position of a run they could not end, so the work grew with
    the square of the body: 140 KB of ``<style>`` never closed took 22 s,
    60 KB of ``/* `` never closed 4 s, 40 KB of a style sheet without a
    brace 8 s, each holding the mailbox's worker. 300 KB of each would take
    minutes to hours; read in a process held to 20 s of processor time, as
    the worker's readings are, each now ends in its first."""
    bodies = {
        "style blocks never closed": "<style>" * 45_000,
        "a comment never closed": "<style>" + "/* " * 100_000 + "</style>",
        "a sheet without a brace": "<style>" + "a" * 300_000 + "</style>",
    }
    bounds = ReadingBounds(cpu_seconds=20, wall_seconds=60)
    for name, body in bodies.items():
        reading = read_apart(read_correction_mail, _html_mail(body), bounds=bounds)
        assert isinstance(reading, MailReading), name
        assert reading.problems, name
