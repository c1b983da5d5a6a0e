"""The whole local stack in one command: ``python -m starter.stack``.

It starts, in this order, PostgreSQL (the configured server, or an embedded one),
the Temporal dev server with the certflow search attributes, the SMTP sink, and
the certflow worker in this process. Ctrl-C or SIGTERM stops them in reverse
order. All state lives in one folder (``.state/`` or ``CERTFLOW_STATE``), so the
next start resumes every workflow against the same database and mail folders.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import importlib
import logging
import os
import shlex
import shutil
import signal
import stat
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from activities.db import database_name
from certflow.arguments import StaffArgumentParser, argument_help
from certflow.certificates.keys import generate_keypair
from certflow.config import (
    KEY_FILE_ENV,
    ConfigError,
    MailboxSettings,
    Settings,
    state_key_file,
    unaddressed_warning,
)
from certflow.files import (
    NotRegularFile,
    create_private,
    node_kind,
    private_dir,
    write_private,
)
from certflow.i18n import t
from certflow.timeutil import format_cst
from starter.devserver import (
    DevServer,
    PortInUseError,
    StackStartError,
    ensure_port_free,
    listens_beyond_loopback,
)
from starter.embedded_pg import (
    ensure_database,
    redact,
    with_database,
)
from starter.logs import configure as configure_logging
from starter.schedules import ensure_standing_workflows
from starter.smtp_sink import ALL_FOLDER, MailSink
from starter.training import (
    TRAINING_DATABASE,
    TRAINING_PORT,
    TRAINING_SMTP_PORT,
    TRAINING_STATE,
    TrainingServer,
    training_now,
)

log = logging.getLogger("starter.stack")

EXAM_MAILBOX_FOLDER = "exam"
# How often the training stack reads the exam mailbox on its own.
TRAINING_POLL_INTERVAL = timedelta(hours=1)


def _parse_mailbox(value: str) -> tuple[str, str]:
    address, sep, folder = value.partition("=")
    if not sep or "@" not in address or not folder or "/" in folder:
        raise argparse.ArgumentTypeError(t("stack.bad_mailbox", value=value))
    return address, folder


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of the stack command."""
    parser = StaffArgumentParser(
        prog="certflow stack", description=argument_help("stack", "description")
    )

    def helps(name: str) -> str:
        return argument_help("stack", name)

    parser.add_argument("--training", action="store_true", help=helps("training"))
    # Defaults depend on --training; see ``_resolve_defaults``.
    parser.add_argument("--state", type=Path, metavar="FOLDER", help=helps("state"))
    parser.add_argument(
        "--database-url", metavar="URL", help=helps("training_database")
    )
    parser.add_argument("--port", type=int, help=helps("port"))
    parser.add_argument("--ui-port", type=int, help=helps("ui_port"))
    parser.add_argument("--http-port", type=int, help=helps("http_port"))
    parser.add_argument("--metrics-port", type=int, help=helps("metrics_port"))
    parser.add_argument("--smtp-port", type=int, help=helps("smtp_port"))
    parser.add_argument(
        "--mailbox",
        action="append",
        default=[],
        type=_parse_mailbox,
        metavar="ADDRESS=FOLDER",
        help=helps("mailbox"),
    )
    parser.add_argument("--no-worker", action="store_true", help=helps("no_worker"))
    # Also given before 'stack' (certflow --config FILE stack): CERTFLOW_CONFIG.
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help=argument_help("common", "config")
    )
    return parser


def _configure_logging() -> None:
    configure_logging(sys.stderr)
    # pgserver logs whole command outputs over many lines at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # aiosmtpd logs every SMTP command at INFO, senders' and recipients'
    # addresses included; the sink's own line per mail is enough.
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _on_signal, signum, stop)


def _on_signal(signum: int, stop: asyncio.Event) -> None:
    log.info("stack stopping signal=%s", signal.Signals(signum).name)
    stop.set()


def _load_worker() -> ModuleType | None:
    try:
        worker = importlib.import_module("worker")
    except ModuleNotFoundError as err:
        if err.name != "worker":
            raise
        log.warning(
            "worker not available yet: no worker module; servers run without it"
        )
        return None
    if not hasattr(worker, "run_worker") or not hasattr(worker, "connect"):
        log.warning("worker not available yet: worker.py lacks connect/run_worker")
        return None
    return worker


