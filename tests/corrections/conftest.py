"""The intake rig a test of the exam mailbox opens (see mail_intake_support)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.documents import DocumentStore
from certflow.config import Settings
from tests.corrections.mail_intake_support import IntakeRig, RigFactory, intake_rig


@pytest.fixture
def open_rig(
    env: WorkflowEnvironment,
    resources: tuple[Any, DocumentStore],
    worker_settings: Settings,
    tmp_path: Path,
) -> RigFactory:
    """Open an intake rig for this test; options go to ``intake_rig``."""

    def open_with(**options: Any) -> AbstractAsyncContextManager[IntakeRig]:
        return intake_rig(env, resources, worker_settings, tmp_path, **options)

    return open_with
