"""The SMTP sink keeps every mail and files mailbox mail where the intake reads it."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import subprocess
import sys
from email.message import EmailMessage
from email.policy import SMTP
from mailbox import Maildir
from pathlib import Path

import aiosmtplib
import pytest

from certflow.arguments import about
from certflow.i18n import t
from starter.smtp_sink import (
    ALL_FOLDER,
    MAX_MESSAGE_BYTES,
    MaildirReader,
    MailSink,
    body_text,
    main,
    read_maildir,
    read_messages,
)
from tests.support import run_python

EXAM = "1x-kaowu@certflow.example.org"
REPO = Path(__file__).resolve().parents[2]
SHEET = b"PK\x03\x04 pretend workbook bytes \x00\xff"


def _correction_request() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "kaowu@site.example.edu.cn"
    message["To"] = EXAM
    message["Cc"] = "region-contact@certflow.example.org"
    message["Subject"] = "成绩修改申请表：汽车运用与维修（中级）"
    message.set_content("您好：\n附件为本校的成绩修改申请表，请审核。\n谢谢！\n")
    message.add_attachment(
        SHEET,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename="成绩修改申请表.xlsx",
    )
    return message


@pytest.mark.timeout(60)
async def test_mail_is_kept_in_all_and_in_the_addressed_mailbox(tmp_path: Path) -> None:
    root = tmp_path / "mailbox"
    exam_box = tmp_path / "exam-inbox"
    async with MailSink("127.0.0.1", 0, root, {EXAM.upper(): exam_box}) as sink:
        assert sink.port != 0
        await aiosmtplib.send(
            _correction_request(), hostname="127.0.0.1", port=sink.port
        )
        other = EmailMessage()
        other["From"] = EXAM
        other["To"] = "finance@certflow.example.org"
        other["Subject"] = "缴费提醒"
        other.set_content("请尽快缴费。")
        await aiosmtplib.send(other, hostname="127.0.0.1", port=sink.port)

    everything = read_messages(root)
    inbox = read_maildir(exam_box)

    assert [m["subject"] for m in everything] == [
        "成绩修改申请表：汽车运用与维修（中级）",
        "缴费提醒",
    ]
    assert len(inbox) == 1
    received = inbox[0]
    assert received["subject"] == "成绩修改申请表：汽车运用与维修（中级）"
    assert "请审核" in body_text(received)
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "成绩修改申请表.xlsx"
    assert attachment.get_content() == SHEET
    assert EXAM in received["X-Envelope-To"]
    # Kept private to the user: mails carry names and ID numbers.
    stored = [p for p in (*root.rglob("*"), *exam_box.rglob("*")) if p.is_file()]
    assert stored and all(p.stat().st_mode & 0o077 == 0 for p in stored)


def _note(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = EXAM
    message["To"] = "finance@certflow.example.org"
    message["Subject"] = subject
    message.set_content("正文")
    return message


@pytest.mark.timeout(60)
async def test_a_reader_asked_again_reads_only_the_mail_that_came_since(
    tmp_path: Path,
) -> None:
    """The tests' sink keeps every mail of the session, and a test waiting for
    one looked every tenth of a second, parsing the whole folder each time:
    late in the run each look took seconds, and the suite grew by minutes."""
    root = tmp_path / "mailbox"
    reader = MaildirReader(root / ALL_FOLDER)
    assert reader() == []
    async with MailSink("127.0.0.1", 0, root) as sink:
        for subject in ("first", "second"):
            await aiosmtplib.send(_note(subject), hostname="127.0.0.1", port=sink.port)
        first = reader()
        # A file read once is not read again: changed on disk, it reads as it was.
        box = Maildir(root / ALL_FOLDER, create=False)
        kept = next(key for key in box.keys() if box[key]["subject"] == "first")
        path = root / ALL_FOLDER / box._lookup(kept)  # type: ignore[attr-defined]
        delivered = path.stat()
        path.write_bytes(path.read_bytes().replace(b"first", b"FIRST"))
        os.utime(path, ns=(delivered.st_atime_ns, delivered.st_mtime_ns))
        await aiosmtplib.send(_note("third"), hostname="127.0.0.1", port=sink.port)
        again = reader()

    assert [m["subject"] for m in first] == ["first", "second"]
    assert [m["subject"] for m in again] == ["first", "second", "third"]
    assert again[0] is first[0] and again[1] is first[1]
    # As a fresh read of the folder orders them, which reads every file.
    fresh = read_messages(root)
    assert [m["subject"] for m in fresh] == ["FIRST", "second", "third"]
    # A message taken out of the folder is no longer listed.
    box.remove(kept)
    assert [m["subject"] for m in reader()] == ["second", "third"]


@pytest.mark.timeout(60)
async def test_blind_copy_reaches_the_mailbox_through_the_envelope(
    tmp_path: Path,
) -> None:
    root = tmp_path / "mailbox"
    message = EmailMessage()
    message["From"] = "info-center@certflow.example.org"
    message["To"] = "gm@certflow.example.org"
    message["Subject"] = "抄送测试"
    message.set_content("正文")

    async with MailSink("127.0.0.1", 0, root, {EXAM: root / "exam"}) as sink:
        await aiosmtplib.send(
            message,
            hostname="127.0.0.1",
            port=sink.port,
            recipients=["gm@certflow.example.org", EXAM],
        )

    assert [m["subject"] for m in read_maildir(root / "exam")] == ["抄送测试"]
    assert len(read_messages(root)) == 1


@pytest.mark.timeout(60)
async def test_cli_lists_and_shows_the_mail_decoded(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with MailSink(
        "127.0.0.1", 0, state / "mailbox", {EXAM: state / "mailbox" / "exam"}
    ) as sink:
        await aiosmtplib.send(
            _correction_request(), hostname="127.0.0.1", port=sink.port
        )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "starter.smtp_sink", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=30,
        )

    listed = cli("list", str(state))
    shown = cli("show", "1", str(state), "--folder", "exam")
    missing = cli("show", "2", str(state))

    assert listed.returncode == 0
    assert "[1]" in listed.stdout
    assert "成绩修改申请表：汽车运用与维修（中级）" in listed.stdout
    assert "kaowu@site.example.edu.cn" in listed.stdout
    assert shown.returncode == 0
    assert "附件为本校的成绩修改申请表，请审核。" in shown.stdout
    assert "成绩修改申请表.xlsx" in shown.stdout
    assert missing.returncode == 2  # a wrong argument
    assert "中没有第 2 封邮件：共 1 封" in missing.stderr


@pytest.mark.timeout(60)
async def test_the_stacks_sink_logs_no_mail_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: aiosmtpd logged every SMTP command at INFO, the correction
    sender's address included, although the README says none is logged."""
    from starter.stack import _configure_logging

    _configure_logging()
    caplog.set_level(logging.INFO)
    async with MailSink("127.0.0.1", 0, tmp_path / "mailbox") as sink:
        await aiosmtplib.send(
            _correction_request(), hostname="127.0.0.1", port=sink.port
        )

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "mail stored" in logged  # the sink's own line
    assert "@" not in logged


