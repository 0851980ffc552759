"""The tables of PDF and HTML reports: the series grids (one row per bucket) and the retention
heat map's cell classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.reports.formatting import fmt_avg, fmt_bucket, fmt_count, fmt_rate

__all__ = [
    "GRID_LINES",
    "HEAT_LEVELS",
    "MAX_RETENTION_COLUMNS",
    "Grid",
    "column_text",
    "heat_class",
    "heat_css",
    "series_grids",
]

GRID_LINES = 20
"""Buckets per table row in the PDF: xhtml2pdf lays out a cell of 20 lines much faster than 20 cells."""
MAX_RETENTION_COLUMNS = 16
"""Periods shown in the PDF/HTML retention table (a page is only so wide; CSV and JSON have all)."""
HEAT_LEVELS = 10
_BLUE = (0x1F, 0x5F, 0xA8)


@dataclass(frozen=True)
class Grid:
    """A series table, formatted: the header and one list of cell texts per bucket."""

    headers: list[str]
    rows: list[list[str]]


def _rating_cells(p: dict[str, Any], group_by: str) -> list[str]:
    return [fmt_bucket(p["bucket_start"], group_by), fmt_count(p["responses"]), fmt_avg(p["average_score"])]


def series_grids(data: dict[str, dict[str, Any]], group_by: str) -> dict[str, Grid]:
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


def column_text(rows: list[list[str]], col: int, right: bool) -> str:
    """One column of a chunk of rows as lines of a monospaced block (numbers right-aligned)."""
    cells = [r[col] for r in rows]
    width = max(len(c) for c in cells)
    return "\n".join(c.rjust(width) if right else c for c in cells)


def heat_css() -> str:
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
