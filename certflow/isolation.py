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
discarded (a panic's message may quote a cell), it dumps no core, it dies
with the server it was forked from (which ends with its worker), and at
most ``AT_ONCE`` readings of a process run at once.

This is a wall against crashes and runaway work, not against an attacker
who takes over the reader: the child's answer is unpickled by the caller.
"""

from __future__ import annotations

import ctypes
import io
import logging
import multiprocessing
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable
from functools import cache
from multiprocessing import forkserver, reduction, resource_tracker, spawn, util
from multiprocessing.connection import Connection
from multiprocessing.context import (
    ForkServerContext,
    ForkServerProcess,
    set_spawning_popen,
)
from multiprocessing.popen_forkserver import Popen as ForkServerPopen
from typing import Any, Literal, TypeVar

from pydantic import Field

from certflow.models import Model

log = logging.getLogger(__name__)
_R = TypeVar("_R")
MIB = 1024 * 1024
# The modules the children need, loaded once by the server they are forked
# from: each child starts with them in place.
_PRELOADED = [
    "certflow.isolation",
    "certflow.intake",
    "certflow.invoice",
    "certflow.corrections",
    # A font's coverage, which intake reads names against, is of this
    # module: imported in each child, it cost half a second a file.
    "certflow.certificates.fonts",
]
# At most this many readings of a process at once: each may take its memory
# bound, and the threads waiting on them are the event loop's default pool.
AT_ONCE = 2
_AT_ONCE = threading.BoundedSemaphore(AT_ONCE)
# The children reading now.
_LIVE: set[int] = set()
_LIVE_LOCK = threading.Lock()
# Set by ``stop_readings``: every reading ending after it was stopped.
_STOPPING = threading.Event()
PR_SET_PDEATHSIG = 1

Reason = Literal["memory", "time", "wait", "crashed", "raised"]


class ReadingBounds(Model):
    """What a file's reading may take: ``memory_mb`` of address space (the
    largest real upload, 20,000 rows, takes about 150 MB), ``cpu_seconds``
    of processor time (it takes under one), and ``wall_seconds`` of waiting
    for its answer, its start included."""

    memory_mb: int = Field(default=2048, ge=256)
    cpu_seconds: int = Field(default=30, gt=0)
    wall_seconds: int = Field(default=45, gt=0)


class ReadingStopped(Exception):
    """The reading was ended because its process is stopping
    (``stop_readings``), not for the file: the caller's work is to be done
    again after the restart, not answered."""


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
    with _AT_ONCE:
        # Readings that waited for their turn do not start once stopped.
        if _STOPPING.is_set():
            raise ReadingStopped
        return _read_in_child(reader, args, kwargs, bounds)


def stop_readings() -> None:
    """End every reading of this process now: its process is stopping.

    Otherwise the process waits for them as it ends (up to their bounds),
    though its work was handed back: a stack stopped with SIGTERM logged
    "stack stopped" and ended a minute later. Each reading so ended raises
    ``ReadingStopped`` to its caller, never a refusal of the file, and so
    does every reading asked for after it (``resume_readings`` ends that)."""
    _STOPPING.set()
    with _LIVE_LOCK:
        ending = set(_LIVE)
    for pid in ending:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def resume_readings() -> None:
    """Let readings start again after ``stop_readings``: a worker started
    again in the same process (the tests, a stack restarting its worker)."""
    _STOPPING.clear()


@cache
def ready() -> None:
    """Start the server children are forked from, and read once through it.

    Otherwise the first reading of a process pays for the server's start
    and its imports (about 0.4 s, against 30 ms after): a worker calls this
    as its intake starts, so its first upload is answered as fast as the
    others. A server that does not start is logged, not raised: the worker
    runs its other work, and each upload then says it could not be read.
    """
    try:
        read_apart(len, b"")
    except (ReadingFailed, ReadingStopped, OSError, EOFError) as failed:
        log.warning("reading server not started error=%s", type(failed).__name__)


def _read_in_child(
    reader: Callable[..., _R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    bounds: ReadingBounds,
) -> _R:
    """``read_apart``'s work, once a reading may start."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    child = _Child(target=_read, args=(sender, bounds, reader, args, kwargs))
    child.daemon = True
    try:
        child.start()
        with _LIVE_LOCK:
            if child.pid:
                _LIVE.add(child.pid)
        if _STOPPING.is_set():  # stopped as it started
            raise ReadingStopped
        sender.close()
        # True once the child answered or its end closed (it ended).
        if not receiver.poll(bounds.wall_seconds):
            raise ReadingFailed("wait")
        try:
            outcome, value = receiver.recv()
        except EOFError:
            child.join(timeout=5)
            raise ReadingFailed(_ended(child.exitcode)) from None
    except ReadingFailed:
        # Ended by ``stop_readings``: handed back, not answered.
        if _STOPPING.is_set():
            raise ReadingStopped from None
        raise
    finally:
        if child.is_alive():
            child.kill()
        if child.pid is not None:
            child.join()
            with _LIVE_LOCK:
                _LIVE.discard(child.pid)
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
    _let_go_of_the_caller()
    _die_with_server()
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


