"""`/health`: answered from memory, while the database is checked in the background.

A check inside the request would queue behind the API's reads on the same connection (SQLite's
reader thread, PostgreSQL's pool): under load `/health` took as long as the slowest query, and a
probe that times out restarts healthy workers. So a background task runs `SELECT 1` every
`INTERVAL` seconds and `/health` reports its outcome: 200 when the last check succeeded and no
check has been waiting longer than `STALE` seconds, else 500 `internal_error` (the database is not
reachable). A check is never cancelled (cancelling Tortoise while it opens a connection can leave
that connection's lock held; see graphql_schema/schema.py `RunsToTheEnd`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from app.db import connection

__all__ = ["DatabaseProbe"]

log = logging.getLogger("bot_analytics.health")

INTERVAL = 2.0
STALE = 30.0


class DatabaseProbe:
    """The database's reachability, checked every `interval` seconds off the request path."""

    def __init__(self, interval: float = INTERVAL, stale: float = STALE) -> None:
        self.interval = interval
        self.stale = stale
        self._ok = False
        self._waiting_since: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """One check; its outcome is what `/health` reports until the next one."""
        self._waiting_since = time.monotonic()
        try:
            await connection().execute_query("SELECT 1")
        except Exception as exc:
            if self._ok:
                log.warning("database check failed: %s", type(exc).__name__)
            self._ok = False
        else:
            self._ok = True
        finally:
            self._waiting_since = None
        return self._ok

    async def start(self) -> None:
        await self.check()
        self._task = asyncio.create_task(self._loop(), name="database-probe")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            # Shielded: stopping the probe waits for a check in flight instead of cancelling it.
            await asyncio.shield(self.check())

    @property
    def healthy(self) -> bool:
        waiting = self._waiting_since
        return self._ok and (waiting is None or time.monotonic() - waiting < self.stale)
