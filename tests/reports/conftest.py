"""Report fixtures: each test's report files in their own directory; the hand-built data set of
tests/reports/reporting.py stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.auth import Principal
from app.config import get_settings
from app.ingest import ingest_events
from tests.reports.reporting import dataset


@pytest.fixture(autouse=True)
def reports_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Report files of each test go to its own directory."""
    path = tmp_path / "reports"
    monkeypatch.setattr(get_settings(), "reports_dir", path)
    yield path


@pytest.fixture
async def data(db: str) -> None:
    events = dataset()
    result = await ingest_events(events, Principal(subject="t", roles=frozenset({"admin"})))
    assert result.accepted == len(events)
