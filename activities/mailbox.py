"""Sources of the exam mailbox: a local maildir, or an IMAP server.

A source hands out the raw bytes of messages not yet acknowledged, and forgets a
message only when told it was processed. Delivery is at least once: a crash
between processing and ``acknowledge`` fetches the message again, which is why
the caller records ``certflow.corrections.dedupe_key`` of what it processed.

IMAP uses the standard library's imaplib in a worker thread. The mailbox is
polled a few times an hour, one short session per call, so an async IMAP client
would buy nothing but a dependency; imaplib is maintained with Python itself.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import os
import re
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

# Maildir "info" suffix: flags follow ":2," in the file name (cr.yp.to/proto/maildir).
_INFO = ":2,"
_SEEN = "S"


class MailSource(Protocol):
    """Where correction-request mail comes from."""

    async def fetch(self) -> list[tuple[str, bytes]]:
        """Return (source_key, raw) for each message not yet acknowledged."""
        ...

    async def acknowledge(self, source_key: str) -> None:
        """Mark a message processed so that ``fetch`` never returns it again."""
        ...


class StaleSourceKey(Exception):
    """A source key no longer names the message it was issued for.

    Raised by ImapSource when the mailbox's UIDVALIDITY changed since the fetch:
    acknowledging by UID then could mark a different message. The message will
    be fetched again under a new key, and its dedupe key tells it was processed.
    """


class MaildirSource:
    """A maildir (new/, cur/, tmp/), as a local MTA or fetchmail delivers it.

    Unacknowledged messages are those in new/ and those in cur/ without the
    Seen flag. Acknowledging moves the file to cur/ and adds the flag S, by one
    atomic rename, so a crash leaves it either processed or not, never half.
    The source key is the file's unique name (without the flags), which stays the
    same when any maildir client moves the file or changes its flags.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    async def fetch(self) -> list[tuple[str, bytes]]:
        """Return every unacknowledged message, oldest delivery first."""
        return await asyncio.to_thread(self._fetch)

    async def acknowledge(self, source_key: str) -> None:
        """Move the message to cur/ with the Seen flag; idempotent."""
        await asyncio.to_thread(self._acknowledge, source_key)

    def _fetch(self) -> list[tuple[str, bytes]]:
        found: list[tuple[float, str, Path]] = []
        for subdir in ("new", "cur"):
            folder = self.path / subdir
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"{folder} is missing: {self.path} is no maildir"
                )
            for entry in os.scandir(folder):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                key, _, flags = entry.name.partition(_INFO)
                if subdir == "cur" and _SEEN in flags:
                    continue
                found.append((entry.stat().st_mtime, key, Path(entry.path)))
        found.sort()

        messages: list[tuple[str, bytes]] = []
        for _, key, file in found:
            try:
                messages.append((key, file.read_bytes()))
            except FileNotFoundError:
                # Another reader moved it between the listing and the read.
                continue
        return messages

    def _acknowledge(self, source_key: str) -> None:
        if not source_key or "/" in source_key or _INFO in source_key:
            raise ValueError(f"{source_key!r} is not a maildir source key")
        for subdir in ("new", "cur"):
            for entry in os.scandir(self.path / subdir):
                key, _, flags = entry.name.partition(_INFO)
                if key != source_key:
                    continue
                if subdir == "cur" and _SEEN in flags:
                    return
                merged = "".join(sorted(set(flags) | {_SEEN}))
                os.rename(entry.path, self.path / "cur" / f"{key}{_INFO}{merged}")
                _sync_directory(self.path / "cur")
                return
        raise KeyError(f"no message {source_key!r} in {self.path}")


