"""Reading a file sent from outside in a process of its own, held to a memory
and a time budget.

The spreadsheet reader (python-calamine) is native code. Some files make it
ask for more memory than any machine has, and Rust aborts the process when
an allocation fails; some make it panic; some keep it, or the checks around
it, busy for minutes. In the worker's own process, the first ends the worker
(and every activity it runs) at each retry, the last holds one of its
threads with no way to stop it. Intake refuses every such file it knows of
before the reader opens it (``certflow.intake.container``), with a message
naming what to mend; an audit of this reader still found new ones each
time it was looked at (an xls whose dimensions record claims four billion
rows, a compound file whose directory chain loops, a date of -10^15 days).

So each upload and each mailed spreadsheet is read in a child process,
forked from a server process that has loaded the readers already (a few
milliseconds a file), and held there to ``ReadingBounds``: its address
space (``RLIMIT_AS``), its processor time (``RLIMIT_CPU``) and the time the
caller waits. Whatever happens in it, the caller gets the reading or
``ReadingFailed`` saying why, and goes on. The child's error output is
discarded: a panic's message may quote a cell.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from functools import cache
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any, Literal, TypeVar

from pydantic import Field

from certflow.models import Model

_R = TypeVar("_R")
MIB = 1024 * 1024
# The modules the children need, loaded once by the server they are forked
# from: each child starts with them in place. The program's main module
# among them, or each child would import it again (``multiprocessing``
# prepares a child so): a worker's imports, for every file.
_PRELOADED = ["__main__", "certflow.intake", "certflow.invoice", "certflow.corrections"]

Reason = Literal["memory", "time", "wait", "crashed", "raised"]


class ReadingBounds(Model):
    """What a file's reading may take: ``memory_mb`` of address space (the
    largest real upload, 20,000 rows, takes about 150 MB), ``cpu_seconds``
    of processor time (it takes under one), and ``wall_seconds`` of waiting
    for its answer, its start included."""

    memory_mb: int = Field(default=2048, ge=256)
    cpu_seconds: int = Field(default=60, gt=0)
    wall_seconds: int = Field(default=180, gt=0)


class ReadingFailed(Exception):
    """The reading ended without an answer: past its memory (``memory``),
    its processor time (``time``) or its wait (``wait``), ended by a signal
    or an abort (``crashed``: most often an allocation refused past its
    memory, which Rust does not report otherwise), or by an exception of its
    own (``raised``, ``error`` naming its type)."""

    def __init__(self, reason: Reason, error: str = "") -> None:
        super().__init__(reason, error)
        self.reason: Reason = reason
        self.error = error


def read_apart(
    reader: Callable[..., _R],
    *args: Any,
    bounds: ReadingBounds | None = None,
    **kwargs: Any,
) -> _R:
    """Call ``reader(*args, **kwargs)`` in a child process held to ``bounds``
    and return what it returns; raise ``ReadingFailed`` when it gives no
    answer. ``reader``, its arguments and its answer cross by pickling:
    ``reader`` must be a function of a module (or a ``functools.partial`` of
    one). Blocks: call it in a thread from asynchronous code."""
    bounds = bounds or ReadingBounds()
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_read, args=(sender, bounds, reader, args, kwargs), daemon=True
    )
    try:
        child.start()
        sender.close()
        # True once the child answered or its end closed (it ended).
        if not receiver.poll(bounds.wall_seconds):
            raise ReadingFailed("wait")
        try:
            outcome, value = receiver.recv()
        except EOFError:
            child.join(timeout=5)
            raise ReadingFailed(_ended(child.exitcode)) from None
    finally:
        if child.is_alive():
            child.kill()
        if child.pid is not None:
            child.join()
        receiver.close()
    if outcome == "raised":
        reason: Reason = "memory" if value == "MemoryError" else "raised"
        raise ReadingFailed(reason, value)
    result: _R = value
    return result


def _ended(exitcode: int | None) -> Reason:
    """Why a child that gave no answer ended: past its processor time (the
    kernel's signal for the soft limit, or its kill at the hard one), or
    otherwise (an abort: most often an allocation refused past its memory,
    which Rust does not report otherwise)."""
    if exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
        return "time"
    return "crashed"


def _read(
    sender: Connection,
    bounds: ReadingBounds,
    reader: Callable[..., object],
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> None:
    """The child's work: hold itself to ``bounds``, read, send the answer."""
    memory = bounds.memory_mb * MIB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = bounds.cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    # An abort or SIGXCPU would dump core (the upload's cells with it)
    # wherever the machine keeps cores: none.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # A panic's message and an abort's backtrace may quote the file.
    with open(os.devnull, "wb") as nowhere:
        os.dup2(nowhere.fileno(), 2)
    try:
        value = reader(*args, **kwargs)
    except BaseException as error:  # the reader panics as BaseException
        sender.send(("raised", type(error).__name__))
    else:
        sender.send(("done", value))
    finally:
        sender.close()


@cache
def _context() -> ForkServerContext:
    """Children are forked from a server process, never from the caller: a
    worker runs threads (Temporal's among them), and a fork of a process
    with threads may inherit a lock one of them held."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOADED)
    return context
