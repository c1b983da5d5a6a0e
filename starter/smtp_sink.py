"""A local SMTP server that keeps every mail it receives, for the stack and tests.

Nothing is relayed anywhere. Each message is written as one file into the maildir
``<root>/all/``; a message whose envelope recipients include one of the configured
mailbox addresses (the 1+X exam mailbox, for instance) is also delivered into that
mailbox's own maildir, where the correction intake reads it like a real inbox.

Messages of up to ``MAX_MESSAGE_BYTES`` (25 MiB as sent) are taken, bigger ones
refused with 552; a bare LF counts as a line end (see ``_SinkSMTP``). Tests
can lower the limit and name addresses refused at RCPT with 550, as a real
server refuses a mistyped one, or with an answer of their own.

Staff read the local mail with ``certflow mail list STATE_DIR`` and
``certflow mail show N STATE_DIR``. This module does not import
certflow, so it can be used on any folder of mail.
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import logging
import mailbox
import os
import re
import signal
import sys
from collections.abc import Collection, Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from certflow.arguments import StaffArgumentParser, about, argument_help
from certflow.files import private_dir
from certflow.i18n import t

log = logging.getLogger(__name__)

ALL_FOLDER = "all"
# The largest message accepted, as sent (headers, encoded attachments, CRLF line
# ends): 25 MiB, what common mailboxes take, advertised in the EHLO answer
# (SIZE). A bigger one is refused with 552, at MAIL FROM when the client
# declares its size, else after its data.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
_BARE_LF = re.compile(rb"(?<!\r)\n")
# The answer at RCPT to an address refused without an answer of its own.
_MAILBOX_UNAVAILABLE = "550 5.1.1 Mailbox unavailable"


class _SinkSMTP(SMTP):
    """aiosmtpd's server, taking a bare LF for a line end as mail servers do.

    aiosmtpd ends lines at CRLF only. A message written with Unix line ends and
    sent as is (``curl --upload-file``, a hand-written client) is then one
    "line" as long as the message, refused with "500 Line too long" however
    short its lines really are. Postfix and Exim take a bare LF as a line end
    from local clients; so does the sink, by turning it into CRLF as it
    arrives. Nothing is relayed, so the difference this makes to where the data
    ends (SMTP smuggling) matters nowhere. Real over-long lines (1000 bytes
    with the line end, RFC 5321 4.5.3.1.6) are still refused.
    """

    def __init__(self, handler: object, **options: Any) -> None:
        super().__init__(handler, **options)
        self._ended_in_cr = False

    def data_received(self, data: bytes) -> None:
        # A CRLF cut between two reads must not become CR CR LF.
        head = b""
        if self._ended_in_cr and data.startswith(b"\n"):
            head, data = b"\n", data[1:]
        if data:
            self._ended_in_cr = data.endswith(b"\r")
        super().data_received(head + _BARE_LF.sub(b"\r\n", data))


class _StoreHandler:
    """aiosmtpd handler writing each accepted message into the maildirs."""

    def __init__(
        self,
        root: Path,
        mailboxes: Mapping[str, Path],
        refused: Mapping[str, str],
    ) -> None:
        self.root = root
        # Addresses compare case-insensitively, as mail systems treat them.
        self.mailboxes = {address.lower(): path for address, path in mailboxes.items()}
        self.refused = {address.lower(): answer for address, answer in refused.items()}

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        answer = self.refused.get(address.lower())
        if answer is not None:
            return answer
        # What aiosmtpd does itself when a handler has no such hook.
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        recipients = [str(r) for r in envelope.rcpt_tos]
        # Bcc recipients appear nowhere in the message itself: record the envelope.
        header = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(recipients)}\r\n"
        ).encode()
        stored = header + content

        targets = [self.root / ALL_FOLDER]
        targets += sorted(
            {
                self.mailboxes[r.lower()]
                for r in recipients
                if r.lower() in self.mailboxes
            }
        )
        await asyncio.to_thread(_deliver, stored, targets)
        log.info(
            "mail stored recipients=%d size=%d folders=%s",
            len(recipients),
            len(stored),
            ",".join(t.name for t in targets),
        )
        return "250 Message accepted for delivery"


def _deliver(message: bytes, folders: Sequence[Path]) -> None:
    for folder in folders:
        box = _open_maildir(folder)
        key = box.add(message)
        # Maildir writes with the umask (0644 by default); the mails carry
        # names and ID numbers (the national-platform file, for one).
        os.chmod(folder / "new" / key, 0o600)


def _open_maildir(folder: Path) -> mailbox.Maildir:
    # Maildir creates only the last folder level and its cur/new/tmp itself.
    private_dir(folder.parent)
    return mailbox.Maildir(folder, create=True)


class MailSink:
    """An SMTP server on loopback that stores every mail into maildirs.

    ``port=0`` lets the system choose a free port; :attr:`port` holds the chosen
    one after :meth:`start`. ``mailboxes`` maps an address to the maildir that mail
    sent to it is also delivered into. ``refused`` addresses are refused at RCPT
    with 550 (a mailbox that does not exist), or, given as a mapping, with the
    answer each maps to ("554 5.7.1 Relay access denied");
    ``max_message_bytes`` is the largest message taken. ``smtputf8=False``
    plays a server that takes no address outside ASCII (no SMTPUTF8).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8025,
        maildir_root: Path = Path(".state/mailbox"),
        mailboxes: Mapping[str, Path] | None = None,
        *,
        refused: Collection[str] | Mapping[str, str] = (),
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        smtputf8: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.root = maildir_root
        self.mailboxes = dict(mailboxes or {})
        self.refused = (
            dict(refused)
            if isinstance(refused, Mapping)
            else dict.fromkeys(refused, _MAILBOX_UNAVAILABLE)
        )
        self.max_message_bytes = max_message_bytes
        self.smtputf8 = smtputf8
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Create the maildirs and start accepting connections."""
        for folder in [self.root / ALL_FOLDER, *self.mailboxes.values()]:
            _open_maildir(folder)
        handler = _StoreHandler(self.root, self.mailboxes, self.refused)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            # A fixed hostname: the default looks up the machine's FQDN, which can
            # stall for seconds where name resolution goes nowhere.
            lambda: _SinkSMTP(
                handler,
                hostname="certflow-mailsink",
                enable_SMTPUTF8=self.smtputf8,
                data_size_limit=self.max_message_bytes,
            ),
            self.host,
            self.port,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info(
            "smtp sink listening address=%s:%d maildir=%s",
            self.host,
            self.port,
            self.root,
        )

    async def stop(self) -> None:
        """Stop accepting mail; mail already stored stays on disk."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()
        log.info("smtp sink stopped")

    async def __aenter__(self) -> MailSink:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class MaildirReader:
    """The messages of one maildir, oldest first, each file read only once.

    A delivered message's file never changes (the sink writes it aside and
    moves it in whole), so what was parsed is kept, and each call reads only
    the files that came since. A reader asked again and again while mail
    arrives (a test waiting for one, the demo) then costs what the new mail
    costs: parsing the whole folder each time grew with every message the
    folder ever took, seconds per look after a few thousand.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._parser = email.parser.BytesParser(policy=email.policy.default)
        # By maildir key: (delivery time, key, the message).
        self._read: dict[str, tuple[float, str, EmailMessage]] = {}

    def __call__(self) -> list[EmailMessage]:
        if not self.folder.is_dir():
            return []
        box = mailbox.Maildir(self.folder, create=False)
        keys = box.keys()
        for key in keys:
            if key not in self._read:
                # get_date() is the delivery time; the key breaks ties in
                # arrival order.
                delivered = box.get_message(key).get_date()
                message = self._parser.parsebytes(box.get_bytes(key))
                self._read[key] = (delivered, key, message)
        present = set(keys)
        entries = sorted(entry for key, entry in self._read.items() if key in present)
        return [message for _, _, message in entries]


def read_maildir(folder: Path) -> list[EmailMessage]:
    """Return the messages of one maildir, oldest first."""
    return MaildirReader(folder)()


def read_messages(root: Path) -> list[EmailMessage]:
    """Return every message the sink rooted at ``root`` has received, oldest first."""
    return read_maildir(root / ALL_FOLDER)


def body_text(message: EmailMessage) -> str:
    """Return the decoded text body (plain text preferred), or an empty string.

    Lines end in a line feed, as the mail shows them: a body written with CRLF
    inside its encoding (the exam mailbox's replies, composed for SMTP) keeps
    the CR when decoded, which the staff tool would show as ``<U+000D>`` at
    the end of each line. A CR alone stays, to be shown.
    """
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    return content.replace("\r\n", "\n") if isinstance(content, str) else ""


def _attachment_names(message: EmailMessage) -> list[str]:
    return [
        part.get_filename() or t("mail_reader.unnamed")
        for part in message.iter_attachments()
    ]


def _mail_folder(state_dir: Path, folder: str) -> Path:
    # Accept the state folder of the stack as well as the mailbox root itself.
    for root in (state_dir / "mailbox", state_dir):
        if (root / ALL_FOLDER).is_dir():
            return root / folder
    return state_dir / "mailbox" / folder


def _field(label: str, value: object) -> None:
    print("    " + t("mail_reader.line", label=t(f"mail_reader.{label}"), value=value))


def _print_summary(index: int, message: EmailMessage) -> None:
    print(f"[{index}] {message.get('date', '')}")
    for label in ("from", "to", "subject"):
        _field(label, message.get(label, ""))


def _print_full(index: int, message: EmailMessage) -> None:
    _print_summary(index, message)
    if message.get("cc"):
        _field("cc", message["cc"])
    _field("envelope_to", message.get("x-envelope-to", ""))
    names = _attachment_names(message)
    if names:
        _field("attachments", "、".join(names))
    print()
    print(body_text(message))


def build_parser() -> StaffArgumentParser:
    """The command line of ``certflow mail``: ``list``, or ``show N``."""
    parser = StaffArgumentParser(
        prog="certflow mail", description=argument_help("mail", "description")
    )
    # The stack keeps its state where CERTFLOW_STATE says, so the mail is there.
    state = Path(os.environ.get("CERTFLOW_STATE") or ".state")
    common = StaffArgumentParser(add_help=False)
    common.add_argument(
        "--folder", default=ALL_FOLDER, help=argument_help("mail", "folder")
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str) -> argparse.ArgumentParser:
        text = about(f"mail_{name}")
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        return sub

    listing = command("list")
    show = command("show")
    show.add_argument(
        "number", type=int, metavar="NUMBER", help=argument_help("mail_show", "number")
    )
    for sub in (listing, show):
        sub.add_argument(
            "state_dir",
            type=Path,
            nargs="?",
            default=state,
            metavar="STATE",
            help=argument_help("mail", "state_dir"),
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: list the stored mail, or show one message in full."""
    args = build_parser().parse_args(argv)

    folder = _mail_folder(args.state_dir, args.folder)
    messages = read_maildir(folder)
    if args.command == "list":
        if not messages:
            print(t("mail_reader.empty", folder=folder))
        for index, message in enumerate(messages, start=1):
            _print_summary(index, message)
        return 0

    if not 1 <= args.number <= len(messages):
        print(
            t(
                "mail_reader.no_such_message",
                folder=folder,
                number=args.number,
                count=len(messages),
            ),
            file=sys.stderr,
        )
        # A number with no mail is a wrong argument, as in every other
        # look-up by number (notice resend N): exit status 2.
        return 2
    _print_full(args.number, messages[args.number - 1])
    return 0


def _run_quietly_into_a_pipe() -> int:
    """``main`` as a program: a reader that goes away (``list | head``) ends it
    without a word and with status 141, as ``certflow mail list`` does."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Later writes (the interpreter's last flush) go to the null device.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        return 128 + signal.SIGPIPE
    return status


if __name__ == "__main__":
    sys.exit(_run_quietly_into_a_pipe())
