"""`compare` (API.md section 9): the comparison range of a resolved range, and the `comparison` and
`change` an answer gains, for any metric of the catalog marked `comparable`.

Nothing here knows a route. The keys compared are the answer dataclass's fields whose type is a
number or `null` (`int`, `float`, `float | None`; not the `range`, not lists, not objects), read
from its annotations; `compared_type(Answer)` is the answer's class with two more fields,
`comparison` (the comparison range's echo and those keys) and `change` (each key's relative
change, a float or `None`), whose types `comparison_types(Answer)` makes from the same fields.
GraphQL registers these generated classes as it registers the answers, so a metric becomes
comparable by one flag in `catalog.py`.

Comparison ranges (pure, `now` passed in):
- `previous_period`: when `start` and `end` are both local midnights in the range's zone, the same
  number of local calendar days just before `start` (a day of 23 or 25 hours counts as one day);
  otherwise `[start - (end - start), start)` in absolute time.
- `previous_year`: the wall-clock times `start` and `end` show in the zone, one year earlier
  (29 February becomes 28 February), read with `fold=0`; should that reading of a skipped hour put
  the end before the start, the range is empty at its start.
- Equal elapsed time: when `now < end`, the comparison ends `max(0, now - start)` after its start,
  if that is earlier than its end (a range whose start is at or after `now` compares with an empty
  range: counts 0, averages `None`).
- A comparison start before `EARLIEST` (possible only for ranges reaching back to the 1970s,
  compared with a period as long) is `EARLIEST`: no event is stored before 1970, and every zone can
  write that instant.

Cost: the comparison range holds as many local days as the current one (previous period), or the
same wall-clock span a year earlier, or the same absolute length, and equal elapsed time only
shortens it; so its buckets of any size are the current range's, give or take one at each end and
the hours a DST change adds. No bucket limit is applied to it (a comparison never causes a 400),
and none is needed: it costs what the current answer costs, once more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
import typing
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar, cast

from app.analytics.answers import Question, RangeEcho, range_echo
from app.analytics.calendar import local_midnight, localize
from app.analytics.ranges import ResolvedRange
from app.db import Readers
from app.vocabulary import Compare

__all__ = [
    "EARLIEST",
    "answer_compared",
    "compared_type",
    "comparison_range",
    "comparison_types",
    "relative_change",
    "scalar_fields",
]

A = TypeVar("A")

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
"""The earliest comparison start: a day after `datetime.min`, so its echo is writable in any zone."""


# --------------------------------------------------------------------------- the comparison range


def _is_local_midnight(instant: datetime, r: ResolvedRange) -> bool:
    """Whether `instant` is the first instant of a local day (what a date bound resolves to)."""
    return local_midnight(instant.astimezone(r.tz).date(), r.tz) == instant


def _one_year_earlier(instant: datetime, r: ResolvedRange) -> datetime:
    """The wall-clock time `instant` shows in the zone, one year earlier, read with fold=0."""
    wall = instant.astimezone(r.tz).replace(tzinfo=None, fold=0)
    day = date(wall.year - 1, wall.month, 28 if (wall.month, wall.day) == (2, 29) else wall.day)
    return localize(datetime.combine(day, wall.time()), r.tz)


def comparison_range(r: ResolvedRange, compare: Compare, now: datetime) -> ResolvedRange:
    """The range `r` is compared with at `now` (see the module docstring); `start == end` when empty."""
    s, e = r.start, r.end
    try:
        if compare is Compare.PREVIOUS_YEAR:
            start, end = _one_year_earlier(s, r), _one_year_earlier(e, r)
        elif _is_local_midnight(s, r) and _is_local_midnight(e, r):
            first = s.astimezone(r.tz).date()
            days = (e.astimezone(r.tz).date() - first).days
            start, end = local_midnight(first - timedelta(days=days), r.tz), s
        else:
            start, end = s - (e - s), s
    except (OverflowError, ValueError):  # before the year 1
        start, end = EARLIEST, s
    start = max(start, EARLIEST)
    end = max(end, start)
    if now < e:
        end = min(end, start + max(now - s, timedelta(0)))
    return dataclasses.replace(r, start=start, end=end)


# --------------------------------------------------------------------------- the generated types


def _number_type(annotation: Any) -> bool:
    """`int`, `float` or either with `None` (not `bool`, not lists, enums, strings or objects)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(args) == 1 and _number_type(args[0])
    return annotation in (int, float)


