"""What an analytics answer costs, worked out from its parameters before it runs (no database).

The cost of a range answer is the number of buckets it holds or loops over (API.md's buckets, or
retention's cohort x period cells), counted by calendar arithmetic, never by listing the buckets:
costing a 10,000-bucket range takes microseconds, so a document with hundreds of them is refused
at once. `graphql_schema/cost.py` sums these over a GraphQL document's fields
(`ANALYTICS_MAX_QUERY_COST`).
"""

from __future__ import annotations

from enum import StrEnum

from app.analytics.ranges import MAX_BUCKETS, ResolvedRange, bucket_count, day_count

__all__ = ["Work", "bucket_count", "work_cost"]


class Work(StrEnum):
    """How a metric's work grows with its range."""

    ONE = "one"
    """One figure over the whole range (a few aggregate queries)."""
    BUCKETS = "buckets"
    """One row per bucket of the range (a series)."""
    CELLS = "cells"
    """Retention: N cohorts x the periods after each, N(N+1)/2 cells for N buckets."""
    DAYS = "days"
    """Work that grows with the days the range touches: engagement's daily active users, and the
    reads of section 9's `/intents` and `/conversations/outcomes`, which grow with the rows of the
    range whatever its `group_by` (which they ignore)."""
    SCAN = "scan"
    """A series whose reads grow with the rows of the range (`/performance`'s latency histograms):
    the days the range touches, or its buckets when there are more."""


def work_cost(work: Work, r: ResolvedRange, max_buckets: int) -> int:
    """The cost of answering `r` with a metric of kind `work` whose series holds at most
    `max_buckets` buckets. A range over that limit costs 1: the answer refuses it (400 naming
    `group_by`) before doing any work."""
    if work is Work.ONE:
        return 1
    if work is Work.DAYS:
        # The daily counts cover the days that hold data, at most every day of the range.
        return min(day_count(r), MAX_BUCKETS)
    n = bucket_count(r)
    if work is Work.SCAN:
        return 1 if n > max_buckets else max(min(day_count(r), MAX_BUCKETS), n)
    if n > max_buckets:
        return 1
    return n * (n + 1) // 2 if work is Work.CELLS else n
