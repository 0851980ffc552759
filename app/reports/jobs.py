"""Report runner (placeholder until the reports work lands): starts and stops cleanly."""

from __future__ import annotations

from app.config import Settings

__all__ = ["ReportRunner"]


class ReportRunner:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