_made: dict[tuple[str, type[Any]], Any] = {}
"""What this module made per answer class: each class is made once (GraphQL registers them)."""


def _once(kind: str, cls: type[Any], make: Callable[[], Any]) -> Any:
    key = (kind, cls)
    if key not in _made:
        _made[key] = make()
    return _made[key]


def scalar_fields(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """(name, annotation) of each field of the answer class whose value is a number or `None`."""

    def make() -> tuple[tuple[str, Any], ...]:
        hints = typing.get_type_hints(cls, include_extras=True)
        return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls) if _number_type(hints[f.name]))

    found: tuple[tuple[str, Any], ...] = _once("scalars", cls, make)
    return found


def comparison_types(cls: type[Any]) -> tuple[type[Any], type[Any]]:
    """`<Answer>Comparison` (`range` and the number fields, same types) and `<Answer>Change` (the same
    names, each `float | None`), frozen dataclasses in the answer's module."""
    found: tuple[type[Any], type[Any]] = _once("comparison", cls, lambda: _comparison_types(cls))
    return found


def _comparison_types(cls: type[Any]) -> tuple[type[Any], type[Any]]:
    keys = scalar_fields(cls)
    comparison = dataclasses.make_dataclass(
        f"{cls.__name__}Comparison", [("range", RangeEcho), *keys], frozen=True
    )
    change = dataclasses.make_dataclass(
        f"{cls.__name__}Change", [(name, float | None) for name, _ in keys], frozen=True
    )
    comparison.__doc__ = f"The number fields of `{cls.__name__}` over the comparison range."
    change.__doc__ = f"The relative change of each number field of `{cls.__name__}`."
    for made in (comparison, change):
        made.__module__ = cls.__module__
    return comparison, change


def compared_type(cls: type[A]) -> type[A]:
    """The answer class's fields, then `comparison` and `change` (both `None` without `compare`): a
    frozen dataclass of the same name. It copies the fields rather than extending the class, because
    GraphQL registers both and Strawberry re-declares a registered class as a non-frozen dataclass,
    which a frozen subclass may not extend."""
    found: type[A] = _once("compared", cls, lambda: _compared_type(cls))
    return found


def _compared_type(cls: type[Any]) -> type[Any]:
    comparison, change = comparison_types(cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    made = dataclasses.make_dataclass(
        cls.__name__,
        [
            *((f.name, hints[f.name]) for f in dataclasses.fields(cast(Any, cls))),
            ("comparison", comparison | None, dataclasses.field(default=None)),
            ("change", change | None, dataclasses.field(default=None)),
        ],
        frozen=True,
    )
    made.__module__ = cls.__module__
    made.__doc__ = cls.__doc__
    return made


# --------------------------------------------------------------------------- the answer


def relative_change(current: float | None, previous: float | None) -> float | None:
    """`(current - previous) / previous`; None when either is None or the previous is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous


async def answer_compared(
    answer: Callable[[Readers, Question], Awaitable[A]], cls: type[A], db: Readers, q: Question
) -> A:
    """`answer(db, q)` as `compared_type(cls)`: with `comparison` and `change` when `q.compare` is set
    (the comparison answered with the same `now`, scope and timeout), else both None."""
    result: Callable[..., A] = compared_type(cls)
    if q.compare is None:
        current = await answer(db, q)
        return result(**{f.name: getattr(current, f.name) for f in dataclasses.fields(cast(Any, cls))})
    keys = scalar_fields(cls)
    r = comparison_range(q.range, q.compare, q.now)
    # The two ranges at once, each starting on the other's connection (the same one for a report's
    # reads): the comparison's statements wait beside the current range's, not behind them. An
    # empty comparison range is answered like any other (counts 0, averages None): the routes
    # answer `[s, s)` from the same queries, which find nothing there.
    current, previous = await asyncio.gather(
        answer(db, dataclasses.replace(q, compare=None)),
        answer(Readers(main=db.side, side=db.main), dataclasses.replace(q, range=r, compare=None)),
    )
    values = {f.name: getattr(current, f.name) for f in dataclasses.fields(cast(Any, cls))}
    before = {name: getattr(previous, name) for name, _ in keys}
    comparison, change = comparison_types(cls)
    return result(
        **values,
        comparison=comparison(range=range_echo(r), **before),
        change=change(**{name: relative_change(values[name], before[name]) for name, _ in keys}),
    )
