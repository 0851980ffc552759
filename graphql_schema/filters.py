"""`AnalyticsFilter`, the one input every analytics field takes, and the one place scope is applied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import strawberry

from app.analytics.cache import cached_query
from app.analytics.queries import RANGE_OPTIONS, Scope
from app.analytics.ranges import RangeParams, ResolvedRange, resolve_range
from app.auth import Principal
from app.vocabulary import normalise_uuid
from graphql_schema.context import Context
from graphql_schema.enums import GroupBy, Period

__all__ = ["AnalyticsFilter", "RangeEcho", "run_range_query", "scope_for", "to_object"]

T = TypeVar("T")


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


@strawberry.type
class RangeEcho:
    start: str
    end: str
    timezone: str


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


def to_object(value: Any) -> Any:
    """Wrap a query-layer dict so Strawberry's attribute resolvers can read it."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: to_object(v) for k, v in value.items()})
    if isinstance(value, list):
        return [to_object(v) for v in value]
    return value


async def run_range_query(
    ctx: Context,
    f: AnalyticsFilter | None,
    route: str,
    query: Callable[[ResolvedRange, Scope, Any], Awaitable[dict[str, Any]]],
    result_type: type[T],
) -> T:
    """Resolve the range (with the route's options), apply scope, run one query of app/analytics
    and shape it for GraphQL."""
    principal = ctx.require_principal()
    r = resolve_range(range_params(f), ctx.now, **RANGE_OPTIONS[route])
    scope = scope_for(principal, f.bot_id if f else None, f.user_id if f else None)
    data = await cached_query(query, r, scope, ctx.now)
    if "group_by" in data and isinstance(data["group_by"], str):
        data = {**data, "group_by": GroupBy(data["group_by"])}
    return cast(T, to_object(data))
