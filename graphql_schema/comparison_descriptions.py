"""Descriptions of the types `compare` generates (`<Answer>Comparison`, `<Answer>Change`; API.md
section 9)."""

from __future__ import annotations

from graphql import GraphQLObjectType, get_named_type
from graphql import GraphQLSchema as CoreSchema

__all__ = ["describe_comparisons"]

_COMPARISON = (
    "With `compare`: the comparison range and this answer's number fields over it, with the same "
    "`now`; `null` without `compare`."
)
_CHANGE = "With `compare`: each number field's `(current - previous) / previous`; `null` without `compare`."


def describe_comparisons(schema: CoreSchema) -> None:
    """The generated `<Answer>Comparison` and `<Answer>Change` types (app/analytics/comparison.py)
    take their field descriptions from the answer's own fields."""
    for t in list(schema.type_map.values()):
        if not isinstance(t, GraphQLObjectType) or not {"comparison", "change"} <= set(t.fields):
            continue
        t.fields["comparison"].description = t.fields["comparison"].description or _COMPARISON
        t.fields["change"].description = t.fields["change"].description or _CHANGE
        comparison = get_named_type(t.fields["comparison"].type)
        change = get_named_type(t.fields["change"].type)
        assert isinstance(comparison, GraphQLObjectType) and isinstance(change, GraphQLObjectType)
        comparison.description = f"`{t.name}`'s number fields over the comparison range (API.md section 9)."
        change.description = f"The relative change of each of `{t.name}`'s number fields (API.md section 9)."
        for name, f in comparison.fields.items():
            if name == "range":
                f.description = "The comparison range `[start, end)` (start = end when it is empty)."
            else:
                f.description = t.fields[name].description
        for name, f in change.fields.items():
            f.description = (
                f"(current - previous) / previous of `{name}`; `null` when either is `null` or the "
                "previous is 0."
            )
