"""Report files from the numbers of `app.analytics.queries`: PDF, HTML, CSV and JSON.

Everything here is synchronous and CPU-bound (Jinja2, matplotlib, xhtml2pdf) and runs in a worker
process of the render pool; `render_report` takes a plain, picklable payload:
`{"format": ..., "report": <report object>, "data": {<route name>: <REST answer>}}`.

Formatting (API.md 8, "Reports"): PDF and HTML print integers without thousands separators, rates as
percentages with one decimal (`82.5%`), averages with two decimals. CSV and JSON carry the values
unrounded, as the API answers them. The CSV layout is documented in docs/reports.md.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader

__all__ = [
    "CSV_COLUMNS",
    "MAX_RETENTION_COLUMNS",
    "fmt_avg",
    "fmt_count",
    "fmt_rate",
    "lower_priority",
    "render_csv",
    "render_html",
    "render_json",
    "render_pdf",
    "render_report",
    "start_worker",
    "warm_up",
]

CSV_COLUMNS = ("section", "bucket", "dimension", "metric", "value")
MAX_RETENTION_COLUMNS = 16
"""Periods shown in the PDF/HTML retention table (a page is only so wide; CSV and JSON have all)."""

TEMPLATES = Path(__file__).parent / "templates"
_NA = "n/a"
_BLUE = (0x1F, 0x5F, 0xA8)
_COLORS = {
    "primary": "#1f5fa8",
    "secondary": "#e8912d",
    "resolved": "#2e8b57",
    "escalated": "#e8912d",
    "abandoned": "#c0392b",
}
_SECTION_TITLES = {
    "usage": "Usage",
    "usage/daily": "Usage per day",
    "usage/monthly": "Usage per month",
    "conversations": "Conversations",
    "conversations/volume": "Conversation volume",
    "conversations/duration": "Conversation duration",
    "conversations/resolution": "Outcomes over time",
    "engagement": "Engagement",
    "engagement/retention": "Retention",
    "engagement/satisfaction": "Satisfaction",
}


# --------------------------------------------------------------------------- formatting


def fmt_count(value: Any) -> str:
    """An integer, no thousands separators (`12345`)."""
    return _NA if value is None else str(int(value))


def fmt_rate(value: Any) -> str:
    """A fraction as a percentage with one decimal (`0.825` -> `82.5%`)."""
    return _NA if value is None else f"{float(value) * 100:.1f}%"


def fmt_avg(value: Any) -> str:
    """An average with two decimals (`3.5` -> `3.50`)."""
    return _NA if value is None else f"{float(value):.2f}"


def fmt_seconds(value: Any) -> str:
    return _NA if value is None else f"{float(value):.2f} s"


def _local(text: str) -> datetime:
    """An RFC 3339 datetime as the naive wall-clock time of its own offset."""
    return datetime.fromisoformat(text).replace(tzinfo=None)


def fmt_bucket(text: str, group_by: str) -> str:
    """A bucket start as a reader names it: `2025-01-06`, `2025-01`, or `2025-01-06 13:00`."""
    wall = _local(text)
    if group_by == "hour":
        return wall.strftime("%Y-%m-%d %H:%M")
    if group_by == "month":
        return wall.strftime("%Y-%m")
    return wall.date().isoformat()


def fmt_range(r: dict[str, str]) -> str:
    """`2025-01-01 00:00 to 2025-02-01 00:00 (UTC)`: the half-open range in its zone."""
    start, end = _local(r["start"]), _local(r["end"])
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({r['timezone']}, end exclusive)"


HEAT_LEVELS = 10


def _heat_css() -> str:
    """CSS classes `h0` .. `h10` for retention cells (classes, not inline styles: xhtml2pdf parses an
    inline style per cell, which costs more than the rest of the page)."""
    rules = []
    for level in range(HEAT_LEVELS + 1):
        share = level / HEAT_LEVELS
        background = "#" + "".join(f"{round(255 - (255 - c) * share):02x}" for c in _BLUE)
        color = "#ffffff" if share > 0.55 else "#1a1a1a"
        rules.append(f"td.h{level} {{ background-color: {background}; color: {color}; }}")
    return "\n".join(rules)


def heat_class(rate: float | None) -> str:
    """The class of a retention cell: `h0` (0%) to `h10` (100%), `hn` when there is no rate."""
    if rate is None:
        return "hn"
    return f"h{round(max(0.0, min(1.0, float(rate))) * HEAT_LEVELS)}"


# --------------------------------------------------------------------------- charts


def _figure(height: float = 2.3) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, height), dpi=100)
    # Fixed margins: a layout engine would draw every chart several times.
    fig.subplots_adjust(left=0.07, right=0.93, top=0.87, bottom=0.14)
    return fig


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax: Any, title: str) -> None:
    ax.set_title(title, fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _date_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _series_chart(
    title: str,
    xs: list[datetime],
    stacked: dict[str, list[float]],
    line: tuple[str, list[float]] | None,
) -> str:
    """Filled steps (stacked) per bucket and an optional line on a second axis: a few paths rather
    than one rectangle per bucket, so a long series draws as fast as a short one."""
    from matplotlib.dates import date2num

    fig = _figure()
    ax = fig.add_subplot()
    edges = [float(x) for x in date2num(xs)] if xs else [0.0]  # type: ignore[no-untyped-call]
    width = edges[-1] - edges[-2] if len(edges) > 1 else 1.0
    edges.append(edges[-1] + width)
    palette = (
        [_COLORS["resolved"], _COLORS["escalated"], _COLORS["abandoned"]]
        if len(stacked) == 3
        else [_COLORS["primary"]]
    )
    bottom = [0.0] * len(xs)
    for (label, values), color in zip(stacked.items(), palette, strict=False):
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.stairs(top, edges, baseline=bottom, fill=True, color=color, label=label, linewidth=0)
        bottom = top
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(bottom=0)
    ax.xaxis_date()
    if line is not None:
        twin = ax.twinx()
        mids = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        twin.plot(mids, line[1], color=_COLORS["secondary"], linewidth=1.4, label=line[0])
        twin.tick_params(labelsize=7)
        twin.set_ylim(bottom=0)
        twin.spines["top"].set_visible(False)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = twin.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left", frameon=False, ncols=2)
    else:
        ax.legend(fontsize=7, loc="upper left", frameon=False, ncols=3)
    _style(ax, title)
    _date_axis(ax)
    return _png(fig)


def _daily_chart(answer: dict[str, Any]) -> str:
    fig = _figure()
    ax = fig.add_subplot()
    xs = [datetime.combine(date.fromisoformat(p["date"]), datetime.min.time()) for p in answer["data"]]
    ax.plot(xs, [p["conversations"] for p in answer["data"]], color=_COLORS["primary"], label="Conversations")
    ax.plot(xs, [p["active_users"] for p in answer["data"]], color=_COLORS["secondary"], label="Active users")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left", frameon=False, ncols=2)
    _style(ax, "Conversations and active users per day")
    _date_axis(ax)
    return _png(fig)


def _categories_chart(title: str, labels: list[str], values: list[float]) -> str:
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(labels, values, color=_COLORS["primary"], width=0.6)
    for x, v in enumerate(values):
        ax.annotate(fmt_count(v), (x, v), ha="center", va="bottom", fontsize=7)
    _style(ax, title)
    return _png(fig)


def _charts(data: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The charts of the series present in the report, as PNG data URIs, by route name."""
    charts: dict[str, str] = {}
    if "usage/daily" in data and data["usage/daily"]["data"]:
        charts["usage/daily"] = _daily_chart(data["usage/daily"])
    if "conversations/volume" in data:
        v = data["conversations/volume"]
        xs = [_local(p["bucket_start"]) for p in v["data"]]
        charts["conversations/volume"] = _series_chart(
            f"Conversations and messages per {v['group_by']}",
            xs,
            {"Conversations": [p["conversations"] for p in v["data"]]},
            ("Messages", [p["messages"] for p in v["data"]]),
        )
    if "conversations/resolution" in data:
        res = data["conversations/resolution"]
        group_by = data.get("conversations/volume", {}).get("group_by") or _guess_group_by(res["data"])
        xs = [_local(p["bucket_start"]) for p in res["data"]]
        charts["conversations/resolution"] = _series_chart(
            f"Outcomes per {group_by} (conversations by start)",
            xs,
            {k.capitalize(): [p[k] for p in res["data"]] for k in ("resolved", "escalated", "abandoned")},
            None,
        )
    if "engagement/satisfaction" in data:
        dist = data["engagement/satisfaction"]["distribution"]
        charts["engagement/satisfaction"] = _categories_chart(
            "Ratings by score", [str(d["score"]) for d in dist], [d["count"] for d in dist]
        )
    return charts


