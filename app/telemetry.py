"""Counters the core keeps for the service's /metrics (server/metrics.py exposes them).

Prometheus metrics in the process-wide default registry; the API layers add theirs beside these.
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["INGESTED_EVENTS", "REPORT_JOBS"]

INGESTED_EVENTS = Counter(
    "analytics_ingested_events_total", "Events stored by ingestion (duplicates of stored ids not counted)"
)
REPORT_JOBS = Counter("analytics_report_jobs_total", "Report jobs finished, by outcome", ["outcome"])
