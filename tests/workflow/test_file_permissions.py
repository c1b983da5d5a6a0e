"""What certflow writes is readable by its own user only.

Regression: certificate PDFs and the staff tool's copies in ``<state>/out/``
were 0644 in 0755 folders (readable by every user of the machine), although
they hold names and ID numbers, while the document store and the signing key
were private.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities
from activities.documents import DocumentStore
from certflow.activity_models import IssueRequest
from certflow.config import Settings
from certflow.files import write_private
from tests.workflow.test_issuance import plan_with_scores

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most machines have, which leaves new files readable by all."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def modes_below(root: Path) -> dict[str, int]:
    """Every folder and file below ``root`` (itself included) and its mode."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def assert_private(root: Path) -> None:
    modes = modes_below(root)
    assert len(modes) > 1, f"nothing written below {root}"
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert wrong == {}


async def test_issued_pdfs_and_the_document_store_are_private(
    settings: Settings, resources: Any, tmp_path: Path, usual_umask: None
) -> None:
    pool, _ = resources
    state = tmp_path / "state"
    own = settings.model_copy(
        update={"documents_dir": state / "documents", "output_dir": state / "out"}
    )
    store = DocumentStore(own.documents_dir)
    plan = await plan_with_scores(pool, store, tmp_path)

    # A year no other test issues in, so its counter is this test's alone.
    result = await ActivityEnvironment().run(
        CertificateActivities(own, pool, store).issue_certificates,
        IssueRequest(plan=plan, issued_on=date(2032, 5, 6)),
    )

    assert result.issued == 14
    assert_private(own.output_dir)
    assert_private(own.documents_dir)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


async def test_a_file_left_readable_by_an_older_version_is_private_once_rewritten(
    tmp_path: Path, usual_umask: None
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    report = out / "report.xlsx"
    report.write_bytes(b"old")
    os.chmod(report, 0o644)

    write_private(report, b"new")
    write_private(out / "new" / "deeper" / "file.pdf", b"pdf")

    assert report.read_bytes() == b"new"
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    # A folder that existed is left as its owner made it; new ones are private.
    assert stat.S_IMODE((out / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "new" / "deeper").stat().st_mode) == 0o700
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
