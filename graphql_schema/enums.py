"""The GraphQL enums: the core's closed sets (`app.vocabulary`), names upper case, values lower case.

The classes are the core's own; `strawberry.enum` registers each once, here, before any type uses it.
"""

from __future__ import annotations

import strawberry

from app.vocabulary import (
    Compare,
    EventType,
    GroupBy,
    MessageRole,
    Period,
    ReportFormat,
    ReportStatus,
    ReportType,
    Resolution,
)

__all__ = [
    "Compare",
    "EventType",
    "GroupBy",
    "MessageRole",
    "Period",
    "ReportFormat",
    "ReportStatus",
    "ReportType",
    "Resolution",
]

for _kind in (
    Period,
    GroupBy,
    Compare,
    ReportType,
    ReportFormat,
    ReportStatus,
    EventType,
    MessageRole,
    Resolution,
):
    strawberry.enum(_kind)