def _guess_group_by(points: list[dict[str, Any]]) -> str:
    if len(points) < 2:
        return "day"
    step = _local(points[1]["bucket_start"]) - _local(points[0]["bucket_start"])
    if step <= timedelta(hours=1):
        return "hour"
    if step <= timedelta(days=1):
        return "day"
    if step <= timedelta(days=7):
        return "week"
    return "month"


def _bin_label(b: dict[str, Any]) -> str:
    def short(s: int) -> str:
        return f"{s // 60} min" if s >= 60 else f"{s} s"

    lo = int(b["min_seconds"])
    if b["max_seconds"] is None:
        return f"{short(lo)} +"
    return f"{short(lo)} to {short(int(b['max_seconds']))}"


# --------------------------------------------------------------------------- series tables


@dataclass(frozen=True)
class Grid:
    """A series table, formatted: the header and one list of cell texts per bucket."""

    headers: list[str]
    rows: list[list[str]]


def _rating_cells(p: dict[str, Any], group_by: str) -> list[str]:
    return [fmt_bucket(p["bucket_start"], group_by), fmt_count(p["responses"]), fmt_avg(p["average_score"])]


def _grids(data: dict[str, dict[str, Any]], group_by: str) -> dict[str, Grid]:
    """The series tables of the report, by route name (the resolution series joins the volume one)."""
    grids: dict[str, Grid] = {}
    for route, key, label in (("usage/daily", "date", "Day"), ("usage/monthly", "month", "Month")):
        if route in data:
            grids[route] = Grid(
                [label, "Conversations", "Messages", "Active users", "New users"],
                [
                    [
                        p[key],
                        *(
                            fmt_count(p[k])
                            for k in ("conversations", "messages", "active_users", "new_users")
                        ),
                    ]
                    for p in data[route]["data"]
                ],
            )
    outcomes = ["Resolved", "Escalated", "Abandoned", "Resolution rate"]
    res = data.get("conversations/resolution")

    def outcome_cells(q: dict[str, Any]) -> list[str]:
        return [
            *(fmt_count(q[k]) for k in ("resolved", "escalated", "abandoned")),
            fmt_rate(q["resolution_rate"]),
        ]

    if "conversations/volume" in data:
        v = data["conversations/volume"]
        rows = []
        for i, p in enumerate(v["data"]):
            row = [fmt_bucket(p["bucket_start"], v["group_by"]), fmt_count(p["conversations"])]
            row.append(fmt_count(p["messages"]))
            rows.append(row + (outcome_cells(res["data"][i]) if res else []))
        headers = [f"{v['group_by'].capitalize()} starting", "Conversations", "Messages"]
        grids["conversations/volume"] = Grid(headers + (outcomes if res else []), rows)
    elif res is not None:
        grids["conversations/resolution"] = Grid(
            [f"{group_by.capitalize()} starting", *outcomes],
            [[fmt_bucket(q["bucket_start"], group_by), *outcome_cells(q)] for q in res["data"]],
        )
    if "engagement/satisfaction" in data:
        grids["engagement/satisfaction"] = Grid(
            [f"{group_by.capitalize()} starting", "Ratings", "Average score"],
            [_rating_cells(p, group_by) for p in data["engagement/satisfaction"]["data"]],
        )
    return grids


