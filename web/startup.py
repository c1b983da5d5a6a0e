"""Starting ``certflow web``: what is checked before serving, each refusal one line.

The order matters. The signing keys are read first; the port is taken before
the database is touched, so a second server started by mistake changes nothing;
the database is opened and migrated before uvicorn runs, so a wrong address or
a server that is down is a Chinese sentence for the person at the terminal, not
a traceback. No message repeats the database URL: it may hold a password.
"""

from __future__ import annotations

import argparse
import errno
import socket

from activities.db import DatabaseUnusable, database_place, open_migrated
from certflow.arguments import shown
from certflow.i18n import t


class StartError(RuntimeError):
    """The service cannot start; the text, in Chinese, says why and what to do."""


def port_number(text: str) -> int:
    """``--port``: a TCP port, 1 to 65535 (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(t("web.serve.bad_port", value=shown(text)))
    return port


def listen(host: str, port: int) -> socket.socket:
    """Bind the socket the server will listen on, as uvicorn binds it.

    Raises :class:`StartError` if the port is taken or not ours to take, or
    if ``host`` is no address of this machine.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening at once: a port merely bound (SO_REUSEADDR) can be bound
        # again, so a second server started at the same moment would pass
        # this check and fail later inside uvicorn.
        sock.listen()
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise StartError(t("web.serve.port_in_use", port=port)) from None
        if err.errno == errno.EACCES:
            raise StartError(t("web.serve.port_forbidden", port=port)) from None
        raise StartError(t("web.serve.bad_host", host=shown(host))) from None
    return sock


async def prepare_database(url: str) -> None:
    """Connect to the database at ``url`` and apply pending migrations.

    Raises :class:`StartError` naming the server and database (never the user
    or password) when the URL cannot be read, nothing answers, or PostgreSQL
    refuses: a login refused apart from a database that takes no connection
    now (closed, starting, full), told by SQLSTATE.
    """
    try:
        pool = await open_migrated(url, max_size=1)
    except (ValueError, OverflowError):
        # asyncpg's ClientConfigurationError is a ValueError; a port past
        # 65535 overflows in the socket call.
        raise StartError(t("web.serve.database_url_invalid")) from None
    except OSError:
        place = database_place(url)
        raise StartError(t("web.serve.database_unreachable", place=place)) from None
    except DatabaseUnusable as err:
        raise StartError(str(err)) from None
    await pool.close()
