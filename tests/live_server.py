"""A real server process (`python -m server.cli serve`) for the tests that need a network socket
(the GraphQL subscription over graphql-transport-ws).

The server gets a SQLite file of its own or, with `ANALYTICS_TEST_DB=postgres`, a fresh PostgreSQL
database of its own (an unreachable PostgreSQL fails the test, as it fails the rest of the suite).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.common import free_port
from tests.factories import drop_postgres_database, fresh_postgres_database


@dataclass(frozen=True)
class LiveServer:
    address: str
    """host:port"""
    env: dict[str, str]
    """The server's environment: run `server.cli` commands (e.g. `apikey create`) against its database."""

    def cli(self, *args: str) -> str:
        """Run `python -m server.cli ARGS` on the server's database; return its standard output."""
        made = subprocess.run(
            [sys.executable, "-m", "server.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return made.stdout


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL if the server is still there after 15 s: a test's
    teardown must not fail on a slow shutdown (tests/http/test_shutdown.py checks shutdown itself)."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextmanager
def live_server(
    home: Path, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """Start a server with its files under `home` (and settings from `extra_env`); stop it (and drop
    its PostgreSQL database) after.

    With `database_url` (another live server's `env["ANALYTICS_DATABASE_URL"]`) it shares that
    database instead, and leaves it to its owner."""
    port = free_port()
    postgres = os.environ.get("ANALYTICS_TEST_DB", "sqlite") == "postgres" and database_url is None
    if database_url is not None:
        url = database_url
    elif postgres:
        try:
            url = asyncio.run(fresh_postgres_database())
        except Exception as exc:  # any failure to reach the server fails the run
            pytest.fail(f"ANALYTICS_TEST_DB=postgres but PostgreSQL is unreachable: {exc!r}")
    else:
        url = f"sqlite://{home / 'server.sqlite3'}"
    env = {
        **os.environ,
        "ANALYTICS_DATABASE_URL": url,
        "ANALYTICS_REPORTS_DIR": str(home / "reports"),
        "ANALYTICS_PORT": str(port),
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start")
        yield LiveServer(f"127.0.0.1:{port}", env)
    finally:
        stop(proc)
        if postgres:
            asyncio.run(drop_postgres_database(url))