def _column_text(rows: list[list[str]], col: int, right: bool) -> str:
    """One column of a chunk of rows as lines of a monospaced block (numbers right-aligned)."""
    cells = [r[col] for r in rows]
    width = max(len(c) for c in cells)
    return "\n".join(c.rjust(width) if right else c for c in cells)


GRID_LINES = 20
"""Buckets per table row in the PDF: xhtml2pdf lays out a cell of 20 lines much faster than 20 cells."""


# --------------------------------------------------------------------------- HTML and PDF


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(
        count=fmt_count,
        rate=fmt_rate,
        avg=fmt_avg,
        seconds=fmt_seconds,
        bucket=fmt_bucket,
        date_range=fmt_range,
        bin_label=_bin_label,
    )
    env.globals.update(
        grid_lines=GRID_LINES,
        column_text=_column_text,
        heat_class=heat_class,
        heat_css=_heat_css(),
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
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            params=params,
            bots=payload.get("bots"),
            data=data,
            charts=_charts(data),
            grids=_grids(data, group_by),
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


# --------------------------------------------------------------------------- CSV and JSON


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
            if key in ("range", "data", "cohorts", "distribution", "by_channel"):
                continue
            yield (section, "", "", key, value)
        for ch in answer.get("by_channel", []):
            yield (section, "", f"channel={ch['channel']}", "conversations", ch["conversations"])
        for item in answer.get("distribution", []):
            if "score" in item:
                yield (section, "", f"score={item['score']}", "count", item["count"])
            else:
                high = "" if item["max_seconds"] is None else _label_number(item["max_seconds"])
                label = f"seconds={_label_number(item['min_seconds'])}-{high}"
                yield (section, "", label, "count", item["count"])
        for point in answer.get("data", []):
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


def lower_priority() -> None:
    """Pool worker initializer: rendering yields the CPU to the API process (nice +19)."""
    try:
        os.nice(19)
    except OSError:  # pragma: no cover - not permitted here: render at normal priority
        pass


def warm_up() -> None:
    """Fill a pool worker's caches (fonts, glyphs, templates) before the first report needs them."""
    from xhtml2pdf import pisa

    _environment()
    _categories_chart("warm-up", ["1", "2"], [1, 2])
    pisa.CreatePDF(
        "<html><body><p>warm-up</p><table><tr><td>1</td></tr></table></body></html>", dest=io.BytesIO()
    )


def read_report_data(db_url: str, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """In a pool worker: the report's numbers through the same query layer, on the worker's own
    database connection, so the API process spends no CPU on a report's reads."""
    import asyncio

    return asyncio.run(_read_report_data(db_url, spec))


async def _read_report_data(db_url: str, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from app.db import close_db, init_db
    from app.reports.store import report_data_for

    await init_db(db_url, migrate=False)
    try:
        return await report_data_for(spec)
    finally:
        await close_db()


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
