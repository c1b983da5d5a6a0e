"""Uploads are read in a process of their own, held to memory and time.

Regression: the spreadsheet library ran in the worker's own process, and an
audit found files it aborts on (an xls whose dimensions claim four billion
rows: the worker and every plan on it went down, at each retry), panics on
(a date of -10^15 days), or that keep intake's checks busy for minutes (a
comment of 100,000 ``<f`` beside one formula saved without its result, since
read in linear time).
``certflow.isolation.read_apart`` reads each in a child process and answers
with the reading, or with why there is none; the caller goes on.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
import zipfile
from functools import partial
from pathlib import Path

import openpyxl
import pytest

from certflow import intake
from certflow.corrections.spreadsheet import read_form_workbook
from certflow.intake.container import ODS_MIMETYPE
from certflow.isolation import (
    AT_ONCE,
    ReadingBounds,
    ReadingFailed,
    ReadingStopped,
    read_apart,
    resume_readings,
    stop_readings,
)
from certflow.models import PlanInfo
from tests.intake.conftest import REPO, SAMPLES, sample_plan
from tests.intake.xls_writer import xls_file

SAMPLE = SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx"
PLAN: PlanInfo = sample_plan()
read_summary = partial(intake.read_score_summary, plan=PLAN)


def _past_any_sheet() -> bytes:
    """An xls whose dimensions say 2^32 rows by 65,535 columns: the library
    makes room for them all, the allocation fails, and Rust aborts."""
    return xls_file({"成绩汇总": [["姓名"]]}, dimensions=(0xFFFFFFFF, 0xFFFF))


def _date_out_of_range(tmp_path: Path) -> bytes:
    """A cell shown as a date holding -10^15 days: the library panics."""
    book = openpyxl.load_workbook(SAMPLE)
    sheet = book.worksheets[0]
    cell = sheet.cell(row=sheet.max_row + 2, column=1, value=-1e15)
    cell.number_format = "yyyy-mm-dd"
    book.save(tmp_path / "date.xlsx")
    return (tmp_path / "date.xlsx").read_bytes()


def spin(data: bytes) -> None:
    """A reader that never ends, using the processor all the while (one
    caught in a loop by a file no check knows yet)."""
    while data:
        pass


def wait(data: bytes) -> None:
    """A reader that never ends and uses no processor time (one held up)."""
    threading.Event().wait()


def test_a_reading_apart_answers_as_one_in_the_process() -> None:
    data = SAMPLE.read_bytes()

    apart = read_apart(read_summary, data)

    assert apart == read_summary(data)
    assert apart.accepted


def test_a_file_that_aborts_the_library_ends_its_own_process_only() -> None:
    parent = os.getpid()

    with pytest.raises(ReadingFailed) as failed:
        read_apart(read_summary, _past_any_sheet())

    assert failed.value.reason == "crashed"
    assert os.getpid() == parent
    # The next file is read as ever.
    assert read_apart(read_summary, SAMPLE.read_bytes()).accepted


def test_a_panic_of_the_library_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReadingFailed) as failed:
        read_apart(read_summary, _date_out_of_range(tmp_path))

    assert (failed.value.reason, failed.value.error) == ("raised", "PanicException")


def test_a_reading_past_its_processor_time_is_stopped() -> None:
    bounds = ReadingBounds(cpu_seconds=1, wall_seconds=60)

    with pytest.raises(ReadingFailed) as failed:
        read_apart(spin, b"x", bounds=bounds)

    assert failed.value.reason == "time"


def test_a_reading_past_its_wait_is_stopped() -> None:
    """The wait is bounded too (a child held up without using the processor
    counts no processor time): the child is killed, not left behind."""
    bounds = ReadingBounds(cpu_seconds=60, wall_seconds=1)

    with pytest.raises(ReadingFailed) as failed:
        read_apart(wait, b"x", bounds=bounds)

    assert failed.value.reason == "wait"


def test_a_reading_past_its_memory_is_stopped() -> None:
    """A CSV of 20 MB of commas is one row of 20 million cells, each a
    Python string: far past 400 MB of address space."""
    data = b"," * 20_000_000
    bounds = ReadingBounds(memory_mb=400)

    with pytest.raises(ReadingFailed) as failed:
        read_apart(read_summary, data, bounds=bounds)

    assert (failed.value.reason, failed.value.error) == ("memory", "MemoryError")


def test_a_mailed_attachment_that_aborts_the_library_is_a_problem() -> None:
    """A mailed form is read apart too: the mailbox's worker goes on, and the
    sender is told the attachment cannot be opened."""
    reading = read_form_workbook(
        _past_any_sheet(), sender="site@example.org", filename="申请表.xls"
    )

    assert not reading.is_form
    assert [p.code for p in reading.problems] == ["unreadable_attachment"]
    assert "申请表.xls" in reading.problems[0].message


def _core_limit() -> tuple[int, int]:
    import resource

    return resource.getrlimit(resource.RLIMIT_CORE)


def test_a_reading_that_crashes_leaves_no_core_dump() -> None:
    # An abort (a refused allocation) or SIGXCPU dumps core where the
    # machine allows it: a copy of the child's memory, the upload's names
    # and ID numbers in it, kept on disk (or by systemd-coredump) unasked.
    assert read_apart(_core_limit) == (0, 0)


_PROGRAM = """\
import sys
from pathlib import Path

if __name__ != "__main__":
    # Imported again, as a child would import it: say so.
    Path(sys.argv[1]).write_text(__name__)
else:
    from certflow.isolation import read_apart

    print(read_apart(len, b"read"))
