"""The web service as it is run: ``python -m web`` on a loopback port, a real HTTP
client, and headless Chromium rendering the verification page.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from PIL import Image

from certflow.config import Settings
from certflow.privacy import id_number_tail, mask_id_number
from starter.embedded_pg import with_database
from tests.ports import free_port
from tests.web.samples import LI_FEN, WANG, Issued

ROOT = Path(__file__).resolve().parents[2]
MISTYPED_ID = "330106200308287008"
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=1000",
]


@dataclass(frozen=True)
class Served:
    """A running server: its base URL and the file its output goes to."""

    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def served(
    web_settings: Settings,
    issued: Issued,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """``python -m web`` with the tests' state folder and database."""
    state = web_settings.documents_dir.parent
    log = tmp_path_factory.mktemp("web-server") / "server.log"
    port = free_port()
    env = {
        **os.environ,
        "CERTFLOW_STATE": str(state),
        "DATABASE_URL": web_settings.database_url,
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "web", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                pytest.fail(f"the web server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{base}/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the web server did not answer:\n{log.read_text()}")
            time.sleep(0.1)
        yield Served(base, log)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_server_logs_routes_and_outcomes_but_no_person_or_token(
    served: Served, issued: Issued
) -> None:
    number = issued.of(WANG)
    with httpx.Client(base_url=served.base) as client:
        page = client.post(
            "/lookup", data={"name": WANG.name, "id_number": WANG.id_number}
        )
        link = page.text.split('href="/download/', 1)[1].split('"', 1)[0]
        link = "/download/" + link.replace("&amp;", "&")
        pdf = client.get(link)
        row = client.get(f"/verify/{number}")
        # The number form as a browser submits it, typed right and as a
        # mistyped ID number (wrong check digit).
        typed = client.post("/verify", data={"number": number.lower()})
        mistyped = client.post("/verify", data={"number": MISTYPED_ID})
    time.sleep(0.2)  # let the server flush its last lines

    log = served.output()
    token = parse_qs(urlsplit(link).query)["t"][0]
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert row.status_code == 200
    assert typed.status_code == 303
    assert typed.headers["location"] == f"/verify/{number}"
    assert mistyped.status_code == 400 and "location" not in mistyped.headers
    assert "route=/lookup status=200" in log
    assert f"download number={number} outcome=served" in log
    assert "route=/download/{number} status=200" in log
    for secret in (WANG.name, WANG.id_number, token, "?e=", "id_number", MISTYPED_ID):
        assert secret not in log, secret


# What a tester put in a certificate's page tree: a name, an ID number, and a
# line that would read as the service's own in its log.
PLANTED_NAME, PLANTED_ID = "胡俊霞", "330106200308287009"
PLANTED_LINE = (
    "2026-12-05 07:00:00,000 INFO certflow.web download number=ZCX1 outcome=served"
)


def with_a_string_in_its_page_tree(pdf: bytes, text: str) -> bytes:
    """``pdf`` with an incremental update that lists ``text`` (a PDF string)
    among the kids of its page tree, before the page: a reader skips it."""
    pages = re.search(rb"(\d+) 0 obj\s*<</Type/Pages/Kids\[([^\]]*)\]", pdf)
    assert pages is not None
    previous = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    size = int(re.findall(rb"/Size (\d+)", pdf)[-1])
    root = re.findall(rb"/Root (\d+ \d+ R)", pdf)[-1]
    escaped = (
        ("\ufeff" + text).encode("utf-16-be")
        .replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    )  # fmt: skip
    kids = b"(" + escaped + b") " + pages.group(2)
    body = b"\n%s 0 obj\n<</Type/Pages/Kids[%s]/Count 1>>\nendobj\n" % (
        pages.group(1),
        kids,
    )
    at = len(pdf) + 1
    xref = b"xref\n%s 1\n%010d 00000 n \n" % (pages.group(1), at)
    trailer = b"trailer\n<</Size %d/Root %s/Prev %d>>\nstartxref\n%d\n%%%%EOF\n" % (
        size,
        root,
        previous,
        len(pdf) + len(body),
    )
    return pdf + body + xref + trailer


def test_an_uploaded_file_writes_nothing_of_itself_into_the_log(
    served: Served, issued: Issued
) -> None:
    """Regression: pypdf's notes on an uploaded file went into the log as they
    were. A certificate with an incremental update whose page tree held a
    string put that string there, a name, an ID number and a forged line of
    the service's own included; a file that is no PDF put its first bytes
    there. Nor may a request the HTTP parser refuses echo itself."""
    with httpx.Client(base_url=served.base) as client:
        found = client.post(
            "/lookup", data={"name": WANG.name, "id_number": WANG.id_number}
        )
        link = found.text.split('href="/download/', 1)[1].split('"', 1)[0]
        genuine = client.get("/download/" + link.replace("&amp;", "&")).content
        planted = with_a_string_in_its_page_tree(
            genuine, f"{PLANTED_NAME} {PLANTED_ID}\n{PLANTED_LINE}"
        )
        answers = [
            client.post(
                "/verify/pdf", files={"file": ("a.pdf", body, "application/pdf")}
            )
            for body in (planted, f"{PLANTED_ID} {PLANTED_NAME}".encode())
        ]
    with socket.create_connection(
        ("127.0.0.1", int(served.base.rsplit(":", 1)[1]))
    ) as raw:
        raw.sendall(
            f"GET /{PLANTED_ID} HTTP/1.1\r\nHost x{PLANTED_ID}\r\n\r\n".encode()
        )
        refused = raw.recv(1024)
    time.sleep(0.2)  # let the server flush its last lines

    log = served.output()
    assert genuine.startswith(b"%PDF") and b"%%EOF" in planted[len(genuine) :]
    assert [a.status_code for a in answers] == [200, 200]
    assert "不是电子证书" in answers[1].text
    assert refused.startswith(b"HTTP/1.1 400")
    assert "route=/verify/pdf status=200" in log
    for planted_text in (PLANTED_NAME, PLANTED_ID, "2026-12-05 07:00:00", "pypdf"):
        assert planted_text not in log, planted_text


def test_the_server_says_where_it_listens(served: Served) -> None:
    """Regression: `certflow web` printed nothing of the address it serves."""
    assert (
        f"证书查询与验证网页已启动：{served.base} （按 Ctrl-C 停止）" in served.output()
    )


def test_a_clients_own_forwarded_header_does_not_choose_its_limit(
    served: Served,
) -> None:
    """Regression: X-Forwarded-For from 127.0.0.1 was believed by default, so a
    client on the same host (or behind a proxy passing the header through)
    got a fresh look-up allowance per made-up address."""
    with httpx.Client(base_url=served.base) as client:
        answers = [
            client.post(
                "/lookup",
                data={"name": "某某", "id_number": "11010519491231002X"},
                headers={"X-Forwarded-For": f"10.0.0.{i}"},
            ).status_code
            for i in range(15)
        ]
    assert 429 in answers, answers


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed")
def test_chromium_renders_the_verification_page(
    served: Served, issued: Issued, tmp_path: Path
) -> None:
    url = f"{served.base}/verify/{issued.of(LI_FEN)}"
    shot = tmp_path / "verify.png"

    taken = run_chromium(
        [f"--screenshot={shot}", "--window-size=420,900", url], tmp_path / "profile"
    )
    dom = run_chromium(["--dump-dom", url], tmp_path / "profile-dom")

    print(f"screenshot of the verification page: {shot}")
    assert shot.is_file(), taken.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (420, 900)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    # Text in several colours, anti-aliased: far more than a blank page's one.
    assert colours is None or len(colours) > 50
    assert "证书有效" in dom.stdout
    # By number alone: the surname and the ID number's last 4 characters.
    assert id_number_tail(LI_FEN.id_number) in dom.stdout and "黎某" in dom.stdout
    assert mask_id_number(LI_FEN.id_number) not in dom.stdout
    assert issued.of(LI_FEN) in dom.stdout


def test_head_is_answered_without_a_body(served: Served) -> None:
    """Regression: HEAD / (what uptime monitors send) was answered 405."""
    with httpx.Client(base_url=served.base) as client:
        head = client.head("/")
        get = client.get("/")

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def start(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m web`` as staff would, expecting it to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "web", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refused_in_one_line(started: subprocess.CompletedProcess[str]) -> str:
    """The one Chinese line a refusal prints, checked to be no traceback."""
    assert started.returncode != 0
    assert "Traceback" not in started.stderr and "Error" not in started.stderr
    [line] = started.stderr.strip().splitlines()
    return line


def test_the_server_refuses_to_start_without_the_signing_key(tmp_path: Path) -> None:
    started = start(
        ["--port", str(free_port())], {"CERTFLOW_STATE": str(tmp_path / "empty")}
    )

    line = refused_in_one_line(started)
    assert started.returncode == 1
    assert "certificate-signing.pem 不存在" in line
    assert "certflow keys create" in line
    # Trial: serving a demo's records without its state folder, the advice
    # was only to make a key, which would match none of its certificates.
    assert "CERTFLOW_STATE" in line


def test_a_port_out_of_range_is_refused_in_chinese(web_settings: Settings) -> None:
    """Regression: --port 99999 ended in an OverflowError traceback."""
    state = web_settings.documents_dir.parent
    started = start(
        ["--port", "99999"],
        {"CERTFLOW_STATE": str(state), "DATABASE_URL": web_settings.database_url},
    )

    assert started.returncode == 2
    assert "Traceback" not in started.stderr
    assert "1 到 65535" in started.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://certflow:s3cret-pw@127.0.0.1:{port}/certflow", "无法连接数据库"),
        (
            "postgresql://certflow:s3cret-pw@127.0.0.1:99999/certflow",
            "环境变量 DATABASE_URL 有误",
        ),
        (
            "postgresql://certflow:s3cret-pw@127.0.0.1:port/certflow",
            "环境变量 DATABASE_URL 有误",
        ),
        ("mysql://certflow:s3cret-pw@127.0.0.1/certflow", "环境变量 DATABASE_URL 有误"),
    ],
)
def test_a_database_that_cannot_be_reached_is_one_chinese_line(
    web_settings: Settings, url: str, says: str
) -> None:
    """Regression: about fifty lines of asyncpg traceback, exit status 3."""
    state = web_settings.documents_dir.parent
    database_url = url.format(port=free_port())

    started = start(
        ["--port", str(free_port())],
        {"CERTFLOW_STATE": str(state), "DATABASE_URL": database_url},
    )

    line = refused_in_one_line(started)
    # A malformed address is refused with the configuration, before the server.
    assert started.returncode == (1 if says == "无法连接数据库" else 2)
    assert says in line
    assert "s3cret-pw" not in started.stderr