def _mail_of_size(size: int) -> tuple[EmailMessage, bytes]:
    """A mail of about ``size`` bytes as sent (base64 lines of 76), and its data."""
    data = random.Random(size).randbytes(size * 3 // 4 * 76 // 78 - 2048)
    message = EmailMessage()
    message["From"] = "kaowu@site.example.edu.cn"
    message["To"] = EXAM
    message["Subject"] = "考生材料"
    message.set_content("材料见附件。")
    message.add_attachment(
        data, maintype="application", subtype="zip", filename="材料.zip"
    )
    sent = len(message.as_bytes(policy=SMTP))
    assert abs(sent - size) < 16 * 1024, sent
    return message, data


def _kept_attachment(kept: EmailMessage) -> bytes:
    [attachment] = list(kept.iter_attachments())
    content = attachment.get_content()
    assert isinstance(content, bytes)
    return content


@pytest.mark.timeout(180)
async def test_a_mail_up_to_the_size_limit_is_kept_a_bigger_one_refused_with_552(
    tmp_path: Path,
) -> None:
    root = tmp_path / "mailbox"
    fits, data = _mail_of_size(MAX_MESSAGE_BYTES - 64 * 1024)
    too_big, _ = _mail_of_size(MAX_MESSAGE_BYTES + 64 * 1024)

    async with MailSink("127.0.0.1", 0, root) as sink:
        kept = await aiosmtplib.send(
            fits, hostname="127.0.0.1", port=sink.port, timeout=60
        )
        # aiosmtplib declares the size (MAIL FROM:<…> SIZE=n): refused at once.
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as declared:
            await aiosmtplib.send(
                too_big, hostname="127.0.0.1", port=sink.port, timeout=60
            )
        # A client that declares nothing is answered after its data.
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, timeout=60)
        async with client:
            assert f"SIZE {MAX_MESSAGE_BYTES}" in (await client.ehlo()).message
            await client.mail("kaowu@site.example.edu.cn")
            await client.rcpt(EXAM)
            with pytest.raises(aiosmtplib.SMTPDataError) as undeclared:
                await client.data(too_big.as_bytes(policy=SMTP))
            # The session goes on: the next mail on it is taken.
            await client.send_message(_correction_request())

    assert kept[1] == "Message accepted for delivery"
    assert (declared.value.code, undeclared.value.code) == (552, 552)
    assert [m["subject"] for m in read_messages(root)] == [
        "考生材料",
        "成绩修改申请表：汽车运用与维修（中级）",
    ]
    assert _kept_attachment(read_messages(root)[0]) == data


