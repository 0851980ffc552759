"""A GraphQL document's cost, worked out before it runs, and refused over ANALYTICS_MAX_QUERY_COST.

Every root field the operation would execute counts once per response key (so each alias counts;
a field repeated under the same key runs once and counts once), through fragments and inline
fragments. `@skip`/`@include` are not evaluated: a field counts even when skipped. A field costs:

- an analytics field (`usage`, `dailyUsage`, ..., `retention`, `performance`): its metric's cost
  (`Metric.cost`, app/analytics/cost.py): the buckets of its resolved range, retention's
  cohort x period cells, engagement's days; worked out from the filter alone, no database;
  twice that with `compare` on a comparable metric (the comparison range costs as much again);
- `reports(limit)`: its rows (`limit`); `trackEvents(events)`: its events;
- any other field (realtime, a report, a mutation on one report, introspection): 1.

A field whose arguments are invalid costs 1: it is refused (400) before doing any work. The answer
to a document over the limit is one `BAD_USER_INPUT` error (REST: 400 `invalid_parameter`), naming
the parameter that sets the size of its costliest field (`group_by` for a series; docs/decisions.md
"Query cost").
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from app.analytics import catalog
from app.analytics.catalog import Metric
from app.analytics.ranges import RangeParams
from app.config import get_settings
from app.errors import AppError, InvalidParameter

__all__ = ["FIXED_COST_FIELDS", "RANGE_FIELDS", "ROW_FIELDS", "QueryCost", "document_cost"]

RANGE_FIELDS: dict[str, Metric[Any]] = {
    "usage": catalog.USAGE,
    "dailyUsage": catalog.USAGE_DAILY,
    "monthlyUsage": catalog.USAGE_MONTHLY,
    "conversationMetrics": catalog.CONVERSATIONS,
    "conversationVolume": catalog.CONVERSATION_VOLUME,
    "conversationDuration": catalog.CONVERSATION_DURATION,
    "conversationResolution": catalog.CONVERSATION_RESOLUTION,
    "engagement": catalog.ENGAGEMENT,
    "retention": catalog.RETENTION,
    "satisfaction": catalog.SATISFACTION,
    "intents": catalog.INTENTS,
    "performance": catalog.PERFORMANCE,
    "conversationOutcomes": catalog.CONVERSATION_OUTCOMES,
}
"""The Query fields that answer a range metric. A Query field with a `filter` argument that is not
listed here is costed as a `day` series of its filter's range (the most a series holds)."""

FIXED_COST_FIELDS = frozenset(
    {"realtime", "activeSessions", "report", "createReport", "deleteReport", "bots"}
)
"""Fields of a fixed, small cost: a realtime window (at most 60 minutes), one report, the bots list."""
ROW_FIELDS = {"reports": "limit", "trackEvents": "events"}
"""Fields whose answer or work grows with the size of one argument: the argument's number or length."""


def _enum_value(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _range_params(filter_value: Any) -> RangeParams:
    f = filter_value if isinstance(filter_value, dict) else {}
    return RangeParams(
        start_date=f.get("startDate"),
        end_date=f.get("endDate"),
        days=f.get("days"),
        period=_enum_value(f.get("period")),
        group_by=_enum_value(f.get("groupBy")),
        timezone=f.get("timezone"),
    )


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen_fragments: set[str],
) -> Iterator[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, seen_fragments)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in seen_fragments and name in fragments:
                seen_fragments.add(name)
                yield from _root_fields(fragments[name].selection_set, fragments, seen_fragments)


class _Coster:
    """Costs fields; a range field's cost is kept per (metric, parameters): aliases repeat them."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._range_costs: dict[tuple[str, RangeParams], int] = {}

    def range_cost(self, metric: Metric[Any], params: RangeParams) -> int:
        key = (metric.name, params)
        cost = self._range_costs.get(key)
        if cost is None:
            try:
                cost = metric.cost(params, self.now)
            except AppError:  # the field is refused before doing any work
                cost = 1
            self._range_costs[key] = cost
        return cost

    def field_cost(self, name: str, args: dict[str, Any]) -> tuple[int, str]:
        """The cost of one root field, and the parameter that sets it (named when it is too much)."""
        metric = RANGE_FIELDS.get(name)
        if metric is not None:
            f = args.get("filter")
            cost = self.range_cost(metric, _range_params(f))
            if metric.comparable and isinstance(f, dict) and f.get("compare") is not None:
                cost *= 2  # the comparison range costs what the range costs, once more
            return cost, metric.range_options.bucket_field
        if name in ROW_FIELDS:
            value = args.get(ROW_FIELDS[name])
            size = len(value) if isinstance(value, list) else value if isinstance(value, int) else 1
            return max(1, size), ROW_FIELDS[name]
        if name in FIXED_COST_FIELDS:
            return 1, "query"
        if "filter" in args:  # an analytics field not listed in RANGE_FIELDS: costed as a day series
            return self.range_cost(catalog.CONVERSATION_VOLUME, _range_params(args["filter"])), "group_by"
        return 1, "query"


def document_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any] | None,
    now: datetime,
    limit: int,
) -> tuple[int, str] | None:
    """The cost of running `operation` and the parameter of its costliest field, summed until it
    passes `limit`; None when its variables are invalid (execution refuses it without running)."""
    root: GraphQLObjectType | None = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root is None:
        return None
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return None
    coster = _Coster(now)
    total, costliest, parameter = 0, 0, "query"
    keys: set[str] = set()
    for node in _root_fields(operation.selection_set, fragments, set()):
        key = node.alias.value if node.alias else node.name.value
        field = root.fields.get(node.name.value)
        if key in keys or field is None:  # one execution per response key; introspection costs 0
            continue
        keys.add(key)
        try:
            args = get_argument_values(field, node, coerced)
        except GraphQLError:
            args = {}
        cost, param = coster.field_cost(node.name.value, args)
        total += cost
        if cost > costliest:
            costliest, parameter = cost, param
        if total > limit:
            break
    return total, parameter


class QueryCost(SchemaExtension):
    """Refuses, before execution, an operation whose cost passes ANALYTICS_MAX_QUERY_COST."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        document = ec.graphql_document
        if ec.result is None and document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if ec.operation_name is not None:
                operations = [o for o in operations if o.name and o.name.value == ec.operation_name]
            if len(operations) == 1:
                self._check(ec.schema._schema, operations[0], document.definitions)
        yield

    def _check(self, schema: GraphQLSchema, operation: OperationDefinitionNode, definitions: Any) -> None:
        ec = self.execution_context
        fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
        limit = get_settings().max_query_cost
        now = getattr(ec.context, "now", None) or datetime.now(UTC)
        found = document_cost(schema, operation, fragments, ec.variables, now, limit)
        if found is None or found[0] <= limit:
            return
        total, parameter = found
        refusal = InvalidParameter(
            parameter,
            f"the document costs more than the {limit:,} allowed (ANALYTICS_MAX_QUERY_COST; at least "
            f"{total:,}: buckets of every field, each alias counted); ask for fewer fields or aliases, "
            "shorter ranges or a larger group_by",
        )
        error = GraphQLError(refusal.message, original_error=refusal)
        ec.result = GraphQLExecutionResult(data=None, errors=[error])