async def run(
    args: argparse.Namespace, base: Settings, server: DevServer, wanted_url: str
) -> int:
    """Start every part, wait for a stop signal, stop them in reverse order.

    ``main`` has checked the arguments, the configuration and the ports, and
    holds the state folder's lock.
    """
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    state: Path = args.state
    mail_root = state / "mailbox"

    async with contextlib.AsyncExitStack() as parts:
        database_url, close_database = await ensure_database(wanted_url, state)
        parts.push_async_callback(close_database)
        if args.training:
            await start_training_afresh(database_url, state)

        await parts.enter_async_context(server)

        mailboxes = {base.smtp.sender: mail_root / EXAM_MAILBOX_FOLDER}
        mailboxes.update({addr: mail_root / folder for addr, folder in args.mailbox})
        sink = MailSink("127.0.0.1", args.smtp_port, mail_root, mailboxes)
        await _start_sink(parts, sink)

        settings = stack_settings(
            base, state, database_url, server.address, sink.host, sink.port
        )
        config = _config_file(args.config)
        if args.training:
            settings = settings.model_copy(
                update={"mailbox": training_mailbox(settings.mailbox)}
            )
        await asyncio.to_thread(ensure_signing_key, settings)
        worker_task = (
            None
            if args.no_worker
            else await _start_worker(settings, stop, training=args.training)
        )
        if worker_task is not None:
            # Registered last so it is stopped first.
            parts.push_async_callback(_stop_worker, worker_task, stop)

        clock = None
        if server.client is not None and args.training:
            clock = await training_now(server.client)
        _print_endpoints(
            server, sink, mailboxes, settings, worker_task is not None, clock, config
        )
        log.info("stack ready state=%s", state)

        stopped = asyncio.ensure_future(stop.wait())
        waiters: set[asyncio.Future[Any]] = {stopped}
        if worker_task is not None:
            waiters.add(worker_task)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if worker_task is not None and worker_task.done() and not stop.is_set():
            error = worker_task.exception()
            log.error("worker ended on its own error=%r; stopping the stack", error)
            return 1

    log.info("stack stopped")
    return 0


async def _start_sink(parts: contextlib.AsyncExitStack, sink: MailSink) -> None:
    try:
        await parts.enter_async_context(sink)
    except OSError as err:
        # Taken after the check at launch, by a process that was quicker.
        if err.errno == errno.EADDRINUSE:
            raise PortInUseError(sink.port, "SMTP sink", "--smtp-port") from err
        raise


def check_training_state(state: Path) -> None:
    """Refuse a training stack in a real-clock stack's folder.

    A training stack empties its mail and documents at each start; a folder
    holding the dev server's ``temporal.sqlite`` belongs to a real stack.
    """
    if (state / "temporal.sqlite").exists():
        raise StackStartError(
            f"{state} holds a real-clock stack's Temporal state (temporal.sqlite); "
            "a training stack needs a folder of its own (--state).",
            t("stack.training_state_taken", state=state),
        )


def training_database_url(base: Settings, given: str | None) -> str:
    """The training stack's database: its own one on the configured server.

    Never the configured database (the real-clock stack's, or production's),
    which the training stack would empty. A database of the training stack's
    own name is its own even where the configuration names it: the banner's
    ``export`` line points ``DATABASE_URL`` of the shell it is run in at the
    training database, and the stack restarted from that shell meets it there.
    """
    url = given or with_database(base.database_url, TRAINING_DATABASE)
    name = database_name(url)
    if name != TRAINING_DATABASE and name == database_name(base.database_url):
        raise StackStartError(
            f"The training stack empties its database at each start; it will not "
            f"use {name!r}, the configured database (DATABASE_URL or the "
            "configuration file).",
            t("stack.training_database_taken", name=name),
        )
    return url


async def start_training_afresh(database_url: str, state: Path) -> None:
    """Empty the training database, mail and documents of the last session.

    The time-skipping server keeps plans in memory only, so they are gone;
    their rows would refuse their plan ids and their mails confuse the reader.
    """
    from activities.db import create_pool, empty_tables, migrate

    pool = await create_pool(database_url, max_size=1)
    try:
        await migrate(pool)
        await empty_tables(pool)
    finally:
        await pool.close()
    for folder in ("mailbox", "documents", "out"):
        await asyncio.to_thread(shutil.rmtree, state / folder, True)
    log.info("training stack starts afresh state=%s", state)