def test_a_busy_port_is_refused_before_the_database_is_touched(
    web_settings: Settings, web_database: str
) -> None:
    """Regression: the schema was migrated, then uvicorn said in English
    "[Errno 98] address already in use"."""
    state = web_settings.documents_dir.parent
    fresh = f"certflow_web_busy_{uuid.uuid4().hex[:8]}"
    admin_url = with_database(web_database, "postgres")
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{fresh}"'))
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            started = start(
                ["--port", str(port)],
                {
                    "CERTFLOW_STATE": str(state),
                    "DATABASE_URL": with_database(web_database, fresh),
                },
            )
        tables = asyncio.run(
            _fetchval(
                with_database(web_database, fresh),
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            )
        )
    finally:
        asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{fresh}"'))

    assert tables == 0  # not even the migrations' own table
    line = refused_in_one_line(started)
    assert started.returncode == 1
    assert f"端口 {port} 已被占用" in line


async def _execute(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fetchval(url: str, sql: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


def test_two_servers_started_at_once_cannot_both_take_the_port() -> None:
    """Regression: the start-up check bound the port without listening on it,
    and a port merely bound with SO_REUSEADDR can be bound again: a second
    server started at the same moment passed the check, then failed inside
    uvicorn with a traceback instead of the Chinese line."""
    from certflow.i18n import t
    from web.startup import StartError, listen

    first = listen("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(StartError) as refused:
            listen("127.0.0.1", port).close()
    finally:
        first.close()
    assert str(refused.value) == t("web.serve.port_in_use", port=port)


def test_a_database_that_never_answers_is_refused_in_seconds(
    web_settings: Settings,
) -> None:
    """Regression: a server that takes the connection and then says nothing
    kept `certflow web` silent for the driver's full minute."""
    state = web_settings.documents_dir.parent
    with socket.socket() as silent:  # the kernel accepts; nobody ever reads
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"postgresql://certflow@127.0.0.1:{silent.getsockname()[1]}/certflow"
        began = time.monotonic()
        started = start(
            ["--port", str(free_port())],
            {"CERTFLOW_STATE": str(state), "DATABASE_URL": url},
        )
        waited = time.monotonic() - began

    line = refused_in_one_line(started)
    assert started.returncode == 1
    assert "无法连接数据库" in line
    assert waited < 30
