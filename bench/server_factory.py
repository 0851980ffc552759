"""`python -m uvicorn --factory bench.server_factory:create`: the app exactly as `bot-analytics serve`
builds it, from the ANALYTICS_* environment."""

from __future__ import annotations

from fastapi import FastAPI


def create() -> FastAPI:
    from app.config import get_settings
    from server.app import create_app

    return create_app(get_settings())
