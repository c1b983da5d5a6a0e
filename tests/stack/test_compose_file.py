"""docker-compose.yml: valid Compose, complete for the worker, in step with the code.

No container engine runs here, so the file is checked against the official
compose-spec JSON schema (as shipped by the check-jsonschema package), by
``docker compose config`` where the Docker client has the compose plugin, and by
structural rules this project relies on.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from ruamel.yaml import YAML

from certflow import search_attributes
from certflow.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
# Code that runs inside the worker process, where environment variables are read.
WORKER_CODE = ["worker.py", "certflow", "activities", "workflows"]


@cache
def _compose() -> dict[str, Any]:
    data = YAML(typ="safe").load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / (
        "compose-spec.json"
    )
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _service(name: str) -> dict[str, Any]:
    service = _compose()["services"][name]
    assert isinstance(service, dict)
    return service


def _interpolate(value: str) -> str:
    # Enough of Compose interpolation for these values: ${VAR}, ${VAR:-default}
    # and ${VAR:?error}, with the variables an operator is told to set.
    given = {"POSTGRES_PASSWORD": "secret"}

    def replace(match: re.Match[str]) -> str:
        name, operator, default = match.group(1), match.group(2), match.group(3)
        if name in given:
            return given[name]
        assert operator != ":?", f"{name} must be set"
        return default or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", replace, value)


def _dockerfile_env() -> set[str]:
    names: set[str] = set()
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("ENV "):
            names.update(re.findall(r"([A-Z_][A-Z0-9_]*)=", line))
    return names


class _EnvReads(ast.NodeVisitor):
    """Collects the names of environment variables a module reads."""

    def __init__(self, constants: dict[str, str]) -> None:
        self.constants = constants
        self.names: set[str] = set()

    def _is_environ(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr == "environ"
        return isinstance(node, ast.Name) and node.id in {"environ", "env"}

    def _record(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.names.add(node.value)
        elif isinstance(node, ast.Name) and node.id in self.constants:
            self.names.add(self.constants[node.id])

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        reads_mapping = (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and self._is_environ(func.value)
        )
        calls_getenv = (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
            isinstance(func, ast.Name) and func.id == "getenv"
        )
        if (reads_mapping or calls_getenv) and node.args:
            self._record(node.args[0])
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if self._is_environ(node.value):
            self._record(node.slice)
        self.generic_visit(node)


def _env_vars_read_by(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            target.id: stmt.value.value
            for stmt in tree.body
            if isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
            for target in stmt.targets
            if isinstance(target, ast.Name)
        }
        reads = _EnvReads(constants)
        reads.visit(tree)
        names |= reads.names
    return names


def _worker_sources() -> list[Path]:
    files: list[Path] = []
    for entry in WORKER_CODE:
        path = REPO / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [f for f in files if f.exists()]


@pytest.mark.timeout(60)
def test_compose_file_matches_the_compose_spec_schema() -> None:
    assert _schema_errors(_compose()) == []


@pytest.mark.timeout(60)
def test_schema_check_rejects_a_misspelt_key() -> None:
    broken = copy.deepcopy(_compose())
    broken["services"]["worker"]["depend_on"] = broken["services"]["worker"].pop(
        "depends_on"
    )

    assert any("depend_on" in error for error in _schema_errors(broken))


@pytest.mark.timeout(60)
def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip("the docker client here has no compose plugin")

    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "POSTGRES_PASSWORD": "compose-config-check"},
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.timeout(60)
def test_registration_job_creates_every_search_attribute() -> None:
    expected: dict[str, str] = {}
    flags = search_attributes.cli_flags()
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        assert flag == "--search-attribute"
        name, kind = value.split("=")
        expected[name] = kind
    script = "\n".join(_service("register-search-attributes")["command"])

    registered = dict(re.findall(r"^\s*create (\w+) (\w+)\s*$", script, re.MULTILINE))

    assert len(expected) == len(search_attributes.ALL)
    assert registered == expected


@pytest.mark.timeout(60)
def test_worker_waits_for_the_registration_job_and_healthy_servers() -> None:
    conditions = _service("worker")["depends_on"]

    assert conditions["register-search-attributes"] == {
        "condition": "service_completed_successfully"
    }
    for name, rule in _compose()["services"].items():
        for needed, condition in (rule.get("depends_on") or {}).items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in _service(needed), f"{name} waits on {needed}"
    assert _service("register-search-attributes")["restart"] == "no"


@pytest.mark.timeout(60)
def test_every_environment_variable_the_worker_reads_is_set() -> None:
    read = _env_vars_read_by(_worker_sources())
    worker_env = _service("worker")["environment"]
    provided = set(worker_env) | _dockerfile_env()

    # A sanity floor: the scan must at least see the settings overrides.
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "SMTP_HOST"} <= read
    # libpq's own defaults, read only to name the database a URL without one
    # connects to, as the driver would; the stack's URL names its database.
    driver_defaults = {"PGDATABASE", "PGUSER"}
    assert urlsplit(_interpolate(worker_env["DATABASE_URL"])).path.strip("/")
    assert read - provided - driver_defaults == set()


@pytest.mark.timeout(60)
def test_worker_addresses_name_services_of_the_stack() -> None:
    env = _service("worker")["environment"]
    services = set(_compose()["services"])

    database_host = urlsplit(_interpolate(env["DATABASE_URL"])).hostname
    temporal_host = env["TEMPORAL_ADDRESS"].split(":")[0]

    assert {database_host, temporal_host, env["SMTP_HOST"]} <= services


@pytest.mark.timeout(60)
def test_dockerfile_copies_only_what_exists() -> None:
    sources: list[str] = []
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources += line.split()[1:-1]
    mounted = [
        volume.split(":")[0]
        for service in _compose()["services"].values()
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    ]

    assert sources
    for source in sources + mounted:
        assert (REPO / source).exists(), source


SIGNING_KEY_SECRET = "certificate-signing-key"


@pytest.mark.timeout(60)
def test_the_signing_key_is_a_file_secret_the_worker_reads() -> None:
    """CERTFLOW_STATE once replaced any signing key path by one on the volume,
    where nothing put a key: issuance could only fail."""
    worker = _service("worker")
    secret = _compose()["secrets"][SIGNING_KEY_SECRET]
    mounted = [s for s in worker["secrets"] if s["source"] == SIGNING_KEY_SECRET]
    key_path = f"/run/secrets/{mounted[0]['target']}"
    env = {
        name: _interpolate(str(value)) for name, value in worker["environment"].items()
    }
    # The worker's configuration, read as the container reads it.
    env["CERTFLOW_CONFIG"] = str(REPO / "config" / "certflow.toml")
    settings = Settings.load().with_environment(env)
    default_file = re.fullmatch(r"\$\{\w+:-(?P<file>[^}]+)\}", secret["file"])

    assert settings.certificates.signing_key_file == Path(key_path)
    assert settings.documents_dir == Path(env["CERTFLOW_STATE"]) / "documents"
    # Where staff put the key is documented, and the key is never committed.
    assert default_file is not None
    documented = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert f"keys create --out {default_file['file'].removeprefix('./')}" in documented
    assert "/secrets/" in (REPO / ".gitignore").read_text(encoding="utf-8").split()


@pytest.mark.timeout(60)
def test_the_state_folder_takes_every_path_and_the_key_comes_from_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: absolute paths once stayed where the configuration named them,
    so a training stack on a host with the organisation's configuration would
    have signed with the production key and written into its documents. The
    state folder takes them all; a key mounted as a secret is named by
    CERTFLOW_SIGNING_KEY_FILE (the compose stack's way)."""
    config = tmp_path / "certflow.toml"
    config.write_text(
        'documents_dir = "/srv/documents"\noutput_dir = "files/out"\n'
        '[certificates]\nsigning_key_file = "/etc/certflow/production.pem"\n'
        '[mailbox]\npath = "/srv/mail/exam"\n',
        encoding="utf-8",
    )
    state = tmp_path / "state"
    monkeypatch.setenv("CERTFLOW_STATE", str(state))
    monkeypatch.delenv("CERTFLOW_SIGNING_KEY_FILE", raising=False)

    settings = Settings.load(config)

    assert settings.certificates.signing_key_file == (
        state / "keys" / "certificate-signing.pem"
    )
    assert settings.documents_dir == state / "documents"
    assert settings.output_dir == state / "out"
    assert settings.mailbox.path == state / "mailbox" / "exam"
    monkeypatch.setenv("CERTFLOW_SIGNING_KEY_FILE", "/run/secrets/key.pem")
    secret = Settings.load(config).certificates.signing_key_file
    assert secret == Path("/run/secrets/key.pem")
