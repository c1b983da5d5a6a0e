"""MaildirSource against a real maildir on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from activities.mailbox import MaildirSource
from certflow.corrections import dedupe_key, read_correction_mail

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"
TRACE = b"Received: from mx2.zcx-eval.org.cn by mail.zcx-eval.org.cn; 23 Nov 2026\r\n"


def _maildir(root: Path) -> Path:
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True)
    return root


def _deliver(maildir: Path, name: str, raw: bytes, *, mtime: int) -> None:
    """Deliver as an MTA does: write into tmp/, then rename into new/."""
    temporary = maildir / "tmp" / name
    temporary.write_bytes(raw)
    os.utime(temporary, (mtime, mtime))
    temporary.rename(maildir / "new" / name)


def _corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


async def test_acknowledged_messages_are_not_fetched_after_a_restart(
    tmp_path: Path,
) -> None:
    maildir = _maildir(tmp_path / "Maildir")
    names = [
        "01-foxmail-gbk-xlsx.eml",
        "02-qqmail-utf8-typed.eml",
        "07-qqmail-no-form.eml",
    ]
    for offset, name in enumerate(names):
        _deliver(
            maildir,
            f"17640000{offset}.M{offset}P1.mx",
            _corpus(name),
            mtime=1_764_000_000 + offset,
        )

    source = MaildirSource(maildir)
    fetched = await source.fetch()
    assert [raw for _, raw in fetched] == [_corpus(n) for n in names]

    await source.acknowledge(fetched[0][0])
    await source.acknowledge(fetched[2][0])
    await source.acknowledge(fetched[2][0])  # acknowledging twice is harmless

    restarted = MaildirSource(maildir)
    assert await restarted.fetch() == [fetched[1]]
    assert sorted(p.name for p in (maildir / "cur").iterdir()) == [
        "176400000.M0P1.mx:2,S",
        "176400002.M2P1.mx:2,S",
    ]


async def test_a_message_a_client_moved_to_cur_unread_is_still_fetched(
    tmp_path: Path,
) -> None:
    maildir = _maildir(tmp_path / "Maildir")
    raw = _corpus("03-netease163-html-table.eml")
    (maildir / "cur" / "1764000100.M9P2.mx:2,F").write_bytes(raw)
    (maildir / "cur" / "1764000101.M9P3.mx:2,S").write_bytes(
        _corpus("07-qqmail-no-form.eml")
    )

    source = MaildirSource(maildir)
    assert await source.fetch() == [("1764000100.M9P2.mx", raw)]

    await source.acknowledge("1764000100.M9P2.mx")
    assert (maildir / "cur" / "1764000100.M9P2.mx:2,FS").read_bytes() == raw
    assert await source.fetch() == []


async def test_acknowledging_an_unknown_key_fails_loudly(tmp_path: Path) -> None:
    source = MaildirSource(_maildir(tmp_path / "Maildir"))
    with pytest.raises(KeyError):
        await source.acknowledge("1764000000.nothing.mx")
    with pytest.raises(ValueError):
        await source.acknowledge("../../etc/passwd")


async def test_a_folder_that_is_no_maildir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await MaildirSource(tmp_path).fetch()


async def test_the_same_message_delivered_twice_has_one_dedupe_key(
    tmp_path: Path,
) -> None:
    maildir = _maildir(tmp_path / "Maildir")
    raw = _corpus("06-android-no-message-id.eml")
    _deliver(maildir, "1764000200.M1P5.mx", raw, mtime=1_764_000_200)
    _deliver(maildir, "1764000201.M2P5.mx", TRACE + raw, mtime=1_764_000_201)

    fetched = await MaildirSource(maildir).fetch()
    readings = [read_correction_mail(data) for _, data in fetched]

    assert len(fetched) == 2
    assert readings[0].content_key != readings[1].content_key
    assert dedupe_key(readings[0]) == dedupe_key(readings[1])
