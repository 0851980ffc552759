"""The CSV file of a report: long format, one header row, values unrounded as the API answers them
(the layout is documented in docs/reports.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

__all__ = ["CSV_COLUMNS", "render_csv"]

CSV_COLUMNS = ("section", "bucket", "dimension", "metric", "value")
_DIMENSIONS = {"by_channel": "channel", "by_model": "model", "escalation_reasons": "reason"}
"""Lists of an answer whose entries are one `dimension` each (`channel=web`), by the key naming it."""


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _label_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _csv_rows(report: dict[str, Any], data: dict[str, dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    params = report["parameters"]
    r = params["range"]
    yield ("report", "", "", "type", report["type"])
    yield ("report", "", "", "range_start", r["start"])
    yield ("report", "", "", "range_end", r["end"])
    yield ("report", "", "", "timezone", r["timezone"])
    yield ("report", "", "", "bot_id", params.get("bot_id"))
    for section, answer in data.items():
        for key, value in answer.items():
            # `comparison` and `change` are always null in a report (reports take no `compare`).
            if key in ("range", "data", "cohorts", "distribution", "comparison", "change", *_DIMENSIONS):
                continue
            yield (section, "", "", key, value)
        for list_key, name in _DIMENSIONS.items():
            for item in answer.get(list_key, []):
                for metric, value in item.items():
                    if metric != name:
                        yield (section, "", f"{name}={item[name]}", metric, value)
        for item in answer.get("distribution", []):
            if "score" in item:
                yield (section, "", f"score={item['score']}", "count", item["count"])
            else:
                high = "" if item["max_seconds"] is None else _label_number(item["max_seconds"])
                label = f"seconds={_label_number(item['min_seconds'])}-{high}"
                yield (section, "", label, "count", item["count"])
        for point in answer.get("data", []):
            if "intent" in point:  # /intents: a ranked list, not a series
                for metric, value in point.items():
                    if metric != "intent":
                        yield (section, "", f"intent={point['intent']}", metric, value)
                continue
            key = next(k for k in ("date", "month", "bucket_start") if k in point)
            for metric, value in point.items():
                if metric != key:
                    yield (section, point[key], "", metric, value)
        for cohort in answer.get("cohorts", []):
            yield (section, cohort["cohort_start"], "", "size", cohort["size"])
            for period in cohort["retention"]:
                yield (
                    section,
                    cohort["cohort_start"],
                    f"period={period['period']}",
                    "users",
                    period["users"],
                )
                yield (section, cohort["cohort_start"], f"period={period['period']}", "rate", period["rate"])


def render_csv(payload: dict[str, Any]) -> bytes:
    """Long format, one header row: `section,bucket,dimension,metric,value` (see docs/reports.md)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in _csv_rows(payload["report"], payload["data"]):
        writer.writerow([_csv_value(v) for v in row])
    return buf.getvalue().encode("utf-8")
