"""``./run``'s install of missing Debian packages, with the package tools
replaced by scripts that record what they were asked.

Trial: run as root on a machine missing a package, ``./run`` wrote its own
``policy-rc.d`` (no service may start while packages install) over any the
machine had, then removed it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _install_missing(tmp_path: Path, policy: Path) -> Path:
    """Run ``system_packages`` of ``./run`` as root with every package
    missing; return the file where apt-get wrote the policy it saw."""
    tools = tmp_path / "tools"
    tools.mkdir()
    seen = tmp_path / "policy-seen"
    _tool(tools, "id", "echo 0")
    _tool(tools, "dpkg", "exit 1")
    _tool(
        tools,
        "apt-get",
        f'[ "$1" = install ] && cat "{policy}" > "{seen}" 2>/dev/null; exit 0',
    )
    subprocess.run(
        ["bash", "-c", "source ./run && system_packages"],
        cwd=ROOT,
        env={
            "PATH": f"{tools}:{os.environ['PATH']}",
            "CERTFLOW_POLICY_RC": str(policy),
        },
        check=True,
        capture_output=True,
        timeout=30,
    )
    return seen


def test_a_policy_the_machine_has_is_left_as_it_is(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the machine's own\nexit 0\n")

    seen = _install_missing(tmp_path, policy)

    assert policy.read_text() == "#!/bin/sh\n# the machine's own\nexit 0\n"
    assert "the machine's own" in seen.read_text()


def test_without_a_policy_one_stops_services_for_the_install_only(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy-rc.d"

    seen = _install_missing(tmp_path, policy)

    assert "exit 101" in seen.read_text()
    assert not policy.exists()


# Counts the workflow modules a sandbox compiles from source when it imports
# ExamPlanWorkflow, as a worker does for each workflow run.
_SANDBOX_COMPILES = """
import asyncio
import importlib._bootstrap_external as external
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import _Definition
from workflows.exam_plan import ExamPlanWorkflow

compiled = []
source_to_code = external.SourceLoader.source_to_code
def counting(self, data, path, **kw):
    compiled.append(path)
    return source_to_code(self, data, path, **kw)
external.SourceLoader.source_to_code = counting
async def sandbox():
    defn = _Definition.must_from_class(ExamPlanWorkflow)
    SandboxedWorkflowRunner().prepare_workflow(defn)
asyncio.run(sandbox())
print(sum("workflows" in str(path) for path in compiled))
"""


def test_the_workflow_sandbox_finds_the_bytecode_run_compiles(tmp_path: Path) -> None:
    """With no bytecode written at run time (PYTHONDONTWRITEBYTECODE, as the
    worker's image sets it), each workflow run's sandbox compiled the workflow
    modules from source again: about 50 ms each, for every plan and every
    replay. ``./run`` compiles them once before a demo or a test run."""
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPYCACHEPREFIX": str(tmp_path / "bytecode"),
    }

    def compiles() -> int:
        probe = subprocess.run(
            [".venv/bin/python", "-c", _SANDBOX_COMPILES],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return int(probe.stdout.split()[-1])

    assert compiles() > 0  # nothing cached where this run looks

    subprocess.run(
        ["bash", "-c", "source ./run && bytecode"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    assert compiles() == 0


def test_a_file_that_cannot_be_compiled_ahead_leaves_the_run_going(
    tmp_path: Path,
) -> None:
    """Compiling ahead is only a saving: a file it cannot compile (or write
    the bytecode of) is left to the run, which says why, with a note."""
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "broken.py").write_text("def (\n")

    done = subprocess.run(
        ["bash", "-c", f"source {ROOT / 'run'} && bytecode && echo went-on"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.stdout.split() == ["went-on"]
    assert "Note:" in done.stderr
