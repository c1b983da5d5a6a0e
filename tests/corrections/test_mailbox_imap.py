"""ImapSource against a real Dovecot server on loopback (tests/corrections/dovecot.py).

Messages are put in with IMAP APPEND, as a delivering server would, and the
server is stopped in the middle of a batch to prove that nothing is lost or
handed out twice across the restart.
"""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.mailbox import ImapSource, StaleSourceKey
from certflow.corrections import dedupe_key, read_correction_mail
from tests.corrections.dovecot import DovecotServer, dovecot_binary

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"
NAMES = [
    "01-foxmail-gbk-xlsx.eml",
    "02-qqmail-utf8-typed.eml",
    "03-netease163-html-table.eml",
    "04-outlook-related-rfc2231.eml",
    "05-iphone-forwarded-rfc822.eml",
    "06-android-no-message-id.eml",
]

pytestmark = pytest.mark.skipif(
    dovecot_binary() is None,
    reason="dovecot is not installed: apt-get install dovecot-imapd",
)


@pytest.fixture
def server() -> Iterator[DovecotServer]:
    dovecot = DovecotServer()
    try:
        dovecot.start()
        yield dovecot
    finally:
        dovecot.remove()


def _session(server: DovecotServer) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    client.login(server.user, server.password)
    return client


def _append(server: DovecotServer, names: list[str]) -> None:
    client = _session(server)
    try:
        for name in names:
            status, _ = client.append("INBOX", None, None, (CORPUS / name).read_bytes())
            assert status == "OK"
    finally:
        client.logout()


def _folder_state(server: DovecotServer, folder: str) -> list[tuple[bytes, bool]]:
    """(raw, seen) of every message in ``folder``, read without changing flags."""
    client = _session(server)
    try:
        status, _ = client.select(f'"{folder}"', readonly=True)
        assert status == "OK"
        _, data = client.uid("SEARCH", "ALL")
        state = []
        for uid in (data[0] or b"").split():
            _, parts = client.uid("FETCH", uid.decode(), "(FLAGS BODY.PEEK[])")
            head, raw = parts[0]
            state.append((raw, b"\\Seen" in head))
        return state
    finally:
        client.logout()


def _source(
    server: DovecotServer, processed_folder: str | None = "Processed"
) -> ImapSource:
    return ImapSource(
        "127.0.0.1",
        server.port,
        server.user,
        server.password,
        processed_folder=processed_folder,
    )


def _keys(messages: list[tuple[str, bytes]]) -> list[str]:
    return [dedupe_key(read_correction_mail(raw)) for _, raw in messages]


async def test_a_restart_mid_batch_loses_nothing_and_doubles_nothing(
    server: DovecotServer,
) -> None:
    _append(server, NAMES)
    expected = {
        dedupe_key(read_correction_mail((CORPUS / n).read_bytes())) for n in NAMES
    }

    first = await _source(server).fetch()
    assert len(first) == len(NAMES)
    assert set(_keys(first)) == expected
    # Fetching reads with PEEK: nothing is marked seen before it is processed.
    assert [seen for _, seen in _folder_state(server, "INBOX")] == [False] * len(NAMES)

    processed = []
    source = _source(server)
    for key, raw in first[:3]:
        await source.acknowledge(key)
        processed.append(raw)

    server.stop()
    with pytest.raises(OSError):
        await source.acknowledge(first[3][0])
    server.start()

    restarted = _source(server)
    second = await restarted.fetch()
    assert second == first[3:]
    for key, raw in second:
        await restarted.acknowledge(key)
        processed.append(raw)

    assert await restarted.fetch() == []
    assert sorted(_keys([("", raw) for raw in processed])) == sorted(expected)
    assert _folder_state(server, "INBOX") == []
    moved = _folder_state(server, "Processed")
    assert len(moved) == len(NAMES)
    assert all(seen for _, seen in moved)


async def test_acknowledging_again_after_a_lost_answer_is_harmless(
    server: DovecotServer,
) -> None:
    _append(server, NAMES[:2])
    source = _source(server)
    (key, _), (other, _) = await source.fetch()

    await source.acknowledge(key)
    await source.acknowledge(key)

    assert [k for k, _ in await source.fetch()] == [other]
    assert len(_folder_state(server, "Processed")) == 1


async def test_a_message_read_by_a_person_is_still_fetched_when_moving(
    server: DovecotServer,
) -> None:
    _append(server, NAMES[:1])
    client = _session(server)
    try:
        client.select("INBOX")
        client.store("1", "+FLAGS", r"(\Seen)")
    finally:
        client.logout()

    fetched = await _source(server).fetch()
    assert [raw for _, raw in fetched] == [(CORPUS / NAMES[0]).read_bytes()]


async def test_without_a_processed_folder_the_seen_flag_marks_processed(
    server: DovecotServer,
) -> None:
    _append(server, NAMES[:3])
    source = _source(server, processed_folder=None)
    fetched = await source.fetch()

    await source.acknowledge(fetched[1][0])

    assert await _source(server, processed_folder=None).fetch() == [
        fetched[0],
        fetched[2],
    ]
    assert [seen for _, seen in _folder_state(server, "INBOX")] == [False, True, False]


async def test_a_key_from_another_uidvalidity_is_not_acknowledged(
    server: DovecotServer,
) -> None:
    _append(server, NAMES[:1])
    source = _source(server)
    ((key, _),) = await source.fetch()
    validity, _, uid = key.partition(":")

    with pytest.raises(StaleSourceKey):
        await source.acknowledge(f"{int(validity) + 1}:{uid}")
    assert await source.fetch() != []


async def test_the_source_identifies_itself_as_netease_servers_require(
    server: DovecotServer,
) -> None:
    await _source(server).fetch()
    assert "ID sent: name=certflow, version=0.1" in server.log_text()


async def test_wrong_password_is_an_error_not_an_empty_mailbox(
    server: DovecotServer,
) -> None:
    source = ImapSource("127.0.0.1", server.port, server.user, "wrong")
    with pytest.raises(imaplib.IMAP4.error):
        await source.fetch()
