"""The report runner: claims `pending` reports and hands each to the render pool
(`app.reports.workers`), whose worker reads the report's numbers on its own database connection and
renders the file, so the API keeps answering while a PDF renders. (A runner given another executor,
as some tests do, reads the numbers in this process: `workers.read_data` says why.)

Exactly once with several instances on one PostgreSQL: a report is claimed by one atomic
`UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING id`, and only the claimer may
complete it (`WHERE status = 'running' AND claimed_by = me`). Each runner holds a session-level
advisory lock named after its instance id on a connection of its own; a `running` report whose
claimer's lock is free was left by a dead instance and goes back to `pending` (at start-up and on
every poll). SQLite serves one instance: at start-up every `running` report not claimed by a live
runner of this process goes back to `pending`.

New reports wake the runners of this process at once (`wake_runners`); rows created by other
instances are found by a poll every `poll_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from app.config import Settings
from app.db import connection, dialect, sql
from app.errors import AppError
from app.models import Report
from app.reports import render
from app.reports.store import data_spec, report_object
from app.reports.workers import read_data, render_pool, shutdown_render_pool
from app.telemetry import REPORT_JOBS

__all__ = ["ReportRunner", "wake_runners"]

log = logging.getLogger("bot_analytics.reports")

_LOCK_CLASS = 0x6B07
_RUNNERS: weakref.WeakSet[ReportRunner] = weakref.WeakSet()
GENERATION_TIMEOUT_SECONDS = 300.0
MAX_ERROR_CHARS = 500


def wake_runners() -> None:
    """Tell the runners of this process that a report is waiting."""
    for runner in list(_RUNNERS):
        runner.wake()


def _readable(exc: BaseException, stage: str) -> str:
    if isinstance(exc, AppError):
        text = f"{stage} failed: {exc.message}"
    elif isinstance(exc, TimeoutError):
        text = f"{stage} took longer than {GENERATION_TIMEOUT_SECONDS:.0f} s"
    elif stage == "rendering":
        text = f"rendering failed: {type(exc).__name__}: {exc}"
    else:
        # Database errors may quote SQL: the log has the details.
        text = f"{stage} failed ({type(exc).__name__}); see the service log"
    return text[:MAX_ERROR_CHARS]


class ReportRunner:
    """Generates reports in the background; `start()` in the app's lifespan, `stop()` at shutdown."""

    def __init__(
        self,
        settings: Settings,
        *,
        executor: Executor | None = None,
        poll_seconds: float = 2.0,
        instance_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.reports_dir = Path(settings.reports_dir)
        self.workers = settings.report_workers
        self.poll_seconds = poll_seconds
        self.instance_id = instance_id or uuid.uuid4().hex
        self.generated: list[str] = []
        """Ids of the reports this runner completed (for tests and logs)."""
        self._executor = executor
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._lock_conn: Any = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Take this instance's lock, requeue reports left by dead instances, and start the loop."""
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        if self._executor is None:
            self._executor = render_pool(self.workers)
        if dialect() == "postgres":
            import asyncpg

            db: Any = connection()  # the asyncpg client: its connection parameters
            self._lock_conn = await asyncpg.connect(
                host=db.host, port=db.port, user=db.user, password=db.password, database=db.database
            )
            await self._lock_conn.execute(
                "SELECT pg_advisory_lock($1, hashtext($2))", _LOCK_CLASS, self.instance_id
            )
        await self._requeue_orphans()
        _RUNNERS.add(self)
        self._loop_task = asyncio.create_task(self._loop(), name=f"report-runner-{self.instance_id[:8]}")

    async def stop(self) -> None:
        """Stop claiming; reports still rendering go back to `pending` for the next start or instance."""
        _RUNNERS.discard(self)
        inflight = list(self._inflight)
        tasks = [t for t in (self._loop_task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if inflight:
            await Report.filter(id__in=inflight, status="running", claimed_by=self.instance_id).update(
                status="pending", claimed_by=None, started_at=None
            )
        if self._lock_conn is not None:
            await self._lock_conn.close()
            self._lock_conn = None
        if not _RUNNERS:
            shutdown_render_pool()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._fill()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("report runner: claiming failed; retrying at the next poll")
            try:
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                try:
                    await self._requeue_orphans()
                except Exception:
                    log.exception("report runner: orphan check failed")

    async def _fill(self) -> None:
        while len(self._inflight) < self.workers:
            report_id = await self._claim()
            if report_id is None:
                return
            task = asyncio.create_task(self._generate(report_id), name=f"report-{report_id}")
            self._inflight[report_id] = task
            task.add_done_callback(self._done(report_id))

    def _done(self, report_id: str) -> Callable[[asyncio.Task[None]], None]:
        def callback(_task: asyncio.Task[None]) -> None:
            self._inflight.pop(report_id, None)
            self._wake.set()

        return callback

    async def _claim(self) -> str | None:
        """Atomically move the oldest pending report to `running`, claimed by this instance."""
        now = datetime.now(UTC)
        conn = connection()
        if dialect(conn) == "postgres":
            rows = await conn.execute_query_dict(
                sql(
                    "UPDATE reports SET status = 'running', claimed_by = ?, started_at = ? "
                    "WHERE id = (SELECT id FROM reports WHERE status = 'pending' "
                    "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id",
                    conn,
                ),
                [self.instance_id, now],
            )
            return str(rows[0]["id"]) if rows else None
        while True:
            candidate = await Report.filter(status="pending").order_by("created_at", "id").first()
            if candidate is None:
                return None
            updated = await Report.filter(id=candidate.id, status="pending").update(
                status="running", claimed_by=self.instance_id, started_at=now
            )
            if updated:
                return candidate.id
            # Another runner took it between the read and the update: try the next one.

    async def _requeue_orphans(self) -> None:
        """Put `running` reports of dead instances back to `pending`."""
        running = cast(
            list[str | None], await Report.filter(status="running").values_list("claimed_by", flat=True)
        )
        claimers = {c for c in running if c != self.instance_id}
        if not claimers:
            return
        if self._lock_conn is None:
            alive = {r.instance_id for r in _RUNNERS}
            dead = [c for c in claimers if c not in alive]
        else:
            dead = []
            for claimer in claimers:
                if claimer is None:
                    dead.append(None)
                    continue
                free = await self._lock_conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))", _LOCK_CLASS, claimer
                )
                if free:
                    await self._lock_conn.execute(
                        "SELECT pg_advisory_unlock($1, hashtext($2))", _LOCK_CLASS, claimer
                    )
                    dead.append(claimer)
        for claimer in dead:
            qs = Report.filter(status="running")
            qs = qs.filter(claimed_by__isnull=True) if claimer is None else qs.filter(claimed_by=claimer)
            n = await qs.update(status="pending", claimed_by=None, started_at=None)
            if n:
                log.warning("report runner: requeued %d report(s) left running by %s", n, claimer)

    # ------------------------------------------------------------------ one report

    async def _generate(self, report_id: str) -> None:
        stage = "reading the data"
        try:
            async with asyncio.timeout(GENERATION_TIMEOUT_SECONDS):
                row = await Report.get_or_none(id=report_id)
                if row is None:
                    return
                executor = self._executor
                assert executor is not None  # set by start()
                data = await read_data(executor, data_spec(row, self.settings.session_timeout_us))
                completed_at = datetime.now(UTC)
                payload = {
                    "format": row.format,
                    "report": report_object(row, status="completed", completed_at=completed_at),
                    "data": data,
                }
                stage = "rendering"
                loop = asyncio.get_running_loop()
                content: bytes = await loop.run_in_executor(executor, render.render_report, payload)
                stage = "storing the file"
                name = f"{row.id}-{self.instance_id[:8]}.{row.format}"
                path = self.reports_dir / name
                await asyncio.to_thread(_write_atomically, path, content)
                updated = await Report.filter(
                    id=row.id, status="running", claimed_by=self.instance_id
                ).update(
                    status="completed",
                    completed_at=completed_at,
                    size_bytes=len(content),
                    file_path=name,
                    error=None,
                )
                if not updated:
                    # Deleted (or requeued) while rendering: this file belongs to nobody.
                    path.unlink(missing_ok=True)
                    return
                self.generated.append(row.id)
                REPORT_JOBS.labels("completed").inc()
                log.info("report %s completed (%s, %d bytes)", row.id, row.format, len(content))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("report %s failed while %s", report_id, stage)
            REPORT_JOBS.labels("failed").inc()
            await Report.filter(id=report_id, status="running", claimed_by=self.instance_id).update(
                status="failed", error=_readable(exc, stage)
            )


def _write_atomically(path: Path, content: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(content)
    tmp.replace(path)
