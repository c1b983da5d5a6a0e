"""The SMTP sink keeps every mail and files mailbox mail where the intake reads it."""

from __future__ import annotations

import logging
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from starter.smtp_sink import MailSink, body_text, read_maildir, read_messages

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
    assert missing.returncode == 1
    assert "no message 2" in missing.stderr


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