def training_mailbox(mailbox: MailboxSettings) -> MailboxSettings:
    """The exam mailbox as the training stack reads it: less often.

    Every poll is a timer, and advancing the clock by weeks would otherwise
    fire thousands of them; ``certflow mailbox poll`` reads it at once.
    """
    interval = max(mailbox.poll_interval, TRAINING_POLL_INTERVAL)
    return mailbox.model_copy(update={"poll_interval": interval})


def stack_settings(
    base: Settings,
    state: Path,
    database_url: str,
    temporal_address: str,
    smtp_host: str,
    smtp_port: int,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    """The settings of a stack: every path of the state in its folder, its
    own servers; the signing key there too, unless CERTFLOW_SIGNING_KEY_FILE
    names one.

    Trial: the variable was dropped here, so a key could not be rotated on a
    local stack: the stack went on signing with the state's first key and
    published only it, whatever the operator named.
    """
    stack_env = {
        "CERTFLOW_STATE": str(state),
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "SMTP_HOST": smtp_host,
        "SMTP_PORT": str(smtp_port),
    }
    if key_file := env.get(KEY_FILE_ENV):
        stack_env[KEY_FILE_ENV] = key_file
    return base.with_environment(stack_env)


def ensure_signing_key(settings: Settings) -> bool:
    """Create the certificate signing key if the configured file does not exist.

    A local stack must be able to issue certificates from its first start; a
    production key is created and guarded by staff instead. Returns True if a key
    was created. The public half is written beside it for verifiers.
    """
    path = settings.certificates.signing_key_file
    if path.exists():
        return False
    private_pem, public_pem = generate_keypair()
    # Never overwrites a key another process created in the meantime.
    create_private(path, private_pem)
    write_private(path.with_suffix(".pub.pem"), public_pem)
    log.info("certificate signing key created path=%s", path)
    return True


async def _start_worker(
    settings: Settings, stop: asyncio.Event, *, training: bool = False
) -> asyncio.Task[object] | None:
    worker = _load_worker()
    if worker is None:
        return None
    # As the production worker warns at start (docs/operations.md): a role
    # with no address misses every mail of the plans run on this stack.
    if (unaddressed := unaddressed_warning(settings)) is not None:
        log.warning("%s", unaddressed)
    client = await worker.connect(settings)
    # The exam mailbox is read from the first start on: corrections mailed to
    # the stack's SMTP sink reach their plans without anyone asking. The test
    # server has no schedules: training batches are gathered by hand
    # (certflow batch gather).
    await ensure_standing_workflows(
        client, settings, started_by="stack", schedule=not training
    )
    task: asyncio.Task[object] = asyncio.create_task(
        worker.run_worker(client, settings, stop=stop),
        name="certflow-worker",
    )
    return task


async def _stop_worker(task: asyncio.Task[object], stop: asyncio.Event) -> None:
    stop.set()
    try:
        # The worker finishes the activities in flight; it has a bounded time to.
        await asyncio.wait_for(task, timeout=30)
    except TimeoutError:
        log.warning("worker did not stop within 30 s; cancelled")
    except Exception as err:
        log.error("worker ended with error=%r", err)


def _config_file(given: Path | None) -> Path | None:
    """The configuration file the stack was told to read, as an absolute path.

    None when it reads the default one, which staff tools read too.
    """
    named = given or (Path(env) if (env := os.environ.get("CERTFLOW_CONFIG")) else None)
    return None if named is None else named.resolve()


def _exports(
    server: DevServer, sink: MailSink, settings: Settings, config: Path | None = None
) -> str:
    """The environment that points ``certflow`` at this stack, as a shell line.

    Without it a command run elsewhere reads the configuration file's defaults
    (Temporal on 7233), and would reach another stack on them, or none. The
    state folder is this stack's parent of its documents; a database password
    is left for the reader to fill in. A configuration file other than the
    default is named too: ``plan start`` copies the pass rule and fee from the
    staff tool's configuration, which must be the stack's.
    """
    state = settings.documents_dir.parent
    key_file = settings.certificates.signing_key_file
    own_key = key_file != state_key_file(state)
    return shlex.join([
        "export",
        f"TEMPORAL_ADDRESS={server.address}",
        f"DATABASE_URL={redact(settings.database_url)}",
        f"CERTFLOW_STATE={state}",
        f"SMTP_PORT={sink.port}",
        *([f"CERTFLOW_CONFIG={config}"] if config is not None else []),
        # The web service in another shell publishes the key signing now.
        *([f"{KEY_FILE_ENV}={key_file}"] if own_key else []),
    ])  # fmt: skip


def _print_endpoints(
    server: DevServer,
    sink: MailSink,
    mailboxes: dict[str, Path],
    settings: Settings,
    worker_running: bool,
    now: datetime | None = None,
    config: Path | None = None,
) -> None:
    if isinstance(server, TrainingServer):
        lines = [
            "certflow TRAINING stack is running: its clock can be moved forward",
            "  " + t("stack.training_banner"),
            f"  Temporal frontend : {server.address} (namespace {server.namespace}),"
            " time-skipping test server",
            "  Temporal Web UI   : none on a training stack; certflow list is not"
            " available either (use certflow status PLAN_ID)",
            f"  Training clock    : {format_cst(now) if now else '?'} CST (move it:"
            " certflow --as admin --person STAFF_ID clock advance DAYS)",
            "  Temporal state    : in memory only: every plan ends with this stack,"
            " and the next start empties the training database and mail",
            "  Approval batches  : no weekly schedule; gather with certflow batch"
            " gather",
        ]
        if listens_beyond_loopback(server.port):
            # The test server takes a port only: it binds every interface.
            lines += [
                f"  Network           : WARNING: the test server listens on every"
                f" interface, port {server.port} can be reached from the network;"
                " keep it behind a firewall",
                "  " + t("stack.training_network", port=server.port),
            ]
    else:
        lines = [
            "certflow local stack is running",
            f"  Temporal frontend : {server.address} (namespace {server.namespace})",
            f"  Temporal Web UI   : {server.ui_url}",
            f"  Temporal state    : {server.db_file}",
        ]
    lines += [
        f"  PostgreSQL        : {redact(settings.database_url)}",
        f"  SMTP sink         : {sink.host}:{sink.port}",
        f"  Mailbox folder    : {sink.root / ALL_FOLDER}",
    ]
    lines += [f"    {address} -> {path}" for address, path in mailboxes.items()]
    queue = settings.temporal.task_queue
    worker = f"running on task queue {queue}" if worker_running else "not running"
    lines += [
        f"  Documents         : {settings.documents_dir}",
        f"  Output files      : {settings.output_dir}",
        f"  Signing key       : {settings.certificates.signing_key_file}",
        f"  Worker            : {worker}",
        "Read mail with: certflow mail list " + str(sink.root.parent),
        "Staff tools in another shell reach this stack with:",
        "  " + _exports(server, sink, settings, config),
        "Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``certflow stack`` and ``python -m starter.stack``.

    Everything that can refuse the stack (arguments, configuration, the state
    folder, ports) is checked before anything is created: a refused stack
    leaves no folder and no database behind.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _resolve_defaults(parser, args)
    _check_port_range(parser, args)
    _check_distinct_ports(parser, args)
    _configure_logging()
    args.state = args.state.resolve()
    try:
        base = Settings.load(args.config)
    except ConfigError as err:
        log.error("%s", err)
        return 2
    if args.state.exists() and not args.state.is_dir():
        print(t("stack.state_not_folder", state=args.state), file=sys.stderr)
        return 2
    named_key = os.environ.get(KEY_FILE_ENV)
    if named_key and not Path(named_key).is_file():
        # Only the state's own key is made at a first start: a key named for
        # a rotation and mistyped would otherwise be a new key, signing.
        print(t("stack.key_missing", path=Path(named_key).resolve()), file=sys.stderr)
        return 2
    lock = StateLock(args.state)
    try:
        server, wanted_url = _server_and_database(args, base)
        if args.state.is_dir():
            # A stack running on this folder is named before its ports are.
            lock.acquire()
        server.check_ports()
        ensure_port_free(args.smtp_port, "SMTP sink", "--smtp-port")
        private_dir(args.state)
        lock.acquire()
        return asyncio.run(run(args, base, server, wanted_url))
    except StateInUseError as err:
        print(t("stack.state_in_use", state=args.state, pid=err.pid), file=sys.stderr)
        return 1
    except StackStartError as err:
        # A refusal is advice for the person at the terminal, not a crash: no
        # traceback, the reason in English and Chinese, and exit status 1.
        print(f"certflow stack: {err}\n{err.zh}", file=sys.stderr, flush=True)
        return 1
    except OSError as err:
        if err.filename is None or not Path(err.filename).is_relative_to(args.state):
            raise
        # Not a folder, no permission: said in one line, not a traceback.
        print(t("stack.state_unusable", state=args.state), file=sys.stderr)
        return 1
    finally:
        lock.release()


def _server_and_database(
    args: argparse.Namespace, base: Settings
) -> tuple[DevServer, str]:
    """The stack's Temporal server (not started) and the database URL it wants."""
    state: Path = args.state
    if args.training:
        check_training_state(state)
        server: DevServer = TrainingServer(
            state / "temporal-training.log",
            port=args.port,
            namespace=base.temporal.namespace,
        )
        return server, training_database_url(base, args.database_url)
    server = DevServer(
        state / "temporal.sqlite",
        port=args.port,
        ui_port=args.ui_port,
        http_port=args.http_port,
        metrics_port=args.metrics_port,
        namespace=base.temporal.namespace,
    )
    return server, base.database_url


LOCK_FILE = "stack.lock"


class StateInUseError(Exception):
    """Another stack holds the state folder's lock."""

    def __init__(self, pid: str) -> None:
        super().__init__(f"state folder locked by pid {pid}")
        self.pid = pid


class StateLock:
    """An exclusive lock on ``<state>/stack.lock``, held while the stack runs.

    Two stacks on one folder would run two Temporal servers on one SQLite
    file, and two workers on one document store and signing key. The lock is
    the operating system's (``flock``), so it goes with the process however it
    ends, ``kill -9`` included, and a stale lock file never blocks a start.
    The holder writes its pid in the file for the refusal to name.
    """

    def __init__(self, state: Path) -> None:
        self.path = state / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock (once); :class:`StateInUseError` if another stack has it."""
        if self._fd is not None:
            return
        # Never through a link, nor into anything but a file: the pid written
        # there would truncate whatever the link names.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        fd = os.open(self.path, flags, 0o600)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NotRegularFile(self.path, node_kind(os.fstat(fd).st_mode))
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise StateInUseError(holder) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the lock go; the file stays, empty of meaning without a holder."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _resolve_defaults(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> None:
    """Fill in the defaults of a real-clock stack, or of a training stack.

    A training stack has its own folder, ports and database by default, so it
    runs beside a real-clock stack and never touches its state.
    """
    if args.training:
        for flag in ("ui_port", "http_port", "metrics_port"):
            if getattr(args, flag) is not None:
                option = "--" + flag.replace("_", "-")
                parser.error(t("stack.training_no_ui", flag=option))
        args.state = args.state or TRAINING_STATE
        args.port = TRAINING_PORT if args.port is None else args.port
        if args.smtp_port is None:
            args.smtp_port = TRAINING_SMTP_PORT
        return
    if args.database_url is not None:
        parser.error(t("stack.database_url_training_only"))
    args.state = args.state or Path(os.environ.get("CERTFLOW_STATE", ".state"))
    args.port = 7233 if args.port is None else args.port
    args.ui_port = 8233 if args.ui_port is None else args.ui_port
    args.smtp_port = 8025 if args.smtp_port is None else args.smtp_port


def _check_port_range(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> None:
    """Refuse a port no server can bind, given or derived from ``--ui-port``.

    Port 0 (any free port) is refused too: the stack prints its ports for
    staff tools to reach, so each must be known before it starts.
    """
    given = {"--port": args.port, "--smtp-port": args.smtp_port}
    derived: dict[str, int] = {}
    if not args.training:
        given.update({"--ui-port": args.ui_port})
        for flag, value, offset in (
            ("--http-port", args.http_port, 1),
            ("--metrics-port", args.metrics_port, 2),
        ):
            if value is None:
                derived[flag] = args.ui_port + offset
            else:
                given[flag] = value
    for flag, port in given.items():
        if not 1 <= port <= MAX_PORT:
            parser.error(t("stack.port_out_of_range", flag=flag, port=port))
    for flag, port in derived.items():
        if not 1 <= port <= MAX_PORT:
            parser.error(t("stack.derived_port_out_of_range", flag=flag, port=port))


MAX_PORT = 65535


def _check_distinct_ports(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> None:
    ports = {"--port": args.port, "--smtp-port": args.smtp_port}
    if not args.training:
        http = args.http_port if args.http_port is not None else args.ui_port + 1
        metrics = (
            args.metrics_port if args.metrics_port is not None else args.ui_port + 2
        )
        ports.update(
            {"--ui-port": args.ui_port, "--http-port": http, "--metrics-port": metrics}
        )
    seen: dict[int, str] = {}
    for flag, port in ports.items():
        if port in seen:
            parser.error(t("stack.same_port", flag=flag, other=seen[port], port=port))
        seen[port] = flag


if __name__ == "__main__":
    sys.exit(main())
