"""Report files from a report's numbers: `render_report` picks the format; HTML and PDF are here.

Everything here is synchronous and CPU-bound (Jinja2, matplotlib, xhtml2pdf) and runs in a worker
process of the render pool (`app.reports.workers`); `render_report` takes a plain, picklable payload:
`{"format": ..., "report": <report object>, "data": {<route name>: <REST answer>}}`.

PDF and HTML print their numbers as `app.reports.formatting` says, with charts from
`app.reports.charts` and tables from `app.reports.tables`. CSV (`app.reports.csv_export`) and JSON
carry the values unrounded, as the API answers them.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader

from app.analytics import catalog
from app.reports.charts import report_charts
from app.reports.csv_export import render_csv
from app.reports.formatting import (
    bin_label,
    fmt_avg,
    fmt_bucket,
    fmt_cost,
    fmt_count,
    fmt_ms,
    fmt_range,
    fmt_rate,
    fmt_seconds,
)
from app.reports.tables import (
    GRID_LINES,
    MAX_RETENTION_COLUMNS,
    column_text,
    heat_class,
    heat_css,
    series_grids,
)

__all__ = [
    "environment",
    "render_html",
    "render_json",
    "render_pdf",
    "render_report",
]

TEMPLATES = Path(__file__).parent / "templates"
_SECTION_TITLES = {m.name: m.title for m in catalog.METRICS}


@functools.cache
def environment() -> Environment:
    """The Jinja environment of `templates/`, with the report's number formats as filters."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(
        count=fmt_count,
        rate=fmt_rate,
        avg=fmt_avg,
        seconds=fmt_seconds,
        cost=fmt_cost,
        ms=fmt_ms,
        bucket=fmt_bucket,
        date_range=fmt_range,
        bin_label=bin_label,
    )
    env.globals.update(
        grid_lines=GRID_LINES,
        column_text=column_text,
        heat_class=heat_class,
        heat_css=heat_css(),
        section_titles=_SECTION_TITLES,
        max_retention_columns=MAX_RETENTION_COLUMNS,
    )
    return env


def render_html(payload: dict[str, Any], *, for_pdf: bool = False) -> str:
    """The report as one self-contained HTML page (charts inline as PNG data URIs)."""
    report = payload["report"]
    data = payload["data"]
    params = report["parameters"]
    group_by = params.get("group_by") or "day"
    return (
        environment()
        .get_template("report.html")
        .render(
            report=report,
            params=params,
            bots=payload.get("bots"),
            data=data,
            charts=report_charts(data),
            grids=series_grids(data, group_by),
            group_by=group_by,
            for_pdf=for_pdf,
        )
    )


def render_pdf(payload: dict[str, Any]) -> bytes:
    """The HTML report laid out by xhtml2pdf."""
    from xhtml2pdf import pisa

    out = io.BytesIO()
    status = pisa.CreatePDF(render_html(payload, for_pdf=True), dest=out, encoding="utf-8")
    if status.err:
        raise RuntimeError(f"xhtml2pdf reported {status.err} error(s)")
    return out.getvalue()


def render_json(payload: dict[str, Any]) -> bytes:
    """`{"report": <report object>, "data": {<route>: <REST answer>}}`; `size_bytes` is the file's own
    size (found by re-rendering until the number of digits settles)."""
    report = dict(payload["report"])
    size = 0
    for _ in range(8):
        report["size_bytes"] = size
        blob = orjson.dumps({"report": report, "data": payload["data"]})
        if len(blob) == size:
            return blob
        size = len(blob)
    raise RuntimeError("JSON report size did not settle")  # pragma: no cover


def render_report(payload: dict[str, Any]) -> bytes:
    """The file of a report in its format."""
    fmt = payload["format"]
    if fmt == "pdf":
        return render_pdf(payload)
    if fmt == "html":
        return render_html(payload).encode("utf-8")
    if fmt == "csv":
        return render_csv(payload)
    if fmt == "json":
        return render_json(payload)
    raise ValueError(f"unknown report format {fmt!r}")
