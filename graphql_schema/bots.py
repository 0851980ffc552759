"""bots: the bots a caller may choose from (the dashboard's bot selector)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.analytics.scope import visible_bots
from graphql_schema.context import Context
from graphql_schema.permissions import CanRead

__all__ = ["BotsQuery"]


@strawberry.type
class BotsQuery:
    @strawberry.field(
        permission_classes=[CanRead],
        description=(
            "The bots (UUIDs) this credential may filter by, sorted: a scoped credential's own bots, "
            "else every bot that has sent events."
        ),
    )
    async def bots(self, info: Info[Context, Any]) -> list[str]:
        principal = info.context.require_principal()
        return await visible_bots(info.context.readers.main, principal.bot_scope)
