"""`AnalyticsFilter`, the one input every analytics field takes, and the one place scope is applied."""

from __future__ import annotations

from typing import Any, TypeVar

import strawberry

from app.analytics.answers import Question, RangeEcho
from app.analytics.cache import cached_query
from app.analytics.catalog import Metric
from app.analytics.comparison import comparison_types
from app.analytics.ranges import RangeParams
from app.analytics.scope import Scope
from app.auth import Principal
from app.vocabulary import normalise_uuid
from graphql_schema.context import Context
from graphql_schema.enums import Compare, GroupBy, Period

__all__ = ["AnalyticsFilter", "RangeEcho", "answer_type", "run_range_query", "scope_for"]

A = TypeVar("A")

strawberry.type(RangeEcho, name="RangeEcho")


@strawberry.input(description="Range and filters (API.md section 3); camelCase names of the REST parameters.")
class AnalyticsFilter:
    start_date: str | None = None
    end_date: str | None = None
    days: int | None = None
    period: Period | None = None
    group_by: GroupBy | None = None
    bot_id: str | None = None
    user_id: str | None = None
    timezone: str | None = None
    compare: Compare | None = None


_registered: set[type[Any]] = set()


def _register(cls: type[Any]) -> type[Any]:
    if cls not in _registered:
        strawberry.type(cls, name=cls.__name__)
        _registered.add(cls)
    return cls


def answer_type(metric: Metric[A]) -> type[A]:
    """The GraphQL type of a metric's field (`strawberry.field(graphql_type=...)`): its answer class,
    registered under the class's name; for a comparable metric the class with `comparison` and
    `change`, whose generated types (`<Answer>Comparison`, `<Answer>Change`) are registered too."""
    if metric.comparable:
        for made in comparison_types(metric.answer_type):
            _register(made)
    result: type[A] = _register(metric.result_type)
    return result


def scope_for(principal: Principal, bot_id: str | None, user_id: str | None = None) -> Scope:
    """The bots and user a query covers: the named bot (403 outside scope), else the caller's scope."""
    bot = normalise_uuid(bot_id, "bot_id") if bot_id is not None else None
    user = normalise_uuid(user_id, "user_id") if user_id is not None else None
    return Scope(bots=principal.bots_for(bot), user=user)


def range_params(f: AnalyticsFilter | None) -> RangeParams:
    if f is None:
        return RangeParams()
    return RangeParams(
        start_date=f.start_date,
        end_date=f.end_date,
        days=f.days,
        period=f.period.value if f.period else None,
        group_by=f.group_by.value if f.group_by else None,
        timezone=f.timezone,
    )


async def run_range_query(
    ctx: Context, f: AnalyticsFilter | None, metric: Metric[A], *, limit: int | None = None
) -> A:
    """Resolve the range (with the metric's options), apply scope, and answer from app/analytics
    (through the cache) on the API's connections with the configured session timeout; `limit` cuts
    a ranked list (`intents`)."""
    principal = ctx.require_principal()
    r = metric.resolve(range_params(f), ctx.now)
    scope = scope_for(principal, f.bot_id if f else None, f.user_id if f else None)
    compare = f.compare if f else None
    question = Question(r, scope, ctx.now, ctx.settings.session_timeout_us, limit, compare)
    return await cached_query(metric, ctx.readers, question)