"""


def _as_program(tmp_path: Path, source: str) -> tuple[list[str], dict[str, str]]:
    """The command running ``source`` as a program's main module, and the
    environment it finds certflow in."""
    program = tmp_path / "program.py"
    program.write_text(source)
    return [sys.executable, str(program)], {**os.environ, "PYTHONPATH": str(REPO)}


def test_a_child_does_not_import_the_program_again(tmp_path: Path) -> None:
    """Review: ``multiprocessing`` has each child import the program's main
    module again; for a worker run as ``python -m worker``, every one of its
    imports for each file read, about a second and 128 MB. Children are
    started without it: a program that would say it was imported again
    says nothing, and its reading is answered."""
    command, env = _as_program(tmp_path, _PROGRAM)
    said = tmp_path / "imported-again"

    done = subprocess.run(
        [*command, str(said)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
        check=False,
    )

    assert (done.returncode, done.stdout.strip()) == (0, "4"), done.stderr[-2000:]
    assert not said.exists()


def modules(*carried: object) -> frozenset[str]:
    """The modules a child holds once it has what it was given: those of
    the server it was forked from, and those the given things needed."""
    return frozenset(sys.modules)


def test_what_intake_gives_a_child_needs_no_module_the_server_lacks() -> None:
    """Regression: the font's coverage that intake reads names against is a
    class of the fonts module, not loaded by the server: each child imported
    it and its font library, half a second a file (the reading of a summary
    took 0.5 s, not 35 ms). The invoice reader was a function of the intake
    activities' module, whose imports (Temporal's SDK) each child took.
    Every reader read apart is checked so: the mailed form's, the annotated
    copy's and the staff tool's too."""
    from certflow.certificates import load_font
    from certflow.corrections import spreadsheet
    from certflow.invoice import read_invoice_details, read_invoice_upload

    served = read_apart(modules)
    carried = read_apart(
        modules,
        partial(intake.read_score_summary, unprintable=load_font().coverage()),
        read_invoice_upload,
        read_invoice_details,
        intake.annotated_copy,
        spreadsheet._read_form,
    )

    assert carried - served == frozenset()


def spin_saying_who(path: str) -> None:
    """Write this child's process id and its server's, then spin."""
    Path(path).write_text(f"{os.getpid()} {os.getppid()}")
    spin(b"x")


_KILLED_PROGRAM = """\
import sys

from certflow.isolation import ReadingBounds, read_apart
from tests.intake.test_reading_apart import spin_saying_who

if __name__ == "__main__":
    read_apart(spin_saying_who, sys.argv[1], bounds=ReadingBounds(cpu_seconds=60))
"""


def _gone(pid: int) -> bool:
    """Whether the process ``pid`` has ended (a zombie nobody reaped has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_a_killed_caller_leaves_no_server_nor_reading_behind(tmp_path: Path) -> None:
    """Regression (a trial of the stack): a worker killed with ``kill -9``
    during a reading left its server and the reading running, reparented,
    until the reading's processor bound: the server hands each child the
    write end of the pipe by which it learns its caller ended. Children let
    go of it: the server ends with its caller, and the reading with it."""
    command, env = _as_program(tmp_path, _KILLED_PROGRAM)
    said = tmp_path / "pids"
    caller = subprocess.Popen([*command, str(said)], cwd=REPO, env=env)
    try:
        for _ in range(300):
            if said.exists() and said.read_text():
                break
            time.sleep(0.05)
        child, server = map(int, said.read_text().split())
    finally:
        caller.kill()
        caller.wait()

    for _ in range(100):
        if _gone(child) and _gone(server):
            break
        time.sleep(0.1)
    assert _gone(server), "the server outlived its caller"
    assert _gone(child), "the reading outlived its caller"


def test_stopping_ends_readings_and_hands_them_back() -> None:
    """Regression (the same trial): a stack stopped with SIGTERM during a
    reading logged "stack stopped" and ended a minute later, waiting for
    it. ``stop_readings`` ends them at once, the one waiting for its turn
    too (found in review: it started after the stop); each says it was
    stopped, not that its file is unreadable, as does a reading asked for
    after, until readings resume."""
    ended: list[BaseException] = []

    def read() -> None:
        try:
            read_apart(spin, b"x", bounds=ReadingBounds(cpu_seconds=60))
        except BaseException as error:
            ended.append(error)

    readings = [threading.Thread(target=read) for _ in range(AT_ONCE + 1)]
    for reading in readings:
        reading.start()
    time.sleep(1.0)
    try:
        stop_readings()
        for reading in readings:
            reading.join(timeout=10)
        with pytest.raises(ReadingStopped):
            read_apart(len, b"read")
    finally:
        resume_readings()

    assert not any(reading.is_alive() for reading in readings)
    assert [type(error) for error in ended] == [ReadingStopped] * (AT_ONCE + 1)
    assert read_apart(len, b"read") == 4


def test_expat_out_of_memory_is_the_memory_bound(tmp_path: Path) -> None:
    """Regression (the same trial): an ods whose content holds one long
    comment made expat, measuring it, run out of the reading's memory, and
    the file was told it was damaged, with no line for the operator. It is
    the memory bound. (160 MB of words, which compress as text does.)"""
    rnd = random.Random(1)
    words = ["".join(rnd.choices("abcdefghij", k=9)) + " " for _ in range(16)]
    megabyte = "".join(rnd.choices(words, k=100_000)).encode()
    path = tmp_path / "comment.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", ODS_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        with archive.open("content.xml", "w", force_zip64=True) as content:
            content.write(b"<?xml version='1.0'?><office:document-content><!-- ")
            for _ in range(160):
                content.write(megabyte)
            content.write(b" --></office:document-content>")
    bounds = ReadingBounds(memory_mb=256)

    with pytest.raises(ReadingFailed) as failed:
        read_apart(read_summary, path.read_bytes(), bounds=bounds)

    assert (failed.value.reason, failed.value.error) == ("memory", "MemoryError")
