"""Where report work runs: the process-wide render pool, what its workers do when they start, and
`read_data`, which reads a report's numbers in a worker or in this process.

Workers fork from a clean forkserver that has imported matplotlib and xhtml2pdf (no worker inherits
the event loop's threads), run at `nice +19` so the API keeps answering while PDFs render, warm their
caches before the first report, and exit when the process that owns the pool is gone.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor

from app.db import close_db, database_url, init_db, readers
from app.reports import render
from app.reports.charts import categories_chart
from app.reports.store import DataSpec, ReportData, read_report_data

__all__ = [
    "lower_priority",
    "read_data",
    "read_in_worker",
    "render_pool",
    "shutdown_render_pool",
    "start_worker",
    "warm_up",
]

_PRELOAD = [
    "app.reports.workers",
    "matplotlib.figure",
    "matplotlib.dates",
    "matplotlib.backends.backend_agg",
    "xhtml2pdf.pisa",
]
_POOL: ProcessPoolExecutor | None = None


def render_pool(workers: int) -> ProcessPoolExecutor:
    """The process-wide render pool, created once and shared by the runners of this process."""
    global _POOL
    if _POOL is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        _POOL = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=start_worker, initargs=(os.getpid(),)
        )
    return _POOL


def shutdown_render_pool() -> None:
    """Stop the render pool's workers (the last runner of the process does it when it stops; the
    forkserver stays, so a later pool starts quickly)."""
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None


async def read_data(executor: Executor, spec: DataSpec) -> ReportData:
    """A report's numbers, read by `store.read_report_data` in whichever process `executor` runs.

    A process pool reads in the render worker, on the worker's own database connection, so the API
    process spends no CPU on a report's reads (README, "Reports": with the reads in the API process,
    `/usage` p99 while PDFs render rose past twice its idle value). Any other executor (threads, or
    inline) runs its work in this process, whose Tortoise connections are process-wide and belong to
    this event loop: a thread could only open its own by replacing them. So the read runs here, on
    the "reports" connection (its own SQLite thread or PostgreSQL pool), beside the API's queries
    rather than in front of them.
    """
    if isinstance(executor, ProcessPoolExecutor):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, read_in_worker, database_url(), spec)
    return await read_report_data(spec, readers("reports"))


def read_in_worker(db_url: str, spec: DataSpec) -> ReportData:
    """In a pool worker: `read_report_data` on a database connection the worker opens for it."""
    return asyncio.run(_read_in_worker(db_url, spec))


async def _read_in_worker(db_url: str, spec: DataSpec) -> ReportData:
    await init_db(db_url, migrate=False)
    try:
        return await read_report_data(spec, readers())
    finally:
        await close_db()


def lower_priority() -> None:
    """Pool worker initializer: rendering yields the CPU to the API process (nice +19)."""
    try:
        os.nice(19)
    except OSError:  # pragma: no cover - not permitted here: render at normal priority
        pass


def warm_up() -> None:
    """Fill a pool worker's caches (fonts, glyphs, templates) before the first report needs them."""
    from xhtml2pdf import pisa

    render.environment()
    categories_chart("warm-up", ["1", "2"], [1, 2])
    pisa.CreatePDF(
        "<html><body><p>warm-up</p><table><tr><td>1</td></tr></table></body></html>", dest=io.BytesIO()
    )


def start_worker(owner_pid: int) -> None:
    """Pool worker initializer: lower priority, warm caches, and exit when the owning process is gone.

    A pool worker waits on a pipe whose write end it also holds, so it would outlive an owner that
    died without shutting the pool down (SIGKILL, or an exit path that skips the pool's own atexit
    hook), and keep the forkserver alive with it.
    """
    lower_priority()
    warm_up()
    threading.Thread(target=_exit_with, args=(owner_pid,), name="owner-watch", daemon=True).start()


def _exit_with(owner_pid: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # pragma: no cover - the pid now belongs to someone else
            os._exit(0)
