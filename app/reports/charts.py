"""The charts of PDF and HTML reports, drawn with matplotlib (Agg) as PNG data URIs."""

from __future__ import annotations

import base64
import io
import itertools
from datetime import date, datetime, timedelta
from typing import Any

from app.reports.formatting import fmt_count, local_time

__all__ = ["categories_chart", "report_charts"]

_COLORS = {
    "primary": "#1f5fa8",
    "secondary": "#e8912d",
    "resolved": "#2e8b57",
    "escalated": "#e8912d",
    "abandoned": "#c0392b",
}


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


def categories_chart(title: str, labels: list[str], values: list[float]) -> str:
    """Bars with their counts on top, one per label (the ratings by score)."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(labels, values, color=_COLORS["primary"], width=0.6)
    for x, v in enumerate(values):
        ax.annotate(fmt_count(v), (x, v), ha="center", va="bottom", fontsize=7)
    _style(ax, title)
    return _png(fig)


def report_charts(data: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The charts of the series present in the report, as PNG data URIs, by route name."""
    charts: dict[str, str] = {}
    if "usage/daily" in data and data["usage/daily"]["data"]:
        charts["usage/daily"] = _daily_chart(data["usage/daily"])
    if "conversations/volume" in data:
        v = data["conversations/volume"]
        xs = [local_time(p["bucket_start"]) for p in v["data"]]
        charts["conversations/volume"] = _series_chart(
            f"Conversations and messages per {v['group_by']}",
            xs,
            {"Conversations": [p["conversations"] for p in v["data"]]},
            ("Messages", [p["messages"] for p in v["data"]]),
        )
    if "conversations/resolution" in data:
        res = data["conversations/resolution"]
        group_by = data.get("conversations/volume", {}).get("group_by") or _guess_group_by(res["data"])
        xs = [local_time(p["bucket_start"]) for p in res["data"]]
        charts["conversations/resolution"] = _series_chart(
            f"Outcomes per {group_by} (conversations by start)",
            xs,
            {k.capitalize(): [p[k] for p in res["data"]] for k in ("resolved", "escalated", "abandoned")},
            None,
        )
    if "performance" in data and data["performance"]["data"]:
        p = data["performance"]
        xs = [local_time(x["bucket_start"]) for x in p["data"]]
        charts["performance"] = _series_chart(
            f"Bot messages and latency per {p['group_by']}",
            xs,
            {"Bot messages": [x["bot_messages"] for x in p["data"]]},
            ("p95 latency (ms)", [x["p95_latency_ms"] or 0.0 for x in p["data"]]),
        )
    if "engagement/satisfaction" in data:
        dist = data["engagement/satisfaction"]["distribution"]
        charts["engagement/satisfaction"] = categories_chart(
            "Ratings by score", [str(d["score"]) for d in dist], [d["count"] for d in dist]
        )
    return charts


def _guess_group_by(points: list[dict[str, Any]]) -> str:
    if len(points) < 2:
        return "day"
    step = local_time(points[1]["bucket_start"]) - local_time(points[0]["bucket_start"])
    if step <= timedelta(hours=1):
        return "hour"
    if step <= timedelta(days=1):
        return "day"
    if step <= timedelta(days=7):
        return "week"
    return "month"
