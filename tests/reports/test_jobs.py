"""The runner: failures, restarts, wake-ups, and exactly-once generation with several runners."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from app.auth import Principal
from app.config import get_settings
from app.models import Report
from app.reports import render
from app.reports.jobs import ReportRunner, wake_runners
from app.reports.store import ReportRequest, create_report
from tests.reports.reporting import files

ADMIN = Principal(subject="t", roles=frozenset({"admin"}))
postgres_only = pytest.mark.skipif(
    os.environ.get("ANALYTICS_TEST_DB") != "postgres", reason="needs ANALYTICS_TEST_DB=postgres"
)


@asynccontextmanager
async def running(**kwargs: Any) -> AsyncIterator[ReportRunner]:
    runner = ReportRunner(get_settings(), executor=ThreadPoolExecutor(2), **kwargs)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def _new(fmt: str = "csv", **kwargs: Any) -> Report:
    req = ReportRequest(type="usage", format=fmt, start_date="2025-01-06", end_date="2025-01-12", **kwargs)
    return await create_report(ADMIN, req, datetime.now(UTC))


async def _until(check: Callable[[], Any], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - polling the database, not an in-process flag
            await asyncio.sleep(0.02)


async def _status(report_id: str) -> str:
    row = await Report.get(id=report_id)
    return row.status


async def test_a_failing_render_marks_the_report_failed_and_the_runner_carries_on(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(payload: dict[str, Any]) -> bytes:
        raise RuntimeError("the chart backend is out of ink")

    async with running() as runner:
        monkeypatch.setattr(render, "render_report", explode)
        bad = await _new()
        wake_runners()
        await _until(lambda: _done(bad.id))
        row = await Report.get(id=bad.id)
        assert row.status == "failed"
        assert row.error == "rendering failed: RuntimeError: the chart backend is out of ink"
        assert row.file_path is None and row.size_bytes is None
        monkeypatch.undo()
        good = await _new()
        runner.wake()
        await _until(lambda: _done(good.id))
        assert await _status(good.id) == "completed"


async def _done(report_id: str) -> bool:
    return await _status(report_id) in ("completed", "failed")


async def test_reports_left_running_or_pending_by_a_crash_are_generated_at_start(
    db: str, reports_dir: Path
) -> None:
    crashed = await _new()
    await Report.filter(id=crashed.id).update(
        status="running", claimed_by="dead-instance", started_at=datetime.now(UTC)
    )
    waiting = await _new(fmt="json")
    async with running(poll_seconds=60) as runner:
        await _until(lambda: _done(crashed.id))
        await _until(lambda: _done(waiting.id))
        assert {await _status(crashed.id), await _status(waiting.id)} == {"completed"}
        assert sorted(runner.generated) == sorted([crashed.id, waiting.id])
    assert len(files(reports_dir)) == 2


class _WatchedWake(asyncio.Event):
    """The runner's wake-up event, telling the test each time the runner starts waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0
        self.waiting = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.waits += 1
        self.waiting.set()
        return await super().wait()


async def test_a_new_report_wakes_the_runner_without_waiting_for_the_poll(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls: list[str] = []
    original = ReportRunner._requeue_orphans

    async def requeue(self: ReportRunner) -> None:
        polls.append("poll")
        await original(self)

    monkeypatch.setattr(ReportRunner, "_requeue_orphans", requeue)
    runner = ReportRunner(get_settings(), executor=ThreadPoolExecutor(2), poll_seconds=3600)
    wake = _WatchedWake()
    runner._wake = wake
    await runner.start()
    try:
        async with asyncio.timeout(10):  # a hang guard, not a measure: the poll is an hour away
            await wake.waiting.wait()  # the runner found nothing and is idle
        assert (wake.waits, polls) == (1, ["poll"])  # the start's orphan check only
        report = await _new()
        wake_runners()
        await _until(lambda: _done(report.id))
        assert await _status(report.id) == "completed" and runner.generated == [report.id]
        assert polls == ["poll"]  # no poll ran: the wake-up did it
    finally:
        await runner.stop()


async def test_a_stopped_runner_hands_its_reports_back(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = asyncio.Event()
    original = ReportRunner._generate

    async def slow(self: ReportRunner, report_id: str) -> None:
        await gate.wait()
        await original(self, report_id)

    monkeypatch.setattr(ReportRunner, "_generate", slow)
    report = await _new()
    async with running():
        await _until(lambda: _status_is(report.id, "running"))
    assert await _status(report.id) == "pending"


async def _status_is(report_id: str, status: str) -> bool:
    return await _status(report_id) == status


@pytest.mark.postgres
@postgres_only
async def test_two_runners_on_one_postgresql_generate_each_report_once(db: str, reports_dir: Path) -> None:
    async with running(poll_seconds=0.2) as one, running(poll_seconds=0.2) as two:
        ids = [(await _new(fmt=("csv", "json")[i % 2])).id for i in range(10)]
        wake_runners()
        for report_id in ids:
            await _until(functools.partial(_done, report_id), seconds=20)
        assert {await _status(i) for i in ids} == {"completed"}
        assert not set(one.generated) & set(two.generated)
        assert sorted(one.generated + two.generated) == sorted(ids)
        assert len(files(reports_dir)) == len(ids)


@pytest.mark.postgres
@postgres_only
async def test_concurrent_claims_on_postgresql_never_hand_out_a_report_twice(db: str) -> None:
    ids = {(await _new()).id for _ in range(12)}
    one = ReportRunner(get_settings(), instance_id="one")
    two = ReportRunner(get_settings(), instance_id="two")
    claimed = await asyncio.gather(*(r._claim() for _ in range(10) for r in (one, two)))
    got = [c for c in claimed if c is not None]
    assert len(got) == len(set(got)) == 12 and set(got) == ids
    rows = await Report.filter(id__in=list(ids)).values_list("claimed_by", flat=True)
    assert set(rows) <= {"one", "two"}


@pytest.mark.postgres
@postgres_only
async def test_running_reports_of_a_live_instance_are_not_requeued(db: str) -> None:
    report = await _new()
    # A live instance holds its advisory lock: another runner must leave its running reports alone.
    async with running(instance_id="holder", poll_seconds=60) as holder:
        holder_loop = holder._loop_task
        assert holder_loop is not None
        holder_loop.cancel()  # the holder stays alive (lock held) but claims nothing more
        await Report.filter(id=report.id).update(status="running", claimed_by="holder")
        async with running(poll_seconds=60):
            await asyncio.sleep(0.2)
            assert await _status(report.id) == "running"