async def _smtp_exchange(port: int, chunks: list[bytes]) -> list[bytes]:
    """Talk SMTP with bytes as they are: the data goes out in ``chunks``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers: list[bytes] = []

    async def answer() -> None:
        line = await reader.readline()
        while line[3:4] == b"-":
            line = await reader.readline()
        answers.append(line.rstrip())

    await answer()
    for command in (b"EHLO site", b"MAIL FROM:<kaowu@site.example.edu.cn>"):
        writer.write(command + b"\r\n")
        await answer()
    writer.write(f"RCPT TO:<{EXAM}>\r\nDATA\r\n".encode())
    await answer()
    await answer()
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0.01)  # a read of its own on the other side
    await answer()
    writer.write(b"QUIT\r\n")
    await answer()
    writer.close()
    await writer.wait_closed()
    return answers


@pytest.mark.timeout(60)
async def test_certflow_mail_show_prints_a_crlf_mail_line_by_line(
    tmp_path: Path,
) -> None:
    """Regression: the exam mailbox's replies, written with CRLF line ends
    inside their base64 body (policy SMTP), were shown by ``certflow mail
    show`` with ``<U+000D>`` at the end of every line."""
    state = tmp_path / "state"
    reply = EmailMessage(policy=SMTP)
    reply["From"] = EXAM
    reply["To"] = "kaowu@site.example.edu.cn"
    reply["Subject"] = "Re: 成绩修改申请"
    reply.set_content("您好！\n\n已收到您的申请。\n", charset="utf-8", cte="base64")
    async with MailSink("127.0.0.1", 0, state / "mailbox") as sink:
        await aiosmtplib.send(reply, hostname="127.0.0.1", port=sink.port)
    [kept] = read_messages(state / "mailbox")
    assert "\r\n" in kept.get_body().get_content()  # as the reply carries it

    status, shown = await run_python(
        "-m", "starter.cli", "mail", "show", "1", str(state)
    )

    assert status == 0, shown
    assert "<U+000D>" not in shown and "\r" not in shown
    assert "您好！\n\n已收到您的申请。\n" in shown


@pytest.mark.timeout(120)
async def test_a_mail_with_unix_line_ends_is_kept_as_sent(tmp_path: Path) -> None:
    """Regression: a message file with LF line ends sent as is (as curl
    --upload-file does) was one "line" to aiosmtpd, refused with "500 Line too
    long" although none of its lines was longer than 78 characters."""
    root = tmp_path / "mailbox"
    message, data = _mail_of_size(11 * 1024 * 1024)
    unix = message.as_bytes()
    assert b"\r" not in unix and max(map(len, unix.split(b"\n"))) <= 78

    async with MailSink("127.0.0.1", 0, root) as sink:
        # The end of data arrives cut inside its first CRLF, in two reads.
        answers = await _smtp_exchange(sink.port, [unix + b"\r", b"\n.\r\n"])

    assert answers[-2] == b"250 Message accepted for delivery"
    [stored] = (root / "all" / "new").iterdir()
    assert stored.read_bytes().endswith(unix.replace(b"\n", b"\r\n") + b"\r\n")
    [kept] = read_messages(root)
    assert _kept_attachment(kept) == data


REPO = Path(__file__).resolve().parents[2]


async def test_listing_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``python -m starter.smtp_sink list STATE | head``, as operations.md shows."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes
    try:
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "starter.smtp_sink", "list", str(tmp_path)],
            cwd=REPO,
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 141, err.decode()
    assert err == b""


def test_mail_list_prints_what_its_help_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Staff trial: the help said 每封邮件一行摘要 while ``list`` prints four
    lines a mail: its number and time, then sender, recipient and subject."""
    (tmp_path / "mailbox").mkdir()
    box = Maildir(tmp_path / "mailbox" / "all", create=True)
    box.add(_correction_request())
    box.add(_correction_request())

    assert main(["list", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()

    said = about("mail_list")
    assert "每封四行" in said and "一行摘要" not in said
    assert len(lines) == 2 * 4
    assert [line.startswith("[") for line in lines[:4]] == [True, False, False, False]
    for index, label in enumerate(("from", "to", "subject"), start=1):
        assert t(f"mail_reader.{label}") in said
        assert lines[index].strip().startswith(t(f"mail_reader.{label}"))
