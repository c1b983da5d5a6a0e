"""A throwaway Dovecot IMAP server on loopback, for the ImapSource tests.

Debian's ``dovecot-imapd`` runs in the foreground (``dovecot -F``) with a config
generated here: one IMAP listener on 127.0.0.1 and a free port, no SSL, plain
passwords from a passwd-file, maildir storage, log to a file; everything lives in
one temporary folder.

What it takes to run as root (found by trying): Dovecot refuses to run its login
processes as root ("This process must not be run as root") and refuses a mail
user with uid 0 ("userdb returned 0 as uid"). So as root the login processes run
as ``dovenull`` and the internal ones as ``dovecot`` (both created by the Debian
package), and mail is stored as ``nobody``. Those users must reach the files, so
the folder is made under the system temp dir with mode 0755, not in pytest's
tmp_path, whose parents are 0700. As any other user, every process and the mail
run as that user.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.ports import free_port

START_TIMEOUT = 15.0


def dovecot_binary() -> str | None:
    """Return the dovecot executable, or None where it is not installed."""
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )


class DovecotServer:
    """One Dovecot instance; ``start`` and ``stop`` may be repeated (same port)."""

    def __init__(
        self, user: str = "mailbox", password: str = "secret-for-tests"
    ) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError(
                "dovecot is not installed (apt-get install dovecot-imapd)"
            )
        self.binary = binary
        self.user = user
        self.password = password
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="certflow-dovecot-"))
        self.root.chmod(0o755)
        self.log = self.root / "dovecot.log"
        self.config = self.root / "dovecot.conf"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    def _write_config(self) -> None:
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        passwd = self.root / "passwd"
        passwd.write_text(f"{self.user}:{{PLAIN}}{self.password}\n", encoding="utf-8")
        passwd.chmod(0o644)

        if os.geteuid() == 0:
            login_user, internal_user, mail_user = "dovenull", "dovecot", "nobody"
        else:
            login_user = internal_user = mail_user = pwd.getpwuid(os.geteuid()).pw_name
        mail_entry = pwd.getpwnam(mail_user)
        os.chown(self.root / "mail", mail_entry.pw_uid, mail_entry.pw_gid)

        self.config.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = certflow-test-{self.port}
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name}
first_valid_uid = 1
imap_id_log = *
mail_location = maildir:{self.root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={mail_entry.pw_uid} gid={mail_entry.pw_gid} home={self.root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""",
            encoding="utf-8",
        )

    def start(self) -> None:
        """Start the server and wait until it answers on its port."""
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited at start:\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not answer in time:\n{self.log_text()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM to its master process) and wait for the exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        """Return the server log, for failure messages."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""
