"""Run a command that ends when the process that started it dies.

``python die_with_parent.py PARENT_PID COMMAND [ARGS...]`` asks Linux to send
this process SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), then
becomes COMMAND (``exec``: same process, no Python left running). The stack
starts its Temporal server through it, so a stack killed with ``kill -9`` does
not leave its server holding the ports and the state folder.

It is run as a script (``python -I -S``), not imported: it must start fast and
read nothing of the project. Where ``prctl`` is missing (not Linux) the command
runs unchanged; :func:`wrapped` leaves the command alone there anyway.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def wrapped(command: list[str]) -> list[str]:
    """``command`` run so that it dies with this process (Linux), else unchanged."""
    if not sys.platform.startswith("linux"):
        return command
    return [sys.executable, "-I", "-S", __file__, str(os.getpid()), *command]


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0
    except (OSError, AttributeError):
        return  # no prctl here: the command simply outlives a killed parent
    if failed:
        return
    # The parent may have died before the request took effect: then nobody
    # will signal us, and we are already an orphan.
    if os.getppid() != parent:
        sys.exit(1)


def main(argv: list[str]) -> None:
    """Arm the death signal, then replace this process by the command."""
    parent, command = int(argv[0]), argv[1:]
    _die_with_parent(parent)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