def _let_go_of_the_caller() -> None:
    """Close what the server hands each child of its caller: the write end
    of the pipe by which the server learns its caller ended, and of the
    caller's resource tracker. A child holding them kept the server (and
    the tracker) alive after its worker was killed, and so itself: a trial
    found all three running a minute after ``kill -9``, a set more at each
    restart. A reading starts no process, and needs neither."""
    # The attributes are the standard library's own, which it does not type.
    server: Any = forkserver._forkserver
    if server._forkserver_alive_fd is not None:
        os.close(server._forkserver_alive_fd)
        server._forkserver_alive_fd = None
    tracker: Any = resource_tracker._resource_tracker
    if tracker._fd is not None:
        os.close(tracker._fd)
        tracker._fd = None


def _die_with_server() -> None:
    """Have the kernel kill this child when the server it was forked from
    ends, as it does when its worker ends (killed, say): a reading nobody
    waits for stops there, not at its processor bound."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # no prctl here (not Linux): the child ends at its bounds
    if os.getppid() == 1:
        os._exit(1)  # the server ended already


class _Popen(ForkServerPopen):
    """Starts a child as the forkserver's own ``Popen`` does, telling it
    nothing of the program's main module.

    ``multiprocessing`` has each child import the main module again (as
    ``__mp_main__``), in case the reader was defined there: for a worker
    run as ``python -m worker``, its every import, about a second and
    128 MB a file. Readers here are functions of certflow's modules, which
    the server has loaded. Python 3.11's launch, its preparation data
    without ``init_main_from_name`` and ``init_main_from_path``."""

    def _launch(self, process_obj: Any) -> None:
        prepared = spawn.get_preparation_data(process_obj._name)
        prepared.pop("init_main_from_name", None)
        prepared.pop("init_main_from_path", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prepared, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        fds = self._fds  # type: ignore[attr-defined]  # the base's, untyped
        self.sentinel, w = forkserver.connect_to_new_process(fds)
        # The write end's duplicate tells the child its parent is alive.
        parent_w = os.dup(w)
        closing = util.close_fds  # type: ignore[attr-defined]  # untyped
        self.finalizer = util.Finalize(self, closing, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Child(ForkServerProcess):
    """A child started by ``_Popen``."""

    @staticmethod
    def _Popen(process_obj: Any) -> ForkServerPopen:
        # ``_Popen`` copies Python 3.11's launch; another Python launches as
        # its own forkserver does (each child imports the main module again).
        if sys.version_info[:2] == (3, 11):
            return _Popen(process_obj)
        return ForkServerPopen(process_obj)


@cache
def _context() -> ForkServerContext:
    """Children are forked from a server process, never from the caller: a
    worker runs threads (Temporal's among them), and a fork of a process
    with threads may inherit a lock one of them held."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOADED)
    return context