def _sync_directory(folder: Path) -> None:
    """Make a rename durable: a power cut must not bring the message back."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


_FETCH_UID = re.compile(rb"UID (\d+)")


class ImapSource:
    """A mailbox on an IMAP server, one short session per call.

    With ``processed_folder`` (the default, "Processed"), every message left in
    ``mailbox`` is unprocessed: acknowledging sets \\Seen and moves the message
    there, and a person reading the mailbox in webmail cannot hide a message from
    certflow by opening it. With ``processed_folder=None`` the \\Seen flag alone
    marks processed messages, and only unseen ones are fetched.

    Messages are read with BODY.PEEK, which leaves their flags alone. The source
    key is ``"<UIDVALIDITY>:<UID>"``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        mailbox: str = "INBOX",
        ssl: bool = False,
        processed_folder: str | None = "Processed",
        timeout: float = 30.0,
        batch_limit: int = 200,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.mailbox = mailbox
        self.ssl = ssl
        if not (mailbox.isascii() and (processed_folder or "").isascii()):
            # IMAP names other scripts in modified UTF-7, which is not done here.
            raise ValueError("IMAP folder names must be ASCII")
        self.processed_folder = processed_folder
        self.timeout = timeout
        self.batch_limit = batch_limit

    def __repr__(self) -> str:
        return f"ImapSource({self.user}@{self.host}:{self.port}/{self.mailbox})"

    async def fetch(self) -> list[tuple[str, bytes]]:
        """Return unacknowledged messages, lowest UID first, at most ``batch_limit``."""
        return await asyncio.to_thread(self._fetch)

    async def acknowledge(self, source_key: str) -> None:
        """Set \\Seen and move to the processed folder; idempotent."""
        await asyncio.to_thread(self._acknowledge, source_key)

    def _connect(self) -> imaplib.IMAP4:
        client: imaplib.IMAP4
        if self.ssl:
            client = imaplib.IMAP4_SSL(self.host, self.port, timeout=self.timeout)
        else:
            client = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        try:
            client.login(self.user, self._password)
            _identify(client)
        except BaseException:
            client.shutdown()
            raise
        return client

    def _select(self, client: imaplib.IMAP4, *, readonly: bool) -> int:
        status, _ = client.select(_quote(self.mailbox), readonly=readonly)
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot select mailbox {self.mailbox!r}")
        _, data = client.response("UIDVALIDITY")
        value = data[0] if data else None
        if not isinstance(value, bytes):
            raise imaplib.IMAP4.error(f"{self.mailbox!r} announces no UIDVALIDITY")
        return int(value)

    def _fetch(self) -> list[tuple[str, bytes]]:
        client = self._connect()
        try:
            validity = self._select(client, readonly=True)
            criteria = "UNDELETED" if self.processed_folder else "UNSEEN UNDELETED"
            status, data = client.uid("SEARCH", criteria)
            if status != "OK":
                raise imaplib.IMAP4.error(f"search failed in {self.mailbox!r}")
            uids = sorted(int(u) for u in (data[0] or b"").split())[: self.batch_limit]

            messages: list[tuple[str, bytes]] = []
            for uid in uids:
                raw = self._fetch_one(client, uid)
                if raw is not None:
                    messages.append((f"{validity}:{uid}", raw))
            logger.info(
                "imap fetch mailbox=%s messages=%d", self.mailbox, len(messages)
            )
            return messages
        finally:
            _logout(client)

    def _fetch_one(self, client: imaplib.IMAP4, uid: int) -> bytes | None:
        status, data = client.uid("FETCH", str(uid), "(UID BODY.PEEK[])")
        if status != "OK":
            raise imaplib.IMAP4.error(f"fetch of UID {uid} failed")
        for item in data:
            if isinstance(item, tuple) and (match := _FETCH_UID.search(item[0])):
                if int(match.group(1)) == uid and isinstance(item[1], bytes):
                    return item[1]
        # Expunged by someone else since the search: nothing to hand out.
        return None

    def _acknowledge(self, source_key: str) -> None:
        validity_text, _, uid_text = source_key.partition(":")
        if not (validity_text.isdigit() and uid_text.isdigit()):
            raise ValueError(f"{source_key!r} is not an IMAP source key")

        client = self._connect()
        try:
            validity = self._select(client, readonly=False)
            if validity != int(validity_text):
                raise StaleSourceKey(
                    f"{self.mailbox!r} has UIDVALIDITY {validity}, key {source_key!r}"
                )
            status, data = client.uid("SEARCH", "UID", uid_text)
            if status != "OK":
                raise imaplib.IMAP4.error(f"search for UID {uid_text} failed")
            if not (data[0] or b"").split():
                # Moved away by an earlier acknowledgement whose answer was lost.
                return
            status, _ = client.uid("STORE", uid_text, "+FLAGS.SILENT", r"(\Seen)")
            if status != "OK":
                raise imaplib.IMAP4.error(f"cannot flag UID {uid_text} as seen")
            if self.processed_folder:
                self._move(client, uid_text)
        finally:
            _logout(client)

    def _move(self, client: imaplib.IMAP4, uid: str) -> None:
        folder = _quote(self.processed_folder or "")
        # Creating an existing folder fails harmlessly ([ALREADYEXISTS]).
        client.create(folder)
        # Servers announce MOVE only after login, and imaplib keeps the list it
        # got before, so ask again.
        status, data = client.capability()
        reply = data[0] if status == "OK" and data else None
        capabilities = (
            reply.decode().upper().split() if isinstance(reply, bytes) else []
        )
        if "MOVE" in capabilities:
            status, _ = client.uid("MOVE", uid, folder)
            if status != "OK":
                raise imaplib.IMAP4.error(f"cannot move UID {uid} to {folder}")
            return
        status, _ = client.uid("COPY", uid, folder)
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot copy UID {uid} to {folder}")
        client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
        if "UIDPLUS" in capabilities:
            client.uid("EXPUNGE", uid)
        else:
            # Without UIDPLUS only a full EXPUNGE exists; it also removes what
            # others flagged \Deleted, which is what they asked for anyway.
            client.expunge()


def _identify(client: imaplib.IMAP4) -> None:
    """Send the IMAP ID command (RFC 2971) right after login.

    NetEase mailboxes (163, 126, yeah.net) answer SELECT with "NO SELECT Unsafe
    Login" to clients that have not identified themselves. Servers without the
    extension answer BAD, which is harmless.
    """
    try:
        client.xatom("ID", '("name" "certflow" "version" "0.1")')
    except imaplib.IMAP4.error:
        logger.debug("imap server refused the ID command")


def _quote(name: str) -> str:
    """Quote a mailbox name for imaplib, which sends arguments as they are."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _logout(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (OSError, imaplib.IMAP4.error):
        # The server went away mid-session; the socket is closed either way.
        client.shutdown()
