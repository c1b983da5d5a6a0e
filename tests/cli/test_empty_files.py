"""An empty file given to the staff tool is refused as empty, before anything is
stored or sent.

A file saved before it was filled in, or the wrong file picked, holds nothing
(no byte, or blank lines only). Regression: a calendar file like that was
called unreadable (neither TOML, CSV nor the notice); an empty upload was put
in the document store and sent to the plan, which refused it only then.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from certflow.config import Settings
from certflow.i18n import t
from starter.sample_plan import sample_invoice_form
from tests.cli.conftest import Certflow
from tests.support import SCAN_PDF

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

LEAD = ["--as", "lead_evaluator", "--person", "ZCX-E-0107"]
SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]
ADMIN = ["--as", "admin", "--person", "admin-liu"]
# No such plan: a file that reached it would be answered "no such plan".
PLAN_ID = "P2026-0000-0001"
# No byte at all, and what a file saved blank holds: line breaks, spaces, a
# byte order mark, NUL padding.
BLANKS = {
    "empty": b"",
    "blank": b"\xef\xbb\xbf \r\n\t\r\n  \n\x00\x00",
}


def _stored(settings: Settings, data: bytes) -> bool:
    """Whether the document store holds ``data``."""
    return _stamp(settings, data) is not None


def _stamp(settings: Settings, data: bytes) -> tuple[int, int] | None:
    """The store's file of ``data`` as (inode, modification time), or None.

    Another test of the session may have stored the same bytes (an empty
    file, put in the store directly): a refusal then must leave that file
    as it was, not written again.
    """
    digest = hashlib.sha256(data).hexdigest()
    try:
        stat = (settings.documents_dir / digest[:2] / digest).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


@pytest.mark.parametrize("content", BLANKS.values(), ids=BLANKS.keys())
async def test_an_empty_calendar_file_is_said_to_be_empty_and_what_it_should_hold(
    certflow: Certflow, tmp_path: Path, content: bytes
) -> None:
    outcomes = []
    for name in ("2027.toml", "2027.csv", "2027-notice.txt", "2027节假日安排"):
        path = tmp_path / name
        path.write_bytes(content)
        outcomes.append(await certflow(*ADMIN, "calendar", "load", str(path)))

    for outcome in outcomes:
        assert outcome.status == 2
        assert outcome.out.split("\n")[:2] == [
            t("cli.calendar_refused"),
            f"  {t('calendar.file_empty')}",
        ], outcome.out
        assert t("calendar.file_unreadable") not in outcome.out
    # What it should hold: the three forms a schedule is loaded from.
    for form in ("国务院办公厅关于", "TOML", "year", "holidays", "CSV", "date,kind"):
        assert form in t("calendar.file_empty")


@pytest.mark.parametrize("content", BLANKS.values(), ids=BLANKS.keys())
@pytest.mark.parametrize(
    ("actor", "document"),
    [
        (LEAD, "summary"),
        (LEAD, "scan"),
        (SITE, "candidates"),
        (SITE, "evaluators"),
    ],
)
async def test_an_empty_upload_is_refused_before_it_is_stored_or_sent(
    certflow: Certflow,
    worker_settings: Settings,
    tmp_path: Path,
    actor: list[str],
    document: str,
    content: bytes,
) -> None:
    path = tmp_path / f"{document}.xlsx"
    path.write_bytes(content)
    before = _stamp(worker_settings, content)

    outcome = await certflow(*actor, "upload", document, PLAN_ID, str(path))

    assert outcome.status == 2
    # A scan is said to be one, as the staff guide promises, and scanned again.
    said = "cli.scan_empty" if document == "scan" else "cli.file_empty"
    assert outcome.out.strip() == t(said, path=path)
    assert _stamp(worker_settings, content) == before


async def test_an_empty_invoice_form_leaves_the_scan_unstored(
    certflow: Certflow, worker_settings: Settings, tmp_path: Path
) -> None:
    """Every file of an action is checked before any is stored: the scan,
    given first and good, is not kept for an application refused."""
    scan = tmp_path / "申请表.pdf"
    # A scan of its own, so that no other test has stored the same bytes.
    scan_bytes = SCAN_PDF + f"%{uuid.uuid4().hex}\n".encode()
    scan.write_bytes(scan_bytes)
    form = tmp_path / "院校发票信息收集表.xlsx"
    form.write_bytes(b"\r\n")

    outcome = await certflow(
        *SITE, "application", PLAN_ID, "--scan", str(scan), "--invoice-form",
        str(form), "--paid-plan", PLAN_ID, "--head-count", "14",
        "--amount", "4200.00", "--paid-on", "2026-12-20",
    )  # fmt: skip

    assert outcome.status == 2
    assert outcome.out.strip() == t("cli.file_empty", path=form)
    assert not _stored(worker_settings, scan_bytes)
    assert not _stored(worker_settings, b"\r\n")


@pytest.mark.parametrize("content", BLANKS.values(), ids=BLANKS.keys())
async def test_every_empty_file_of_an_application_is_said_at_once(
    certflow: Certflow, worker_settings: Settings, tmp_path: Path, content: bytes
) -> None:
    """Trial: a scan of blank lines only was refused as no PDF, JPEG or PNG
    (one of no byte as empty), and of an empty scan and an empty form only
    the scan was said: each fixed file met the next refusal."""
    scan = tmp_path / "申请表.pdf"
    scan.write_bytes(content)
    form = tmp_path / "院校发票信息收集表.xlsx"
    form.write_bytes(content)
    before = _stamp(worker_settings, content)

    outcome = await certflow(
        *SITE, "application", PLAN_ID, "--scan", str(scan), "--invoice-form",
        str(form), "--paid-plan", PLAN_ID, "--head-count", "14",
        "--amount", "4200.00", "--paid-on", "2026-12-20",
    )  # fmt: skip

    assert outcome.status == 2
    assert outcome.out.strip().splitlines() == [
        t("cli.scan_empty", path=scan),
        t("cli.file_empty", path=form),
    ]
    assert _stamp(worker_settings, content) == before


async def test_a_filled_invoice_form_still_goes_to_the_plan(
    certflow: Certflow, tmp_path: Path
) -> None:
    """The check of files lets a real form through: the plan is then asked
    (and, not existing, says so)."""
    scan = tmp_path / "申请表.pdf"
    scan.write_bytes(SCAN_PDF)
    form = tmp_path / "院校发票信息收集表.xlsx"
    form.write_bytes(sample_invoice_form())

    outcome = await certflow(
        *SITE, "application", PLAN_ID, "--scan", str(scan), "--invoice-form",
        str(form), "--paid-plan", PLAN_ID, "--head-count", "14",
        "--amount", "4200.00", "--paid-on", "2026-12-20",
    )  # fmt: skip

    assert outcome.status == 2
    assert t("cli.file_empty", path=form) not in outcome.out
    assert PLAN_ID in outcome.out
