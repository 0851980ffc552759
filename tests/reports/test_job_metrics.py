"""Report jobs are counted by outcome for /metrics (app/telemetry.py)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from app.reports import render
from app.reports.jobs import wake_runners
from tests.reports.test_jobs import _done, _new, _status, _until, running


def _jobs(outcome: str) -> float:
    return REGISTRY.get_sample_value("analytics_report_jobs_total", {"outcome": outcome}) or 0.0


async def test_completed_and_failed_report_jobs_are_counted(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    completed, failed = _jobs("completed"), _jobs("failed")
    async with running():
        good = await _new()
        wake_runners()
        await _until(lambda: _done(good.id))
        assert await _status(good.id) == "completed"

        def explode(payload: dict[str, Any]) -> bytes:
            raise RuntimeError("no ink")

        monkeypatch.setattr(render, "render_report", explode)
        bad = await _new()
        wake_runners()
        await _until(lambda: _done(bad.id))
        assert await _status(bad.id) == "failed"
    assert (_jobs("completed") - completed, _jobs("failed") - failed) == (1, 1)
