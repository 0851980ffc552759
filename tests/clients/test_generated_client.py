"""A client generated from the live /openapi.json by openapi-python-client (offline, at test time):
typed calls of every GET route, and a report created, polled, downloaded as PDF and CSV, deleted.

The generator's one setting: `application/pdf` is read as bytes (`content_type_overrides`); without
it, openapi-python-client knows no PDF type and falls back to the next listed type."""

from __future__ import annotations

import datetime
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import Live

PACKAGE = "analytics_client"
CONFIG = "content_type_overrides:\n  application/pdf: application/octet-stream\n"


@pytest.fixture(scope="module")
def generated(live: Live, spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = Path(tmp_path_factory.mktemp("generated"))
    (root / "spec.json").write_text(json.dumps(spec))
    (root / "config.yaml").write_text(CONFIG)
    bin_dir = str(Path(sys.executable).parent)
    done = subprocess.run(
        [
            str(Path(bin_dir) / "openapi-python-client"),
            "generate",
            "--path",
            str(root / "spec.json"),
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(root / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Every operation and schema became code: the generator warns about what it had to skip.
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _model(name: str) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


GETS = {
    "usage.get_usage": "UsageStats",
    "usage.get_usage_daily": "DailyUsage",
    "usage.get_usage_monthly": "MonthlyUsage",
    "conversations.get_conversations": "ConversationMetrics",
    "conversations.get_conversations_volume": "ConversationVolume",
    "conversations.get_conversations_duration": "ConversationDuration",
    "conversations.get_conversations_resolution": "ConversationResolution",
    "engagement.get_engagement": "Engagement",
    "engagement.get_engagement_retention": "Retention",
    "engagement.get_engagement_satisfaction": "Satisfaction",
}


def test_every_get_route_answers_a_typed_model(generated: Any, live: Live) -> None:
    client = generated.AuthenticatedClient(base_url=live.base_url, token=live.viewer)
    period, group_by = _model("Period"), _model("GroupBy")
    with client:
        for route, model in GETS.items():
            answer = _api(route).sync(client=client, days=7)
            assert isinstance(answer, _model(model)), (route, answer)
            assert isinstance(answer.range_.start, datetime.datetime)
            answer = _api(route).sync(client=client, period=period.MONTH, group_by=group_by.WEEK)
            assert isinstance(answer, _model(model)), (route, answer)
        usage = _api("usage.get_usage").sync(client=client, days=7)
        assert usage.total_conversations == 12 and usage.total_messages == 24
        daily = _api("usage.get_usage_daily").sync(client=client, days=7)
        assert [type(p.date) for p in daily.data] == [datetime.date] * 7
        realtime = _api("realtime.get_realtime").sync(client=client, window_minutes=5)
        assert isinstance(realtime, _model("Realtime")) and realtime.window_minutes == 5
        active = _api("realtime.get_realtime_active").sync(client=client)
        assert isinstance(active, _model("ActiveSessions"))
        health = _api("service.health").sync(client=client)
        assert health.status == "ok"
        # An error is the shared Error model, with the field at fault.
        error = _api("usage.get_usage").sync(client=client, days=7, period=period.WEEK)
        assert isinstance(error, _model("Error")) and error.error == "invalid_parameter"
        assert error.details[0].field == "period"
        # The viewer may not list reports: 403, as the Error model.
        denied = _api("reports.get_reports").sync(client=client)
        assert isinstance(denied, _model("Error")) and denied.error == "insufficient_permissions"


def test_report_created_polled_downloaded_and_deleted(generated: Any, live: Live) -> None:
    client = generated.AuthenticatedClient(base_url=live.base_url, token=live.admin)
    report_input, report_type, report_format = (
        _model("ReportInput"),
        _model("ReportType"),
        _model("ReportFormat"),
    )
    status = _model("ReportStatus")
    with client:
        created = {}
        for fmt in (report_format.PDF, report_format.CSV):
            body = report_input(type_=report_type.USAGE, format_=fmt, days=7, title="Weekly usage")
            report = _api("reports.create_report").sync(client=client, body=body)
            assert isinstance(report, _model("Report")), report
            assert report.status in (status.PENDING, status.RUNNING, status.COMPLETED)
            assert report.parameters.days == 7 and report.parameters.start_date is None
            created[fmt] = report.id
        get_report = _api("reports.get_report")
        deadline = time.monotonic() + 60
        for report_id in created.values():
            while (report := get_report.sync(report_id, client=client)).status != status.COMPLETED:
                assert report.status != status.FAILED and time.monotonic() < deadline, report
                time.sleep(0.2)
            assert isinstance(report.completed_at, datetime.datetime) and report.size_bytes > 0
        download = _api("reports.download_report")
        pdf = download.sync_detailed(created[report_format.PDF], client=client)
        assert pdf.status_code == 200 and pdf.parsed.payload.read().startswith(b"%PDF")
        csv = download.sync_detailed(created[report_format.CSV], client=client)
        assert csv.status_code == 200 and csv.content.decode().splitlines()[0].count(",") >= 1
        listing = _api("reports.get_reports").sync(client=client, limit=100, type_=report_type.USAGE)
        assert {r.id for r in listing.data} >= set(created.values())
        delete = _api("reports.delete_report")
        for report_id in created.values():
            assert delete.sync_detailed(report_id, client=client).status_code == 204
            gone = get_report.sync(report_id, client=client)
            assert isinstance(gone, _model("Error")) and gone.error == "not_found"
